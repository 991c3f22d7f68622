"""The REP side of a btgym wire: bind, announce, serve, answer errors, stop.

:func:`serve` runs a request loop around a handler ``handle(msg) -> Reply``:

- malformed input (garbage frames, bad JSON, wrong sizes) is answered with an
  ``error`` message and the loop goes on;
- an exception in the handler is answered with an ``error`` message carrying the
  traceback, so the client raises it as :class:`~btgym.errors.RemoteError`;
- the handler ends the loop by raising :class:`StopServing` (after which the reply
  it carries is sent) or when ``should_stop()`` turns true.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import zmq

from btgym.comm import endpoints, wire
from btgym.errors import ProtocolError
from btgym.log import get_logger

log = get_logger(__name__)

#: How long a server stopped on request waits to deliver its last reply (ms). Its
#: process may end with ``os._exit`` (forkserver), which would drop unsent messages.
STOP_FLUSH_MS = 1000


@dataclass(frozen=True)
class Reply:
    """What a handler answers: a kind, a JSON payload, named arrays."""

    kind: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    arrays: Mapping[str, np.ndarray] = field(default_factory=dict)


class StopServing(Exception):
    """Raised by a handler to send ``reply`` and end the loop."""

    def __init__(self, reply: Reply) -> None:
        super().__init__("stop")
        self.reply = reply


def serve(
    handle: Callable[[wire.Message], Reply],
    ready: Callable[[str], None],
    *,
    transport: str = "ipc",
    host: str = endpoints.LOOPBACK,
    port: int | None = None,
    allow_remote: bool = False,
    name: str = "server",
    idle: Callable[[], None] | None = None,
    poll_ms: int = 500,
    copy_requests: bool = False,
) -> None:
    """Bind a REP socket, call ``ready(endpoint)``, and serve until stopped.

    Args:
        handle: answers one decoded request.
        ready: called once with the bound endpoint (see :mod:`btgym.comm.process`).
        transport, host, port, allow_remote: see :func:`btgym.comm.endpoints.bind`.
        name: the ipc socket's base name and the log channel's suffix.
        idle: called every ``poll_ms`` without a request (housekeeping).
        poll_ms: the receive poll slice.
        copy_requests: receive requests as ``bytes`` (cheaper for small requests, e.g.
            per-step actions) instead of zero-copy frames.
    """
    ctx = zmq.Context()  # our own: terminating it flushes the last reply
    sock = ctx.socket(zmq.REP)
    sock.setsockopt(zmq.LINGER, 0)
    linger = 0
    try:
        endpoint, tmp = endpoints.bind(sock, transport, host, port, name, allow_remote)
    except BaseException:
        sock.close(linger=0)
        ctx.term()
        raise
    try:
        ready(endpoint)
        _loop(sock, handle, idle, poll_ms, name, copy_requests)
        linger = STOP_FLUSH_MS  # stopped on request: deliver the STOP reply first
    finally:
        with contextlib.suppress(Exception):
            sock.close(linger=linger)
        with contextlib.suppress(Exception):
            ctx.term()  # blocks until the reply is out (at most ``linger``)
        endpoints.cleanup(tmp)


def _loop(
    sock: zmq.Socket,
    handle: Callable[[wire.Message], Reply],
    idle: Callable[[], None] | None,
    poll_ms: int,
    name: str,
    copy_requests: bool = False,
) -> None:
    sock.setsockopt(zmq.RCVTIMEO, poll_ms)  # receive in slices: no poll per request
    decode_cache: dict = {}
    encode_cache: dict = {}
    while True:
        try:
            frames = sock.recv_multipart(copy=copy_requests)
        except zmq.Again:
            if idle is not None:
                idle()
            continue
        try:
            msg = wire.decode(frames, decode_cache)
            reply = handle(msg)
        except StopServing as stop:
            _send(sock, stop.reply)
            return
        except ProtocolError as exc:
            log.warning(f"{name}: malformed request: {exc}")
            sock.send_multipart(wire.error_message(exc, where=name), copy=False)
            continue
        except Exception as exc:
            log.error(f"{name}: request failed: {type(exc).__name__}: {exc}")
            sock.send_multipart(wire.error_message(exc, where=name), copy=False)
            continue
        _send(sock, reply, encode_cache)


def _send(sock: zmq.Socket, reply: Reply, cache: dict | None = None) -> None:
    frames = wire.encode(reply.kind, reply.payload, reply.arrays, cache)
    sock.send_multipart(frames, copy=wire.copy_is_cheaper(frames))
