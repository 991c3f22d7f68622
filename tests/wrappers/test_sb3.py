"""btgym.wrappers.sb3.SB3Env: the one SB3 form of a btgym env (spaces, actions, leaves)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from btgym.errors import ConfigError
from btgym.wrappers.sb3 import SB3Env, sb3
from tests.algorithms.toy_env import ToyTradingEnv


def test_discrete_actions_and_flat_observations_without_metadata():
    env = sb3(ToyTradingEnv())
    assert env.action_space == gym.spaces.Discrete(4)
    assert set(env.observation_space.spaces) == {"raw", "internal"}  # metadata dropped
    assert all(len(s.shape) == 1 for s in env.observation_space.spaces.values())
    obs, _ = env.reset(seed=0)
    assert obs in env.observation_space
    obs, reward, *_ = env.step(np.int64(1))  # SB3 hands out numpy ints
    assert obs in env.observation_space and np.isfinite(reward)


def test_portfolio_weights_become_a_symmetric_box():
    env = SB3Env(ToyTradingEnv(portfolio=True))
    assert isinstance(env.action_space, gym.spaces.Box)
    assert float(env.action_space.low.min()) == -1.0 and float(env.action_space.high.max()) == 1.0
    np.testing.assert_allclose(env.action(np.array([-1.0, 1.0])), [0.0, 1.0])


def test_unknown_observation_key_is_named():
    with pytest.raises(ConfigError, match="nope"):
        SB3Env(ToyTradingEnv(), observation_keys=["nope"])
