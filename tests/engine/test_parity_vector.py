"""Parity, batched: every lane of one ``VectorBTgymEnv`` against the backtrader engine
run on the same episode with the same actions, step by step — 120 random episodes
over skip_frame 1/5/17, leverage 1/10, commission 0.001/0.0002, two assets on
different stamps, portfolio weights incl. all-cash; episodes ending by drawdown, by
target and by data, all in one batch per setting."""

from __future__ import annotations

import numpy as np
import pytest

from btgym.datafeed import BTgymDataset
from btgym.engine import VectorBTgymEnv
from btgym.envs import BTgymEnv, PortfolioEnv

from .conftest import ListSource
from .parity import FLOAT_KEYS, random_action

DURATION = {"hours": 1, "minutes": 30}
SETTINGS = {
    "skip1-lev10-c0002": dict(
        skip_frame=1,
        leverage=10,
        broker_commission=0.0002,
        fixed_stake=900,
        drawdown_call=3,
        target_call=0.7,
    ),
    "skip5-lev1-c001": dict(
        skip_frame=5,
        leverage=1,
        broker_commission=0.001,
        fixed_stake=90,
        drawdown_call=0.3,
        target_call=0.3,
        shortcash=False,
    ),
    "skip17-lev10-c001": dict(
        skip_frame=17,
        leverage=10,
        broker_commission=0.001,
        fixed_stake=900,
        drawdown_call=1,
        target_call=1.5,
    ),
    "two-assets-skip5": dict(
        skip_frame=5,
        leverage=10,
        broker_commission=0.0002,
        fixed_stake=300,
        drawdown_call=3,
        target_call=3,
        state_shape={"raw": ((20, 8), 0.0, 10.0)},
    ),
    "portfolio-two-assets": dict(
        leverage=1, broker_commission=0.001, start_cash=1000.0, drawdown_call=3, target_call=0.2
    ),
    "portfolio-skip5-lev10": dict(
        skip_frame=5,
        leverage=10,
        broker_commission=0.0002,
        start_cash=1000.0,
        drawdown_call=2,
        target_call=2,
    ),
}
N_EPISODES = 24
_CACHE: dict = {}


def _episodes(name, eurusd, two_frames):
    if "two-assets" in name:
        ds = BTgymDataset(
            dataframe=two_frames, data_names=("eur", "alt"), episode_duration=DURATION
        )
    else:
        ds = BTgymDataset(filename=eurusd, episode_duration=DURATION)
    ds.reset(seed=len(name))
    return [ds.sample() for _ in range(N_EPISODES)]


def _reference(kw, episodes, portfolio, rng):
    """Run every episode on the backtrader engine; record actions and results."""
    cls = PortfolioEnv if portfolio else BTgymEnv
    env = cls(server="inprocess", dataset=ListSource(episodes), **kw)
    runs = []
    try:
        for j in range(len(episodes)):
            first = env.reset(seed=0) if j == 0 else env.reset()
            steps, actions = [first], []
            action = np.r_[1.0, np.zeros(len(env.asset_names))] if portfolio else None
            while True:
                new = random_action(rng, env.asset_names, portfolio)
                action = action if new is None else new
                actions.append(action)
                out = env.step(action)
                steps.append(out)
                if out[2] or out[3]:
                    break
            runs.append((actions, steps))
    finally:
        env.close()
    return runs


def _batch_action(runs, s, assets, portfolio):
    rows = []
    for actions, _ in runs:
        a = actions[min(s, len(actions) - 1)]
        rows.append(np.asarray(a, float) if portfolio else [a[x] for x in assets])
    return np.array(rows) if portfolio else np.array(rows, np.int64)


def _check_lane(out, lane, ref, where):
    obs, info = out[0], out[-1]
    for key, value in ref[0].items():
        np.testing.assert_allclose(
            obs[key][lane].astype(float),
            value.astype(float),
            rtol=2e-7,
            atol=1e-7,
            err_msg=f"{where} obs {key}",
        )
        assert obs[key].dtype == value.dtype
    rinfo = ref[-1]
    if len(ref) == 5:
        assert abs(out[1][lane] - ref[1]) <= 1e-9, (where, "reward")
        assert (bool(out[2][lane]), bool(out[3][lane])) == (ref[2], ref[3]), (where, "done")
    for key in FLOAT_KEYS:
        assert abs(info[key][lane] - rinfo[key]) <= 1e-9, (where, key, info[key][lane], rinfo[key])
    for asset, size in rinfo["position"].items():
        assert abs(info["position"][asset][lane] - size) <= 1e-9, (where, "position")
    assert info["step"][lane] == rinfo["step"]
    assert str(info["time"][lane]) == np.datetime64(rinfo["time"], "ns").astype(str)
    if "done_reason" in rinfo:
        assert info["done_reason"][lane] == rinfo["done_reason"], where


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_parity_vector_lanes(name, eurusd, two_frames, backend):
    kw = {"start_cash": 100.0, **SETTINGS[name]}
    portfolio = name.startswith("portfolio")
    if name not in _CACHE:  # the backtrader runs serve both backends
        episodes = _episodes(name, eurusd, two_frames)
        _CACHE[name] = (
            episodes,
            _reference(kw, episodes, portfolio, np.random.default_rng(len(name))),
        )
    episodes, runs = _CACHE[name]
    env = VectorBTgymEnv(
        num_envs=len(episodes),
        dataset=ListSource(episodes),
        backend=backend,
        actions="portfolio" if portfolio else None,
        **kw,
    )
    out = env.reset(seed=0)
    for lane, (_, steps) in enumerate(runs):
        _check_lane(out, lane, steps[0], f"{name} lane {lane} reset")
    assets = env.asset_names
    longest = max(len(a) for a, _ in runs)
    for s in range(longest):
        out = env.step(_batch_action(runs, s, assets, portfolio))
        for lane, (actions, steps) in enumerate(runs):
            if s < len(actions):
                _check_lane(out, lane, steps[s + 1], f"{name} lane {lane} step {s + 1}")
    reasons = {steps[-1][-1]["done_reason"] for _, steps in runs}
    assert len(reasons) >= 2, reasons  # episodes ended in different ways
    env.close()


@pytest.mark.slow
def test_parity_episodes_end_every_way(eurusd, two_frames):
    """Over the settings above, episodes ended by drawdown, by target and by data."""
    reasons = set()
    for name, settings in SETTINGS.items():
        if name not in _CACHE:
            episodes = _episodes(name, eurusd, two_frames)
            kw = {"start_cash": 100.0, **settings}
            rng = np.random.default_rng(len(name))
            _CACHE[name] = episodes, _reference(kw, episodes, name.startswith("portfolio"), rng)
        reasons |= {steps[-1][-1]["done_reason"] for _, steps in _CACHE[name][1]}
        assert sum(len(_CACHE[n][0]) for n in _CACHE) >= 100 or len(_CACHE) < len(SETTINGS)
    assert reasons == {"drawdown_call", "target_call", "end_of_data"}
