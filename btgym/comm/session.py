"""Sessions, size limits and CURVE keys for every btgym socket.

**Sessions.** The process that starts a server (its *owner*) makes a random
token per session (:func:`new_token`) and hands it to the child at spawn (by the
spawn pipe, never over a socket). Every request carries a token as its first
frame; the server compares it with its sessions' tokens (a constant-time bytes
comparison, no parsing) and answers anything else with a
:class:`~btgym.errors.SessionError` reply, changing nothing. A :class:`Session`
may be limited to some commands: the data server gives its owner a session for
every command and other clients one without the control commands (``reset``,
``set_broadcast``, ``stop``).

**Addresses.** What a client needs to reach a server (endpoint, token, and the
CURVE keys beyond loopback) travels as one string, an *address*::

    ipc:///tmp/btgym-1234-abcd/data.sock#token=<hex>&pid=5678
    tcp://10.0.0.5:40123#token=<hex>&curve=<server pub>.<client pub>.<client secret>

An address is a credential: whoever holds it can use the session it names.

**Limits.** :class:`Limits` bounds what a socket accepts before anything is
allocated (``ZMQ_MAXMSGSIZE``: a larger frame disconnects its sender inside
libzmq) and what a JSON header may weigh (checked before parsing).

**CURVE.** :class:`CurveKeys` holds one run's keys: the server's key pair and the
one client key pair the server accepts (checked by a ZAP handler in the server
process). Binding beyond loopback (``allow_remote=True``) without keys is refused.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import zmq
import zmq.utils.z85

from btgym.errors import ConfigError

#: the prefix of the fragment that carries an address's credentials.
_FRAGMENT = "#"


def new_token() -> bytes:
    """A fresh random session token (32 ASCII hex bytes: 128 bits)."""
    return secrets.token_hex(16).encode()


@dataclass(frozen=True)
class Session:
    """One session a server accepts.

    Attributes:
        token: the bytes a request's first frame must equal.
        commands: the request kinds this session may send (``None``: all of them).
        name: shown in logs (``"owner"``, ``"client"``).
    """

    token: bytes
    commands: frozenset[str] | None = None
    name: str = "session"

    def __post_init__(self) -> None:
        if not isinstance(self.token, bytes) or len(self.token) < 16:
            raise ConfigError("a session token must be at least 16 bytes")
        if self.commands is not None:
            object.__setattr__(self, "commands", frozenset(self.commands))

    def allows(self, kind: str) -> bool:
        """Whether this session may send requests of ``kind``."""
        return self.commands is None or kind in self.commands


def find_session(sessions: Iterable[Session], token: bytes) -> Session | None:
    """The session whose token equals ``token`` (constant-time compare), else ``None``."""
    found = None
    for s in sessions:
        if hmac.compare_digest(s.token, token):
            found = s
    return found


@dataclass(frozen=True)
class Limits:
    """What a socket accepts.

    Attributes:
        max_message: most bytes of one inbound frame (``ZMQ_MAXMSGSIZE``): a sender of
            a larger one is disconnected by libzmq before the frame is allocated.
        max_header: most bytes of a message's JSON header (checked before parsing).
        max_frames: most frames of one message.
    """

    max_message: int = 16 * 2**20
    max_header: int = 64 * 2**10
    max_frames: int = 256

    def __post_init__(self) -> None:
        for name in ("max_message", "max_header", "max_frames"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"Limits.{name}: {value!r} must be a positive int")

    def apply(self, sock: zmq.Socket) -> None:
        """Set ``ZMQ_MAXMSGSIZE`` on ``sock`` (before bind / connect)."""
        sock.setsockopt(zmq.MAXMSGSIZE, self.max_message)


#: requests to a server: small (actions, sample configs); big replies come back.
SERVER_LIMITS = Limits()
#: replies to a client: trials and records may be large.
CLIENT_LIMITS = Limits(max_message=2**31 - 1, max_header=16 * 2**20)


# --------------------------------------------------------------------------- CURVE


def _hex_key(z85: bytes) -> str:
    return zmq.utils.z85.decode(z85).hex()


def _z85_key(text: str) -> bytes:
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise ConfigError("a CURVE key must be 32 bytes (64 hex digits)")
    return zmq.utils.z85.encode(raw)


@dataclass(frozen=True)
class CurveKeys:
    """One run's CURVE keys (Z85 ``bytes``, as ``zmq.curve_keypair`` makes them).

    Attributes:
        server_public, server_secret: the server's pair (``server_secret`` is
            ``None`` on the client side: see :meth:`for_client`).
        client_public, client_secret: the pair the server accepts from its clients.
    """

    server_public: bytes
    client_public: bytes
    client_secret: bytes
    server_secret: bytes | None = field(default=None, repr=False)

    @classmethod
    def generate(cls) -> CurveKeys:
        """Fresh keys for one run (needs libzmq built with CURVE, as pyzmq's wheels are)."""
        if not zmq.has("curve"):
            raise ConfigError("this libzmq has no CURVE support: cannot bind beyond loopback")
        spub, ssec = zmq.curve_keypair()
        cpub, csec = zmq.curve_keypair()
        return cls(server_public=spub, server_secret=ssec, client_public=cpub, client_secret=csec)

    def for_client(self) -> CurveKeys:
        """The keys without the server's secret (what a client may hold)."""
        return CurveKeys(
            server_public=self.server_public,
            client_public=self.client_public,
            client_secret=self.client_secret,
        )

    def to_text(self) -> str:
        """The client keys as ``"<server public>.<client public>.<client secret>"`` (hex)."""
        return ".".join(
            _hex_key(k) for k in (self.server_public, self.client_public, self.client_secret)
        )

    @classmethod
    def from_text(cls, text: str) -> CurveKeys:
        """Client keys back from :meth:`to_text`."""
        parts = text.split(".")
        if len(parts) != 3:
            raise ConfigError("curve= in an address needs three keys joined by '.'")
        spub, cpub, csec = (_z85_key(p) for p in parts)
        return cls(server_public=spub, client_public=cpub, client_secret=csec)

    def apply_server(self, sock: zmq.Socket) -> None:
        """Make ``sock`` a CURVE server (before bind)."""
        if self.server_secret is None:
            raise ConfigError("a CURVE server needs the server's secret key")
        sock.setsockopt(zmq.CURVE_SERVER, 1)
        sock.setsockopt(zmq.CURVE_SECRETKEY, self.server_secret)
        sock.setsockopt(zmq.CURVE_PUBLICKEY, self.server_public)
        sock.setsockopt(zmq.ZAP_DOMAIN, b"btgym")

    def apply_client(self, sock: zmq.Socket) -> None:
        """Make ``sock`` a CURVE client of this run's server (before connect)."""
        sock.setsockopt(zmq.CURVE_SERVERKEY, self.server_public)
        sock.setsockopt(zmq.CURVE_PUBLICKEY, self.client_public)
        sock.setsockopt(zmq.CURVE_SECRETKEY, self.client_secret)


class _AllowOne:
    """ZAP credentials provider: only this run's client key."""

    def __init__(self, key: bytes) -> None:
        self.key = key

    def callback(self, domain: str, key: bytes) -> bool:
        return hmac.compare_digest(key, self.key)


def start_authenticator(ctx: zmq.Context, keys: CurveKeys) -> Any:
    """Start a ZAP handler in ``ctx`` that admits only ``keys.client_public``;
    returns it (call ``.stop()`` when done)."""
    from zmq.auth.thread import ThreadAuthenticator

    auth = ThreadAuthenticator(ctx)
    auth.start()
    auth.configure_curve_callback("btgym", credentials_provider=_AllowOne(keys.client_public))
    return auth


# --------------------------------------------------------------------------- addresses


@dataclass(frozen=True)
class Address:
    """What a client needs to reach one server session."""

    endpoint: str
    token: bytes | None = None
    curve: CurveKeys | None = None
    pid: int | None = None

    def __str__(self) -> str:
        parts = []
        if self.token is not None:
            parts.append(f"token={self.token.decode()}")
        if self.pid is not None:
            parts.append(f"pid={self.pid}")
        if self.curve is not None:
            parts.append(f"curve={self.curve.to_text()}")
        return self.endpoint + (_FRAGMENT + "&".join(parts) if parts else "")

    @classmethod
    def parse(cls, text: str | Address) -> Address:
        """An address from its string (a bare endpoint gives no token)."""
        if isinstance(text, Address):
            return text
        if not isinstance(text, str):
            raise ConfigError(f"an address is a string, got {type(text).__name__}")
        endpoint, _, frag = text.partition(_FRAGMENT)
        token = curve = pid = None
        for item in filter(None, frag.split("&")):
            key, _, value = item.partition("=")
            if key == "token":
                token = value.encode()
            elif key == "curve":
                curve = CurveKeys.from_text(value)
            elif key == "pid" and value.isdigit():
                pid = int(value)
            else:
                raise ConfigError(f"address {endpoint!r}: unknown part {key!r}")
        return cls(endpoint, token, curve, pid)

    def with_host(self, host: str) -> Address:
        """This address reached through ``host`` (a server bound to ``0.0.0.0`` is
        reached at its node's IP from other nodes); the pid is dropped (another
        machine cannot watch it)."""
        if not self.endpoint.startswith("tcp://"):
            raise ConfigError(f"only a tcp address has a host: {self.endpoint!r}")
        port = self.endpoint.rsplit(":", 1)[1]
        return Address(f"tcp://{host}:{port}", self.token, self.curve, None)

    def masked(self) -> str:
        """The endpoint alone, for logs and error messages (no credentials)."""
        return self.endpoint


# --------------------------------------------------------------------------- logging


class RateLimitedLog:
    """Log at most one line per ``interval`` seconds, counting the ones left out."""

    def __init__(self, log: Any, interval: float = 5.0) -> None:
        self.log = log
        self.interval = interval
        self._last = -1e18
        self._skipped = 0
        self._lock = threading.Lock()

    def warning(self, text: str) -> None:
        with self._lock:
            now = time.monotonic()
            if now - self._last < self.interval:
                self._skipped += 1
                return
            skipped, self._skipped, self._last = self._skipped, 0, now
        more = f" ({skipped} more since the last report)" if skipped else ""
        self.log.warning(text + more)
