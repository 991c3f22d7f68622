"""``ProcessHandle``: the parent's side of a backtrader server process.

It spawns :func:`btgym.server.process.run_server` with
:class:`~btgym.comm.process.ChildProcess`, talks to it with a
:class:`~btgym.comm.client.ReqClient` (every receive has a timeout) and turns the
replies back into ``(obs, reward, terminated, truncated, info)``. A dead or stuck
server raises a named error; the next ``reset()`` starts a fresh one. A finalizer
stops the server of a handle that was never closed.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import Any

import numpy as np

from btgym.comm import wire
from btgym.comm.client import ReqClient
from btgym.comm.process import ChildProcess
from btgym.comm.session import CurveKeys, new_token
from btgym.errors import (
    ConfigError,
    InvalidActionError,
    ProtocolError,
    ServerDiedError,
    ServerTimeoutError,
)
from btgym.log import get_logger, level_from
from btgym.server.config import ServerConfig
from btgym.server.contract import BROKEN, CLOSED, ENDED, IDLE, RUNNING, sample_request
from btgym.server.handle_base import HandleBase
from btgym.server.process import run_server
from btgym.server.protocol import (
    ACTION,
    FRAME_TAG,
    Command,
    ReplyKind,
    ResetRequest,
    StepFrame,
    StepReply,
    expect,
)
from btgym.server.remote import localize
from btgym.strategy import BrokerConfig, BTgymBaseStrategy, InfoLayout, StrategyConfig
from btgym.strategy.info import iso_time

log = get_logger(__name__)

_STEP = Command.STEP.value


def _int_seed(seed: Any) -> int:
    if isinstance(seed, np.integer):
        return int(seed)
    raise ConfigError(f"seed must be a non-negative int or None, got {seed!r}")


def unguarded_main_hint(strategy_class: type) -> str:
    """The one-line advice when a server that needs the script's ``__main__`` (a
    strategy defined there) died starting: its process re-ran the script."""
    if getattr(strategy_class, "__module__", "") != "__main__":
        return ""
    return (
        f"the btgym server could not import {strategy_class.__name__} from your script "
        "without running the whole script again: put the script's code under "
        '`if __name__ == "__main__":` (or move the strategy class into a module)'
    )


def _shutdown(state: dict[str, Any]) -> None:
    """Stop the server process of ``state`` (finalizer-safe: no reference to the handle)."""
    child, client = state.pop("child", None), state.pop("client", None)
    if child is None:
        return

    def graceful() -> None:
        if client is not None:
            client.request(Command.STOP.value, timeout=1.0)

    try:
        child.stop(graceful=graceful if child.is_alive() else None, timeout=1.0)
    finally:
        if client is not None:
            client.close()


class ProcessHandle(HandleBase):
    """The episode loop in a spawned server process, over ZeroMQ REQ/REP.

    A dead or silent server raises :class:`ServerDiedError` /
    :class:`~btgym.errors.RemoteError` (with the child's traceback) /
    :class:`ServerTimeoutError`; the next :meth:`reset` starts a fresh server.
    """

    mode = "process"

    def __init__(
        self,
        data_source: Any,
        strategy: StrategyConfig | None = None,
        broker: BrokerConfig | None = None,
        server: ServerConfig | None = None,
        render: Any = None,
        strategy_class: type[BTgymBaseStrategy] = BTgymBaseStrategy,
    ) -> None:
        super().__init__(strategy, broker, server, render, strategy_class)
        self._data_source = data_source
        self._state: dict[str, Any] = {}
        self._finalizer = weakref.finalize(self, _shutdown, self._state)
        self._layout: InfoLayout | None = None
        self._step_frames: dict[tuple[int, ...], list] = {}
        #: the episode's step frame layout (from the reset reply; None before)
        self.step_frame: StepFrame | None = None
        self._restarts = 0
        self._start()

    # ------------------------------------------------------------------ lifecycle

    def _start(self) -> None:
        cfg = self.server_config
        token = new_token()  # this server's session: only this handle talks to it
        curve = CurveKeys.generate() if cfg.allow_remote else None
        kwargs = {
            "session_token": token,
            "curve": curve,
            "data_source": self._data_source,
            "strategy": self.strategy_config,
            "broker": self.broker_config,
            "strategy_class": self.strategy_class,
            "render": self.render_config,
            "server": cfg,
        }
        child = ChildProcess(
            run_server, kwargs, name="btgym-server", log_level=level_from(log_level=cfg.log_level)
        )
        try:
            endpoint = child.start(timeout=cfg.connect_timeout)
        except ServerDiedError:
            hint = unguarded_main_hint(self.strategy_class)
            if hint:
                raise ServerDiedError(hint) from None
            raise
        self._state["child"] = child
        self._state["client"] = ReqClient(
            endpoint,
            timeout=cfg.timeout,
            process=child,
            name="btgym server",
            copy_replies=True,
            token=token,
            curve=None if curve is None else curve.for_client(),
        )

    def _restart(self) -> None:
        _shutdown(self._state)
        self._restarts += 1
        log.info(f"restarting the btgym server (restart #{self._restarts})")
        self._start()

    @property
    def endpoint(self) -> str | None:
        """The server's endpoint (``None`` when closed)."""
        child = self._state.get("child")
        return child.endpoint if child is not None else None

    @property
    def pid(self) -> int | None:
        """The server process id (``None`` when closed)."""
        child = self._state.get("child")
        return child.pid if child is not None else None

    def close(self) -> None:
        """Stop the server: ``stop`` request, then terminate, then kill (idempotent)."""
        if self.state.closed:
            return
        self.state.to(CLOSED)
        self._finalizer()

    # ------------------------------------------------------------------ requests

    def _request(
        self,
        command: Command,
        payload: Any = None,
        timeout: float | None = None,
        arrays: Mapping[str, np.ndarray] | None = None,
        frames: list | None = None,
        raw: bool = False,
    ) -> Any:
        self._check_open()
        client = self._state.get("client")
        if client is None:
            raise ServerDiedError("the btgym server is not running: call reset() to restart it")
        try:
            if frames is not None:
                return client.request_frames(frames, command.value, timeout, raw)
            return client.request(command.value, payload, arrays, timeout=timeout)
        except (ServerDiedError, ServerTimeoutError) as exc:
            self.state.to(BROKEN)
            if hasattr(exc, "add_note"):
                exc.add_note("the next reset() starts a new server")
            raise
        except Exception as exc:
            local = localize(exc)
            if local is exc:
                raise
            raise local from exc

    def _decode(self, received: list) -> Any:
        """Decode raw reply frames; a server's error is raised as the local class."""
        try:
            return self._state["client"].decode_reply(received)
        except Exception as exc:
            local = localize(exc)
            if local is exc:
                raise
            raise local from exc

    def reset(
        self,
        trial_config: Mapping[str, Any] | None = None,
        episode_config: Mapping[str, Any] | None = None,
        seed: int | None = None,
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        self._check_open()
        payload = ResetRequest(
            sample_request(trial_config, "trial_config"),
            sample_request(episode_config, "episode_config"),
            seed if seed is None or isinstance(seed, int) else _int_seed(seed),
        ).payload()
        child = self._state.get("child")
        if self.state.phase is BROKEN or child is None or not child.is_alive():
            self.state.to(IDLE)
            self._restart()
        self.state.to(IDLE)
        msg = self._request(Command.RESET, payload, self.server_config.reset_timeout)
        try:
            layout = InfoLayout.from_wire(msg.payload["layout"])
        except (KeyError, TypeError) as exc:
            raise ProtocolError(f"reset reply without a valid layout: {exc!r}") from None
        self._layout = layout
        self._set_assets(layout.assets)
        reply = StepReply.from_message(msg, layout)
        self.step_frame = StepFrame.of_message(msg)
        self.state.to(ENDED if reply.terminated or reply.truncated else RUNNING)
        self._warn(msg.payload.get("notes"))
        return reply.obs, dict(reply.info)

    def step(self, action: Any) -> tuple[dict[str, np.ndarray], float, bool, bool, dict]:
        (head,) = self.step_frames(action)  # RUNNING checked there: the handle is open
        try:
            try:
                received = self._state["client"].request_one(head, _STEP, FRAME_TAG)
            except (ServerDiedError, ServerTimeoutError) as exc:
                self.state.to(BROKEN)
                if hasattr(exc, "add_note"):
                    exc.add_note("the next reset() starts a new server")
                raise
            reply = self.read_step(received)
        except Exception as exc:
            self._step_failed(exc)
            raise
        if reply[2] or reply[3]:
            self.state.to(ENDED)
        return reply

    def read_step(self, received: list) -> StepReply:
        """The step reply of ``received`` (raw frames): a step frame read straight
        from its bytes (fresh observation arrays, the info dict rebuilt from the
        record row), anything else decoded (a server's error raised, named)."""
        frame = self.step_frame
        got = frame.read(received[0], True) if frame is not None and len(received) == 1 else None
        if got is None:
            return StepReply.from_message(self._decode(received), self._layout)
        obs, floats, ints, message, done = got
        info = self._layout.build(floats, ints[1], iso_time(ints[0]), message)
        if done:
            info.update(done)
        return StepReply(obs, floats[0], ints[2] != 0, ints[3] != 0, info)

    def step_frames(self, action: Any) -> list:
        """The step request's frames (the action encoded once, here at the edge)."""
        if self.state.phase is not RUNNING:
            self.state.require_running()
        canonical = self._codec.encode(action)
        if self._codec.kind == "weights":
            return wire.encode(Command.STEP.value, {ACTION: canonical.tolist()})
        frames = self._step_frames.get(canonical)
        if frames is None:  # each distinct discrete action is encoded once
            frames = wire.encode(Command.STEP.value, {ACTION: list(canonical)})
            if len(self._step_frames) < 1024:
                self._step_frames[canonical] = frames
        return frames

    def _step_failed(self, exc: BaseException) -> None:
        """A failed step ends the episode (on the server too), unless the server only
        refused the action (:class:`InvalidActionError`: the episode goes on)."""
        if not isinstance(exc, InvalidActionError) and self.state.phase is RUNNING:
            self.state.to(ENDED)

    # -- the split step, for a vector env driving many servers at once
    #    (:class:`btgym.envs.vec.BTgymVectorEnv`): step_frames + send_frames to all,
    #    poll, receive_step

    @property
    def client(self) -> ReqClient | None:
        """The server's client (``None`` when closed / not running)."""
        return self._state.get("client")

    def send_frames(self, frames: list) -> None:
        """Send a step request made by :meth:`step_frames` (its one frame joined to the
        session token, as :meth:`step` does); :meth:`collect_step` or
        :meth:`receive_step` takes the reply."""
        self._check_open()
        client = self._state.get("client")
        if client is None:
            raise ServerDiedError("the btgym server is not running: call reset() to restart it")
        if len(frames) == 1:
            client.send_joined(frames[0])
        else:
            client.send(frames)

    def receive_step(self) -> list:
        """The raw reply frames of :meth:`send_frames` (a poll said they are there):
        the caller reads a step frame itself (:attr:`step_frame`) or calls
        :meth:`decode_step`."""
        try:
            return self._state["client"].receive_raw()
        except Exception as exc:
            raise self.step_error(exc) from None

    def collect_step(self, deadline: float) -> list:
        """Wait for the reply of :meth:`send_frames` (until ``deadline``,
        ``time.monotonic()``) and return its raw frames; a step frame is taken as one
        frame (see :meth:`ReqClient.receive_one`)."""
        client = self._state["client"]
        try:
            return client.receive_one(_STEP, deadline, self.server_config.timeout, FRAME_TAG)
        except Exception as exc:
            raise self.step_error(exc) from None

    def decode_step(self, received: list) -> wire.Message:
        """Decode a split step's reply frames (a server's error raised, named)."""
        try:
            msg = self._state["client"].decode_reply(received)
        except Exception as exc:
            raise self.step_error(exc) from None
        if msg.kind != "obs":
            expect(msg, ReplyKind.OBS)
        return msg

    def waiting(self, deadline: float) -> None:
        """No reply yet: raise if the server died or ``deadline`` passed."""
        try:
            self._state["client"].check_peer(
                Command.STEP.value, deadline, self.server_config.timeout
            )
        except Exception as exc:
            raise self.step_error(exc) from None

    def step_error(self, exc: BaseException) -> BaseException:
        """The error to raise for a failed split step (the episode state updated)."""
        if isinstance(exc, (ServerDiedError, ServerTimeoutError)):
            self.state.to(BROKEN)
            if hasattr(exc, "add_note"):
                exc.add_note("the next reset() starts a new server")
            return exc
        local = localize(exc)
        self._step_failed(local)
        if local is not exc:
            local.__cause__ = exc
        return local

    def step_ended(self, terminated: bool, truncated: bool) -> None:
        """Record the end of the episode seen in a split step's reply."""
        if terminated or truncated:
            self.state.to(ENDED)

    def done(self) -> None:
        """End the running episode now (the original's ``_done``)."""
        self.state.require_running("done")
        expect(self._request(Command.DONE), ReplyKind.OK)
        self.state.to(ENDED)

    def records(self) -> dict[str, np.ndarray]:
        msg = expect(self._request(Command.RECORDS), ReplyKind.RECORDS)
        return {k: a.copy() for k, a in msg.arrays.items()}

    def episode_bars(self) -> Any:
        msg = expect(self._request(Command.BARS), ReplyKind.BARS)
        if msg.payload.get("none"):
            return None
        from btgym.datafeed import Bars

        return Bars.from_wire(msg.payload["bars"], msg.arrays)

    def get_stat(self) -> dict[str, Any]:
        return dict(expect(self._request(Command.GET_STAT), ReplyKind.STAT).payload)

    def render(self, mode: str) -> np.ndarray:
        msg = expect(self._request(Command.RENDER, {"mode": mode}), ReplyKind.FRAME)
        return msg.arrays["frame"].copy()

    def ping(self) -> dict[str, Any]:
        return dict(expect(self._request(Command.PING), ReplyKind.PONG).payload)
