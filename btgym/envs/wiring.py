"""Build what an env runs on: configs from keywords, the data source, the server handle.

:class:`EnvSetup` is the env's resource owner. It is kept separate from the env
object so a ``weakref.finalize`` can close an env the user forgot to close (the
finalizer must not hold the env itself).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from btgym.datafeed import DataConfig, make_domain
from btgym.dataserver import DataClient, DataServerConfig, DataServerProcess
from btgym.envs.keywords import route
from btgym.errors import ConfigError, DataServerDiedError, check_keywords
from btgym.log import get_logger, setup_logging
from btgym.rendering import RenderConfig
from btgym.server import ServerConfig, make_handle
from btgym.strategy import BrokerConfig, BTgymBaseStrategy, StrategyConfig

log = get_logger(__name__)

#: the server-handle factory of envs built inside :func:`handle_factory`
#: (``make_handle`` when unset); a context variable, so other threads are unaffected
_HANDLE_FACTORY: contextvars.ContextVar[Callable[..., Any] | None] = contextvars.ContextVar(
    "btgym_handle_factory", default=None
)


@contextlib.contextmanager
def handle_factory(factory: Callable[..., Any]) -> Iterator[None]:
    """Envs set up inside this block get their server handle from ``factory`` (called
    as :func:`btgym.server.make_handle` is) instead of starting their own server:
    how ``make_vec(n, servers=k)`` makes each env a member of a group server."""
    token = _HANDLE_FACTORY.set(factory)
    try:
        yield
    finally:
        _HANDLE_FACTORY.reset(token)


COMPONENTS: dict[str, type] = {
    "data": DataConfig,
    "strategy": StrategyConfig,
    "broker": BrokerConfig,
    "server": ServerConfig,
    "render": RenderConfig,
}
#: keywords the env itself handles.
ENV_KEYWORDS = {
    "server",
    "dataset",
    "strategy",
    "engine",
    "data_master",
    "data_address",
    "verbose",
    "config",
}
#: server-side keywords that also configure the data server this env may start.
SHARED_WITH_DATASERVER = ("transport", "host", "allow_remote", "log_level")


class EnvSetup:
    """Configs, data source and episode handle of one env."""

    def __init__(self) -> None:
        self.configs: dict[str, Any] = {}
        self.asset_names: tuple[str, ...] = ()
        self.strategy_class: type = BTgymBaseStrategy
        self.data_master = True
        self.data_address: str | None = None
        self.domain: Any = None
        self.data_server: DataServerProcess | None = None
        self.data_client: DataClient | None = None
        self.handle: Any = None

    # ------------------------------------------------------------------ building

    @classmethod
    def build(cls, kwargs: Mapping[str, Any], portfolio: bool = False) -> EnvSetup:
        """Turn BTGym keywords into configs (unknown keyword → ``TypeError``)."""
        self = cls()
        kwargs = dict(kwargs)
        # BTGym habit: port=5555 means nothing here unless tcp is asked for (data_port is
        # always obsolete, see keywords.OBSOLETE)
        if kwargs.get("transport") != "tcp" and kwargs.pop("port", None) is not None:
            log.debug("ignoring port=: endpoints are chosen by the OS")
        parts = route(kwargs, COMPONENTS, ENV_KEYWORDS)
        env = parts["env"]
        setup_logging(env.get("verbose"), parts["server"].get("log_level"))
        ready = dict(env.get("config") or {})
        check_keywords(ready, COMPONENTS, "BTgymEnv(config=...)")
        if "server" in env:
            parts["server"]["mode"] = env["server"]
        self.strategy_class = env.get("strategy") or BTgymBaseStrategy
        if not (
            isinstance(self.strategy_class, type)
            and issubclass(self.strategy_class, BTgymBaseStrategy)
        ):
            raise ConfigError(
                f"strategy= must be a BTgymBaseStrategy subclass, got {self.strategy_class!r}"
            )
        if env.get("engine") is not None:
            raise ConfigError(
                "engine= (a ready bt.Cerebro) is not supported: pass "
                "strategy= (a BTgymBaseStrategy subclass) and the broker "
                "keywords (start_cash, broker_commission, leverage); engine='vector' "
                "runs the numpy vector engine (docs/engine.md)"
            )
        self.domain = env.get("dataset")
        self.data_master = bool(env.get("data_master", True))
        self.data_address = env.get("data_address")
        if not self.data_master and not self.data_address:
            raise ConfigError(
                "data_master=False needs data_address= (the endpoint of the "
                "master env's data server, see env.data_address)"
            )
        data_cfg = ready.get("data") or DataConfig(**parts["data"])
        names = _asset_names(data_cfg, self.domain)
        strat_kw = dict(parts["strategy"])
        strat_kw.setdefault("asset_names", names)
        if portfolio:
            strat_kw.setdefault("portfolio_actions", True)
        self.configs = {
            "data": data_cfg,
            "strategy": ready.get("strategy") or StrategyConfig(**strat_kw),
            "broker": ready.get("broker") or BrokerConfig(**parts["broker"]),
            "server": ready.get("server") or ServerConfig(**parts["server"]),
            "render": ready.get("render") or RenderConfig(**parts["render"]),
        }
        self.asset_names = tuple(self.configs["strategy"].asset_names or names)
        self._dataserver_kw = {
            k: parts["server"][k] for k in SHARED_WITH_DATASERVER if k in parts["server"]
        }
        return self

    def observation_spaces(self) -> dict[str, Any]:
        """Observation key → gymnasium ``Box``, from the strategy config."""
        return {k: spec.to_box() for k, spec in self.configs["strategy"].state_shape.items()}

    # ------------------------------------------------------------------ running

    def start(self) -> Any:
        """Start the data source (if master) and the episode server; return the handle."""
        mode = self.configs["server"].mode
        try:
            source = self._data_source(mode)
            self.handle = (_HANDLE_FACTORY.get() or make_handle)(
                mode,
                strategy=self.configs["strategy"],
                broker=self.configs["broker"],
                server=self.configs["server"],
                render=self.configs["render"],
                data_source=source,
                strategy_class=self.strategy_class,
            )
        except BaseException:
            self.close_quietly(self)
            raise
        return self.handle

    def _data_source(self, mode: str) -> Any:
        if not self.data_master:
            return self.data_address
        if mode == "inprocess":  # no data server at all: the domain lives here
            if self.domain is None:
                self.domain = make_domain(self.configs["data"])
            if not getattr(self.domain, "is_ready", False):
                self.domain.reset()
            return self.domain
        source = self.domain if self.domain is not None else self.configs["data"]
        self.data_server = DataServerProcess(source, DataServerConfig(**self._dataserver_kw))
        self.data_address = self.data_server.start()
        self.data_client = self.data_server.client()
        return self.data_address

    def check_data_server(self, restart: bool = False) -> None:
        """If the data server this env owns has died: start it again (``restart``, at
        the same address, so data-slave envs reconnect), else raise at once (instead
        of the episode server timing out on it)."""
        server = self.data_server
        if server is not None and not server.is_alive() and restart:
            log.warning(f"this env's data server (pid {server.pid}) died: restarting it")
            if self.data_client is not None:
                self.data_client.close()
            server.restart()
            self.data_client = server.client()
            return
        if server is not None and not server.is_alive():
            raise DataServerDiedError(
                f"this env's data server (pid {server.pid}) died; the next reset() restarts it"
            )

    def reseed_data(self, seed: int) -> None:
        """Reseed the data domain this env owns (no-op for a data slave)."""
        if not self.data_master:
            return
        if self.data_client is not None:
            self.data_client.reset(seed=seed)
        elif self.domain is not None:
            self.domain.reset(seed=seed)

    @staticmethod
    def close_quietly(self: EnvSetup) -> None:
        """Close the handle, then the data server; never raises (finalizer-safe)."""
        for closer in (
            getattr(self.handle, "close", None),
            getattr(self.data_client, "close", None),
            getattr(self.data_server, "stop", None),
        ):
            if closer is not None:
                with contextlib.suppress(Exception):
                    closer()
        self.handle = self.data_client = self.data_server = None


def _asset_names(data_cfg: DataConfig, domain: Any) -> tuple[str, ...]:
    names = getattr(domain, "data_names", None) or data_cfg.data_names
    if not names and isinstance(data_cfg.filename, Mapping):
        names = tuple(data_cfg.filename)
    return tuple(names or ("default_asset",))
