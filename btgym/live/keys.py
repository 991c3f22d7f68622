"""The redis names of a runner and the errors that mean "redis is away".

Prefix ``p`` (default ``btgym``), runner ``name`` (``docs/live.md``, key layout):
``{p}:{name}:stream``, ``{p}:{name}:latest``, channel ``{p}:{name}``,
``{p}:{name}:heartbeat``, ``{p}:{name}:stats``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from btgym.errors import ConfigError

NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class LiveKeys:
    """The redis names of one runner (prefix ``p``, runner ``name``)."""

    latest: str
    stream: str
    channel: str
    heartbeat: str
    stats: str

    @classmethod
    def of(cls, prefix: str, name: str) -> LiveKeys:
        """The keys of runner ``name`` under ``prefix`` (both ``[A-Za-z0-9_.-]+``).

        Raises:
            ConfigError: a prefix or name with other characters.
        """
        for what, value in (("prefix", prefix), ("name", name)):
            if not isinstance(value, str) or not NAME_RE.match(value):
                raise ConfigError(f"live {what} {value!r} must match {NAME_RE.pattern}")
        base = f"{prefix}:{name}"
        return cls(f"{base}:latest", f"{base}:stream", base, f"{base}:heartbeat", f"{base}:stats")

    def all(self) -> tuple[str, ...]:
        """The keys ``--reset`` deletes."""
        return (self.latest, self.stream, self.heartbeat, self.stats)


def stream_ms(entry_id: Any) -> int:
    """The millisecond part of a stream id (``b"1483340460000-0"`` → 1483340460000)."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
    return int(text.split("-")[0])


def connection_errors() -> tuple[type[BaseException], ...]:
    """What a lost, refused or silent connection raises (retried, never fatal)."""
    import redis

    return (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)
