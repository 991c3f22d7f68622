"""The backtrader server process: an :class:`EpisodeLoop` behind a ZeroMQ REP socket.

:func:`run_server` is the child's entry point (spawned by
:class:`btgym.comm.process.ChildProcess`): it builds the trial source (a
``DataClient`` for an endpoint string, or the domain object handed over at spawn),
the loop, and serves :mod:`btgym.server.protocol` requests with
:func:`btgym.comm.server.serve` until ``stop``. Malformed requests and errors (a
bad action, an exception in a strategy hook) are answered with ``error`` messages
carrying the traceback; the server keeps serving.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from btgym.comm import wire
from btgym.comm.server import Pending, Reply, StopServing, serve
from btgym.comm.session import SERVER_LIMITS, CurveKeys, Session
from btgym.comm.wire import Message
from btgym.errors import ProtocolError
from btgym.log import get_logger
from btgym.server import protocol as P
from btgym.server.config import ServerConfig
from btgym.server.contract import RUNNING, sample_request
from btgym.server.loop import EpisodeLoop, Handoff
from btgym.server.protocol import Command, RenderRequest, ReplyKind, ResetRequest, StepRequest
from btgym.strategy import StepResult

log = get_logger(__name__)

_OBS = ReplyKind.OBS.value
_STEP = Command.STEP.value
#: most distinct step headers remembered per episode (discrete actions: 4 per asset)
_KNOWN_ACTIONS = 1024


def obs_reply(loop: EpisodeLoop, result: StepResult, first: bool = False) -> Reply:
    """The ``obs`` reply of a decision (see :mod:`btgym.server.protocol`)."""
    s = loop.strategy
    rec = s.records
    arrays = dict(result.obs)
    arrays[P.RECORD_ROW] = P.pack_row(rec.floats[-1], rec.ints[-1])
    payload: dict[str, Any] = {}
    if result.info is not None:
        payload["info"] = result.info
    else:
        if s.broker_message:
            payload["message"] = s.broker_message
        if s.done_reason:
            payload["done"] = s.done_info
    if first:
        payload["layout"] = s.info_layout.to_wire()
        if s.notes:
            payload["notes"] = [list(note) for note in s.notes]
    return Reply(_OBS, payload, arrays)


class EpisodeServer:
    """Request handler: one method per :class:`~btgym.server.protocol.Command`, and
    :meth:`fast_step` for the step requests (the hot path).

    Args:
        loop: the episode loop served.
        max_header: most bytes of a request header (checked before decoding).
    """

    def __init__(self, loop: EpisodeLoop, max_header: int | None = None) -> None:
        self.loop = loop
        self.max_header = max_header
        #: step request header → canonical action, for headers already decoded and
        #: checked in this episode (a discrete action repeats: decode each once)
        self._known: dict[bytes, Any] = {}
        self._decode_cache: dict = {}
        self._frame: P.StepFrame | None = None  # the episode's step frame layout
        self._exchange: Callable | None = None  # the serve loop's (see bind)
        self._inline_ok = False  # a step request is in flight (not a reset)
        self._table: dict[str, Callable[[Message], Reply]] = {
            Command.STEP.value: self._step,
            Command.RESET.value: self._reset,
            Command.DONE.value: self._done,
            Command.GET_STAT.value: self._get_stat,
            Command.RENDER.value: self._render,
            Command.RECORDS.value: self._records,
            Command.BARS.value: self._bars,
            Command.PING.value: self._ping,
            Command.STOP.value: self._stop,
        }

    def __call__(self, msg: Message) -> Reply:
        method = self._table.get(msg.kind)
        if method is None:
            raise ProtocolError(
                f"unknown command {msg.kind!r}; expected one of {sorted(self._table)}"
            )
        return method(msg)

    def _step(self, msg: Message) -> Reply:
        loop = self.loop
        loop.state.require_running("step")
        action = msg.payload.get(P.ACTION)
        if action is None:
            action = StepRequest.from_message(msg).action
        # the client encoded the action (contract codec); here it is only checked
        return obs_reply(loop, loop.advance(loop.codec.check_wire(action)))

    def fast_step(self, head: bytes) -> list | None:
        """Answer a one-frame request if it is a step: the action looked up by its
        header bytes (decoded and checked with the codec the first time), the reply
        one :class:`~btgym.server.protocol.StepFrame`. ``None``: not a step, decode
        it the normal way."""
        loop = self.loop
        action = self._known.get(head)
        if action is None:
            msg = wire.decode([head], self._decode_cache, self.max_header)
            if msg.kind != _STEP:
                return None
            loop.state.require_running("step")
            action = loop.codec.check_wire(StepRequest.from_message(msg).action)
            if type(action) is tuple and len(self._known) < _KNOWN_ACTIONS:
                self._known[head] = action
        elif loop.state.phase is not RUNNING:
            loop.state.require_running("step")
        self._inline_ok = True
        try:
            result = loop._switch(action)  # advance() without a second phase check
        finally:
            self._inline_ok = False
        if type(result) is Handoff:  # answered inline; the loop serves this request
            return result.request
        frame = self._frame
        if result.info is None and frame is not None:
            s = loop.strategy
            out = frame.pack(
                result.obs, s._row, s._rec_ints[-1], s.broker_message, s.done_reason,
                s.bars_stepped,
            )  # fmt: skip
            if out is not None:
                return [out]
        reply = obs_reply(loop, result)
        return wire.encode(reply.kind, reply.payload, reply.arrays)

    def bind(self, exchange: Callable[[list], tuple[bytes | None, list]]) -> None:
        """Take the serve loop's ``exchange`` (``serve(fast=...)``): from then on the
        episode's decisions answer the step request in flight and take the next one
        from inside the episode (:meth:`inline_step`), as the floor's backtrader does:
        no switch back to the serve loop per step."""
        self._exchange = exchange
        self.loop.inline = self.inline_step

    def inline_step(self, result: StepResult) -> Any:
        """The loop's ``inline`` hook: reply to the step in flight with ``result`` (a
        step frame) and return the next request's action if it is a step of a header
        known in this episode; a :class:`~btgym.server.loop.Handoff` of any other
        request (the serve loop checks and serves it); ``None`` when ``result`` needs
        the serve loop (a reset's, a final, a custom-info decision)."""
        frame = self._frame
        if not self._inline_ok or result.info is not None or frame is None:
            return None
        if result.terminated or result.truncated:
            return None
        s = self.loop.strategy
        out = frame.pack(
            result.obs, s._row, s._rec_ints[-1], s.broker_message, s.done_reason,
            s.bars_stepped,
        )  # fmt: skip
        if out is None:
            return None
        self.loop.last_obs = result.obs
        head, frames = self._exchange([out])
        action = self._known.get(head) if head is not None else None
        return action if action is not None else Handoff(Pending(frames))

    def _reset(self, msg: Message) -> Reply:
        req = ResetRequest.from_message(msg)
        self._known.clear()  # the episode's codec decides what a step header means
        self._frame = None
        result = self.loop.start(
            sample_request(req.trial_config, "trial_config"),
            sample_request(req.episode_config, "episode_config"),
            req.seed,
        )
        self._frame = P.StepFrame.of_obs(result.obs, len(self.loop.strategy._row))
        return obs_reply(self.loop, result, first=True)

    def _done(self, msg: Message) -> Reply:
        self.loop.state.require_running("done (control mode)")
        self.loop.finish()
        return Reply(ReplyKind.OK.value)

    def _get_stat(self, msg: Message) -> Reply:
        return Reply(ReplyKind.STAT.value, self.loop.get_stat())

    def _render(self, msg: Message) -> Reply:
        req = RenderRequest.from_message(msg)
        return Reply(ReplyKind.FRAME.value, {}, {"frame": self.loop.render(req.mode)})

    def _records(self, msg: Message) -> Reply:
        return Reply(ReplyKind.RECORDS.value, {}, self.loop.records())

    def _bars(self, msg: Message) -> Reply:
        bars = self.loop.episode_bars()
        if bars is None:
            return Reply(ReplyKind.BARS.value, {"none": True})
        header, arrays = bars.to_wire()
        return Reply(ReplyKind.BARS.value, {"bars": header}, arrays)

    def _ping(self, msg: Message) -> Reply:
        return Reply(ReplyKind.PONG.value, {"active": self.loop.active})

    def _stop(self, msg: Message) -> Reply:
        self.loop.close()
        raise StopServing(Reply(ReplyKind.STOPPED.value))


def make_source(data_source: Any, timeout: float) -> tuple[Any, Callable[[], None] | None]:
    """A trial source for ``data_source``: a ``DataClient`` for an endpoint string
    (returned with its ``close``), else the object itself."""
    if isinstance(data_source, str):
        from btgym.dataserver import DataClient

        client = DataClient(data_source, timeout=timeout)
        return client, client.close
    return data_source, None


def serve_owned(
    handler: Any,
    ready: Callable[[str], None],
    server: ServerConfig,
    *,
    name: str,
    session_token: bytes | None,
    curve: CurveKeys | None,
    fast: tuple,
) -> None:
    """Serve ``handler`` on ``server``'s endpoint until ``stop``, only to the owner's
    session (``session_token``, made by the parent and handed over at spawn), with the
    step fast path ``fast``: what a one-env server and a group server share."""
    serve(
        handler,
        ready,
        transport=server.transport,
        host=server.host,
        port=server.port,
        allow_remote=server.allow_remote,
        name=name,
        copy_requests=True,
        sessions=None if session_token is None else (Session(session_token, None, "owner"),),
        curve=curve,
        fast=fast,
    )


def run_server(
    ready: Callable[[str], None],
    *,
    data_source: Any,
    strategy: Any,
    broker: Any,
    strategy_class: type,
    render: Any,
    server: ServerConfig,
    session_token: bytes | None = None,
    curve: CurveKeys | None = None,
) -> None:
    """Child entry point: build the loop and serve it until ``stop``, only to the
    owner's session (``session_token``, made by the parent and handed over at spawn)."""
    source, close_source = make_source(data_source, server.data_timeout)
    loop = EpisodeLoop(source, strategy, broker, strategy_class, render, lazy_info=True)
    handler = EpisodeServer(loop, SERVER_LIMITS.max_header)
    try:
        serve_owned(
            handler,
            ready,
            server,
            name="btgym-server",
            session_token=session_token,
            curve=curve,
            fast=(_STEP, handler.fast_step, handler.bind),
        )
    finally:
        loop.close()
        if close_source is not None:
            with contextlib.suppress(Exception):
                close_source()
