"""Child-process lifecycle shared by every btgym server.

A server is a plain function ``target(ready, **kwargs)`` run in a *spawned* child.
It binds its socket, calls ``ready(endpoint)`` and serves until told to stop.
:class:`ChildProcess` in the parent:

- starts it and waits (with a timeout, watching the child's liveness) for the
  endpoint, or for the exception it raised while starting, re-raised here as
  :class:`~btgym.errors.RemoteError` with the child's traceback;
- reports the traceback of an exception that killed the child later
  (:meth:`ChildProcess.death_report`);
- stops it: the caller's graceful step, then ``terminate``, then ``kill``;
  :meth:`stop` is idempotent.

In the child, a watchdog ends the process when its parent dies (``PR_SET_PDEATHSIG``
on Linux plus a parent-pid poll everywhere), so no orphan outlives its env. An
``atexit`` hook in the parent stops children the user forgot to close, before
``multiprocessing`` would join (and hang on) them.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import multiprocessing as mp
import multiprocessing.spawn as mp_spawn
import os
import pickle
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from btgym.comm import endpoints
from btgym.comm.remote import error_attrs, rebuild
from btgym.errors import ServerDiedError, ServerTimeoutError
from btgym.log import get_logger, setup_logging

log = get_logger(__name__)

#: Modules the forkserver imports once, so each server child forks ready in milliseconds.
PRELOAD = ["btgym.server.process", "btgym.dataserver.server"]


def _context() -> Any:
    """``forkserver`` (preloaded) on Linux, ``spawn`` elsewhere; ``BTGYM_START_METHOD``
    overrides. Never plain ``fork``: the caller may hold threads, sockets, CUDA."""
    method = os.environ.get("BTGYM_START_METHOD") or (
        "forkserver" if sys.platform.startswith("linux") else "spawn"
    )
    ctx = mp.get_context(method)
    if method == "forkserver":
        ctx.set_forkserver_preload(PRELOAD)
        _own_mp_tempdir()
    return ctx


def _own_mp_tempdir() -> None:
    """Put multiprocessing's temp dir (the forkserver's listener socket) in a
    ``btgym-<pid>-`` directory, so a hard exit leaves nothing that our children and
    :func:`btgym.comm.endpoints.sweep_stale` do not remove (a ``pymp-`` dir would stay)."""
    config = mp.current_process()._config
    if config.get("tempdir") is not None:
        return
    folder = tempfile.mkdtemp(prefix=f"btgym-{os.getpid()}-mp-")
    config["tempdir"] = folder
    atexit.register(shutil.rmtree, folder, True)


def _forget_parents_forkserver() -> None:
    """After a plain ``fork`` (gymnasium's ``AsyncVectorEnv`` default context) the child
    inherits its parent's forkserver bookkeeping, but that forkserver is not the
    child's own child: ``multiprocessing`` then fails with ``ChildProcessError: [Errno
    10] No child processes``. Forget it (closing our copy of its liveness pipe); the
    child starts its own forkserver when it first needs one."""
    from multiprocessing import forkserver

    server = getattr(forkserver, "_forkserver", None)
    if server is None or getattr(server, "_forkserver_pid", None) is None:
        return
    fd = getattr(server, "_forkserver_alive_fd", None)
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)
    server._forkserver_alive_fd = None
    server._forkserver_pid = None
    server._forkserver_address = None
    server._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_parents_forkserver)

_LIVE: weakref.WeakSet[ChildProcess] = weakref.WeakSet()


def _stop_all_children() -> None:
    for child in list(_LIVE):
        with contextlib.suppress(Exception):
            child.stop(timeout=0.5)


atexit.register(_stop_all_children)


# --------------------------------------------------------------------------- child side


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def watch_owner(owner_pid: int, interval: float = 0.5) -> None:
    """End this process when its owner (the process that asked for it) is gone.

    The direct parent is the owner under ``spawn`` and the forkserver under
    ``forkserver`` (which itself exits with the owner). Linux: ``PR_SET_PDEATHSIG``
    ends us at once when the direct parent dies; everywhere, a thread polls both.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    parent = os.getppid()
    if parent == 1 or not _pid_running(owner_pid):
        _owner_gone()

    def loop() -> None:
        while True:
            time.sleep(interval)
            if os.getppid() != parent or not _pid_running(owner_pid):
                _owner_gone()

    threading.Thread(target=loop, name="btgym-parent-watch", daemon=True).start()


_OWNER_PID = {"pid": 0}


def _owner_gone() -> None:
    """The owner died: remove the ipc directories made here and the owner's other
    btgym directories (nobody else will), exit."""
    with contextlib.suppress(BaseException):
        endpoints.remove_owned()
    if _OWNER_PID["pid"]:
        with contextlib.suppress(BaseException):
            endpoints.remove_owner_dirs(_OWNER_PID["pid"])
    os._exit(3)


def _on_sigterm(*_: Any) -> None:
    """SIGTERM: a stop from the owner (exit through the serve loop's cleanup), or the
    parent-death signal after the owner died (clean up for it)."""
    owner = _OWNER_PID["pid"]
    if owner and not _pid_running(owner):
        _owner_gone()
    sys.exit(0)


def _child_main(
    target: Callable[..., None], conn: Any, parent_pid: int, log_level: int, kwargs: dict[str, Any]
) -> None:
    endpoints.set_owner(parent_pid)
    _OWNER_PID["pid"] = parent_pid
    signal.signal(signal.SIGTERM, _on_sigterm)
    watch_owner(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C belongs to the parent
    setup_logging(log_level=log_level)
    announced = False

    def ready(endpoint: str) -> None:
        nonlocal announced
        conn.send(("ready", endpoint))
        announced = True

    try:
        target(ready, **kwargs)
    except BaseException as exc:  # report anything that kills the server
        if isinstance(exc, SystemExit) and not exc.code:
            return
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        with contextlib.suppress(Exception):
            conn.send(("error", type(exc).__name__, str(exc), tb, error_attrs(exc)))
        if announced:
            raise
        sys.exit(1)
    finally:
        with contextlib.suppress(Exception):
            conn.close()


# --------------------------------------------------------------------------- parent side

_PREP_LOCK = threading.RLock()
_SWEPT = {"done": False}
_MAIN_KEYS = ("init_main_from_path", "init_main_from_name")


@contextlib.contextmanager
def _allow_from_daemon() -> Iterator[None]:
    """Let a daemonic process (a worker of gymnasium's ``AsyncVectorEnv`` or SB3's
    ``SubprocVecEnv``) start a btgym server.

    ``multiprocessing`` refuses children to daemons because it cannot reap them when
    the daemon is killed; a btgym child needs no reaping: it ends itself when its
    owner dies (:func:`watch_owner`).
    """
    config = mp.current_process()._config
    if not config.get("daemon"):
        yield
        return
    with _PREP_LOCK:
        config["daemon"] = False
        try:
            yield
        finally:
            config["daemon"] = True


@contextlib.contextmanager
def _main_module_if_needed(payload: Any) -> Iterator[None]:
    """Let the child skip re-running the user's ``__main__`` when nothing it receives
    refers to it.

    Under ``spawn``/``forkserver`` a child normally re-imports the parent's main
    script, which breaks scripts without an ``if __name__ == "__main__":`` guard (each
    child would build envs again). Our servers need the main module only when the
    user passes a class defined there (e.g. a strategy); then the usual rule applies.
    """
    try:
        needed = b"__main__" in pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        needed = True
    if needed:
        yield
        return
    original = mp_spawn.get_preparation_data

    def without_main(name: str) -> dict[str, Any]:
        data = original(name)
        for key in _MAIN_KEYS:
            data.pop(key, None)
        return data

    with _PREP_LOCK:
        mp_spawn.get_preparation_data = without_main
        try:
            yield
        finally:
            mp_spawn.get_preparation_data = original


def _pid_running(pid: int) -> bool:
    """False when ``/proc`` shows ``pid`` gone or a zombie (True where there is no /proc)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            state = fh.read().rsplit(b")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    except (OSError, IndexError):
        return True
    return state not in (b"Z", b"X")


def _remove_ipc_dir(endpoint: str | None) -> None:
    """Remove the private ipc dir of a stopped child (a killed one can't do it)."""
    if endpoint and endpoint.startswith("ipc://"):
        folder = os.path.dirname(endpoint[len("ipc://") :])
        if os.path.basename(folder).startswith("btgym-"):
            shutil.rmtree(folder, ignore_errors=True)


class ChildProcess:
    """A spawned btgym server process.

    Args:
        target: module-level function ``target(ready, **kwargs)``.
        kwargs: its keyword arguments (must be picklable: they travel at spawn, from
            the parent we trust, never over a socket).
        name: process name, shown in errors and ``ps``.
        log_level: logbook level for the child's stderr handler.
    """

    def __init__(
        self,
        target: Callable[..., None],
        kwargs: dict[str, Any] | None = None,
        name: str = "btgym-server",
        log_level: int = 13,
    ) -> None:
        self.name = name
        self.endpoint: str | None = None
        ctx = _context()
        self._conn, child_conn = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(
            target=_child_main,
            name=name,
            daemon=False,
            args=(target, child_conn, os.getpid(), log_level, dict(kwargs or {})),
        )
        self._child_conn = child_conn
        self._error: tuple | None = None
        self._stopped = False
        self._exitcode: int | None = None
        self._pid: int | None = None

    @property
    def pid(self) -> int | None:
        if self._pid is None:  # remembered: the Process object is closed after stop()
            self._pid = self._proc.pid
        return self._pid

    def is_alive(self) -> bool:
        """Whether the child runs. Under ``forkserver`` the exit status reaches us through
        the forkserver, a little later; ``/proc`` tells at once that the child is gone."""
        if self._stopped or self._proc.pid is None or not self._proc.is_alive():
            return False
        return _pid_running(self._proc.pid)

    @property
    def exitcode(self) -> int | None:
        return self._exitcode if self._stopped else self._proc.exitcode

    def start(self, timeout: float = 30.0) -> str:
        """Start the child and return the endpoint it bound.

        Raises:
            RemoteError: the child raised while starting (its traceback attached).
            ServerDiedError: the child exited without a word.
            ServerTimeoutError: no endpoint within ``timeout`` seconds.
        """
        self.launch()
        return self.wait_ready(timeout)

    def launch(self) -> None:
        """Start the child without waiting (pair with :meth:`wait_ready`), so several
        children can start in parallel."""
        if not _SWEPT["done"]:  # the first start in this process: leftovers of dead owners
            _SWEPT["done"] = True
            with contextlib.suppress(Exception):
                stale = endpoints.sweep_stale()
                if stale:
                    log.info(f"removed {len(stale)} ipc dir(s) of btgym processes gone")
        with _main_module_if_needed(self._proc._args), _allow_from_daemon():
            self._proc.start()
        _LIVE.add(self)
        self._child_conn.close()

    def wait_ready(self, timeout: float = 30.0) -> str:
        """Wait for a launched child's endpoint; raises as :meth:`start` does."""
        if self.endpoint is not None:
            return self.endpoint
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._conn.poll(0.05):
                msg = self._read()
                if msg and msg[0] == "ready":
                    self.endpoint = msg[1]
                    return self.endpoint
                if self._error:
                    self.stop(timeout=1.0)
                    raise self._remote_error("failed to start")
                if msg is None:  # EOF: the child is gone (poll would say so forever)
                    self._proc.join(1.0)
            if not self._proc.is_alive() or not _pid_running(self._proc.pid):
                self._drain()
                self.stop(timeout=0.1)
                if self._error:
                    raise self._remote_error("failed to start")
                raise ServerDiedError(
                    f"{self.name} exited with code {self.exitcode} before it was ready"
                )
        self.stop(timeout=1.0)
        raise ServerTimeoutError(f"{self.name} did not become ready within {timeout:.0f} s")

    def _read(self) -> tuple | None:
        try:
            msg = self._conn.recv()
        except (EOFError, OSError):
            return None
        if msg and msg[0] == "error":
            self._error = tuple(msg[1:5])
        return msg

    def _drain(self) -> None:
        with contextlib.suppress(Exception):
            while self._conn.poll(0):
                if self._read() is None:
                    break

    def _remote_error(self, what: str) -> BaseException:
        """The child's exception: the same :mod:`btgym.errors` class when it is one
        (its traceback as ``remote_traceback`` and ``__cause__``), else RemoteError."""
        etype, emsg, tb, attrs = (*(self._error or ("", "", "")), None)[:4]
        return rebuild(etype, emsg, tb, attrs, context=f"{self.name} {what}")

    def death_report(self) -> BaseException:
        """The error to raise for a child found dead: its own exception if it sent
        one, else its exit code / signal."""
        self._drain()
        if self._error:
            return self._remote_error("died")
        code = self.exitcode
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        return ServerDiedError(f"{self.name} (pid {self.pid}) died: {how}")

    def stop(self, graceful: Callable[[], None] | None = None, timeout: float = 2.0) -> None:
        """Stop the child: ``graceful()`` (e.g. send STOP), wait, terminate, kill.

        Idempotent; never raises for an already-dead child.
        """
        if self._stopped:
            return
        self._stopped = True
        _LIVE.discard(self)
        if self.pid is None:  # never started
            return
        if graceful is not None and self._proc.is_alive():
            try:
                graceful()
            except Exception as exc:  # a dead or stuck server: fall through to signals
                log.debug(f"{self.name}: graceful stop failed: {exc}")
        self._proc.join(timeout)
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join(1.0)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join(1.0)
        self._exitcode = self._proc.exitcode
        self._drain()
        _remove_ipc_dir(self.endpoint)
        with contextlib.suppress(Exception):
            self._conn.close()
        with contextlib.suppress(Exception):
            self._proc.close()
