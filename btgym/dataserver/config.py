"""``DataServerConfig``: where and how a data server listens, and how long clients wait."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from btgym.comm.endpoints import LOOPBACK, TRANSPORTS
from btgym.errors import ConfigError, check_keywords

#: Default seconds a client waits for a reply before raising ``DataServerTimeoutError``.
DEFAULT_TIMEOUT = 5.0


@dataclass(frozen=True, kw_only=True)
class DataServerConfig:
    """Settings of one data server process and of its clients.

    Attributes:
        transport: ``"ipc"`` (a socket file in a private temp dir, the default) or
            ``"tcp"``.
        host: interface for tcp; only loopback unless ``allow_remote``.
        port: fixed tcp port; ``None`` lets the OS pick one (recommended).
        allow_remote: explicit opt-in to bind beyond loopback.
        timeout: seconds a client waits for any reply (``sample``, ``info``...);
            a dead or stuck data server is reported within this time.
        reset_timeout: seconds a client waits for a ``reset`` reply (the data is
            loaded once, at start: a reset only reseeds and re-checks settings).
        start_timeout: seconds the parent waits for the child to bind and load.
        log_level: logbook level (name or number) of the server process.
    """

    transport: str = "ipc"
    host: str = LOOPBACK
    port: int | None = None
    allow_remote: bool = False
    timeout: float = DEFAULT_TIMEOUT
    reset_timeout: float = 10.0
    start_timeout: float = 60.0
    log_level: int | str = "WARNING"

    def __post_init__(self) -> None:
        if self.transport not in TRANSPORTS:
            raise ConfigError(
                f"DataServerConfig.transport: {self.transport!r} is not one of {TRANSPORTS}"
            )
        if self.host not in (LOOPBACK, "localhost", "::1") and not self.allow_remote:
            raise ConfigError(
                f"DataServerConfig.host: {self.host!r} exposes the data server beyond this "
                "machine; pass allow_remote=True to opt in"
            )
        if self.port is not None and not (isinstance(self.port, int) and 0 < self.port < 65536):
            raise ConfigError(f"DataServerConfig.port: {self.port!r} is not a port number")
        for name in ("timeout", "reset_timeout", "start_timeout"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"DataServerConfig.{name}: {value!r} must be a positive number")

    @classmethod
    def from_kwargs(cls, config: DataServerConfig | None = None, **kwargs: Any) -> DataServerConfig:
        """Build a config from keywords on top of ``config`` (unknown keys raise
        :class:`~btgym.errors.UnknownKeywordError`)."""
        check_keywords(kwargs, cls.field_names(), where="DataServerConfig")
        base = {} if config is None else config.as_dict()
        return cls(**{**base, **kwargs})

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """The config's field names (the keywords it takes)."""
        return tuple(f.name for f in fields(cls))

    def as_dict(self) -> dict[str, Any]:
        """The fields as a plain dict."""
        return {f.name: getattr(self, f.name) for f in fields(self)}
