"""A REQ client for btgym servers: every receive has a timeout, nothing hangs.

:meth:`ReqClient.request` sends one message and waits for the reply in short
slices; between slices it checks the server process (when it owns one), so a dead
server is reported within a fraction of a second as the child's own exception
(:class:`~btgym.errors.RemoteError`, with its traceback) or as
:class:`~btgym.errors.ServerDiedError`, and a silent one as
:class:`~btgym.errors.ServerTimeoutError` after ``timeout`` seconds. After a
failed exchange the REQ socket is rebuilt ("lazy pirate"), so the client stays
usable once the server is back.

The endpoint may be an *address* (see :class:`btgym.comm.session.Address`): its
session token is sent as the first frame of every request, its CURVE keys make the
socket a CURVE client, and its ``pid`` (a server on this machine) is watched like
an owned process: a server found dead is reported within a slice, not a timeout.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import zmq

from btgym.comm import wire
from btgym.comm.process import ChildProcess, _pid_running
from btgym.comm.session import CLIENT_LIMITS, Address, CurveKeys, Limits
from btgym.errors import CommError, RemoteError, ServerDiedError, ServerTimeoutError

_SLICE_MS = 100
#: plain ints: pyzmq's flag enums cost a microsecond per operation on the hot path
_SNDMORE = int(zmq.SNDMORE)
_RCVMORE = int(zmq.RCVMORE)


class ReqClient:
    """Request/reply client of one btgym server.

    Args:
        endpoint: the server's endpoint.
        timeout: seconds to wait for each reply.
        process: the server's process, when this client owns it (for liveness checks).
        name: used in error messages.
        error_cls: the named error raised for a silent or dead peer without a process
            (e.g. :class:`~btgym.errors.DataServerError`).
        copy_replies: receive replies as ``bytes`` (cheaper for small replies, e.g.
            per-step observations) instead of zero-copy frames (better for big arrays).
        token: the session token (overrides the address's).
        curve: CURVE client keys (override the address's).
        limits: inbound size limits of the replies.
        remote_cls: raised for a server's error that is not a named btgym error.
    """

    def __init__(
        self,
        endpoint: str,
        timeout: float = 10.0,
        process: ChildProcess | None = None,
        name: str = "server",
        error_cls: type[CommError] = ServerTimeoutError,
        copy_replies: bool = False,
        token: bytes | None = None,
        curve: CurveKeys | None = None,
        limits: Limits = CLIENT_LIMITS,
        remote_cls: type[RemoteError] = RemoteError,
    ) -> None:
        address = Address.parse(endpoint)
        self.endpoint = address.endpoint
        self.token = token if token is not None else address.token
        self.curve = curve if curve is not None else address.curve
        self.limits = limits
        self.remote_cls = remote_cls
        #: pid of a server on this machine to watch while waiting (``None``: don't).
        self.peer_pid: int | None = address.pid if process is None else None
        self.copy_replies = copy_replies
        self.timeout = float(timeout)
        self.process = process
        self.name = name
        self.error_cls = error_cls
        self._ctx = zmq.Context.instance()
        self._encode_cache: dict = {}
        self._decode_cache: dict = {}
        self._sock: zmq.Socket | None = None
        self._connect()

    def _connect(self) -> None:
        sock = self._ctx.socket(zmq.REQ)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVTIMEO, _SLICE_MS)  # receive in slices: no poll per request
        self.limits.apply(sock)
        if self.curve is not None:
            self.curve.apply_client(sock)
        sock.connect(self.endpoint)
        self._sock = sock

    def _reset_socket(self) -> None:
        if self._sock is not None:
            self._sock.close(linger=0)
        self._connect()

    def request(
        self,
        kind: str,
        payload: Mapping[str, Any] | None = None,
        arrays: Mapping[str, np.ndarray] | None = None,
        timeout: float | None = None,
    ) -> wire.Message:
        """Send a request and return the decoded reply.

        Raises:
            RemoteError: the server replied with an error, or died raising one.
            ServerDiedError: the owned server process died.
            ServerTimeoutError (or ``error_cls``): no reply within the timeout.
            ProtocolError: the reply is malformed.
        """
        if self._sock is None:
            raise CommError(f"client of {self.name} is closed")
        frames = wire.encode(kind, payload, arrays, self._encode_cache)
        return self._exchange(frames, kind, timeout)

    def request_frames(
        self,
        frames: list[bytes | memoryview],
        kind: str = "request",
        timeout: float | None = None,
        raw: bool = False,
    ) -> Any:
        """:meth:`request` with frames already made by :func:`btgym.comm.wire.encode`
        (a caller that repeats the same request encodes it once). With ``raw`` the
        received frames come back undecoded (the caller decodes a reply layout it
        knows, or calls :meth:`decode_reply`)."""
        if self._sock is None:
            raise CommError(f"client of {self.name} is closed")
        return self._exchange(frames, kind, timeout, raw)

    def request_one(self, head: bytes, kind: str, single: bytes) -> list:
        """:meth:`request_frames` of a one-frame request (``head``, e.g. a step's
        cached header) to a server with a fast path (``serve(fast=)``, one session):
        the token and ``head`` go as one frame. The reply's frames come back
        undecoded; a reply whose first frame starts with ``single`` is known to be one
        frame (the server's step frame): it is taken without asking the socket for
        more parts."""
        self.send_joined(head)
        return self.receive_one(kind, time.monotonic() + self.timeout, self.timeout, single)

    def send_joined(self, head: bytes) -> None:
        """Send a one-frame request with the session token as its first bytes (to a
        server with a fast path and one session, see :func:`btgym.comm.server.serve`)."""
        sock = self._sock
        if sock is None:
            raise CommError(f"client of {self.name} is closed")
        sock.send(head if self.token is None else self.token + head)

    def receive_one(self, kind: str, deadline: float, limit: float, single: bytes) -> list:
        """The reply frames to :meth:`send`, waited for until ``deadline``
        (``time.monotonic()``; ``limit`` is the timeout named in the error). A reply
        whose first frame starts with ``single`` is one frame: taken without asking
        the socket for more parts (a ``getsockopt`` per reply).

        Raises:
            ServerDiedError / ServerTimeoutError: see :meth:`check_peer`.
        """
        sock = self._sock
        if sock is None:
            raise CommError(f"client of {self.name} is closed")
        copy = self.copy_replies
        while True:
            try:
                first = sock.recv(copy=copy)
                break
            except zmq.Again:  # a slice passed without a reply: check on the server
                self.check_peer(kind, deadline, limit)
        received = [first]
        if first.startswith(single) if copy else first.bytes.startswith(single):
            return received
        while sock.getsockopt(_RCVMORE):
            received.append(sock.recv(copy=copy))
        return received

    def _exchange(self, frames: list, kind: str, timeout: float | None, raw: bool = False) -> Any:
        sock = self._sock
        self.send(frames)
        limit = self.timeout if timeout is None else float(timeout)
        deadline = time.monotonic() + limit
        while True:
            try:
                received = sock.recv_multipart(copy=self.copy_replies)
            except zmq.Again:  # a slice passed without a reply: check on the server
                self.check_peer(kind, deadline, limit)
                continue
            return received if raw else self.decode_reply(received)

    # -- the split exchange, for callers that drive many clients at once (a zmq Poller
    #    over :attr:`socket`: send to all, then collect; see btgym.envs.vec)

    @property
    def socket(self) -> zmq.Socket | None:
        """The REQ socket (rebuilt after a failed exchange: do not keep it)."""
        return self._sock

    def send(self, frames: list) -> None:
        """Send one request made by :func:`btgym.comm.wire.encode` (token prepended)."""
        sock = self._sock
        if sock is None:
            raise CommError(f"client of {self.name} is closed")
        if len(frames) == 1 and len(frames[0]) < 65536:  # a header-only request (a step)
            if self.token is not None:
                sock.send(self.token, _SNDMORE)
            sock.send(frames[0])
            return
        if self.token is not None:
            frames = [self.token, *frames]
        sock.send_multipart(frames, copy=wire.copy_is_cheaper(frames))

    def receive(self) -> wire.Message:
        """The reply to :meth:`send`, when a poll said it is there (no wait)."""
        return self.decode_reply(self.receive_raw())

    def receive_raw(self) -> list:
        """The reply frames to :meth:`send`, undecoded (a poll said they are there)."""
        return self._sock.recv_multipart(zmq.NOBLOCK, copy=self.copy_replies)

    def decode_reply(self, received: list) -> wire.Message:
        """Decode a reply; raise the server's error if it is one."""
        msg = wire.decode(received, self._decode_cache, self.limits.max_header)
        wire.raise_remote(msg, context=self.name, fallback=self.remote_cls)
        return msg

    def check_peer(self, kind: str, deadline: float, limit: float) -> None:
        """While waiting for a reply: raise if the server died or ``deadline`` passed
        (the socket is rebuilt first, so the client stays usable)."""
        if self.process is not None and not self.process.is_alive():
            self._reset_socket()
            raise self.process.death_report() from None
        pid = self.peer_pid
        if pid is not None and not _pid_running(pid):
            self._reset_socket()
            self.peer_pid = None
            raise ServerDiedError(f"{self.name} at {self.endpoint} (pid {pid}) is gone") from None
        if time.monotonic() >= deadline:
            self._reset_socket()
            err = self.error_cls if issubclass(self.error_cls, CommError) else CommError
            raise err(
                f"{self.name} at {self.endpoint} did not answer {kind!r} within {limit:g} s"
            ) from None

    def abandon(self) -> None:
        """Drop a request whose reply is no longer wanted (rebuild the socket)."""
        if self._sock is not None:
            self._reset_socket()

    def close(self) -> None:
        """Close the socket (idempotent)."""
        if self._sock is not None:
            with contextlib.suppress(Exception):
                self._sock.close(linger=0)
            self._sock = None
