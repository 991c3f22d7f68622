"""The episode loop through its handle, in both modes: reset, step, info, records,
termination, seeding, skip_frame."""

from __future__ import annotations

import math

import numpy as np
import pytest

from btgym.errors import InvalidActionError, ResetNeededError
from btgym.strategy import STANDARD_KEYS

from .conftest import BROKER, small_strategy
from .helpers import DoneAtStepStrategy, FixedSource, frame, make_domain

ASSET = "asset"


def run_episode(h, actions=None, rng=None, limit=100_000):
    """Step to the end; return (obs list, rewards, infos, terminated, truncated)."""
    obs_list, rewards, infos = [], [], []
    terminated = truncated = False
    for i in range(limit):
        if actions is not None:
            a = actions[i] if i < len(actions) else 0
        elif rng is not None:
            a = int(rng.integers(4))
        else:
            a = 0
        obs, r, terminated, truncated, info = h.step({ASSET: a})
        obs_list.append(obs)
        rewards.append(r)
        infos.append(info)
        if terminated or truncated:
            break
    return obs_list, rewards, infos, terminated, truncated


def test_reset_returns_observation_in_spaces(handles, mode):
    h = handles(mode)
    obs, info = h.reset(seed=1)
    assert set(obs) == set(h.spaces) == {"raw", "internal"}
    for key, spec in h.spaces.items():
        assert obs[key].shape == spec.shape
        assert obs[key].dtype == np.dtype(spec.dtype)
        assert obs[key].flags.writeable
        assert h.observation_space()[key].contains(obs[key])
    assert info["step"] == 0 and info["action"] == {ASSET: 0}
    assert set(STANDARD_KEYS) <= set(info)
    assert info["broker_value"] == BROKER.start_cash
    assert h.asset_names == (ASSET,)


def test_step_info_records_and_bars(handles, mode):
    h = handles(mode)
    _obs0, _info0 = h.reset(seed=3)
    rng = np.random.default_rng(0)
    _obs_list, rewards, infos, terminated, truncated = run_episode(h, rng=rng)
    assert truncated and not terminated
    assert infos[-1]["done_reason"] == "end_of_data"
    assert [i["step"] for i in infos] == list(range(1, len(infos) + 1))
    rec = h.records()
    n = len(infos) + 1
    for key in (
        "time",
        "step",
        "reward",
        "broker_value",
        "broker_cash",
        "drawdown",
        "realized_pnl",
        "unrealized_pnl",
        f"position/{ASSET}",
        f"action/{ASSET}",
    ):
        assert len(rec[key]) == n, key
    assert rec["time"].dtype == np.int64 and rec[f"action/{ASSET}"].dtype == np.int64
    np.testing.assert_allclose(rec["reward"][1:], rewards)
    np.testing.assert_allclose(rec["broker_value"][1:], [i["broker_value"] for i in infos])
    assert rec[f"action/{ASSET}"][1:].tolist() == [i["action"][ASSET] for i in infos]
    assert rec[f"position/{ASSET}"][1:].tolist() == [i["position"][ASSET] for i in infos]
    # fills: every executed order, at a bar of the episode, sizes signed
    assert len(rec["fill_time"]) > 0
    bars = h.episode_bars()
    assert set(rec["fill_time"]) <= set(bars.index.tolist())
    assert set(rec["fill_kind"].tolist()) <= {1, 2, 3}
    kind, size = rec["fill_kind"], rec["fill_size"]
    assert np.all(size[kind == 1] > 0) and np.all(size[kind == 2] < 0)
    assert np.all(size[kind == 3] != 0)
    # the observation's bar: the record time is a bar of the episode, in order
    assert np.all(np.diff(rec["time"]) > 0)
    assert rec["time"][0] == bars.index[9]  # 10-bar window: first decision at bar 9
    assert rec["time"][-1] == bars.index[-1]
    # info time is the ISO form of the record time
    assert infos[-1]["time"] == str(
        np.datetime64(int(rec["time"][-1]), "ns").astype("datetime64[s]")
    )
    # the episode's final value equals the sum of rewards (scale 1)
    total = sum(rewards) * BROKER.start_cash
    assert math.isclose(BROKER.start_cash + total, infos[-1]["broker_value"], rel_tol=1e-9)
    stat = h.get_stat()
    assert stat["steps"] == len(infos) and stat["done_reason"] == "end_of_data"
    assert stat["n_fills"] == len(rec["fill_time"]) and not stat["active"]


def test_fills_are_next_bar_open(handles, mode):
    """A buy decided at bar t fills at bar t+1's open (no cheat-on-open)."""
    h = handles(mode)
    h.reset(seed=5)
    _obs, _, _, _, info = h.step({ASSET: 1})  # buy at the reset bar
    rec = h.records()
    bars = h.episode_bars()
    t0 = int(np.searchsorted(bars.index, rec["time"][0]))
    assert rec["fill_time"].tolist() == [bars.index[t0 + 1]]
    assert rec["fill_price"][0] == bars.values[ASSET][t0 + 1, 0]
    assert info["position"][ASSET] == 10.0
    assert "BUY executed" in info["broker_message"]


def test_step_before_reset_and_after_end(handles, mode):
    h = handles(mode)
    with pytest.raises(ResetNeededError):
        h.step({ASSET: 0})
    h.reset(seed=0)
    run_episode(h)
    with pytest.raises(ResetNeededError, match="reset"):
        h.step({ASSET: 0})
    _obs, info = h.reset()  # and a new episode works
    assert info["step"] == 0


def test_invalid_action_keeps_the_episode(handles, mode):
    h = handles(mode)
    h.reset(seed=0)
    for bad in ({ASSET: 4}, {"nope": 1}, {ASSET: 1.5}, "buy", [0, 1]):
        with pytest.raises(InvalidActionError):
            h.step(bad)
    _obs, _r, _te, _tr, info = h.step(1)  # a bare int for a single asset
    assert info["step"] == 1 and info["action"] == {ASSET: 1}


def test_same_seed_same_everything(handles, mode):
    def run(seed):
        h = handles(mode)
        out = [h.reset(seed=seed)]
        out.append(run_episode(h, rng=np.random.default_rng(7)))
        out.append(h.reset())  # a seedless reset continues the seeded stream
        return out

    a, b, c = run(11), run(11), run(12)
    (obs_a, info_a), (ol_a, r_a, i_a, *_), (obs2_a, info2_a) = a
    (obs_b, info_b), (ol_b, r_b, i_b, *_), (obs2_b, info2_b) = b
    for k in obs_a:
        np.testing.assert_array_equal(obs_a[k], obs_b[k])
        np.testing.assert_array_equal(obs2_a[k], obs2_b[k])
    assert info_a == info_b and info2_a == info2_b
    assert r_a == r_b and i_a == i_b
    assert all(np.array_equal(x[k], y[k]) for x, y in zip(ol_a, ol_b) for k in x)
    assert c[0][1]["time"] != info_a["time"]  # another seed, another episode


@pytest.mark.parametrize("skip_frame", [1, 5, 10])
def test_reward_finite_for_every_skip_frame(handles, mode, skip_frame):
    h = handles(mode, strategy=small_strategy(skip_frame=skip_frame))
    h.reset(seed=2)
    _, rewards, _infos, _, truncated = run_episode(h, rng=np.random.default_rng(3))
    assert truncated and all(math.isfinite(r) for r in rewards)
    rec = h.records()
    bars = h.episode_bars()
    rows = np.searchsorted(bars.index, rec["time"])
    gaps = np.diff(rows)
    assert np.all(gaps[:-1] == skip_frame) and 1 <= gaps[-1] <= skip_frame
    # reward = value change between decisions over start cash
    value = rec["broker_value"]
    np.testing.assert_allclose(rec["reward"][1:], np.diff(value) / BROKER.start_cash, rtol=1e-12)


def falling_source(n: int = 300):
    """Bars whose price falls from 100 to 90: a long loses, a short gains."""
    df = frame(n, seed=1)
    path = np.linspace(100.0, 90.0, n)
    df["open"] = np.concatenate(([100.0], path[:-1]))
    df["close"] = path
    df["high"] = np.maximum(df["open"], df["close"]) + 0.01
    df["low"] = np.minimum(df["open"], df["close"]) - 0.01
    return FixedSource({ASSET: df})


@pytest.mark.parametrize(
    "action, call, reason",
    [(1, {"drawdown_call": 1.0}, "drawdown_call"), (2, {"target_call": 1.0}, "target_call")],
)
def test_drawdown_and_target_calls_terminate(handles, mode, action, call, reason):
    strat = small_strategy(fixed_stake=50, **{"drawdown_call": 90, "target_call": 90, **call})
    h = handles(mode, data_source=falling_source(), strategy=strat)
    h.reset(seed=0)
    _, _, infos, terminated, truncated = run_episode(h, actions=[action])
    assert terminated and not truncated
    assert infos[-1]["done_reason"] == reason
    value = infos[-1]["broker_value"]
    if reason == "drawdown_call":
        assert value <= BROKER.start_cash * 0.99 and infos[-1]["drawdown"] > 0.0099
    else:
        assert value >= BROKER.start_cash * 1.01
    assert len(infos) < 200  # ended well before the data did
    with pytest.raises(ResetNeededError):
        h.step(0)


def test_get_done_hook_and_custom_info(handles, mode):
    h = handles(mode, strategy_class=DoneAtStepStrategy)
    _obs, info = h.reset(seed=0)
    assert info["custom"] == 0
    _, _, infos, terminated, truncated = run_episode(h)
    assert terminated and not truncated and len(infos) == 5
    assert infos[-1]["done_reason"] == "get_done" and infos[-1]["custom"] == 10


def test_done_command_ends_the_episode(handles, mode):
    h = handles(mode)
    h.reset(seed=0)
    h.step({ASSET: 1})
    h.done()
    with pytest.raises(ResetNeededError):
        h.step({ASSET: 0})
    with pytest.raises(ResetNeededError):
        h.done()
    assert h.get_stat()["steps"] == 1


def test_trial_config_get_new(handles, mode):
    h = handles(mode, data_source=make_domain(num_bars=20_000, hours=2))
    h.reset(seed=0)
    first = h.get_stat()["metadata"]
    h.reset(trial_config={"get_new": False})
    same = h.get_stat()["metadata"]
    h.reset(trial_config={"get_new": True})
    other = h.get_stat()["metadata"]
    assert same["trial_num"] == first["trial_num"] and same["sample_num"] == 1
    assert other["trial_num"] != first["trial_num"] and other["sample_num"] == 0


def test_reset_configs_are_checked(handles, mode):
    from btgym.datafeed import DataSampleConfig
    from btgym.errors import ConfigError, UnknownKeywordError

    h = handles(mode)
    with pytest.raises(UnknownKeywordError, match="get_new"):
        h.reset(trial_config={"get_neww": True})
    with pytest.raises(UnknownKeywordError):
        h.reset(episode_config={"sample_duration": 5})
    for bad in (-1, 1.5, "3"):
        with pytest.raises(ConfigError, match="seed"):
            h.reset(seed=bad)
    _obs, info = h.reset(trial_config=DataSampleConfig(get_new=True), seed=np.int64(3))
    assert info["step"] == 0


def test_tcp_transport(handles):
    from btgym.server import ServerConfig

    h = handles("process", server=ServerConfig(transport="tcp"))
    assert h.endpoint.startswith("tcp://127.0.0.1:")
    h.reset(seed=0)
    assert h.step(1)[4]["step"] == 1


def test_a_source_of_episodes_has_no_trial_level(handles, mode):
    from .helpers import FixedTrial

    source = FixedSource({ASSET: frame(200)}).sample()  # .sample() gives Episodes
    h = handles(mode, data_source=FixedTrial(source.bars))
    _, info = h.reset(seed=0)
    first = info["time"]
    run_episode(h)
    _, info = h.reset(trial_config={"get_new": False})
    assert info["time"] == first and h.get_stat()["n_bars"] == 200
