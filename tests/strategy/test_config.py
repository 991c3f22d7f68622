"""StrategyConfig, BrokerConfig, ServerConfig, LeafSpec: coercion and validation."""

from __future__ import annotations

import math

import backtrader as bt
import numpy as np
import pytest
from gymnasium import spaces

from btgym.errors import ConfigError, UnknownKeywordError
from btgym.server import ServerConfig
from btgym.strategy import BrokerConfig, LeafSpec, StrategyConfig, default_state_shape


def test_state_shape_accepts_box_tuple_dict_and_bare_shape():
    cfg = StrategyConfig(
        state_shape={
            "raw": spaces.Box(0, 10, (30, 4), np.float32),
            "internal": ((7,), -1.0, 1.0, "float64"),
            "extra": {"shape": (3,), "low": 0, "high": 1},
            "plain": (5,),
        }
    )
    s = cfg.state_shape
    assert s["raw"] == LeafSpec((30, 4), 0.0, 10.0, "float32")
    assert s["internal"] == LeafSpec((7,), -1.0, 1.0, "float64")
    assert s["extra"].shape == (3,) and s["extra"].dtype == "float32"
    assert s["plain"] == LeafSpec((5,), -math.inf, math.inf, "float32")
    box = s["raw"].to_box()
    assert box == spaces.Box(0, 10, (30, 4), np.float32)


@pytest.mark.parametrize(
    "bad",
    [
        ((0, 4),),
        ((3,), 1.0, 0.0),
        ((3,), 0.0, 1.0, "object"),
        {"shape": (3,), "lo": 0},
        "raw",
        spaces.Box(np.zeros(2, np.float32), np.array([1.0, 2.0], np.float32)),
    ],
)
def test_bad_state_leaves_are_config_errors(bad):
    with pytest.raises(ConfigError, match="state_shape"):
        StrategyConfig(state_shape={"k": bad})


def test_defaults_and_stakes():
    cfg = StrategyConfig()
    assert set(cfg.state_shape) == set(default_state_shape()) == {"raw", "internal", "metadata"}
    assert cfg.stake("x") == 10.0
    cfg = StrategyConfig(order_size={"a": 3}, fixed_stake=7)
    assert (cfg.stake("a"), cfg.stake("b")) == (3.0, 7.0)
    assert StrategyConfig(order_size=2).stake("z") == 2.0


@pytest.mark.parametrize(
    "kw",
    [{"skip_frame": 0}, {"skip_frame": 1.5}, {"drawdown_call": 0}, {"target_call": -1},
     {"fixed_stake": 0}, {"order_size": {"a": -1}}, {"state_shape": {}},
     {"state_shape": {"1x": ((2,),)}}, {"asset_names": ()}, {"reward_scale": float("nan")}],
)  # fmt: skip
def test_strategy_config_validation(kw):
    with pytest.raises(ConfigError):
        StrategyConfig(**kw)


def test_unknown_keywords_name_the_close_match():
    with pytest.raises(UnknownKeywordError, match="drawdown_call"):
        StrategyConfig.from_kwargs(drawdown_cal=5)
    with pytest.raises(UnknownKeywordError, match="start_cash"):
        BrokerConfig.from_kwargs(start_csh=5)
    with pytest.raises(UnknownKeywordError, match="timeout"):
        ServerConfig.from_kwargs(timeot=5)
    base = StrategyConfig(skip_frame=3)
    assert StrategyConfig.from_kwargs(base, target_call=5).skip_frame == 3
    assert isinstance(UnknownKeywordError("x", []), TypeError)


@pytest.mark.parametrize(
    "kw",
    [{"start_cash": 0}, {"broker_commission": 1.0}, {"leverage": 0}, {"margin": -1},
     {"slippage": 1.5}],
)  # fmt: skip
def test_broker_config_validation(kw):
    with pytest.raises(ConfigError):
        BrokerConfig(**kw)


def test_broker_config_applies_to_cerebro():
    cerebro = bt.Cerebro()
    BrokerConfig(start_cash=500.0, broker_commission=0.01, leverage=2.0).apply(cerebro)
    assert cerebro.broker.getcash() == 500.0
    info = cerebro.broker.comminfo[None]
    assert info.p.commission == 0.01 and info.p.leverage == 2.0


@pytest.mark.parametrize(
    "kw", [{"mode": "thread"}, {"transport": "udp"}, {"port": 5000}, {"timeout": 0},
           {"port": 70000, "transport": "tcp"}],
)  # fmt: skip
def test_server_config_validation(kw):
    with pytest.raises(ConfigError):
        ServerConfig(**kw)
    assert ServerConfig(port=5000, transport="tcp").port == 5000
