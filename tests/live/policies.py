"""A policy checkpoint for the live tests: an untrained ActorCritic whose policy head
is scaled up so that its greedy actions vary with the observation (seed 4 holds, buys,
sells and closes on the EURUSD slice the tests use)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

STATE_SHAPE = {
    "raw": {"shape": [30, 4], "low": 0.0, "high": 1e12, "dtype": "float32"},
    "internal": {"shape": [7], "low": -100.0, "high": 100.0, "dtype": "float32"},
    "metadata": {"shape": [5], "low": -1e12, "high": 1e12, "dtype": "float64"},
}
ENV_KWARGS = {
    "data_names": ["EURUSD"],
    "state_shape": STATE_SHAPE,
    "drawdown_call": 50.0,
    "target_call": 50.0,
    "start_cash": 100.0,
    "broker_commission": 0.0001,
    "fixed_stake": 10.0,
    "leverage": 10.0,
}


def make_checkpoint(path: Path, env_kwargs: dict | None = None, seed: int = 4) -> Path:
    from btgym.algorithms.common.checkpoint import save_checkpoint
    from btgym.algorithms.common.policies import ActorCritic
    from btgym.spaces import ActionDictSpace
    from btgym.strategy import StrategyConfig

    kw = dict(env_kwargs or ENV_KWARGS)
    cfg = StrategyConfig(
        state_shape=kw["state_shape"],
        asset_names=tuple(kw["data_names"]),
        encoders=tuple(kw.get("encoders", ())),
    )
    from gymnasium import spaces

    obs_space = spaces.Dict({k: v.to_box() for k, v in cfg.state_shape.items()})
    if kw.get("env_class") == "PortfolioEnv":  # weights [cash, *assets]
        action_space = spaces.Box(0.0, 1.0, (len(kw["data_names"]) + 1,), dtype=np.float32)
    else:
        action_space = ActionDictSpace(kw["data_names"])
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        policy = ActorCritic(obs_space, action_space)
        with torch.no_grad():
            policy.pi.weight.mul_(300.0)
    payload = {
        "algo": "a3c",
        "policy_spec": policy.spec(),
        "model": {k: v.detach().clone() for k, v in policy.state_dict().items()},
        "counters": {"env_steps": 0, "episodes": 0, "updates": 0, "wall_time": 0.0},
        "config": {},
        "env_kwargs": kw,
    }
    return save_checkpoint(path, payload)


def feature_encoder_dict(bars) -> dict:
    """A FeatureEncoder (3 features, up to 17 bars of warm-up) fitted on early January,
    as the JSON dict checkpoints keep."""
    from btgym.features import RSI, LogReturns, Volatility
    from btgym.models import FeatureEncoder

    feats = [LogReturns().lookback(1), Volatility().window(15), RSI().window(14)]
    enc = FeatureEncoder.fit(feats, bars, train=("2017-01-03", "2017-01-10"), key="features")
    return enc.to_dict()
