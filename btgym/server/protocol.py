"""The wire protocol of the backtrader server: commands and messages (no pickle).

Every message is a :mod:`btgym.comm.wire` message: a small JSON header (``kind`` +
``payload``) plus raw array buffers. Observations travel as raw buffers keyed by
observation key; info, stats and configs as JSON.

Control mode (no episode running) accepts ``reset``, ``get_stat``, ``render``,
``records``, ``bars``, ``ping`` and ``stop``; a ``step`` or ``done`` there is
answered with a ``ResetNeededError``. Episode mode (after ``reset`` until the
episode ends) accepts all of those plus ``step`` (an agent action) and ``done``
(end the episode now, the original's ``_done``). ``reset`` in episode mode drops
the running episode and starts a new one; ``stop`` shuts the server down.

==========  ==========================================  ============================
command     request                                     reply
==========  ==========================================  ============================
reset       ``ResetRequest`` (payload)                  ``StepReply`` (``obs``)
step        ``StepRequest`` (payload ``a``)             ``StepReply`` (``obs``)
done        –                                           ``ok``
get_stat    –                                           ``stat`` (payload)
render      ``RenderRequest`` (payload ``mode``)        ``frame`` (array ``frame``)
records     –                                           ``records`` (arrays)
bars        –                                           ``bars`` (``Bars.to_wire``)
ping        –                                           ``pong``
stop        –                                           ``stopped``
==========  ==========================================  ============================

Errors travel as ``error`` messages (type, message, child traceback).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np

from btgym.comm.wire import Message
from btgym.errors import ProtocolError
from btgym.strategy.info import InfoLayout

#: payload key of the canonical action in a step request.
ACTION = "a"
#: array name of the float record row in a step reply (not an identifier: no
#: observation key can clash with it).
FLOAT_ROW = "#f"
#: payload key of the int record row ``[time_ns, step, terminated, truncated]``.
INT_ROW = "i"


class Command(str, Enum):
    """Requests the server understands (values are the wire ``kind``)."""

    RESET = "reset"
    STEP = "step"
    DONE = "done"
    GET_STAT = "get_stat"
    RENDER = "render"
    RECORDS = "records"
    BARS = "bars"
    PING = "ping"
    STOP = "stop"


class ReplyKind(str, Enum):
    """Reply kinds (besides ``error``)."""

    OBS = "obs"
    OK = "ok"
    STAT = "stat"
    FRAME = "frame"
    RECORDS = "records"
    BARS = "bars"
    PONG = "pong"
    STOPPED = "stopped"


def expect(msg: Message, kind: ReplyKind | Command) -> Message:
    """Return ``msg`` if its kind is ``kind``, else raise :class:`ProtocolError`."""
    if msg.kind != kind.value:
        raise ProtocolError(f"expected a {kind.value!r} message, got {msg.kind!r}")
    return msg


def _mapping(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ProtocolError(f"{what} must be a JSON object, got {type(value).__name__}")
    return dict(value)


@dataclass(frozen=True)
class ResetRequest:
    """Start a new episode: trial and episode sampling configs and the seed."""

    trial_config: Mapping[str, Any] = field(default_factory=dict)
    episode_config: Mapping[str, Any] = field(default_factory=dict)
    seed: int | None = None

    def payload(self) -> dict[str, Any]:
        return {
            "trial_config": dict(self.trial_config),
            "episode_config": dict(self.episode_config),
            "seed": self.seed,
        }

    @classmethod
    def from_message(cls, msg: Message) -> ResetRequest:
        p = msg.payload
        seed = p.get("seed")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise ProtocolError(f"reset seed must be an int or null, got {seed!r}")
        return cls(
            _mapping(p.get("trial_config"), "trial_config"),
            _mapping(p.get("episode_config"), "episode_config"),
            seed,
        )


@dataclass(frozen=True)
class StepRequest:
    """One agent action in canonical form, validated by the client and checked
    again by the server: payload ``{"a": [code, ...]}`` (one int per asset) or
    ``{"a": [w_cash, w_1, ...]}`` (portfolio weights). A raw ``payload["action"]``
    (``{asset: code}`` or a bare int) is accepted too."""

    action: list

    def payload(self) -> dict[str, Any]:
        return {ACTION: self.action}

    @classmethod
    def from_message(cls, msg: Message) -> StepRequest:
        p = msg.payload
        if ACTION in p:
            return cls(p[ACTION])
        if "action" in p:
            return cls(p["action"])
        raise ProtocolError("step request has no action")


@dataclass(frozen=True)
class RenderRequest:
    """Render one mode of the running / last episode."""

    mode: str

    @classmethod
    def from_message(cls, msg: Message) -> RenderRequest:
        mode = msg.payload.get("mode")
        if not isinstance(mode, str):
            raise ProtocolError(f"render mode must be a string, got {mode!r}")
        return cls(mode)


@dataclass(frozen=True)
class StepReply:
    """A decision: observation arrays, reward, flags and the info dict.

    On the wire: the observation leaves as raw arrays keyed by observation key and
    the record row ``FLOAT_ROW`` (float64 ``[reward, value, cash, drawdown,
    realized, unrealized, *positions, *actions]``); JSON payload: ``INT_ROW``
    (``[time_ns, step, terminated, truncated]``), ``message`` and ``done_reason``
    when not empty, ``info`` (the whole dict) when the strategy customises
    ``get_info``, and ``layout`` (assets, action keys) in the reset reply.
    """

    obs: Mapping[str, np.ndarray]
    reward: float
    terminated: bool
    truncated: bool
    info: Mapping[str, Any]

    @classmethod
    def from_message(cls, msg: Message, layout: InfoLayout) -> StepReply:
        expect(msg, ReplyKind.OBS)
        p = msg.payload
        obs = {}
        row = None
        for key, arr in msg.arrays.items():
            if key == FLOAT_ROW:
                row = arr.tolist()
            else:
                obs[key] = arr.copy()  # writable, owned by the caller
        try:
            ints = p[INT_ROW]
            terminated, truncated = bool(ints[2]), bool(ints[3])
            reward = float(row[0])
            info = p.get("info")
            if info is None:
                info = layout.info_from_rows(row, ints, p.get("message", ""), p.get("done_reason"))
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise ProtocolError(f"malformed obs reply: {exc!r}") from None
        return cls(obs, reward, terminated, truncated, info)
