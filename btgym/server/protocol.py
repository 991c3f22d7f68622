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

The hot path: a step request is one frame (the session token, then the action's
cached header, see :meth:`btgym.comm.client.ReqClient.request_one`), and its usual
reply is one :class:`StepFrame` (fixed layout, no JSON) instead of an ``obs``
message; a step with a custom info dict, or an error, is a normal message.
"""

from __future__ import annotations

import math
import struct
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


#: first bytes of a step frame (a JSON header starts with ``{``: never confused).
FRAME_TAG = b"\x00btgym\x01\x00"
#: ``done_reason`` values by their code in a step frame (0: the episode goes on).
DONE_REASONS = ("", "drawdown_call", "target_call", "get_done", "end_of_data")
_DONE_CODES = {reason: code for code, reason in enumerate(DONE_REASONS)}


class StepFrame:
    """The usual step reply as one fixed-layout frame (no JSON, no per-step header).

    Layout: :data:`FRAME_TAG`, each observation leaf's raw buffer in state order
    (padded to 8 bytes), the record row (float64 ``[*float row]``, int64
    ``[time_ns, step, terminated, truncated]``), int64 ``[done_code,
    bars_stepped]`` (:data:`DONE_REASONS`), then the broker message as UTF-8 (the
    rest of the frame, usually empty). The server and the client derive the same
    layout from the episode's reset reply (:meth:`of_obs` / :meth:`of_message`); a
    step whose info is not the standard one (a custom ``get_info``) travels as a
    normal ``obs`` message instead.

    Args:
        specs: ``(key, dtype, shape)`` of each observation leaf, in order.
        width: length of the float row.
    """

    def __init__(self, specs: Sequence[tuple[str, Any, tuple[int, ...]]], width: int) -> None:
        off = len(FRAME_TAG)
        self.leaves: list[tuple[str, np.dtype, tuple[int, ...], int, int]] = []
        self._pads: list[bytes] = []
        for key, dtype, shape in specs:
            dtype, shape = np.dtype(dtype), tuple(int(d) for d in shape)
            nbytes = dtype.itemsize * math.prod(shape)
            self.leaves.append((key, dtype, shape, off, nbytes))
            self._pads.append(b"\0" * (-nbytes % 8))
            off += nbytes + len(self._pads[-1])
        self.width = int(width)
        self.row_offset = off
        self._row = struct.Struct(f"<{self.width}d{N_INTS + 2}q")
        #: bytes of a frame without a broker message
        self.size = off + self._row.size

    @classmethod
    def of_obs(cls, obs: Mapping[str, np.ndarray], width: int) -> StepFrame:
        """The layout of ``obs`` (the server, from the reset's observation)."""
        return cls([(k, a.dtype, a.shape) for k, a in obs.items()], width)

    @classmethod
    def of_message(cls, msg: Message) -> StepFrame:
        """The layout of an ``obs`` message (the client, from the reset reply)."""
        row = msg.arrays.get(RECORD_ROW)
        if row is None or row.ndim != 1 or len(row) <= N_INTS:
            raise ProtocolError("obs reply has no valid record row")
        specs = [(k, a.dtype, a.shape) for k, a in msg.arrays.items() if k != RECORD_ROW]
        return cls(specs, len(row) - N_INTS)

    def pack(
        self,
        obs: Mapping[str, np.ndarray],
        floats: Sequence[float],
        ints: Sequence[int],
        message: str,
        done_reason: str,
        bars_stepped: int,
    ) -> bytes | None:
        """The frame of one decision; ``None`` when it does not fit this layout (an
        unknown ``done_reason``: send a normal message)."""
        code = _DONE_CODES.get(done_reason)
        if code is None or len(floats) != self.width:
            return None
        parts: list[Any] = [FRAME_TAG]
        for (key, dtype, shape, _, _), pad in zip(self.leaves, self._pads):
            arr = obs[key]
            if arr.shape != shape or arr.dtype != dtype or not arr.flags.c_contiguous:
                return None
            parts.append(arr)
            if pad:
                parts.append(pad)
        parts.append(self._row.pack(*floats, *ints, code, bars_stepped))
        if message:
            parts.append(message.encode())
        return b"".join(parts)

    def read(
        self, frame: bytes, copy: bool = False
    ) -> tuple[dict[str, np.ndarray], tuple, tuple, str, dict] | None:
        """``(obs, floats, ints, message, done)`` of a step frame (``obs`` are
        read-only views of ``frame``, or fresh writable arrays with ``copy``; ``done``
        is ``{}`` unless the episode ended); ``None`` if ``frame`` is not a step frame.

        Raises:
            ProtocolError: a step frame that does not fit this layout.
        """
        if not self.is_frame(frame):
            return None
        if copy:
            obs = {
                key: np.ndarray(shape, dtype, frame, off).copy()
                for key, dtype, shape, off, _ in self.leaves
            }
        else:
            obs = {
                key: np.ndarray(shape, dtype, frame, off)
                for key, dtype, shape, off, _ in self.leaves
            }
        vals = self._row.unpack_from(frame, self.row_offset)
        w = self.width
        ints = vals[w : w + N_INTS]
        return obs, vals[:w], ints, self.message(frame), self.done(vals[-2], vals[-1])

    def is_frame(self, frame: bytes) -> bool:
        """Whether ``frame`` is a step frame (tag and size checked).

        Raises:
            ProtocolError: a tagged frame too short for this layout.
        """
        if not frame.startswith(FRAME_TAG):
            return False
        if len(frame) < self.size:
            raise ProtocolError(f"step frame of {len(frame)} bytes, the layout needs {self.size}")
        return True

    def row(self, frame: bytes) -> np.ndarray:
        """The packed record row (:func:`pack_row`'s layout) of a step frame, a view."""
        return np.ndarray(self.width + N_INTS, np.float64, frame, self.row_offset)

    def tail(self, frame: bytes) -> tuple[str, dict]:
        """``(message, done)`` of a step frame (see :meth:`read`)."""
        code, bars = struct.unpack_from("<2q", frame, self.size - 16)
        return self.message(frame), self.done(code, bars)

    def message(self, frame: bytes) -> str:
        return frame[self.size :].decode("utf-8", "replace") if len(frame) > self.size else ""

    @staticmethod
    def done(code: int, bars: int) -> dict[str, Any]:
        if not code:
            return {}
        if not 0 < code < len(DONE_REASONS):
            raise ProtocolError(f"step frame with an unknown done code {code}")
        return {"done_reason": DONE_REASONS[code], "bars_stepped": bars}


# --------------------------------------------------------------------------- groups
#: first bytes of a group server's batched step request and of its reply's first
#: frame (see :mod:`btgym.server.group`); never a JSON header nor a step frame.
GROUP_TAG = b"\x00btgym\x02\x00"
_U32 = struct.Struct("<I")
_PAIR = struct.Struct("<II")


def pack_batch(items: Sequence[tuple[int, bytes]]) -> bytes:
    """One frame of a group's batched step: ``(env, step request head)`` pairs (each
    head a step request's cached header, as a one-env server takes it)."""
    parts = [GROUP_TAG, _U32.pack(len(items))]
    parts += [_PAIR.pack(j, len(head)) for j, head in items]
    parts += [head for _, head in items]
    return b"".join(parts)


def _pairs(frame: bytes, limit: int) -> tuple[list[tuple[int, int]], int]:
    """``[(env, length)]`` of a batch frame and the offset after its table."""
    off = len(GROUP_TAG)
    if len(frame) < off + _U32.size:
        raise ProtocolError("group frame too short")
    (count,) = _U32.unpack_from(frame, off)
    off += _U32.size
    if count > limit or len(frame) < off + count * _PAIR.size:
        raise ProtocolError(f"group frame of {count} entries (at most {limit})")
    pairs = [_PAIR.unpack_from(frame, off + k * _PAIR.size) for k in range(count)]
    for j, _ in pairs:
        if j >= limit:
            raise ProtocolError(f"group frame names env {j} of {limit}")
    return pairs, off + count * _PAIR.size


def unpack_batch(frame: bytes, n_envs: int) -> list[tuple[int, bytes]]:
    """Inverse of :func:`pack_batch` (``n_envs``: the group's size).

    Raises:
        ProtocolError: not a batch of this group (sizes, indices, repeated env).
    """
    pairs, off = _pairs(frame, n_envs)
    if len({j for j, _ in pairs}) != len(pairs):
        raise ProtocolError("group frame names an env twice")
    out = []
    for j, size in pairs:
        out.append((j, frame[off : off + size]))
        off += size
    if off != len(frame):
        raise ProtocolError(f"group frame of {len(frame)} bytes, its table says {off}")
    return out


def pack_batch_reply(replies: Sequence[tuple[int, list]]) -> list:
    """The frames of a group's reply: a table frame (env, frame count), then each
    env's reply frames (a step frame, an ``obs`` message or an ``error``)."""
    head = [GROUP_TAG, _U32.pack(len(replies))]
    head += [_PAIR.pack(j, len(frames)) for j, frames in replies]
    out: list = [b"".join(head)]
    for _, frames in replies:
        out += frames
    return out


def unpack_batch_reply(received: Sequence[Any], n_envs: int) -> list[tuple[int, list]]:
    """``[(env, reply frames)]`` of :func:`pack_batch_reply`'s frames.

    Raises:
        ProtocolError: not a group reply, or its table does not match its frames.
    """
    first = received[0] if received else b""
    first = first if isinstance(first, bytes) else bytes(first)
    if not first.startswith(GROUP_TAG):
        raise ProtocolError("expected a group reply")
    pairs, off = _pairs(first, n_envs)
    if off != len(first) or sum(c for _, c in pairs) != len(received) - 1:
        raise ProtocolError("group reply's table does not match its frames")
    out, k = [], 1
    for j, count in pairs:
        out.append((j, list(received[k : k + count])))
        k += count
    return out
