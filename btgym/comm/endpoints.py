"""Endpoints for btgym servers: private ``ipc://`` sockets or OS-chosen loopback ports.

Nothing here ever kills a process that holds a port: a server binds where the OS
lets it (``bind_to_random_port``) or in a private temporary directory, and reports
the endpoint it got back to its parent.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import zmq

from btgym.errors import ConfigError

LOOPBACK = "127.0.0.1"
TRANSPORTS = ("ipc", "tcp")


def bind(
    socket: zmq.Socket,
    transport: str = "ipc",
    host: str = LOOPBACK,
    port: int | None = None,
    name: str = "server",
    allow_remote: bool = False,
) -> tuple[str, str | None]:
    """Bind ``socket`` to a fresh endpoint.

    Args:
        socket: the ZeroMQ socket to bind.
        transport: ``"ipc"`` (a socket file in a private temp dir) or ``"tcp"``.
        host: interface for tcp; anything beyond loopback needs ``allow_remote``.
        port: a fixed tcp port (``None``: one the OS picks).
        name: the socket file's base name, for ipc.
        allow_remote: explicit opt-in to bind a non-loopback interface.

    Returns:
        ``(endpoint, tempdir)``; ``tempdir`` is the ipc directory to remove on close
        (see :func:`cleanup`), ``None`` for tcp.

    Raises:
        ConfigError: unknown transport, or a non-loopback host without ``allow_remote``.
    """
    if transport == "ipc":
        tmp = tempfile.mkdtemp(prefix="btgym-")
        endpoint = f"ipc://{os.path.join(tmp, name)}.sock"
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
