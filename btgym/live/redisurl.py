"""Redis URLs: parsing, connection keywords, and redaction of passwords.

Accepted forms (``live.md`` §8):

- ``redis://[[user]:password@]host[:port][/db]`` (plain TCP, port 6379, db 0 by default);
- ``rediss://…`` the same over TLS (certificates from :class:`TLSConfig`);
- ``unix:///path/to/redis.sock[?db=N]`` (``unix://[[user]:password@]/path`` too).

The default is ``$BTGYM_REDIS_URL`` or ``redis://127.0.0.1:6379/0``. A password never
leaves this module in clear: :func:`redact` replaces it with ``***`` and
:meth:`RedisURL.scrub` removes it from any text (error messages of the client
library included) before it is logged, raised, put in a heartbeat or a status line.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from btgym.errors import ConfigError

DEFAULT_URL = "redis://127.0.0.1:6379/0"
ENV_VAR = "BTGYM_REDIS_URL"
SCHEMES = ("redis", "rediss", "unix")
MASK = "***"


def default_url() -> str:
    """``$BTGYM_REDIS_URL`` or ``redis://127.0.0.1:6379/0``."""
    return os.environ.get(ENV_VAR) or DEFAULT_URL


@dataclass(frozen=True, kw_only=True)
class TLSConfig:
    """Certificates of a ``rediss://`` connection (paths to PEM files).

    Attributes:
        ca: CA bundle that signed the server's certificate (``None``: system CAs).
        cert, key: client certificate and key, when the server asks for one.
        check_hostname: verify the server certificate's host name.
    """

    ca: str | None = None
    cert: str | None = None
    key: str | None = None
    check_hostname: bool = True

    def __post_init__(self) -> None:
        if (self.cert is None) != (self.key is None):
            raise ConfigError("TLS: give both a client certificate and its key, or neither")
        for name in ("ca", "cert", "key"):
            path = getattr(self, name)
            if path is not None and not os.path.isfile(path):
                raise ConfigError(f"TLS {name} file {path!r} does not exist")


@dataclass(frozen=True, kw_only=True)
class RedisURL:
    """A parsed redis URL (see the module doc for the accepted forms).

    Attributes:
        scheme: ``redis``, ``rediss`` or ``unix``.
        host, port: TCP address (``None`` for unix sockets).
        path: the socket path of a ``unix://`` URL.
        db: database number.
        username, password: ACL credentials (``None`` when not given).
    """

    scheme: str
    host: str | None = None
    port: int | None = None
    path: str | None = None
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def tls(self) -> bool:
        return self.scheme == "rediss"

    @property
    def redacted(self) -> str:
        """The URL with the password replaced by ``***`` (safe to print)."""
        return self._format(MASK if self.password is not None else None)

    def __str__(self) -> str:
        return self.redacted

    def _format(self, password: str | None) -> str:
        auth = ""
        if self.username is not None or password is not None:
            user = quote(self.username or "", safe="")
            auth = f"{user}:{password}@" if password is not None else f"{user}@"
        if self.scheme == "unix":
            query = f"?db={self.db}" if self.db else ""
            return f"unix://{auth}{self.path}{query}"
        host = f"[{self.host}]" if self.host and ":" in self.host else self.host
        return f"{self.scheme}://{auth}{host}:{self.port}/{self.db}"

    def scrub(self, text: Any) -> str:
        """``text`` with every occurrence of the password (raw or URL-quoted) masked."""
        out = str(text)
        if self.password:
            for secret in {self.password, quote(self.password, safe="")}:
                out = out.replace(secret, MASK)
        return out

    def client_kwargs(
        self, *, tls: TLSConfig | None = None, socket_timeout: float | None = 2.0
    ) -> dict[str, Any]:
        """Keywords for ``redis.Redis(...)`` (no URL string: nothing to leak)."""
        kw: dict[str, Any] = {
            "db": self.db,
            "username": self.username,
            "password": self.password,
            "socket_timeout": socket_timeout,
            "socket_connect_timeout": socket_timeout,
            "decode_responses": False,
        }
        if self.scheme == "unix":
            kw["unix_socket_path"] = self.path
            return kw
        kw.update(host=self.host, port=self.port)
        if self.tls:
            t = tls or TLSConfig()
            kw.update(
                ssl=True,
                ssl_ca_certs=t.ca,
                ssl_certfile=t.cert,
                ssl_keyfile=t.key,
                ssl_check_hostname=t.check_hostname,
                ssl_cert_reqs="required",
            )
        elif tls is not None:
            raise ConfigError(
                f"TLS certificates were given for {self.redacted}; use a rediss:// URL"
            )
        return kw


_CRED = re.compile(r"^(?P<scheme>[a-z]+)://(?P<user>[^:@/]*):(?P<pw>[^@]*)@", re.I)


def redact(url: str) -> str:
    """``url`` with its password masked; works on malformed URLs too (never raises)."""
    try:
        return parse_url(url).redacted
    except ConfigError:
        return _CRED.sub(lambda m: f"{m['scheme']}://{m['user']}:{MASK}@", str(url))


def parse_url(url: str | None = None) -> RedisURL:
    """Parse a redis URL (``None``: :func:`default_url`).

    Raises:
        ConfigError: unknown scheme, bad port or db, missing host or socket path. The
            message shows the URL redacted.
    """
    raw = default_url() if url is None else str(url)
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"redis URL {_mask_raw(raw)}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise ConfigError(f"redis URL {_mask_raw(raw)}: scheme {scheme!r} is not one of {SCHEMES}")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    query = parse_qs(parts.query)
    if scheme == "unix":
        path = parts.path
        if not path:
            raise ConfigError(f"redis URL {_mask_raw(raw)}: unix:// needs a socket path")
        db = _db(query.get("db", ["0"])[0], raw)
        return RedisURL(scheme=scheme, path=path, db=db, username=username, password=password)
    if not parts.hostname:
        raise ConfigError(f"redis URL {_mask_raw(raw)}: no host")
    db_text = parts.path.lstrip("/") or query.get("db", ["0"])[0]
    return RedisURL(
        scheme=scheme,
        host=parts.hostname,
        port=port or 6379,
        db=_db(db_text, raw),
        username=username,
        password=password,
    )


def _db(text: str, raw: str) -> int:
    try:
        db = int(text)
    except ValueError:
        raise ConfigError(f"redis URL {_mask_raw(raw)}: db {text!r} is not a number") from None
    if db < 0:
        raise ConfigError(f"redis URL {_mask_raw(raw)}: db must be >= 0")
    return db


def _mask_raw(raw: str) -> str:
    return _CRED.sub(lambda m: f"{m['scheme']}://{m['user']}:{MASK}@", raw)


def make_client(
    url: RedisURL, *, tls: TLSConfig | None = None, socket_timeout: float | None = 2.0
) -> Any:
    """A ``redis.Redis`` for ``url`` that never retries behind our back (the publisher
    and reader retry themselves, with their own backoff and bookkeeping).

    Raises:
        MissingExtraError: the ``redis`` package is not installed (``btgym[live]``).
    """
    try:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry
    except ImportError as exc:  # pragma: no cover - the extra is in the test deps
        from btgym.errors import MissingExtraError

        raise MissingExtraError("redis", "live", "the live bridge") from exc
    kw = url.client_kwargs(tls=tls, socket_timeout=socket_timeout)
    return redis.Redis(**kw, retry=Retry(NoBackoff(), 0))


def check_connection(client: Any, url: RedisURL) -> None:
    """PING ``client``; refusal or silence → :class:`~btgym.errors.LiveConnectionError`
    naming the redacted URL (never the password)."""
    import redis

    from btgym.errors import LiveConnectionError

    try:
        client.ping()
    except (redis.exceptions.AuthenticationError, redis.exceptions.ResponseError) as exc:
        raise LiveConnectionError(
            f"redis at {url.redacted} refused the credentials: {url.scrub(exc)}"
        ) from None
    except (redis.exceptions.RedisError, OSError) as exc:
        raise LiveConnectionError(
            f"cannot reach redis at {url.redacted}: {type(exc).__name__}: {url.scrub(exc)}"
        ) from None
