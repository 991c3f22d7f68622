"""Tiny servers used by the comm tests (module-level so spawn can import them)."""

from __future__ import annotations

import os
import time

import numpy as np

from btgym.comm.server import Reply, StopServing, serve


def echo_server(ready, transport: str = "ipc", fail_at_start: bool = False) -> None:
    if fail_at_start:
        raise RuntimeError("boom at start")

    def handle(msg):
        if msg.kind == "stop":
            raise StopServing(Reply("stopped"))
        if msg.kind == "raise":
            raise ValueError("asked to raise")
        if msg.kind == "sleep":
            time.sleep(msg.payload["s"])
        if msg.kind == "die":
            os._exit(7)
        if msg.kind == "pid":
            return Reply("pid", {"pid": os.getpid(), "ppid": os.getppid()})
        return Reply("echo", msg.payload, {k: np.asarray(v) * 2 for k, v in msg.arrays.items()})

    serve(handle, ready, transport=transport, name="echo")


def dies_silently_at_start(ready) -> None:
    os._exit(5)  # no traceback, no ready: like a segfault or an OOM kill while starting


def session_server(ready, token: bytes, curve=None, host: str = "127.0.0.1") -> None:
    """An echo server that serves one session (all commands but ``admin`` need it;
    ``admin`` is not allowed at all), over tcp, with CURVE keys when given."""
    from btgym.comm.session import Session

    def handle(msg):
        if msg.kind == "stop":
            raise StopServing(Reply("stopped"))
        return Reply("echo", msg.payload)

    sessions = (Session(token, frozenset({"echo", "stop"}), "owner"),)
    serve(
        handle,
        ready,
        transport="tcp",
        host=host,
        allow_remote=curve is not None,
        name="session",
        sessions=sessions,
        curve=curve,
    )


#: first bytes of the fast test server's one-frame replies
FAST_TAG = b"\x00FAST"


def fast_server(ready, token: bytes, fast_allowed: bool = True) -> None:
    """An echo server of one session with a fast path: a one-frame request ``F:...``
    is answered ``FAST_TAG + request`` without the decoder (``serve(fast=)``)."""
    from btgym.comm.session import Session

    def handle(msg):
        if msg.kind == "stop":
            raise StopServing(Reply("stopped"))
        return Reply("echo", msg.payload)

    def answer(head: bytes):
        return [FAST_TAG + head] if head.startswith(b"F:") else None

    commands = {"echo", "stop"} | ({"fast"} if fast_allowed else set())
    serve(
        handle,
        ready,
        name="fast",
        sessions=(Session(token, frozenset(commands), "owner"),),
        fast=("fast", answer),
    )
