"""``ServerConfig``: where the episode loop runs and how long its client waits."""

from __future__ import annotations

from dataclasses import dataclass

from btgym.comm.endpoints import LOOPBACK, TRANSPORTS
from btgym.errors import ConfigError
from btgym.strategy.config import KeywordConfig

MODES = ("process", "inprocess")


@dataclass(frozen=True, kw_only=True)
class ServerConfig(KeywordConfig):
    """Settings of the backtrader server (or of the in-process loop).

    Attributes:
        mode: ``"process"`` (backtrader in a spawned child, ZeroMQ REQ/REP) or
            ``"inprocess"`` (the same loop in the caller's process, by greenlet
            switching: no thread, no IPC).
        transport: ``"ipc"`` (socket file in a private temp dir) or ``"tcp"``.
        host: tcp interface; only loopback unless ``allow_remote``.
        port: fixed tcp port (needs ``transport="tcp"``); ``None``: the OS picks one.
        allow_remote: explicit opt-in to bind beyond loopback.
        connect_timeout: seconds to wait for the server process to start.
        timeout: seconds to wait for any reply (step, render, ...) but reset's.
        reset_timeout: seconds to wait for a reset reply (may sample data remotely).
        data_timeout: seconds the server waits for the data server's replies.
        log_level: logbook level of the server process (name or number).
    """

    mode: str = "process"
    transport: str = "ipc"
    host: str = LOOPBACK
    port: int | None = None
    allow_remote: bool = False
    connect_timeout: float = 30.0
    timeout: float = 20.0
    reset_timeout: float = 60.0
    data_timeout: float = 10.0
    log_level: int | str = "WARNING"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"ServerConfig.mode: {self.mode!r} is not one of {MODES}")
        if self.transport not in TRANSPORTS:
            raise ConfigError(
                f"ServerConfig.transport: {self.transport!r} is not one of {TRANSPORTS}"
            )
        if self.port is not None:
            if not (isinstance(self.port, int) and 0 < self.port < 65536):
                raise ConfigError(f"ServerConfig.port: {self.port!r} is not a port number")
            if self.transport != "tcp":
                raise ConfigError("ServerConfig.port needs transport='tcp'")
        for name in ("connect_timeout", "timeout", "reset_timeout", "data_timeout"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"ServerConfig.{name}: {value!r} must be a positive number")
