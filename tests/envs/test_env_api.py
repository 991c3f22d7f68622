"""BTgymEnv's Gymnasium contract, in both server modes."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import btgym
from btgym.errors import (
    EnvClosedError,
    InvalidActionError,
    ResetNeededError,
    UnknownKeywordError,
)
from tests.envs.conftest import env_kwargs


def multi_kwargs():
    path = str(btgym.sample_data_path("eurusd"))
    return {"filename": {"EURUSD": path, "EURUSD_COPY": path}}


IDS = {
    "BTgymEnv": "btgym/Backtrader-v0",
    "MultiDiscreteEnv": "btgym/MultiDiscrete-v0",
    "PortfolioEnv": "btgym/Portfolio-v0",
}


@pytest.mark.parametrize("cls", list(IDS))
def test_gymnasium_check_env_has_zero_warnings(cls, mode, make_env):
    extra = multi_kwargs() if cls != "BTgymEnv" else {}
    env = make_env(getattr(btgym, cls), server=mode, **extra)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test
        gym_check_env(env, skip_render_check=True)
    for key, space in env.observation_space.spaces.items():
        assert np.isfinite(space.low).all() and np.isfinite(space.high).all(), key


@pytest.mark.parametrize("cls", list(IDS))
def test_sb3_form_from_gym_make_checks_clean_and_trains(cls, mode):
    from stable_baselines3 import PPO

    extra = multi_kwargs() if cls != "BTgymEnv" else {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env = gym.make(IDS[cls], sb3=True, server=mode, **env_kwargs(**extra))
        try:
            sb3_check_env(env, warn=True)
            model = PPO("MultiInputPolicy", env, n_steps=32, batch_size=32, n_epochs=1)
            model.learn(64)
            assert model.num_timesteps >= 64
        finally:
            env.close()


def test_sb3_form_maps_actions():
    from btgym.wrappers import SB3Env

    kw = env_kwargs(server="inprocess")
    one = SB3Env(btgym.BTgymEnv(**kw))
    multi = SB3Env(btgym.BTgymEnv(**env_kwargs(server="inprocess", **multi_kwargs())))
    port = SB3Env(btgym.PortfolioEnv(**kw))
    try:
        assert one.action_space == gym.spaces.Discrete(4)
        assert multi.action_space == gym.spaces.MultiDiscrete([4, 4])
        assert port.action_space == gym.spaces.Box(-1, 1, (2,), np.float32)
        np.testing.assert_allclose(port.action(np.array([-1.0, 1.0])), [0.0, 1.0])
        assert set(one.observation_space.spaces) == {"raw", "internal"}
        assert one.observation_space["raw"].shape == (120,)
        obs, _ = port.reset(seed=0)
        assert port.observation_space.contains(obs)
        obs, *_, info = port.step(np.array([-1.0, 1.0], np.float32))  # all in the asset
        obs, *_, info = port.step(np.array([1.0, -1.0], np.float32))
        assert info["action"]["default_asset"] == 0.0
    finally:
        for env in (one, multi, port):
            env.close()


def test_gym_make_ids_are_registered(mode):
    env = gym.make("btgym/Backtrader-v0", server=mode, **env_kwargs())
    try:
        obs, info = env.reset(seed=1)
        assert env.observation_space.contains(obs)
        assert isinstance(info, dict)
    finally:
        env.close()
    for env_id in ("btgym/MultiDiscrete-v0", "btgym/Portfolio-v0"):
        assert env_id in gym.registry


def test_step_returns_5_tuple_with_documented_info(mode, make_env):
    env = make_env(server=mode)
    obs, info = env.reset(seed=3)
    assert env.observation_space.contains(obs)
    for _ in range(5):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert env.observation_space.contains(obs)
        assert isinstance(reward, float) and np.isfinite(reward)
        assert isinstance(terminated, bool) and isinstance(truncated, bool)
    for key in (
        "step",
        "time",
        "action",
        "broker_cash",
        "broker_value",
        "position",
        "drawdown",
        "broker_message",
    ):
        assert key in info, key


def test_observations_are_fresh_writable_arrays(mode, make_env):
    env = make_env(server=mode)
    obs1, _ = env.reset(seed=0)
    obs2, *_ = env.step(0)
    for key in obs1:
        assert obs1[key].flags.writeable and obs1[key] is not obs2[key]
        assert not np.shares_memory(obs1[key], obs2[key])


def test_plain_int_action_for_one_asset_fills_at_next_open(mode, make_env):
    env = make_env(server=mode)
    env.reset(seed=0)
    bars_before = env.episode_records()["time"].size
    *_, info = env.step(1)  # buy on this bar ...
    assert info["action"] == {"default_asset": 1}
    assert info["position"]["default_asset"] > 0  # ... filled at the next bar's open
    assert "BUY executed" in info["broker_message"]
    records = env.episode_records()
    assert records["time"].size == bars_before + 1
    fill_time = records["fill_time"][0]
    assert fill_time == records["time"][-1] > records["time"][-2]


def _rollout(env, seed, n=40):
    obs, info = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    out = [(obs, 0.0, info)]
    for _ in range(n):
        obs, reward, term, trunc, info = env.step(int(rng.integers(4)))
        out.append((obs, reward, info))
        if term or trunc:
            break
    return out


def test_same_seed_same_episode(mode, make_env):
    a = _rollout(make_env(server=mode), seed=11)
    b = _rollout(make_env(server=mode), seed=11)
    c = _rollout(make_env(server=mode), seed=12)
    assert len(a) == len(b)
    for (oa, ra, ia), (ob, rb, ib) in zip(a, b):
        for k in oa:
            np.testing.assert_array_equal(oa[k], ob[k])
        assert ra == rb and ia == ib
    assert a[0][2]["time"] != c[0][2]["time"] or not np.array_equal(a[0][0]["raw"], c[0][0]["raw"])


def test_misuse_raises_named_errors(mode, make_env):
    env = make_env(server=mode)
    with pytest.raises(ResetNeededError):
        env.step(0)
    env.reset(seed=0)
    for bad in (7, -1, "buy", {"nope": 1}):
        with pytest.raises(InvalidActionError):
            env.step(bad)
    with pytest.raises(UnknownKeywordError):
        env.reset(options={"episode_config": {"sample_typ": 1}})
    env.close()
    env.close()  # idempotent
    with pytest.raises(EnvClosedError):
        env.step(0)


def test_unknown_keyword_is_type_error_with_close_match():
    with pytest.raises(TypeError, match="drawdown_call"):
        btgym.BTgymEnv(**env_kwargs(drawdown_cal=10))


def test_original_quickstart_runs_with_gymnasium(mode):
    """The original README quickstart, ``gym`` → ``gymnasium``, 5-tuple step."""
    from gymnasium import spaces

    from btgym import BTgymEnv

    env = BTgymEnv(
        filename=str(btgym.sample_data_path("eurusd")),
        episode_duration={"days": 0, "hours": 23, "minutes": 55},
        drawdown_call=50,
        state_shape=dict(raw=spaces.Box(low=0, high=1, shape=(30, 4))),
        port=5555,
        verbose=1,
        server=mode,
    )
    try:
        obs, info = env.reset()
        done, steps = False, 0
        while not done and steps < 200:
            obs, _reward, terminated, truncated, info = env.step(env.action_space.sample())
            done = terminated or truncated
            steps += 1
        assert env.observation_space["raw"].contains(obs["raw"])
        assert steps > 0 and np.isfinite(info["broker_value"])
    finally:
        env.close()


def test_reset_options_take_sample_config_objects(make_env):
    from btgym.datafeed import DataSampleConfig

    env = make_env(server="inprocess")
    obs, _ = env.reset(
        seed=0,
        options={
            "trial_config": DataSampleConfig(get_new=True),
            "episode_config": DataSampleConfig(sample_type=0),
        },
    )
    assert env.observation_space.contains(obs)
