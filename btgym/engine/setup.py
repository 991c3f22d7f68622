"""Keywords → configs for the vector engine, what it refuses, and episode sampling.

The engine takes BTgymEnv's keywords (routed to the same frozen configs) and refuses,
with a :class:`~btgym.errors.ConfigError` naming the setting and pointing at the
backtrader engine, everything it cannot reproduce exactly: a custom strategy class,
``engine=`` a Cerebro, broker options other than ``start_cash`` /
``broker_commission`` / ``leverage`` (``margin``, ``mult``, ``slippage``,
``shortcash=False``, ``checksubmit=False``), a remote data server.

Episodes come from the same data domains as the backtrader engine, sampled exactly as
its episode loop does (``btgym.server.loop``): per lane a ``Generator`` made from
the episode seed, ``source.sample(**trial_config)`` for a new trial, ``trial.reset``
with a seed drawn from that generator, then ``trial.sample(**episode_config)``. With
the same ``reset(seed=...)`` a single engine env and a backtrader env see the same
episodes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from btgym.datafeed import DataConfig, make_domain
from btgym.errors import ConfigError, UnknownKeywordError, check_keywords
from btgym.log import get_logger, setup_logging
from btgym.strategy.config import BrokerConfig, StrategyConfig

log = get_logger(__name__)

COMPONENTS: dict[str, type] = {
    "data": DataConfig,
    "strategy": StrategyConfig,
    "broker": BrokerConfig,
}
#: the backtrader server's and renderer's keywords: accepted (a BTgymEnv keyword set
#: works unchanged) and without effect here.
IGNORED = {
    "mode",
    "transport",
    "host",
    "port",
    "allow_remote",
    "connect_timeout",
    "timeout",
    "reset_timeout",
    "data_timeout",
    "log_level",
    "data_port",
    "network_address",
    "data_network_address",
    "render_ylabel",
}
ENV_KEYWORDS = {
    "server",
    "dataset",
    "strategy",
    "engine",
    "data_master",
    "data_address",
    "verbose",
    "config",
    "hooks",
}
SAMPLE_KEYS = ("get_new", "sample_type", "timestamp", "b_alpha", "b_beta")
_BACKTRADER = "use the backtrader engine (BTgymEnv without engine='vector') for it"


def unsupported(what: str) -> ConfigError:
    """The error for a setting the vector engine cannot reproduce exactly."""
    return ConfigError(f"the vector engine does not support {what}; {_BACKTRADER}")


@dataclass
class EngineSetup:
    """Configs, data domain and hooks of one engine env."""

    configs: dict[str, Any]
    asset_names: tuple[str, ...]
    data_names: tuple[str, ...]
    domain: Any
    hooks: Any

    @classmethod
    def build(cls, kwargs: Mapping[str, Any], portfolio: bool = False) -> EngineSetup:
        """BTgymEnv keywords → setup (unknown keyword: ``TypeError``; unsupported:
        ``ConfigError``)."""
        parts = route(kwargs)
        env = parts["env"]
        setup_logging(env.get("verbose"), kwargs.get("log_level"))
        ready = dict(env.get("config") or {})
        check_keywords(ready, (*COMPONENTS, "server", "render"), "config=")
        strategy_cls = env.get("strategy")
        default = getattr(strategy_cls, "__name__", "") == "BTgymBaseStrategy"
        if strategy_cls is not None and not default:
            raise unsupported(
                f"strategy={getattr(strategy_cls, '__name__', strategy_cls)!r} (a backtrader "
                "strategy class); write numpy hooks instead (hooks=, docs/engine.md) or"
            )
        engine = env.get("engine")
        if engine is not None and engine not in ("vector",):
            raise unsupported(f"engine={engine!r}")
        if env.get("data_master") is False or env.get("data_address"):
            raise unsupported("a shared data server (data_master=False / data_address=)")
        data_cfg = ready.get("data") or DataConfig(**parts["data"])
        domain = env.get("dataset")
        if domain is None:
            domain = make_domain(data_cfg)
        if not getattr(domain, "is_ready", True):
            domain.reset()
        names = tuple(getattr(domain, "data_names", None) or ("default_asset",))
        strat_kw = dict(parts["strategy"])
        strat_kw.setdefault("asset_names", names)
        if portfolio:
            strat_kw.setdefault("portfolio_actions", True)
        strategy = ready.get("strategy") or StrategyConfig(**strat_kw)
        broker = ready.get("broker") or BrokerConfig(**parts["broker"])
        check_broker(broker)
        configs = {"data": data_cfg, "strategy": strategy, "broker": broker}
        hooks = env.get("hooks")
        if hooks is not None and isinstance(hooks, type):
            hooks = hooks()
        assets = tuple(strategy.asset_names or names)
        return cls(configs, assets, names, domain, hooks)

    def observation_spaces(self) -> dict[str, Any]:
        """Observation key → gymnasium ``Box``."""
        return {k: spec.to_box() for k, spec in self.configs["strategy"].state_shape.items()}


def route(kwargs: Mapping[str, Any]) -> dict[str, dict]:
    """Split keywords by component (``"env"`` for the env's own); unknown →
    :class:`~btgym.errors.UnknownKeywordError` with close matches."""
    names = {
        c: set(cls.field_names() if hasattr(cls, "field_names") else cls.keys())
        for c, cls in COMPONENTS.items()
    }
    out: dict[str, dict] = {c: {} for c in (*COMPONENTS, "env")}
    for key, value in kwargs.items():
        hit = False
        for comp, fields in names.items():
            if key in fields:
                out[comp][key] = value
                hit = True
        if key in ENV_KEYWORDS:
            out["env"][key] = value
            hit = True
        if not hit and not (key in IGNORED or key.startswith("render_")):
            known = set().union(*names.values(), ENV_KEYWORDS, IGNORED)
            raise UnknownKeywordError(key, known, "VectorBTgymEnv")
    return out


def check_broker(broker: BrokerConfig) -> None:
    """Refuse broker settings the engine does not reproduce."""
    if broker.margin is not None:
        raise unsupported(f"margin={broker.margin!r} (futures-like commission)")
    if broker.mult != 1.0:
        raise unsupported(f"mult={broker.mult!r}")
    if broker.slippage:
        raise unsupported(f"slippage={broker.slippage!r}")
    if not broker.checksubmit:
        raise unsupported("checksubmit=False")


def sample_config(config: Any, what: str) -> dict[str, Any]:
    """A ``DataSampleConfig`` (or dict, or None) as a checked dict."""
    if config is None:
        return {}
    if hasattr(config, "to_dict") and not isinstance(config, Mapping):
        config = config.to_dict()
    if not isinstance(config, Mapping):
        raise ConfigError(f"{what} must be a dict of {SAMPLE_KEYS}, got {config!r}")
    check_keywords(config, SAMPLE_KEYS, what)
    return dict(config)


def reset_configs(options: Mapping[str, Any] | None) -> tuple[dict, dict]:
    """``reset(options=...)`` → (trial_config, episode_config) dicts."""
    options = dict(options or {})
    check_keywords(options, ("episode_config", "trial_config"), "reset(options=...)")
    return (
        sample_config(options.get("trial_config"), "reset(options={'trial_config': ...})"),
        sample_config(options.get("episode_config"), "reset(options={'episode_config': ...})"),
    )


def draw_reset(
    np_random: np.random.Generator, seed: int | None, domain: Any, owner: bool, trial_cfg: dict
) -> int:
    """BTgymEnv.reset's draws: the episode seed, then (seeded reset) the domain's seed."""
    episode_seed = int(np_random.integers(2**62))
    if seed is not None:
        domain_seed = int(np_random.integers(2**62))
        if owner and callable(getattr(domain, "reset", None)):
            domain.reset(seed=domain_seed)
    return episode_seed
