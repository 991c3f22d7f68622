"""A group server: one process hosting m backtrader episode loops, stepped in batches.

``btgym.make_vec(n, servers=k)`` starts k of these instead of n one-env servers: each
child runs m = n/k :class:`~btgym.server.loop.EpisodeLoop` s in-process (greenlet
switched, as ``BTgymEnv(server="inprocess")``), each behind the same
:class:`~btgym.server.process.EpisodeServer` as a one-env server process. A vector
step is one request per group (:func:`btgym.server.protocol.pack_batch`: each env's
step request header) answered by one reply (:func:`~btgym.server.protocol.pack_batch_reply`:
each env's step frame, ``obs`` message or ``error`` with the traceback), so a step
costs k round trips, and no more server processes than cores.

Every other request is a normal :mod:`btgym.server.protocol` request with the env's
index in the group as payload key :data:`ENV` (``stop`` stops the whole group). The
wire is the one-env server's: the owner's session token, size limits, no pickle.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from btgym.comm import wire
from btgym.comm.server import Reply, StopServing
from btgym.comm.session import SERVER_LIMITS, CurveKeys
from btgym.comm.wire import Message
from btgym.errors import ProtocolError
from btgym.log import get_logger
from btgym.server import protocol as P
from btgym.server.config import ServerConfig
from btgym.server.loop import EpisodeLoop
from btgym.server.process import EpisodeServer, make_source, serve_owned

log = get_logger(__name__)

#: payload key of the env's index in its group (every request but ``stop``).
ENV = "env"


class GroupServer:
    """Request handler of a group: routes each request to its env's
    :class:`EpisodeServer`; :meth:`fast_batch` answers the batched steps.

    Args:
        loops: the group's episode loops (env ``j`` of the group is ``loops[j]``).
        max_header: most bytes of a request header.
    """

    def __init__(self, loops: list[EpisodeLoop], max_header: int | None = None) -> None:
        self.loops = loops
        self.servers = [EpisodeServer(loop, max_header) for loop in loops]

    def __call__(self, msg: Message) -> Reply:
        if msg.kind == P.Command.STOP.value:
            for loop in self.loops:
                with contextlib.suppress(Exception):
                    loop.close()
            raise StopServing(Reply(P.ReplyKind.STOPPED.value))
        j = msg.payload.get(ENV)
        if type(j) is not int or not 0 <= j < len(self.servers):
            raise ProtocolError(
                f"group request {msg.kind[:64]!r} without a valid {ENV!r} index "
                f"(0..{len(self.servers) - 1}), got {j!r}"
            )
        return self.servers[j](msg)

    def fast_batch(self, head: bytes) -> list | None:
        """Answer a batched step (``None``: not one, decode it the normal way). Each
        env's request is answered by its server's ``fast_step``; an env's exception
        becomes its ``error`` reply (with the traceback), the others' steps stand."""
        if not head.startswith(P.GROUP_TAG):
            return None
        replies = []
        for j, step_head in P.unpack_batch(head, len(self.servers)):
            try:
                out = self.servers[j].fast_step(step_head)
                if out is None:
                    raise ProtocolError(f"env {j} of the group: the batch holds no step request")
            except Exception as exc:
                log.error(f"btgym-group env {j}: step failed: {type(exc).__name__}: {exc}")
                out = wire.error_message(exc, where=f"btgym-group env {j}")
            replies.append((j, out))
        return P.pack_batch_reply(replies)


def make_loops(
    loops: list, closers: list, size: int, data_source: Any, strategy: Any, broker: Any,
    strategy_class: type, render: Any, data_timeout: float,
) -> None:  # fmt: skip
    """Append ``size`` loops (lazy info, as a one-env server's), each with its own trial
    source, to ``loops``, and each source's ``close`` to ``closers`` (the caller
    closes what was made, also when this raises)."""
    for _ in range(size):
        source, close_source = make_source(data_source, data_timeout)
        if close_source is not None:
            closers.append(close_source)
        loops.append(EpisodeLoop(source, strategy, broker, strategy_class, render, lazy_info=True))


def run_group(
    ready: Callable[[str], None],
    *,
    size: int,
    data_source: Any,
    strategy: Any,
    broker: Any,
    strategy_class: type,
    render: Any,
    server: ServerConfig,
    session_token: bytes | None = None,
    curve: CurveKeys | None = None,
) -> None:
    """Child entry point: ``size`` loops (each with its own trial source, as ``size``
    one-env servers), served until ``stop``, only to the owner's session."""
    loops: list[EpisodeLoop] = []
    closers: list[Callable[[], None]] = []
    try:
        make_loops(loops, closers, size, data_source, strategy, broker, strategy_class, render,
                   server.data_timeout)  # fmt: skip
        handler = GroupServer(loops, SERVER_LIMITS.max_header)
        serve_owned(
            handler,
            ready,
            server,
            name="btgym-group",
            session_token=session_token,
            curve=curve,
            fast=(P.Command.STEP.value, handler.fast_batch),
        )
    finally:
        for loop in loops:
            with contextlib.suppress(Exception):
                loop.close()
        for close in closers:
            with contextlib.suppress(Exception):
                close()
