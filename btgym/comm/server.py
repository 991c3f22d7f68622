"""The REP side of a btgym wire: bind, announce, serve, answer errors, stop.

:func:`serve` runs a request loop around a handler ``handle(msg) -> Reply``:

- malformed input (garbage frames, bad JSON, wrong sizes) is answered with an
  ``error`` message and the loop goes on;
- an exception in the handler is answered with an ``error`` message carrying the
  traceback, so the client raises it as :class:`~btgym.errors.RemoteError`;
- the handler ends the loop by raising :class:`StopServing` (after which the reply
  it carries is sent) or when ``should_stop()`` turns true;
- with ``sessions``, a request's first frame must be one session's token (a bytes
  comparison, no parsing) and its kind one that session may send; anything else is
  answered with a :class:`~btgym.errors.SessionError` reply, reaches no handler and
  is logged at most once per few seconds (see :mod:`btgym.comm.session`);
- ``limits`` bound every inbound frame (``ZMQ_MAXMSGSIZE``, enforced by libzmq
  before allocation), the header size and the frame count;
- beyond loopback (``allow_remote=True``) ``curve`` keys are mandatory: the socket
  is a CURVE server that admits only the run's client key.
"""

from __future__ import annotations

import contextlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import zmq

from btgym.comm import endpoints, wire
from btgym.comm.session import (
    SERVER_LIMITS,
    CurveKeys,
    Limits,
    RateLimitedLog,
    Session,
    find_session,
    start_authenticator,
)
from btgym.errors import ConfigError, ProtocolError, SessionError
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


class Pending:
    """A request a fast path received itself (``exchange``, see :func:`serve`) and
    hands back to the serve loop, its reply to the previous request already sent."""

    __slots__ = ("frames",)

    def __init__(self, frames: list) -> None:
        self.frames = frames


def _exchanger(
    sock: zmq.Socket, token: bytes, copy_requests: bool, idle: Callable[[], None] | None
) -> Callable[[list], tuple[bytes | None, list]]:
    """``exchange(reply)``: send ``reply``, wait for the next request and return
    ``(head, frames)``: ``head`` the request after the session token when it is one
    frame that starts with the token (the same constant-time compare), else ``None``
    (hand ``Pending(frames)`` back to the loop, which checks them the normal way)."""
    n = len(token)
    compare = hmac.compare_digest

    def exchange(reply: list) -> tuple[bytes | None, list]:
        _send_frames(sock, reply)
        while True:
            try:
                frames = sock.recv_multipart(copy=copy_requests)
                break
            except zmq.Again:
                if idle is not None:
                    idle()
        if len(frames) == 1:
            first = frames[0]
            first = first if type(first) is bytes else first.bytes
            if compare(token, first[:n]):
                return first[n:], frames
        return None, frames

    return exchange


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
    sessions: tuple[Session, ...] | None = None,
    limits: Limits = SERVER_LIMITS,
    curve: CurveKeys | None = None,
    ipc_path: str | None = None,
    fast: tuple | None = None,
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
        sessions: the sessions accepted (``None``: no token checked, for tests of the
            framing only; every btgym server passes its owner's sessions).
        limits: inbound size limits.
        curve: CURVE keys (with the server's secret); mandatory with ``allow_remote``.
        ipc_path: bind this ipc socket file (a restarted server keeps its endpoint).
        fast: ``(kind, answer)``: a one-frame request (after the session token, and
            only from a session allowed ``kind``) goes first to ``answer(frame)``,
            (with one session, the token may also lead the request's one frame: see
            :meth:`btgym.comm.client.ReqClient.request_one`),
            which returns the reply frames, or ``None`` to decode the request the
            normal way (``answer`` checks the header size of what it decodes itself;
            its exceptions are answered like the handler's). The env server answers
            its step requests so, without the generic decoder and encoder. A third
            element ``bind`` (one session allowed ``kind``, or no sessions) gets an
            ``exchange(reply) -> (head, frames)`` (see :func:`_exchanger`): ``answer``
            may then answer the next requests itself and hand one it does not take
            back to the loop as :class:`Pending` (the loop then serves that request).
    """
    if allow_remote and curve is None:
        raise ConfigError(
            f"{name}: binding beyond loopback (allow_remote=True) needs CURVE keys "
            "(btgym.comm.session.CurveKeys.generate())"
        )
    ctx = zmq.Context()  # our own: terminating it flushes the last reply
    sock = ctx.socket(zmq.REP)
    sock.setsockopt(zmq.LINGER, 0)
    limits.apply(sock)
    auth = None
    linger = 0
    try:
        if curve is not None:
            auth = start_authenticator(ctx, curve)
            curve.apply_server(sock)
        endpoint, tmp = endpoints.bind(
            sock, transport, host, port, name, allow_remote, ipc_path=ipc_path
        )
    except BaseException:
        sock.close(linger=0)
        if auth is not None:
            auth.stop()
        ctx.term()
        raise
    try:
        ready(endpoint)
        _loop(sock, handle, idle, poll_ms, name, copy_requests, sessions, limits, fast)
        linger = STOP_FLUSH_MS  # stopped on request: deliver the STOP reply first
    finally:
        with contextlib.suppress(Exception):
            sock.close(linger=linger)
        if auth is not None:
            with contextlib.suppress(Exception):
                auth.stop()
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
    sessions: tuple[Session, ...] | None = None,
    limits: Limits = SERVER_LIMITS,
    fast: tuple | None = None,
) -> None:
    sock.setsockopt(zmq.RCVTIMEO, poll_ms)  # receive in slices: no poll per request
    decode_cache: dict = {}
    encode_cache: dict = {}
    refused = RateLimitedLog(log)
    max_frames = limits.max_frames + (1 if sessions is not None else 0)
    single = sessions[0] if sessions is not None and len(sessions) == 1 else None
    compare = hmac.compare_digest
    fast_kind, answer, bind = (*fast, None)[:3] if fast is not None else ("", None, None)
    # a one-session server with a fast path also takes a request of one frame: the
    # token's bytes, then the request (one frame less per step; the same compare)
    joined = len(single.token) if single is not None and answer is not None else 0
    if bind is not None and (sessions is None or (joined and single.allows(fast_kind))):
        bind(_exchanger(sock, single.token if joined else b"", copy_requests, idle))
    pending: list | None = None
    while True:
        if pending is not None:  # received by the fast path, its reply sent
            frames, pending = pending, None
        else:
            try:
                frames = sock.recv_multipart(copy=copy_requests)
            except zmq.Again:
                if idle is not None:
                    idle()
                continue
        session = None
        try:
            if len(frames) > max_frames:
                raise ProtocolError(f"{len(frames)} frames exceed {limits.max_frames}")
            if sessions is not None:
                first = frames[0]
                token = first if copy_requests else first.bytes
                if len(frames) >= 2:
                    if single is not None:  # the env server: one session, one compare
                        session = single if compare(single.token, token) else None
                    else:
                        session = find_session(sessions, token)
                    frames = frames[1:]
                elif joined and compare(single.token, token[:joined]):
                    session, frames = single, [token[joined:]]
                if session is None:
                    raise SessionError(f"{name}: request without a valid session token")
            if (
                answer is not None
                and len(frames) == 1
                and (session is None or session.allows(fast_kind))
            ):
                head = frames[0]
                out = answer(head if type(head) is bytes else head.bytes)
                if type(out) is Pending:
                    pending = out.frames
                    continue
                if out is not None:
                    _send_frames(sock, out)
                    continue
            msg = wire.decode(frames, decode_cache, limits.max_header)
            if session is not None and not session.allows(msg.kind):
                raise SessionError(
                    f"{name}: command {msg.kind[:64]!r} is not allowed to the "
                    f"{session.name} session"
                )
            reply = handle(msg)
        except StopServing as stop:
            _send(sock, stop.reply)
            return
        except (ProtocolError, SessionError) as exc:
            refused.warning(f"{name}: refused request: {exc}")
            sock.send_multipart(wire.error_message(exc, where=name), copy=False)
            continue
        except Exception as exc:
            log.error(f"{name}: request failed: {type(exc).__name__}: {exc}")
            sock.send_multipart(wire.error_message(exc, where=name), copy=False)
            continue
        _send(sock, reply, encode_cache)


def _send(sock: zmq.Socket, reply: Reply, cache: dict | None = None) -> None:
    _send_frames(sock, wire.encode(reply.kind, reply.payload, reply.arrays, cache))


def _send_frames(sock: zmq.Socket, frames: list) -> None:
    if len(frames) == 1:  # one frame (a step frame): no multipart bookkeeping
        sock.send(frames[0], copy=len(frames[0]) < 65536)
        return
    sock.send_multipart(frames, copy=wire.copy_is_cheaper(frames))
