"""Issue 8 at the env's edge, in both server modes: skip_frame runs to the end,
portfolio cash weights, reset options checked by one schema, setup warnings, the
episode phase shared by env and handle, SamplingError at construction."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import btgym
from btgym.errors import (
    BTgymWarning,
    ConfigError,
    EnvClosedError,
    InvalidActionError,
    ResetNeededError,
    SamplingError,
)
from btgym.server.contract import CLOSED, ENDED, IDLE, RUNNING
from tests.envs.conftest import env_kwargs

BTC = dict(
    filename=str(btgym.sample_data_path("BTC_USD_hour_data.csv")),
    parsing_params=dict(
        sep=",", header=0, datetime="time", datetime_format="epoch_ms", open="open",
        high="high", low="low", close="close", volume="volumefrom", timeframe=60,
    ),
    episode_duration={"days": 5, "hours": 0, "minutes": 0},
    state_shape={"raw": ((10, 4), 0.0, 1e12, "float32")},
)  # fmt: skip


def run_to_end(env, seed=None, action=0):
    _, info = env.reset(seed=seed)
    steps = 0
    while True:
        _, reward, terminated, truncated, info = env.step(action)
        steps += 1
        assert np.isfinite(reward)
        if terminated or truncated:
            return steps, info


# --------------------------------------------------------------------------- skip_frame


@pytest.mark.slow
def test_every_skip_frame_1_to_20_runs_5_episodes_to_the_end(mode, make_env):
    """The yardstick: 120-bar episodes, a 10-bar window, so (bars - warm-up) is a
    multiple of few skip_frames; every episode ends by the end of its data."""
    state = {"raw": ((10, 4), 0.0, 1e12, "float32")}
    for k in range(1, 21):
        env = make_env(server=mode, skip_frame=k, state_shape=state)
        for episode in range(5):
            steps, info = run_to_end(env, seed=100 * k + episode)
            assert info["done_reason"] == "end_of_data"
            assert 1 <= info["bars_stepped"] <= k
            n_bars = len(env.episode_data())
            assert steps == -(-(n_bars - 10) // k)  # ceil: the last interval may be short
            rec = env.episode_records()
            assert rec["time"][-1] == env.episode_data().index[-1]  # the last bar
        env.close()


def test_default_episode_with_skip_frame_4_runs_to_the_end(mode):
    env = btgym.BTgymEnv(
        filename=str(btgym.sample_data_path("eurusd")), skip_frame=4, server=mode,
        drawdown_call=90, target_call=90,
    )  # fmt: skip
    try:
        steps, info = run_to_end(env, seed=4)
        n = len(env.episode_data())
        assert info["done_reason"] == "end_of_data"
        assert info["bars_stepped"] == (n - 30) % 4 or info["bars_stepped"] == 4
        assert steps == -(-(n - 30) // 4)
    finally:
        env.close()


# --------------------------------------------------------------------------- portfolio


def test_portfolio_cash_weight_is_honoured(mode, make_env):
    env = make_env(btgym.PortfolioEnv, server=mode, start_cash=10_000.0)
    env.reset(seed=1)
    _, _, _, _, info = env.step(np.array([0.5, 0.5], np.float32))
    assert info["action"] == {"default_cash": 0.5, "default_asset": 0.5}
    _, _, _, _, info = env.step(np.array([0.5, 0.5], np.float32))  # filled by now
    price = env.episode_data().values["default_asset"][env.episode_records()["step"].size, 0]
    share = info["position"]["default_asset"] * price / info["broker_value"]
    assert 0.45 < share < 0.55
    for flat in ([1.0, 0.0], [0.0, 0.0], {"default_cash": 1.0}):
        _, _, _, _, info = env.step(flat)  # all cash / all zero: flat, no error
        assert info["action"] == {"default_cash": 1.0, "default_asset": 0.0}
    _, _, _, _, info = env.step([0.0, 0.0])
    assert info["position"]["default_asset"] == 0.0
    with pytest.raises(InvalidActionError):
        env.step([-0.5, 1.0])
    env.step([1.0, 0.0])  # the episode goes on after a refused action


def test_start_cash_that_buys_no_unit_warns_once(mode, make_env):
    env = make_env(btgym.PortfolioEnv, server=mode, start_cash=100.0, **BTC)
    with pytest.warns(BTgymWarning, match="cannot buy one unit of 'default_asset'"):
        env.reset(seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env.reset(seed=1)  # once per env


def test_box_that_clips_real_data_warns_once_naming_key_and_range(mode, make_env):
    env = make_env(server=mode, state_shape={"raw": ((30, 4), 0.0, 1.0, "float32")})
    with pytest.warns(BTgymWarning, match=r"state_shape\['raw'\] is Box\(0, 1\).*\[1\.0"):
        obs, _ = env.reset(seed=0)
    assert obs["raw"].max() == 1.0  # clipped, as the warning says
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env.reset(seed=0)


def test_default_env_warns_nothing(mode, make_env):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env = make_env(server=mode)
        run_to_end(env, seed=0)


# --------------------------------------------------------------------------- reset options


@pytest.mark.parametrize(
    "options",
    ["x", {"episode_config": {"sample_type": 9}}, {"episode_config": {"get_new": "x"}},
     {"trial_config": {"b_alpha": -1}}, {"episode_config": {"b_beta": 0}},
     {"episode_config": [1]}],
)  # fmt: skip
def test_bad_reset_options_raise_named_errors(options, mode, make_env):
    env = make_env(server=mode)
    with pytest.raises(ConfigError):
        env.reset(options=options)
    env.reset(seed=0)  # the env is fine afterwards
    env.step(0)


def test_test_episodes_from_filename_data(mode, make_env):
    env = make_env(server=mode, test_period={"days": 2, "hours": 0, "minutes": 0})
    obs, _ = env.reset(seed=0, options={"episode_config": {"sample_type": 1}})
    assert obs["metadata"][0] == 1.0  # a test episode
    obs, _ = env.reset(options={"trial_config": {"sample_type": 1}})
    assert obs["metadata"][0] == 1.0
    obs, _ = env.reset()
    assert obs["metadata"][0] == 0.0
    plain = make_env(server=mode)
    with pytest.raises(SamplingError, match="no test period"):
        plain.reset(options={"episode_config": {"sample_type": 1}})


def test_impossible_sampling_fails_at_construction(mode):
    with pytest.raises(SamplingError, match="longer than the data"):
        btgym.BTgymEnv(
            **env_kwargs(server=mode, episode_duration={"days": 30, "hours": 0, "minutes": 0})
        )


# --------------------------------------------------------------------------- phases


def test_env_handle_and_loop_share_one_episode_phase(mode, make_env):
    env = make_env(server=mode)
    assert env.state is env._handle.state
    if mode == "inprocess":
        assert env._handle._loop.state is env.state
    assert env.state.phase is IDLE
    with pytest.raises(ResetNeededError, match="call reset"):
        env.step(0)
    run_to_end(env, seed=0)
    assert env.state.phase is ENDED
    with pytest.raises(ResetNeededError, match="has ended"):
        env.step(0)
    env.reset()
    assert env.state.phase is RUNNING
    env.close()
    assert env.state.phase is CLOSED
    with pytest.raises(EnvClosedError):
        env.step(0)
    env.close()


def test_wrappers_reachable_from_btgym():
    import btgym.wrappers as w

    assert btgym.wrappers is w and callable(btgym.wrappers.sb3)
