"""Message framing for every btgym socket: a JSON header plus raw array buffers.

A message is a multipart ZeroMQ message::

    frame 0    JSON header: {"v": 1, "kind": str, "payload": {...},
                              "arrays": [{"name", "dtype", "shape"}, ...]}
    frame 1..n one raw C-contiguous buffer per array, in header order

Nothing is ever unpickled: dtypes come from a whitelist, shapes are checked against
buffer sizes, and any violation raises :class:`btgym.errors.ProtocolError`. This
follows pyzmq's "serialization" example (send the header, then the buffer with
``copy=False``).

An error raised while serving a request travels back as ``kind == "error"`` with
the exception type, message and formatted traceback (see :func:`error_message`);
the receiving side turns it into :class:`btgym.errors.RemoteError` with
:func:`raise_remote`.
"""

from __future__ import annotations

import json
import math
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from btgym.comm.remote import error_attrs, rebuild
from btgym.errors import ProtocolError, RemoteError

VERSION = 1
ERROR = "error"

#: dtypes allowed on the wire (never object dtypes).
ALLOWED_DTYPES = frozenset(
    np.dtype(t).str
    for t in (
        "bool",
        "uint8",
        "int8",
        "int16",
        "uint16",
        "int32",
        "uint32",
        "int64",
        "uint64",
        "float16",
        "float32",
        "float64",
    )
)


@dataclass(frozen=True)
class Message:
    """A decoded message: its kind, its JSON payload and its named arrays."""

    kind: str
    payload: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray) and obj.size <= 64:
        return obj.tolist()
    raise TypeError(f"cannot put {type(obj).__name__} in a message header; send it as an array")


#: one reusable encoder (``json.dumps`` with options builds a new one per call).
_ENCODER = json.JSONEncoder(default=_json_default, separators=(",", ":"))


def encode(
    kind: str,
    payload: Mapping[str, Any] | None = None,
    arrays: Mapping[str, np.ndarray] | None = None,
    cache: dict | None = None,
) -> list[bytes | memoryview]:
    """Encode a message into ZeroMQ frames.

    Args:
        kind: the message kind (usually a command enum's value).
        payload: JSON-serialisable values (numpy scalars are converted).
        arrays: named numpy arrays, sent as raw buffers without copying where possible.
        cache: a dict owned by the caller: headers of messages without payload are
            kept there by (kind, array names, dtypes, shapes) and reused (a sender
            that repeats the same message layout skips the JSON encoding).

    Returns:
        The frames to pass to ``socket.send_multipart(frames, copy=False)``.
    """
    specs = []
    buffers: list[bytes | memoryview] = []
    layout = []
    for name, arr in (arrays or {}).items():
        if type(arr) is not np.ndarray or not arr.flags.c_contiguous:
            arr = np.ascontiguousarray(arr)
        dtype = arr.dtype.str
        if dtype not in ALLOWED_DTYPES:
            raise ProtocolError(f"array {name!r}: dtype {arr.dtype} cannot be sent")
        layout.append((name, dtype, arr.shape))
        buffers.append(memoryview(arr).cast("B") if arr.size else b"")
    key = None
    if cache is not None and not payload:
        key = (kind, *layout)
        head = cache.get(key)
        if head is not None:
            return [head, *buffers]
    specs = [{"name": n, "dtype": d, "shape": list(sh)} for n, d, sh in layout]
    header = {"v": VERSION, "kind": kind, "payload": dict(payload or {}), "arrays": specs}
    head = _ENCODER.encode(header).encode()
    if key is not None and len(head) <= CACHEABLE_HEADER:
        if len(cache) >= _CACHE_SIZE:
            cache.clear()
        cache[key] = head
    return [head, *buffers]


def decode(
    frames: Sequence[bytes | memoryview | Any],
    cache: dict | None = None,
    max_header: int | None = None,
) -> Message:
    """Decode frames produced by :func:`encode`.

    Args:
        frames: the received frames (``bytes``, ``memoryview`` or ``zmq.Frame``).
        cache: a dict owned by the caller: parsed headers are kept there by their
            bytes, so a receiver of repeated message layouts parses each JSON header
            once (buffers are still checked against the header's sizes every time).
            Only headers up to :data:`CACHEABLE_HEADER` bytes are kept, at most
            ``_CACHE_SIZE`` of them: the cache never holds more than 128 KiB.
        max_header: most bytes of the header (checked before it is copied or parsed).

    Raises:
        ProtocolError: on anything malformed (bad JSON, unknown dtype, size mismatch,
            wrong frame count, unsupported version).
    """
    if not frames:
        raise ProtocolError("empty message")
    raw = [f.buffer if hasattr(f, "buffer") else f for f in frames]
    if max_header is not None and len(raw[0]) > max_header:
        raise ProtocolError(f"message header of {len(raw[0])} bytes exceeds {max_header}")
    head = bytes(raw[0])
    parsed = cache.get(head) if cache is not None else None
    cached = parsed is not None
    if not cached:
        parsed = _parse_header(head)
        if cache is not None and len(head) <= CACHEABLE_HEADER and _flat(parsed[1]):
            if len(cache) >= _CACHE_SIZE:
                cache.clear()
            cache[head] = parsed
            cached = True
    kind, payload, specs = parsed
    if cached:  # the cache keeps its copy: a fresh dict and fresh lists for the caller
        payload = {k: list(v) if type(v) is list else v for k, v in payload.items()}
    if len(specs) != len(raw) - 1:
        raise ProtocolError(f"header names {len(specs)} arrays but {len(raw) - 1} buffers came")
    arrays = {}
    for (name, dtype, shape, count), buf in zip(specs, raw[1:]):
        if len(buf) != count * dtype.itemsize:
            raise ProtocolError(
                f"array {name!r}: buffer holds {len(buf)} bytes, shape {shape} {dtype} needs "
                f"{count * dtype.itemsize}"
            )
        arrays[name] = np.frombuffer(buf, dtype=dtype, count=count).reshape(shape)
    return Message(kind, payload, arrays)


_SCALARS = (str, int, float, bool, type(None))


def _flat(payload: dict[str, Any]) -> bool:
    """True if every value is a scalar or a list of scalars (safe to cache and copy)."""
    for value in payload.values():
        if type(value) is list:
            if not all(type(v) in _SCALARS for v in value):
                return False
        elif type(value) not in _SCALARS:
            return False
    return True


def _parse_header(head: bytes) -> tuple[str, dict[str, Any], list[tuple]]:
    try:
        header = json.loads(head)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"message header is not JSON: {exc}") from None
    if not isinstance(header, dict) or header.get("v") != VERSION:
        raise ProtocolError(f"message header has no supported version: {str(header)[:80]!r}")
    kind, payload, specs = header.get("kind"), header.get("payload"), header.get("arrays")
    if not isinstance(kind, str) or not isinstance(payload, dict) or not isinstance(specs, list):
        raise ProtocolError("message header lacks kind/payload/arrays")
    return kind, payload, [_spec(spec) for spec in specs]


#: most entries of an encode/decode header cache (cleared when full).
_CACHE_SIZE = 64
#: largest header kept in a cache (bytes): a cache holds at most 64 × 2 KiB.
CACHEABLE_HEADER = 2048

#: whitelisted dtype strings → dtypes (a dict lookup per array on the hot path).
_DTYPE_OF = {s: np.dtype(s) for s in ALLOWED_DTYPES}


def _spec(spec: Any) -> tuple[str, np.dtype, tuple[int, ...], int]:
    """A header's array spec → ``(name, dtype, shape, count)``, validated."""
    try:
        name, dt, shape = spec["name"], spec["dtype"], tuple(spec["shape"])
        dtype = _DTYPE_OF.get(dt) if isinstance(dt, str) else None
        if dtype is None:
            dtype = np.dtype(dt)
    except (KeyError, TypeError, ValueError) as exc:
        raise ProtocolError(f"bad array spec {spec!r}: {exc}") from None
    if dtype.str not in ALLOWED_DTYPES or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise ProtocolError(f"array {name!r}: dtype {dtype} / shape {shape} not allowed")
    return name, dtype, shape, math.prod(shape)


def error_message(exc: BaseException, where: str = "") -> list[bytes | memoryview]:
    """Encode an exception (with its traceback) as an ``error`` message."""
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    payload = {"type": type(exc).__name__, "message": str(exc), "traceback": tb, "where": where}
    attrs = error_attrs(exc)
    if attrs:
        payload["attrs"] = attrs
    return encode(ERROR, payload)


def raise_remote(
    msg: Message, context: str = "", fallback: type[RemoteError] = RemoteError
) -> None:
    """If ``msg`` is an ``error`` message, raise it: as the same :mod:`btgym.errors`
    class when it names one (the child's traceback attached, see
    :func:`btgym.comm.remote.rebuild`), else as :class:`RemoteError`."""
    if msg.kind != ERROR:
        return
    p = msg.payload
    where = f" ({p.get('where')})" if p.get("where") else ""
    attrs = p.get("attrs")
    raise rebuild(
        str(p.get("type", "Error")),
        str(p.get("message", "")),
        str(p.get("traceback", "")),
        attrs if isinstance(attrs, dict) else None,
        context=f"{context}{where}" if context else where.strip(" ()"),
        fallback=fallback,
    )


def copy_is_cheaper(frames: Sequence[Any]) -> bool:
    """Send these frames by copy? True for small messages, where zero-copy tracking
    costs more than the copy; large buffers go zero-copy."""
    return sum(len(f) for f in frames) < 65536
