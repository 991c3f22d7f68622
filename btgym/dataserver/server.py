"""``BTgymDataFeedServer``: one data domain served to many env servers over ZeroMQ.

The server owns a data domain (``BTgymDataset``, ``BTgymRandomDataDomain``,
``BTgymSequentialDataDomain`` or anything with the same ``reset``/``sample``
shape). The domain loads and validates its data once, at ``reset``; serving a
trial only slices arrays already in memory and sends them as raw buffers
(``trial.to_wire()``), so nothing is re-read or re-parsed per request.

One REP socket serves every client; requests are answered one at a time in
arrival order, so the domain's random stream is consumed in a single, reproducible
order for a single client.

**Global time.** The server keeps the latest bar time it has handed out: after
each ``sample`` request, global time becomes ``max(global time, time of the
served trial's last bar)``. It never goes back, so "no client has been given data
later than global time" always holds; with a sequential domain it is the walk's
present, and a test trial (``sample_type=1``) moves it to the end of the test
period. A client may also advance it (never rewind it) with the ``timestamp`` of
``set_broadcast``, as the original's ``_set_broadcast_message`` did. A domain
``reset`` sets it back to ``None`` (no data served yet). Times are ``int64`` ns.

**Broadcast.** One JSON-able message that any client can set and every client can
read, with the wall-clock time it was set.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import psutil

from btgym.comm.server import Reply, StopServing, serve
from btgym.comm.session import CurveKeys, Session
from btgym.comm.wire import Message
from btgym.datafeed.meta import DataSampleConfig
from btgym.dataserver import protocol as P
from btgym.dataserver.config import DataServerConfig
from btgym.errors import ProtocolError
from btgym.log import get_logger, level_from, setup_logging

log = get_logger(__name__)


def _last_time(trial: Any) -> int | None:
    """The time (ns) of a trial's last bar, or ``None`` if it has none."""
    bars = getattr(trial, "bars", None)
    index = getattr(bars, "index", None)
    if index is None or len(index) == 0:
        return None
    return int(np.asarray(index)[-1])


class BTgymDataFeedServer:
    """The request handler around one data domain (runs inside the server process).

    Args:
        domain: a data domain; already reset, or reset by :meth:`start_domain`.
        name: the log channel suffix and the ipc socket's base name.
    """

    def __init__(self, domain: Any, name: str = "data_server") -> None:
        self.domain = domain
        self.name = name
        self.endpoint = ""
        self.started = time.monotonic()
        self.trials_served = 0
        self.served_by_type: dict[str, int] = {}
        self.resets = 0
        self.global_time: int | None = None
        self.broadcast: Any = None
        self.broadcast_set_at: float | None = None
        self._handlers: dict[str, Callable[[Message], Reply]] = {
            P.Command.SAMPLE.value: self._sample,
            P.Command.RESET.value: self._reset,
            P.Command.INFO.value: lambda _msg: Reply(P.ReplyKind.INFO.value, self._info()),
            P.Command.GLOBAL_TIME.value: self._time,
            P.Command.GET_BROADCAST.value: lambda _msg: self._broadcast_reply(),
            P.Command.SET_BROADCAST.value: self._set_broadcast,
            P.Command.PING.value: self._ping,
            P.Command.STOP.value: self._stop,
        }

    # ----------------------------------------------------------------- lifecycle

    def start_domain(self, seed: int | None = None, params: dict[str, Any] | None = None) -> None:
        """Reset the domain (loads and validates its data); counts as a reset."""
        self.domain.reset(seed=seed, **(params or {}))
        self.resets += 1
        self.global_time = None

    def serve(
        self,
        ready: Callable[[str], None],
        config: DataServerConfig,
        sessions: tuple[Session, ...] | None = None,
        curve: CurveKeys | None = None,
        ipc_path: str | None = None,
    ) -> None:
        """Bind per ``config``, call ``ready(endpoint)`` and serve until ``stop``
        (only to ``sessions``; see :func:`btgym.comm.server.serve`)."""

        def announce(endpoint: str) -> None:
            self.endpoint = endpoint
            log.info(f"{self.name}: serving {type(self.domain).__name__} at {endpoint}")
            ready(endpoint)

        serve(
            self.handle,
            announce,
            transport=config.transport,
            host=config.host,
            port=config.port,
            allow_remote=config.allow_remote,
            name=self.name,
            sessions=sessions,
            curve=curve,
            ipc_path=ipc_path,
        )

    # ----------------------------------------------------------------- requests

    def handle(self, msg: Message) -> Reply:
        """Answer one decoded request (raises for the serve loop to report)."""
        handler = self._handlers.get(msg.kind)
        if handler is None:
            known = ", ".join(c.value for c in P.Command)
            raise ProtocolError(f"{self.name}: unknown command {msg.kind!r} (known: {known})")
        return handler(msg)

    def _sample(self, msg: Message) -> Reply:
        req = P.SampleRequest.from_payload(msg.payload)
        config = DataSampleConfig.from_dict(req.config)  # names an unknown key
        trial = self.domain.sample(**config.to_dict())
        header, arrays = trial.to_wire()
        self.trials_served += 1
        kind = str(config.sample_type)
        self.served_by_type[kind] = self.served_by_type.get(kind, 0) + 1
        self._advance(_last_time(trial))
        reply = P.TrialReply(trial=header, served=self.trials_served, global_time=self.global_time)
        return Reply(P.ReplyKind.TRIAL.value, reply.to_payload(), arrays)

    def _reset(self, msg: Message) -> Reply:
        req = P.ResetRequest.from_payload(msg.payload)
        log.info(f"{self.name}: reset seed={req.seed} params={req.params}")
        self.start_domain(seed=req.seed, params=req.params)
        return Reply(P.ReplyKind.OK.value, self._info())

    def _info(self) -> dict[str, Any]:
        describe = getattr(self.domain, "describe", None)
        return P.InfoReply(
            domain=type(self.domain).__name__,
            describe=P.jsonable(describe() if callable(describe) else None, "describe()"),
            trials_served=self.trials_served,
            served_by_type=dict(self.served_by_type),
            resets=self.resets,
            uptime_s=time.monotonic() - self.started,
            pid=os.getpid(),
            endpoint=self.endpoint,
            global_time=self.global_time,
            rss_mb=psutil.Process().memory_info().rss / 2**20,
        ).to_payload()

    def _time(self, _msg: Message) -> Reply:
        return Reply(P.ReplyKind.TIME.value, P.TimeReply(global_time=self.global_time).to_payload())

    def _broadcast_reply(self) -> Reply:
        reply = P.BroadcastReply(
            message=self.broadcast, set_at=self.broadcast_set_at, global_time=self.global_time
        )
        return Reply(P.ReplyKind.BROADCAST.value, reply.to_payload())

    def _set_broadcast(self, msg: Message) -> Reply:
        req = P.BroadcastRequest.from_payload(msg.payload)
        self.broadcast = req.message
        self.broadcast_set_at = time.time()
        self._advance(req.timestamp)
        return self._broadcast_reply()

    def _ping(self, _msg: Message) -> Reply:
        reply = P.PongReply(pid=os.getpid(), uptime_s=time.monotonic() - self.started)
        return Reply(P.ReplyKind.PONG.value, reply.to_payload())

    def _stop(self, _msg: Message) -> Reply:
        log.info(f"{self.name}: stop after {self.trials_served} trials")
        raise StopServing(Reply(P.ReplyKind.STOPPED.value))

    def _advance(self, t: int | None) -> None:
        if t is not None and (self.global_time is None or t > self.global_time):
            self.global_time = int(t)


def build_domain(source: Any) -> Any:
    """A domain from ``source``: a domain object as is, or a ``DataConfig`` (or a
    dict of its keywords) through ``btgym.datafeed.make_domain``."""
    if hasattr(source, "sample") and hasattr(source, "reset"):
        return source
    from btgym.datafeed import make_domain  # imported here: the data layer is heavy

    return make_domain(source)


def run_data_server(
    ready: Callable[[str], None],
    *,
    source: Any,
    seed: int | None = None,
    config: dict[str, Any] | None = None,
    name: str = "data_server",
    owner_token: bytes | None = None,
    client_token: bytes | None = None,
    curve: CurveKeys | None = None,
    ipc_path: str | None = None,
) -> None:
    """Process target (see :class:`btgym.comm.process.ChildProcess`): build the
    domain, reset it once (loading its data), bind and serve until ``stop``.

    Args:
        ready: the handshake callback.
        source: a domain object or a ``DataConfig`` (pickled at spawn from the parent).
        seed: the domain's first ``reset`` seed.
        config: :class:`DataServerConfig` fields.
        name: log channel suffix and ipc socket name.
        owner_token: the owner's session (every command).
        client_token: other clients' session (no control commands, see
            :data:`btgym.dataserver.protocol.CLIENT_COMMANDS`).
        curve: CURVE keys (mandatory beyond loopback).
        ipc_path: bind this socket file (a restarted server keeps its endpoint).
    """
    cfg = DataServerConfig(**(config or {}))
    setup_logging(log_level=level_from(log_level=cfg.log_level))
    server = BTgymDataFeedServer(build_domain(source), name=name)
    server.start_domain(seed=seed)
    sessions = None
    if owner_token is not None:
        sessions = (Session(owner_token, None, "owner"),)
        if client_token is not None:
            sessions += (Session(client_token, P.CLIENT_COMMANDS, "client"),)
    server.serve(ready, cfg, sessions=sessions, curve=curve, ipc_path=ipc_path)
