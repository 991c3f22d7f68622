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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, NamedTuple

import numpy as np

from btgym.comm.wire import Message
from btgym.errors import ProtocolError
from btgym.strategy.info import InfoLayout

#: payload key of the canonical action in a step request.
ACTION = "a"
#: array name of the record row in a step reply (not an identifier: no observation
#: key can clash with it): float64 ``[*float row, *int row]``, the 4 ints
#: ``[time_ns, step, terminated, truncated]`` bit-cast into float64 slots, so a step
#: reply has a constant header (parsed once by the receiver's header cache).
RECORD_ROW = "#r"
N_INTS = 4


def pack_row(floats: Sequence[float], ints: Sequence[int]) -> np.ndarray:
    """One float64 array of the float row and the (bit-cast) int row."""
    out = np.empty(len(floats) + N_INTS, np.float64)
    out[:-N_INTS] = floats
    out[-N_INTS:].view(np.int64)[:] = ints
    return out


def unpack_row(row: np.ndarray) -> tuple[list[float], list[int]]:
    """Inverse of :func:`pack_row`."""
    if row.ndim != 1 or len(row) < N_INTS + 1:
        raise ProtocolError(f"record row of shape {row.shape} is too short")
    return row[:-N_INTS].tolist(), row[-N_INTS:].view(np.int64).tolist()


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
    """One agent action in canonical form, encoded by the client's codec and only
    checked by the server (:mod:`btgym.server.contract`): payload ``{"a": [code,
    ...]}`` (one int per asset) or ``{"a": [w_cash, w_1, ...]}`` (portfolio weights)."""

    action: list

    def payload(self) -> dict[str, Any]:
        return {ACTION: self.action}

    @classmethod
    def from_message(cls, msg: Message) -> StepRequest:
        p = msg.payload
        if ACTION in p:
            return cls(p[ACTION])
        raise ProtocolError(f"step request has no action (payload key {ACTION!r})")


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


class StepReply(NamedTuple):
    """A decision: observation arrays, reward, flags and the info dict (a tuple in
    ``step()``'s order, cheap to build on the hot path).

    On the wire: the observation leaves as raw arrays keyed by observation key and
    the record row ``RECORD_ROW`` (:func:`pack_row` of the float row ``[reward,
    value, cash, drawdown, realized, unrealized, *positions, *actions]`` and the int
    row ``[time_ns, step, terminated, truncated]``); JSON payload (usually empty):
    ``message`` and ``done`` (``{done_reason, bars_stepped}``) when not empty,
    ``info`` (the whole dict) when the strategy customises ``get_info``, and
    ``layout`` (assets, action keys) and ``notes`` (setup warnings) in the reset reply.
    """

    obs: dict[str, np.ndarray]
    reward: float
    terminated: bool
    truncated: bool
    info: dict[str, Any]

    @classmethod
    def from_message(cls, msg: Message, layout: InfoLayout) -> StepReply:
        """Parse an ``obs`` reply (``layout`` rebuilds the standard info dict)."""
        if msg.kind != "obs":
            expect(msg, ReplyKind.OBS)
        p = msg.payload
        obs = {}
        packed = None
        for key, arr in msg.arrays.items():
            if key == RECORD_ROW:
                packed = arr
            else:
                obs[key] = arr.copy()  # writable, owned by the caller
        if packed is None:
            raise ProtocolError("obs reply has no record row")
        row, ints = unpack_row(packed)
        info = p.get("info")
        try:
            if info is None:
                info = layout.info_from_rows(row, ints, p.get("message", ""), p.get("done"))
        except (IndexError, TypeError, ValueError) as exc:
            raise ProtocolError(f"malformed obs reply: {exc!r}") from None
        return cls(obs, row[0], bool(ints[2]), bool(ints[3]), info)


class FastStepReply:
    """Parses ``obs`` replies of a layout seen before, without the generic decoder.

    The server sends a payload-less ``obs`` reply with the same cached header bytes
    every step (:func:`btgym.comm.wire.encode`'s header cache): once one such reply
    was decoded the normal way (:meth:`learn`), the next ones with the same header
    bytes and buffer sizes are read straight from their frames (:meth:`parse`).
    Anything else (an error, a payload, another layout) returns ``None``: decode it
    the normal way.
    """

    def __init__(self) -> None:
        self.head: bytes | None = None
        self._specs: list[tuple[str, np.dtype, tuple[int, ...], int]] = []

    def learn(self, head: Any, msg: Message) -> None:
        """Remember the layout of ``msg`` (decoded from frames with header ``head``)."""
        if msg.kind != ReplyKind.OBS.value or msg.payload or RECORD_ROW not in msg.arrays:
            return
        self.head = bytes(head)
        self._specs = [(k, a.dtype, a.shape, a.nbytes) for k, a in msg.arrays.items()]

    def parse(self, frames: Sequence[Any], layout: InfoLayout) -> StepReply | None:
        """The step reply of ``frames`` (``bytes``), or ``None`` if not the known layout."""
        specs = self._specs
        if frames[0] != self.head or len(frames) != len(specs) + 1:
            return None
        obs = {}
        row = None
        for (name, dtype, shape, nbytes), buf in zip(specs, frames[1:]):
            if len(buf) != nbytes:
                return None
            if name == RECORD_ROW:
                row = np.frombuffer(buf, np.float64)
            else:  # writable, owned by the caller
                obs[name] = np.frombuffer(buf, dtype).reshape(shape).copy()
        floats = row[:-N_INTS].tolist()
        ints = row[-N_INTS:].view(np.int64).tolist()
        info = layout.info_from_rows(floats, ints)
        return StepReply(obs, floats[0], bool(ints[2]), bool(ints[3]), info)
