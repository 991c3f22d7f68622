"""The parent's side of group servers (:mod:`btgym.server.group`).

:class:`GroupProcess` spawns and owns one group server (as
:class:`~btgym.server.process_handle.ProcessHandle` owns a one-env server: a
:class:`~btgym.comm.process.ChildProcess`, a session token, a
:class:`~btgym.comm.client.ReqClient` whose every receive has a timeout) and sends
its batched steps. :class:`MemberHandle` is one env of a group: a ``ProcessHandle``
whose requests go to the group's server with the env's index, so a parent-side
``BTgymEnv`` shell (seeding, spaces, ``reset`` / ``render`` / ``records``) works on it
unchanged. A dead or stuck group server raises a named error naming its envs (all of
them lose their episode); the next ``reset()`` of any of them starts a new one.
"""

from __future__ import annotations

import contextlib
import time
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

from btgym.comm import wire
from btgym.comm.client import ReqClient
from btgym.comm.process import ChildProcess
from btgym.comm.session import SERVER_LIMITS, CurveKeys, new_token
from btgym.errors import CommError, ProtocolError, ServerDiedError, ServerTimeoutError
from btgym.log import get_logger, level_from
from btgym.server import protocol as P
from btgym.server.config import ServerConfig
from btgym.server.contract import BROKEN, CLOSED, IDLE
from btgym.server.group import ENV, GroupServer, make_loops, run_group
from btgym.server.process_handle import ProcessHandle, _shutdown

log = get_logger(__name__)

_STEP = P.Command.STEP.value


class GroupProcess:
    """One group server process and its client.

    Args:
        size: envs in the group.
        first: the vector index of the group's env 0 (named in errors).
        configs: ``data_source``, ``strategy``, ``broker``, ``server``, ``render``,
            ``strategy_class`` (as :func:`btgym.server.process.run_server` takes them).
    """

    def __init__(self, size: int, first: int, configs: Mapping[str, Any]) -> None:
        self.size, self.first = int(size), int(first)
        self.configs = dict(configs)
        self.server_config: ServerConfig = self.configs["server"]
        self.members: list[MemberHandle] = []
        self.broken = False
        self._state: dict[str, Any] = {}
        self._finalizer = weakref.finalize(self, _shutdown, self._state)
        self._start()

    @property
    def indices(self) -> list[int]:
        """The vector indices of the group's envs."""
        return list(range(self.first, self.first + self.size))

    @property
    def child(self) -> ChildProcess | None:
        return self._state.get("child")

    @property
    def client(self) -> ReqClient:
        client = self._state.get("client")
        if client is None:
            raise ServerDiedError(f"the group server of envs {self.indices} is not running")
        return client

    def alive(self) -> bool:
        child = self.child
        return not self.broken and child is not None and child.is_alive()

    def _start(self) -> None:
        cfg = self.server_config
        token = new_token()
        curve = CurveKeys.generate() if cfg.allow_remote else None
        kwargs = {**self.configs, "size": self.size, "session_token": token, "curve": curve}
        child = ChildProcess(
            run_group, kwargs, name="btgym-group", log_level=level_from(log_level=cfg.log_level)
        )
        endpoint = child.start(timeout=cfg.connect_timeout)
        self._state["child"] = child
        self._state["client"] = ReqClient(
            endpoint,
            timeout=cfg.timeout,
            process=child,
            name=f"btgym group server (envs {self.indices})",
            copy_replies=True,
            token=token,
            curve=None if curve is None else curve.for_client(),
        )
        self.broken = False

    def revive(self, caller: MemberHandle | None = None) -> None:
        """Start a new server if this one died or failed; every other member's
        episode is then lost (``BROKEN``: its next ``reset()`` just goes on)."""
        if self.alive():
            return
        _shutdown(self._state)
        log.info(f"restarting the group server of envs {self.indices}")
        for member in self.members:
            if member is not caller and member.state.phase not in (IDLE, CLOSED, BROKEN):
                member.state.to(BROKEN)
        self._start()

    def failed(self, exc: BaseException) -> BaseException:
        """``exc`` (the server died or did not answer) naming the group's envs; every
        member's episode is lost."""
        self.broken = True
        for member in self.members:
            if not member.state.closed:
                member.state.to(BROKEN)
        note = f"the group server of envs {self.indices}"
        exc.env_indices = self.indices  # type: ignore[attr-defined]
        if len(exc.args) == 1 and isinstance(exc.args[0], str) and note not in exc.args[0]:
            exc.args = (f"{exc.args[0]} ({note}; the next reset() starts a new one)",)
        return exc

    def send(self, items: Sequence[tuple[int, bytes]]) -> None:
        """Send one batched step: ``(env in the group, step request head)`` pairs."""
        try:
            self.client.send_joined(P.pack_batch(items))
        except (ServerDiedError, ServerTimeoutError, CommError) as exc:
            raise self.failed(exc) from None

    def collect(self, deadline: float) -> list[tuple[int, list]]:
        """The batched step's reply: ``(env in the group, its reply frames)``."""
        try:
            received = self.client.receive_one(
                _STEP, deadline, self.server_config.timeout, P.FRAME_TAG
            )
        except (ServerDiedError, ServerTimeoutError, CommError) as exc:
            raise self.failed(exc) from None
        return P.unpack_batch_reply(received, self.size)

    def close(self) -> None:
        """Stop the server: ``stop``, then terminate, then kill (idempotent)."""
        self._finalizer()


class LocalGroup:
    """A group hosted in this process: the same :class:`~btgym.server.group.GroupServer`
    (one :class:`~btgym.server.process.EpisodeServer` per loop, lazy info, step frames),
    called directly instead of over a socket; requests and replies still go through the
    wire codec, so its envs behave as a group server's. :meth:`collect` computes the
    batch: the vector env calls it after sending the servers theirs, so this process
    steps its envs while the servers step theirs.

    Args: as :class:`GroupProcess`.
    """

    def __init__(self, size: int, first: int, configs: Mapping[str, Any]) -> None:
        self.size, self.first = int(size), int(first)
        self.server_config: ServerConfig = configs["server"]
        self.members: list[MemberHandle] = []
        self.child = None
        self.broken = False
        self._batch: bytes | None = None
        self._closers: list = []
        self._loops: list = []
        try:
            make_loops(
                self._loops, self._closers, self.size, configs["data_source"],
                configs["strategy"], configs["broker"], configs["strategy_class"],
                configs["render"], self.server_config.data_timeout,
            )  # fmt: skip
        except BaseException:
            self.close()
            raise
        self.server: GroupServer | None = GroupServer(self._loops, SERVER_LIMITS.max_header)
        self.client = _LocalClient(self)

    @property
    def indices(self) -> list[int]:
        return list(range(self.first, self.first + self.size))

    def alive(self) -> bool:
        return self.server is not None

    def revive(self, caller: MemberHandle | None = None) -> None:
        return None

    def failed(self, exc: BaseException) -> BaseException:
        return exc

    def send(self, items: Sequence[tuple[int, bytes]]) -> None:
        self._batch = P.pack_batch(items)

    def collect(self, deadline: float) -> list[tuple[int, list]]:
        batch, self._batch = self._batch, None
        if batch is None or self.server is None:
            raise ProtocolError(f"the local group of envs {self.indices} has no batch to step")
        return P.unpack_batch_reply(self.server.fast_batch(batch), self.size)

    def close(self) -> None:
        """Close the loops and their trial sources (idempotent)."""
        self.server = None
        loops, self._loops = self._loops, []
        for loop in loops:
            with contextlib.suppress(Exception):
                loop.close()
        closers, self._closers = self._closers, []
        for close in closers:
            with contextlib.suppress(Exception):
                close()


class _LocalClient:
    """:class:`LocalGroup`'s client: a request encoded, decoded and answered by the
    group's handler, its reply (or error, with the traceback) encoded and decoded."""

    def __init__(self, group: LocalGroup) -> None:
        self.group = group
        self.timeout = float(group.server_config.timeout)
        self._cache: dict = {}

    def request(
        self,
        kind: str,
        payload: Mapping[str, Any] | None = None,
        arrays: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> Any:
        server = self.group.server
        if server is None:
            raise ServerDiedError(f"the local group of envs {self.group.indices} is closed")
        try:
            reply = server(wire.decode(wire.encode(kind, payload, arrays), self._cache))
            frames = wire.encode(reply.kind, reply.payload, reply.arrays)
        except Exception as exc:
            log.error(f"local group: {kind} failed: {type(exc).__name__}: {exc}")
            frames = wire.error_message(exc, where=f"btgym local group {kind}")
        return self.decode_reply(frames)

    def decode_reply(self, received: list) -> Any:
        msg = wire.decode(received, self._cache)
        wire.raise_remote(msg, context="btgym local group")
        return msg


class _MemberChild:
    """The group's process, as a member's ``ProcessHandle`` sees its child."""

    def __init__(self, group: GroupProcess) -> None:
        self.group = group

    def is_alive(self) -> bool:
        return self.group.alive()

    @property
    def pid(self) -> int | None:
        child = self.group.child
        return None if child is None else child.pid

    @property
    def endpoint(self) -> str | None:
        child = self.group.child
        return None if child is None else child.endpoint

    def stop(self, *args: Any, **kwargs: Any) -> None:  # the group owns the process
        return None


class _MemberClient:
    """A member's client: its requests go to the group's server with its index."""

    def __init__(self, group: GroupProcess, index: int) -> None:
        self.group, self.index = group, index

    @property
    def timeout(self) -> float:
        return self.group.client.timeout

    def request(
        self,
        kind: str,
        payload: Mapping[str, Any] | None = None,
        arrays: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> Any:
        if kind == P.Command.STOP.value:
            raise ProtocolError("a group member cannot stop its group's server")
        payload = {**(payload or {}), ENV: self.index}
        try:
            return self.group.client.request(kind, payload, arrays, timeout=timeout)
        except (ServerDiedError, ServerTimeoutError) as exc:
            raise self.group.failed(exc) from None

    def request_frames(self, *args: Any, **kwargs: Any) -> Any:
        raise ProtocolError("a group member sends no raw requests")

    def request_one(self, head: bytes, kind: str, single: bytes) -> list:
        """One env's step, as a batch of one."""
        group = self.group
        group.send([(self.index, head)])
        ((_, frames),) = group.collect(time.monotonic() + group.server_config.timeout)
        return frames

    def decode_reply(self, received: list) -> Any:
        return self.group.client.decode_reply(received)

    def close(self) -> None:  # the group owns the client
        return None


class MemberHandle(ProcessHandle):
    """Env ``index`` of ``group``: a :class:`ProcessHandle` on the group's server.

    Args:
        group: the group server.
        index: the env's index in the group.
        args: ``ProcessHandle``'s (data source and configs).
    """

    def __init__(self, group: GroupProcess, index: int, *args: Any) -> None:
        self.group, self.index = group, index
        super().__init__(*args)
        self._finalizer.detach()  # the group owns (and stops) the process
        group.members.append(self)

    def _start(self) -> None:
        self._state["child"] = _MemberChild(self.group)
        self._state["client"] = _MemberClient(self.group, self.index)

    def _restart(self) -> None:
        self.group.revive(self)

    def close(self) -> None:
        if self.state.closed:
            return
        self.state.to(CLOSED)
        self._state.clear()
