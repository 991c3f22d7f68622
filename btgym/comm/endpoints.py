"""Endpoints for btgym servers: private ``ipc://`` sockets or OS-chosen loopback ports.

Nothing here ever kills a process that holds a port: a server binds where the OS
lets it (``bind_to_random_port``) or in a private temporary directory, and reports
the endpoint it got back to its parent.

An ipc directory is named ``btgym-<owner pid>-<random>`` (the owner: the process
that asked for the server). A server removes its directory when it stops or sees
its owner gone (:func:`remove_owned`); :func:`sweep_stale` removes the directories
of owners that died without anyone cleaning up (e.g. every process SIGKILLed).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile

import zmq

from btgym.errors import ConfigError

LOOPBACK = "127.0.0.1"
TRANSPORTS = ("ipc", "tcp")

#: pid of the process that owns the servers bound here (set in a server child).
_OWNER = {"pid": os.getpid()}
#: ipc directories made in this process (removed by :func:`remove_owned`).
_OWNED: set[str] = set()
_DIR_RE = re.compile(r"^btgym-(\d+)-")


def set_owner(pid: int) -> None:
    """Name ``pid`` as the owner of the ipc directories this process makes."""
    _OWNER["pid"] = int(pid)


def _make_dir(ipc_path: str | None) -> str:
    if ipc_path is not None:
        folder = os.path.dirname(ipc_path)
        if not os.path.basename(folder).startswith("btgym-"):
            raise ConfigError(f"ipc_path {ipc_path!r} is not inside a btgym- directory")
        os.makedirs(folder, mode=0o700, exist_ok=True)
    else:
        folder = tempfile.mkdtemp(prefix=f"btgym-{_OWNER['pid']}-")
    _OWNED.add(folder)
    return folder


def bind(
    socket: zmq.Socket,
    transport: str = "ipc",
    host: str = LOOPBACK,
    port: int | None = None,
    name: str = "server",
    allow_remote: bool = False,
    ipc_path: str | None = None,
) -> tuple[str, str | None]:
    """Bind ``socket`` to a fresh endpoint.

    Args:
        socket: the ZeroMQ socket to bind.
        transport: ``"ipc"`` (a socket file in a private temp dir) or ``"tcp"``.
        host: interface for tcp; anything beyond loopback needs ``allow_remote``.
        port: a fixed tcp port (``None``: one the OS picks).
        name: the socket file's base name, for ipc.
        allow_remote: explicit opt-in to bind a non-loopback interface.
        ipc_path: bind exactly this ipc socket file (its directory is made if gone):
            a restarted server keeps the endpoint its clients know.

    Returns:
        ``(endpoint, tempdir)``; ``tempdir`` is the ipc directory to remove on close
        (see :func:`cleanup`), ``None`` for tcp.

    Raises:
        ConfigError: unknown transport, or a non-loopback host without ``allow_remote``.
    """
    if transport == "ipc":
        tmp = _make_dir(ipc_path)
        path = ipc_path or f"{os.path.join(tmp, name)}.sock"
        endpoint = f"ipc://{path}"
        socket.bind(endpoint)
        return endpoint, tmp
    if transport != "tcp":
        raise ConfigError(f"transport {transport!r} is not one of {TRANSPORTS}")
    if host not in (LOOPBACK, "localhost", "::1") and not allow_remote:
        raise ConfigError(
            f"binding to {host!r} exposes the server beyond this machine; "
            "pass allow_remote=True to opt in"
        )
    if host == "localhost":
        host = LOOPBACK
    if port is None:
        port = socket.bind_to_random_port(f"tcp://{host}")
    else:
        socket.bind(f"tcp://{host}:{int(port)}")
    return f"tcp://{host}:{port}", None


def cleanup(tempdir: str | None) -> None:
    """Remove an ipc temp dir made by :func:`bind` (no error if already gone)."""
    if tempdir:
        shutil.rmtree(tempdir, ignore_errors=True)
        _OWNED.discard(tempdir)


def remove_owned() -> None:
    """Remove every ipc directory this process made (before a hard exit)."""
    for folder in list(_OWNED):
        cleanup(folder)


def remove_owner_dirs(pid: int) -> None:
    """Remove every ``btgym-<pid>-*`` directory (``pid``: an owner known to be gone)."""
    base = tempfile.gettempdir()
    with contextlib.suppress(OSError):
        for entry in os.scandir(base):
            if entry.name.startswith(f"btgym-{int(pid)}-"):
                shutil.rmtree(entry.path, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale(tmpdir: str | None = None) -> list[str]:
    """Remove ``btgym-<pid>-*`` ipc directories whose owner process is gone.

    Returns:
        The directories removed.
    """
    base = tmpdir or tempfile.gettempdir()
    removed = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(base):
            m = _DIR_RE.match(entry.name)
            if not m or not entry.is_dir(follow_symlinks=False):
                continue
            pid = int(m.group(1))
            if pid == os.getpid() or _pid_alive(pid):
                continue
            with contextlib.suppress(OSError):
                if entry.stat(follow_symlinks=False).st_uid != os.getuid():
                    continue
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(entry.path)
    return removed
