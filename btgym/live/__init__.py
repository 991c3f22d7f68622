"""The live bridge: closed bars in, model and policy signals out through redis.

``live.md`` is the contract. Sources (:mod:`.sources`) hand closed bars to a
:class:`LiveRunner`, which asks a target (:class:`ModelTarget`, :class:`PolicyTarget`)
for the signal of each bar and gives it to a :class:`RedisPublisher`; bots read the
signals with :class:`SignalReader` (or any redis client: everything is JSON).

Names load lazily: ``import btgym.live`` does not import redis, torch or backtrader.
Nothing here imports ``pickle`` or ``marshal``; nothing read from redis is unpickled.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "ClosedBar": "btgym.live.sources",
    "ReplaySource": "btgym.live.sources",
    "TailSource": "btgym.live.sources",
    "IteratorSource": "btgym.live.sources",
    "CallbackSource": "btgym.live.sources",
    "MergedSource": "btgym.live.sources",
    "Signal": "btgym.live.schema",
    "Heartbeat": "btgym.live.schema",
    "PolicyInfo": "btgym.live.schema",
    "json_schema": "btgym.live.schema",
    "RedisPublisher": "btgym.live.publisher",
    "SignalReader": "btgym.live.reader",
    "LiveRunner": "btgym.live.runner",
    "RunnerStats": "btgym.live.runner",
    "ModelTarget": "btgym.live.targets",
    "PolicyTarget": "btgym.live.policy",
    "RedisURL": "btgym.live.redisurl",
    "TLSConfig": "btgym.live.redisurl",
    "parse_url": "btgym.live.redisurl",
    "redact": "btgym.live.redisurl",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'btgym.live' has no attribute {name!r}")
