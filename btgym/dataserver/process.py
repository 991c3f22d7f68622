"""``DataServerProcess``: the parent-side handle of one data server process.

::

    server = DataServerProcess(data_config_or_domain, seed=0)   # nothing runs yet
    address = server.start()       # spawns, loads the data once, returns the address
    client = server.client()       # the owner's client (every command)
    other = DataClient(address)    # any other process: sample, info, broadcast reads
    trial = client.sample(sample_type=0)
    server.restart()               # after a crash: same address, same sessions
    server.stop()                  # idempotent: STOP, then terminate, then kill

The handle makes two random session tokens per server: the owner's (every
command, used by :meth:`client`) and the clients' (carried by :attr:`endpoint`,
the address handed to other envs: ``sample`` and reads, no ``reset``,
``set_broadcast`` or ``stop``). With ``allow_remote=True`` it also makes this run's
CURVE keys (:class:`btgym.comm.session.CurveKeys`); the address then carries the
client keys.

A handle that is garbage-collected (or left at interpreter exit) stops its
process through a ``weakref.finalize``; the ipc temp dir is removed on every stop,
even when the server was killed and could not clean up itself.
"""

from __future__ import annotations

import contextlib
import weakref
from typing import Any

from btgym.comm.endpoints import LOOPBACK
from btgym.comm.process import ChildProcess
from btgym.comm.session import Address, CurveKeys, new_token
from btgym.dataserver.client import DataClient
from btgym.dataserver.config import DataServerConfig
from btgym.dataserver.server import run_data_server
from btgym.errors import DataServerError
from btgym.log import get_logger, level_from

log = get_logger(__name__)


def _stop_child(child: ChildProcess, timeout: float, address: Address | None = None) -> None:
    """Stop ``child`` gracefully (STOP over a fresh socket, in the owner's session),
    then by signals (``ChildProcess.stop`` also removes its private ipc dir).
    Module-level so the finalizer holds no reference to the handle."""
    endpoint = child.endpoint

    def graceful() -> None:
        if endpoint is None:
            return
        client = DataClient(str(address) if address else endpoint, timeout=timeout)
        try:
            client.stop()
        finally:
            client.close()

    child.stop(graceful, timeout=timeout)


class DataServerProcess:
    """A ``BTgymDataFeedServer`` in its own spawned process.

    Args:
        source: a data domain object, or a ``DataConfig`` the child turns into one
            with ``btgym.datafeed.make_domain``. Travels to the child by pickle at
            spawn (from this trusted parent), never over a socket.
        config: a :class:`DataServerConfig`; keywords below override its fields.
        seed: the seed of the domain's first ``reset`` in the child.
        name: process name (``ps``) and log channel.
        **kwargs: :class:`DataServerConfig` fields (``transport``, ``host``,
            ``port``, ``allow_remote``, ``timeout``, ``reset_timeout``,
            ``start_timeout``, ``log_level``); unknown keys raise
            :class:`~btgym.errors.UnknownKeywordError`.
    """

    def __init__(
        self,
        source: Any,
        config: DataServerConfig | None = None,
        *,
        seed: int | None = None,
        name: str = "btgym-data-server",
        **kwargs: Any,
    ) -> None:
        self.config = DataServerConfig.from_kwargs(config, **kwargs)
        self.name = name
        self.seed = seed
        self._source = source
        self._child: ChildProcess | None = None
        self._finalizer: weakref.finalize | None = None
        #: the address other clients connect with (client session; ``None`` before start).
        self.endpoint: str | None = None
        self.restarts = 0
        self._owner_token = new_token()
        self._client_token = new_token()
        self._curve = CurveKeys.generate() if self.config.allow_remote else None
        self._zmq_endpoint: str | None = None
        self._owner: Address | None = None

    @property
    def pid(self) -> int | None:
        """The server's process id (``None`` before :meth:`start`)."""
        return None if self._child is None else self._child.pid

    def is_alive(self) -> bool:
        """Whether the server process runs."""
        return self._child is not None and self._child.is_alive()

    def start(self) -> str:
        """Spawn the server, wait until its domain is loaded and its socket bound.

        Returns:
            The endpoint clients connect to.

        Raises:
            DataServerError: already started.
            RemoteError: the child failed while starting (e.g. a ``SamplingError``
                or a missing file), with its traceback.
            ServerDiedError / ServerTimeoutError: it died or never became ready.
        """
        if self._child is not None:
            raise DataServerError(f"{self.name} was already started (endpoint {self.endpoint})")
        return self._spawn()

    def _spawn(self) -> str:
        cfg = self.config
        ipc_path = None
        if self._zmq_endpoint is not None and self._zmq_endpoint.startswith("ipc://"):
            ipc_path = self._zmq_endpoint[len("ipc://") :]
        port = cfg.port
        if self._zmq_endpoint is not None and self._zmq_endpoint.startswith("tcp://"):
            port = int(self._zmq_endpoint.rsplit(":", 1)[1])
        kwargs = {
            "source": self._source,
            "seed": self.seed,
            "config": {**cfg.as_dict(), "port": port},
            "name": "data",
            "owner_token": self._owner_token,
            "client_token": self._client_token,
            "curve": self._curve,
            "ipc_path": ipc_path,
        }
        self._child = ChildProcess(
            run_data_server, kwargs, name=self.name, log_level=level_from(log_level=cfg.log_level)
        )
        self._finalizer = weakref.finalize(self, _stop_child, self._child, 2.0)
        endpoint = self._child.start(timeout=cfg.start_timeout)
        self._zmq_endpoint = endpoint
        local = endpoint.startswith("ipc://") or cfg.host in (LOOPBACK, "localhost", "::1")
        pid = self.pid if local else None
        curve = self._curve.for_client() if self._curve is not None else None
        self._owner = Address(endpoint, self._owner_token, curve, pid)
        self._finalizer.detach()
        self._finalizer = weakref.finalize(self, _stop_child, self._child, 2.0, self._owner)
        self.endpoint = str(Address(endpoint, self._client_token, curve, pid))
        log.info(f"{self.name} (pid {self.pid}) ready at {endpoint}")
        return self.endpoint

    def restart(self) -> str:
        """Start the server again after it died (or stop it first if it runs): same
        endpoint, same sessions, so its clients find it at the address they hold.

        Returns:
            The address (unchanged but for the pid).
        """
        if self._child is None:
            return self.start()
        self.stop()
        self.restarts += 1
        log.info(f"{self.name}: restart #{self.restarts} at {self._zmq_endpoint}")
        return self._spawn()

    def client(self, timeout: float | None = None) -> DataClient:
        """The owner's client (every command); it also watches this process (death
        reported in ~0.1 s)."""
        if self._child is None or self._owner is None:
            raise DataServerError(f"{self.name} is not started")
        return DataClient(
            str(self._owner),
            timeout=self.config.timeout if timeout is None else timeout,
            reset_timeout=self.config.reset_timeout,
            process=self._child,
            name=self.name,
        )

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the server (idempotent; never raises for a dead one)."""
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if self._child is not None:
            with contextlib.suppress(Exception):
                _stop_child(self._child, timeout, self._owner)

    def __enter__(self) -> DataServerProcess:
        if self._child is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.is_alive() else "stopped" if self._child else "new"
        return f"DataServerProcess({self.name!r}, {state}, endpoint={self._zmq_endpoint!r})"
