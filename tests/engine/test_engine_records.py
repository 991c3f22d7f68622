"""``episode_records()``, ``get_stat()`` and ``episode_data()`` of the engine env
against the backtrader engine's, on the same seeds and actions: one asset and two on
different stamps, discrete and portfolio actions, skip_frame 1/5/17, episodes ending
by drawdown, target and data."""

from __future__ import annotations

import numpy as np
import pytest

from btgym.engine import EngineEnv
from btgym.errors import ConfigError, EnvClosedError

from .surface import assert_same_records, assert_same_stat, env_pair, play

BASE = dict(episode_duration={"hours": 1, "minutes": 40}, start_cash=100.0)
SETTINGS = {
    # name: (keywords, portfolio, episodes)
    "skip1-lev1": (dict(fixed_stake=40, drawdown_call=1, target_call=1), False, 3),
    "skip5-lev10": (
        dict(
            skip_frame=5,
            leverage=10,
            broker_commission=0.0002,
            fixed_stake=400,
            drawdown_call=3,
            target_call=3,
        ),
        False,
        3,
    ),
    "skip17-data-end": (
        dict(skip_frame=17, fixed_stake=20, drawdown_call=50, target_call=50),
        False,
        2,
    ),
    "portfolio-skip5": (
        dict(skip_frame=5, leverage=10, start_cash=1000.0, drawdown_call=5, target_call=5),
        True,
        3,
    ),
}


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_records_and_stats_equal_the_backtrader_engines(eurusd, name):
    kw, portfolio, episodes = SETTINGS[name]
    eng, ref = env_pair(portfolio, filename=eurusd, **{**BASE, **kw})
    rng = np.random.default_rng(7)
    ends = set()
    try:
        assert eng.episode_records() == ref.episode_records() == {}
        assert eng.get_stat() == ref.get_stat() == {"episode": 0, "active": False}
        assert eng.episode_data() is None and ref.episode_data() is None
        for ep in range(episodes):
            info = play(eng, ref, seed=40 + ep, rng=rng, portfolio=portfolio, check_every=9)
            ends.add(info["done_reason"])
            recs = eng.episode_records()
            assert len(recs["step"]) == info["step"] + 1
            assert eng.get_stat()["episode"] == ep + 1 and not eng.get_stat()["active"]
            a, b = eng.episode_data(), ref.episode_data()
            np.testing.assert_array_equal(a.index, b.index)
            for line in b.names:
                np.testing.assert_array_equal(a.values[line], b.values[line])
    finally:
        eng.close()
        ref.close()
    assert ends  # episodes ended
    if name == "skip17-data-end":
        assert ends == {"end_of_data"}


def test_two_assets_on_different_stamps(two_frames, backend):
    kw = dict(
        BASE,
        dataframe=two_frames,
        data_names=("eur", "alt"),
        fixed_stake=30,
        drawdown_call=2,
        target_call=2,
        state_shape={"raw": ((20, 8), 0.0, 10.0)},
    )
    eng, ref = env_pair(False, backend=backend, **kw)
    rng = np.random.default_rng(3)
    try:
        for ep in range(2):
            play(eng, ref, seed=5 + ep, rng=rng, check_every=7)
        fills = eng.episode_records()["fill_asset"]
        assert len(fills) and set(fills.tolist()) <= {0, 1}
    finally:
        eng.close()
        ref.close()


def test_records_are_fresh_and_survive_the_episode_end(eurusd):
    eng = EngineEnv(records=True, filename=eurusd, **BASE, drawdown_call=1, target_call=1)
    eng.reset(seed=1)
    first = eng.episode_records()
    first["broker_value"][:] = -1.0  # the caller's copy
    assert eng.episode_records()["broker_value"][0] == 100.0
    done = False
    while not done:
        *_, te, tr, _ = eng.step(1)
        done = te or tr
    recs = eng.episode_records()
    assert recs["step"].tolist() == list(range(len(recs["step"])))
    assert (recs["action/default_asset"][1:] == 1).all() and recs["action/default_asset"][0] == 0
    assert eng.get_stat()["steps"] == len(recs["step"]) - 1
    eng.close()
    with pytest.raises(EnvClosedError):
        eng.episode_records()


def test_without_records_the_methods_say_how_to_get_them(eurusd):
    env = EngineEnv(filename=eurusd, **BASE)
    assert env._recorder is None  # the step does no recording work
    env.reset(seed=0)
    env.step(1)
    for call in (env.episode_records, env.get_stat, lambda: env.render_image("episode")):
        with pytest.raises(ConfigError, match=r"records=True \(or a render_mode\)"):
            call()
    assert env.episode_data() is not None  # the bars need no records
    with pytest.raises(ConfigError, match="drop records=False"):
        EngineEnv(filename=eurusd, render_mode="rgb_array", records=False, **BASE)


def test_stats_mid_episode_before_and_after_reset(eurusd, backend):
    eng, ref = env_pair(False, filename=eurusd, backend=backend, **BASE, drawdown_call=5)
    try:
        for seed in (0, 1):
            eng.reset(seed=seed)
            ref.reset(seed=seed)
            for step in range(12):
                action = [0, 1, 2, 3][step % 4]
                eng.step(action)
                ref.step(action)
            stat_e, stat_b = eng.get_stat(), ref.get_stat()
            assert_same_stat(stat_e, stat_b, f"seed {seed}")
            assert stat_e["active"] and stat_e["steps"] == 12 and stat_e["done_reason"] == ""
            assert_same_records(eng.episode_records(), ref.episode_records(), f"seed {seed}")
    finally:
        eng.close()
        ref.close()
