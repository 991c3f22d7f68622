"""The engine env's public surface against ``BTgymEnv``'s: every public method and
attribute a notebook user reaches is there (or refused by name), and every keyword
either works as on the backtrader engine or raises."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from btgym.datafeed import DataConfig
from btgym.engine import EngineEnv
from btgym.engine.setup import IGNORED
from btgym.envs import BTgymEnv, PortfolioEnv
from btgym.envs.keywords import OBSOLETE
from btgym.envs.wiring import ENV_KEYWORDS
from btgym.errors import ConfigError
from btgym.rendering import RenderConfig
from btgym.server import ServerConfig
from btgym.strategy import BrokerConfig, StrategyConfig

KW = dict(episode_duration={"hours": 1})
#: BTgymEnv attributes the engine env does not have, and why.
NOT_ON_ENGINE = {
    "state": "the server handle's episode state machine (the engine has no server)",
    "base_actions": "class-level declaration of the env kind (EngineEnv has `kind`)",
    "engine_actions": "class-level declaration of the env kind (EngineEnv has `kind`)",
}


def public(obj) -> set[str]:
    return {n for n in dir(obj) if not n.startswith("_")}


def test_every_public_btgym_env_name_is_on_the_engine_env(eurusd):
    eng = EngineEnv(filename=eurusd, **KW)
    ref = BTgymEnv(server="inprocess", filename=eurusd, **KW)
    try:
        missing = public(ref) - public(eng)
        assert missing == set(NOT_ON_ENGINE), missing
        assert set(eng.config) == {"data", "strategy", "broker", "render"}
        assert eng.config["render"] == ref.config["render"]
        for key in ("data", "strategy", "broker"):
            assert eng.config[key] == ref.config[key], key
        assert eng.spec_kwargs == dict(filename=eurusd, **KW)
    finally:
        eng.close()
        ref.close()


@pytest.mark.parametrize("portfolio", [False, True])
def test_codec_episode_data_and_data_address(eurusd, portfolio):
    kind = "portfolio" if portfolio else None
    eng = EngineEnv(actions=kind, filename=eurusd, **KW)
    ref = (PortfolioEnv if portfolio else BTgymEnv)(server="inprocess", filename=eurusd, **KW)
    try:
        ref.reset(seed=0)  # the backtrader codec is made with the first episode
        eng.reset(seed=0)
        assert type(eng.codec) is type(ref.codec)
        action = np.array([0.3, 0.7]) if portfolio else {"default_asset": 2}
        np.testing.assert_array_equal(
            np.asarray(eng.codec.encode(action)), np.asarray(ref.codec.encode(action))
        )
        a, b = eng.episode_data(), ref.episode_data()
        np.testing.assert_array_equal(a.index, b.index)
        assert eng.data_address is None
    finally:
        eng.close()
        ref.close()


def btgym_keywords() -> set[str]:
    fields = set()
    for cls in (DataConfig, StrategyConfig, BrokerConfig, ServerConfig, RenderConfig):
        fields |= {f.name for f in dataclasses.fields(cls) if f.init}
    return fields | set(ENV_KEYWORDS) | set(OBSOLETE)


#: keywords accepted without effect on the engine, and why that gives the same results.
NO_EFFECT = {
    **dict.fromkeys(
        (
            "mode",
            "transport",
            "host",
            "port",
            "allow_remote",
            "connect_timeout",
            "timeout",
            "reset_timeout",
            "data_timeout",
            "server",
            "data_port",
            "network_address",
            "data_network_address",
        ),
        "the backtrader server's wiring: no server, nothing to wire",
    ),
    "render_ylabel": "obsolete on the backtrader engine too",
    "gamma": "read only by custom strategies (refused on the engine)",
    "metadata": "read only by custom strategies (refused on the engine)",
}


def test_every_btgym_env_keyword_is_used_refused_or_effect_free(eurusd):
    """The audit behind docs/engine.md: each BTgymEnv keyword reaches the engine's
    configs (data, strategy, broker, render), is refused by name, or is in
    ``NO_EFFECT`` with a reason (results cannot differ)."""
    used = set()
    for cls in (DataConfig, StrategyConfig, BrokerConfig, RenderConfig):
        used |= {f.name for f in dataclasses.fields(cls) if f.init}
    env_handled = {
        "dataset",
        "strategy",
        "engine",
        "data_master",
        "data_address",
        "verbose",
        "config",
        "log_level",
    }
    unaccounted = btgym_keywords() - used - env_handled - set(NO_EFFECT)
    assert not unaccounted, unaccounted
    assert set(NO_EFFECT) - {"gamma", "metadata", "server"} <= IGNORED | {"render_ylabel"}
    for key in ("mode", "timeout", "render_ylabel", "gamma"):
        value = {"mode": "inprocess", "timeout": 5.0, "render_ylabel": "x", "gamma": 0.5}[key]
        EngineEnv(filename=eurusd, **KW, **{key: value}).close()


def test_refused_keywords_name_themselves(eurusd):
    for over, words in (
        (dict(engine="cerebro"), "engine='cerebro'"),
        (dict(margin=2.0), "margin=2.0"),
        (dict(data_master=False, data_address="ipc://x"), "data server"),
    ):
        with pytest.raises(ConfigError) as err:
            EngineEnv(filename=eurusd, **KW, **over)
        assert words in str(err.value) and "backtrader engine" in str(err.value)
