"""``DataClient``: the env side of the data server's wire.

A client is a drop-in *trial source*: ``client.sample(**sample_config)`` has the
call shape of ``domain.sample`` and returns a ``Trial`` rebuilt from raw buffers
(``Trial.from_wire``). Env servers usually connect to a data server started
elsewhere (by the data-master env), so they cannot watch its process: a dead or
stuck data server is detected by the reply timeout (a few seconds by default).
When the client is made by :meth:`DataServerProcess.client`, it also watches the
process and reports its death within about 0.1 s.

The endpoint is the server's *address* (``DataServerProcess.endpoint``): it
carries the session token every request needs, the CURVE keys beyond loopback,
and, for a server on this machine, its pid: a client that does not own the server
still sees it gone within a fraction of a second (``DataServerDiedError``), and
finds it again, at the same address, once its owner has restarted it.

A refusal by the domain arrives as the domain's own named error (``SamplingError``,
``ConfigError``...: the same class as in-process, with ``remote_traceback`` and a
:class:`~btgym.errors.DataServerRemoteError` as ``__cause__``). Every other failure
is a :class:`~btgym.errors.DataServerError`:

- :class:`~btgym.errors.DataServerTimeoutError` (also a ``TimeoutError``): no reply
  within the timeout — the server is dead, stuck, or was never there;
- :class:`~btgym.errors.DataServerDiedError`: the owned server process died;
- :class:`~btgym.errors.DataServerRemoteError`: an exception that is not a btgym
  error (``remote_type`` names it, ``remote_traceback`` carries its traceback);
- :class:`~btgym.errors.DataServerError` itself: a malformed reply, or a closed client.
"""

from __future__ import annotations

from typing import Any

from btgym.comm.client import ReqClient
from btgym.comm.process import ChildProcess, _pid_running
from btgym.comm.wire import Message
from btgym.dataserver import protocol as P
from btgym.dataserver.config import DEFAULT_TIMEOUT
from btgym.errors import (
    CommError,
    ConfigError,
    DataServerDiedError,
    DataServerError,
    DataServerRemoteError,
    DataServerTimeoutError,
    ProtocolError,
    RemoteError,
    ServerDiedError,
    SessionError,
)
from btgym.log import get_logger

log = get_logger(__name__)

#: seconds a client waits for whoever answers at the address of a server it saw die
#: (a restarted one answers a ping in milliseconds): a dead server is named within 1 s.
PROBE_S = 0.6


def _sample_from_wire(header: dict[str, Any], arrays: dict[str, Any]) -> Any:
    """A ``Trial`` (domains) or an ``Episode`` (``BTgymDataset``) from its wire form."""
    from btgym.datafeed import Episode, Trial  # the data layer is imported on first use
    from btgym.datafeed.episode import WIRE_KIND as EPISODE_KIND

    if header.get("kind") == EPISODE_KIND:
        return Episode.from_wire(header, arrays)
    return Trial.from_wire(header, arrays)


def _posix(value: Any) -> Any:
    """``DataSampleConfig.timestamp`` is POSIX seconds: datetimes are converted to it,
    numbers pass as they are."""
    if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
        return value
    return P.to_ns(value) / 1e9


class DataClient:
    """Request/reply client of one ``BTgymDataFeedServer``.

    Args:
        endpoint: the server's endpoint (``ipc://...`` or ``tcp://127.0.0.1:port``).
        timeout: seconds to wait for any reply but ``reset``'s.
        reset_timeout: seconds to wait for a ``reset`` reply (defaults to
            ``max(timeout, 10)``).
        process: the server's process, when this client's owner started it.
        name: used in error messages.
    """

    def __init__(
        self,
        endpoint: str,
        timeout: float = DEFAULT_TIMEOUT,
        reset_timeout: float | None = None,
        process: ChildProcess | None = None,
        name: str = "data server",
    ) -> None:
        if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0:
            raise ConfigError(f"DataClient timeout must be a positive number, got {timeout!r}")
        self.endpoint = endpoint
        self.timeout = float(timeout)
        self.reset_timeout = float(reset_timeout or max(self.timeout, 10.0))
        self.name = name
        self._req = ReqClient(
            endpoint,
            timeout=self.timeout,
            process=process,
            name=name,
            error_cls=DataServerTimeoutError,
            remote_cls=DataServerRemoteError,
        )
        self.endpoint = self._req.endpoint  # without the credentials
        self._lost = False

    def _find_server(self) -> None:
        """The watched server was gone: ask whoever answers at the address now (its
        owner may have restarted it) and watch that one, or raise within a second."""
        self._req.peer_pid = None
        try:
            msg = self._req.request(P.Command.PING.value, timeout=min(self.timeout, PROBE_S))
            pid = P.PongReply.from_payload(msg.payload).pid
        except (CommError, ProtocolError) as exc:
            raise DataServerDiedError(
                f"{self.name} at {self.endpoint} is gone and nothing answers there "
                f"(its owner restarts it at the next reset): {exc}"
            ) from None
        self._req.peer_pid = pid
        self._lost = False

    # ----------------------------------------------------------------- plumbing

    def _request(
        self, cmd: P.Command, payload: dict[str, Any] | None = None, timeout: float | None = None
    ) -> Message:
        if self._req is None:
            raise DataServerError(f"client of {self.name} at {self.endpoint} is closed")
        pid = self._req.peer_pid
        if self._lost or (pid is not None and not _pid_running(pid)):
            self._lost = True
            self._find_server()
        try:
            return self._req.request(cmd.value, payload, timeout=timeout)
        except (DataServerError, SessionError):
            raise
        except DataServerRemoteError:
            raise
        except RemoteError as exc:
            raise DataServerRemoteError(
                str(exc).split("\n\n--- traceback", 1)[0],
                remote_type=exc.remote_type,
                remote_traceback=exc.remote_traceback,
            ) from exc
        except ServerDiedError as exc:
            self._lost = self._req is not None and self._req.process is None
            raise DataServerDiedError(str(exc)) from exc
        except CommError as exc:  # ProtocolError on a malformed reply, closed socket
            raise DataServerError(f"{self.name} at {self.endpoint}: {exc}") from exc

    def _call(
        self,
        cmd: P.Command,
        expected: P.ReplyKind,
        payload: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> Message:
        msg = self._request(cmd, payload, timeout)
        try:
            P.expect(msg.kind, expected, self.name)
        except ProtocolError as exc:
            raise DataServerError(str(exc)) from exc
        return msg

    @staticmethod
    def _parse(cls: type, msg: Message) -> Any:
        try:
            return cls.from_payload(msg.payload)
        except ProtocolError as exc:
            raise DataServerError(f"malformed reply: {exc}") from exc

    # ----------------------------------------------------------------- API

    def sample(self, **sample_config: Any) -> Any:
        """Sample a Trial on the server, like ``domain.sample(**sample_config)``.

        ``sample_config`` holds ``DataSampleConfig`` keys (``get_new``,
        ``sample_type``, ``timestamp``, ``b_alpha``, ``b_beta``); ``timestamp`` is
        POSIX seconds in the bars' clock (as for the domain) or a ``datetime``,
        ``numpy.datetime64`` or ``pandas.Timestamp``.

        Raises:
            UnknownKeywordError / ConfigError: a bad sample config, exactly as
                ``DataSampleConfig`` (and so the domain) raises it, before any I/O.

        Returns:
            The ``Trial`` (an ``Episode`` when the server's domain is a
            ``BTgymDataset``); a trial's ``reset``/``sample`` give episodes locally,
            exactly those the same trial gives in the server.
        """
        from btgym.datafeed.meta import DataSampleConfig

        config = dict(sample_config)
        DataSampleConfig.from_dict(config)  # the domain's own errors, before any I/O
        if config.get("timestamp") is not None:
            try:
                config["timestamp"] = _posix(config["timestamp"])
            except ProtocolError as exc:
                raise DataServerError(f"sample(timestamp=...): {exc}") from exc
        try:
            payload = P.SampleRequest(config=P.jsonable(config, "sample_config")).to_payload()
        except ProtocolError as exc:
            raise DataServerError(f"sample(): {exc}") from exc
        msg = self._call(P.Command.SAMPLE, P.ReplyKind.TRIAL, payload)
        reply = self._parse(P.TrialReply, msg)
        try:
            return _sample_from_wire(reply.trial, msg.arrays)
        except ProtocolError as exc:
            raise DataServerError(f"malformed trial from {self.name}: {exc}") from exc

    def reset(self, seed: int | None = None, **params: Any) -> dict[str, Any]:
        """Reset the server's domain: ``domain.reset(seed=seed, **params)``.

        Returns:
            The server's info after the reset (see :meth:`info`).
        """
        payload = P.ResetRequest(seed=seed, params=P.jsonable(params, "reset params"))
        msg = self._call(
            P.Command.RESET, P.ReplyKind.OK, payload.to_payload(), timeout=self.reset_timeout
        )
        return self._parse(P.InfoReply, msg).to_payload()

    def info(self) -> dict[str, Any]:
        """Server info: ``domain``, ``describe``, ``trials_served``, ``served_by_type``,
        ``resets``, ``uptime_s``, ``pid``, ``endpoint``, ``global_time``, ``rss_mb``."""
        msg = self._call(P.Command.INFO, P.ReplyKind.INFO)
        return self._parse(P.InfoReply, msg).to_payload()

    def global_time(self) -> int | None:
        """Global time: the latest bar open time served so far (int64 ns), or as
        advanced by :meth:`set_broadcast`; ``None`` before the first sample."""
        msg = self._call(P.Command.GLOBAL_TIME, P.ReplyKind.TIME)
        return self._parse(P.TimeReply, msg).global_time

    def global_timestamp(self) -> float | None:
        """Global time in POSIX seconds (BTGym's ``get_global_time``), ready to pass as
        ``sample(timestamp=...)``; ``None`` before the first sample."""
        t = self.global_time()
        return None if t is None else t / 1e9

    def get_broadcast(self) -> dict[str, Any]:
        """The broadcast: ``{"message", "set_at", "global_time"}``."""
        msg = self._call(P.Command.GET_BROADCAST, P.ReplyKind.BROADCAST)
        return self._parse(P.BroadcastReply, msg).to_payload()

    def set_broadcast(self, message: Any, timestamp: Any = None) -> dict[str, Any]:
        """Set the broadcast message (JSON-able); ``timestamp`` may advance global time.

        Returns:
            The broadcast as :meth:`get_broadcast` returns it.
        """
        try:
            req = P.BroadcastRequest(
                message=P.jsonable(message, "broadcast message"), timestamp=P.to_ns(timestamp)
            )
        except ProtocolError as exc:
            raise DataServerError(f"set_broadcast(): {exc}") from exc
        msg = self._call(P.Command.SET_BROADCAST, P.ReplyKind.BROADCAST, req.to_payload())
        return self._parse(P.BroadcastReply, msg).to_payload()

    def ping(self, timeout: float | None = None) -> dict[str, Any]:
        """``{"pid", "uptime_s"}`` of the server; raises if it does not answer."""
        msg = self._call(P.Command.PING, P.ReplyKind.PONG, timeout=timeout)
        return self._parse(P.PongReply, msg).to_payload()

    def stop(self, timeout: float | None = None) -> None:
        """Ask the server to stop serving (it answers, then exits)."""
        self._call(P.Command.STOP, P.ReplyKind.STOPPED, timeout=timeout)

    def close(self) -> None:
        """Close the socket (idempotent); the server keeps running."""
        if self._req is not None:
            self._req.close()
            self._req = None

    def __enter__(self) -> DataClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._req is None else "open"
        return f"DataClient({self.endpoint!r}, timeout={self.timeout:g}, {state})"
