"""Parity, one env: ``EngineEnv`` (``BTgymEnv(engine="vector")``) against the
backtrader engine (``server="inprocess"``) on the same seeds and actions, step by step:
skip_frame 1/5/17, leverage 1/10, commission 0.001/0.0002, two assets on different
stamps, portfolio weights incl. all-cash and all-zero; episodes that end by drawdown,
by target and by data."""

from __future__ import annotations

import numpy as np
import pytest

from btgym.engine import EngineEnv
from btgym.envs import BTgymEnv, PortfolioEnv

from .parity import run_pair

BASE = dict(episode_duration={"hours": 1, "minutes": 40}, start_cash=100.0)
SETTINGS = {
    "skip1-lev10-shortcash-off": (
        dict(
            leverage=10,
            broker_commission=0.0002,
            fixed_stake=300,
            start_cash=1000.0,
            drawdown_call=2,
            target_call=2,
            shortcash=False,
        ),
        False,
        4,
    ),
    # name: (keywords, portfolio, episodes)
    "skip1-lev1-c001": (
        dict(
            skip_frame=1,
            leverage=1,
            broker_commission=0.001,
            fixed_stake=40,
            drawdown_call=1,
            target_call=1,
        ),
        False,
        6,
    ),
    "skip5-lev10-c0002": (
        dict(
            skip_frame=5,
            leverage=10,
            broker_commission=0.0002,
            fixed_stake=400,
            drawdown_call=3,
            target_call=3,
        ),
        False,
        6,
    ),
    "skip17-lev10-c001": (
        dict(
            skip_frame=17,
            leverage=10,
            broker_commission=0.001,
            fixed_stake=800,
            drawdown_call=2,
            target_call=2,
            state_shape={"raw": ((10, 4), 0.0, 10.0), "internal": ((7,), -0.5, 0.9)},
        ),
        False,
        6,
    ),
    "portfolio-lev1": (
        dict(
            leverage=1, broker_commission=0.001, start_cash=1000.0, drawdown_call=2, target_call=2
        ),
        True,
        5,
    ),
    "portfolio-skip5-lev10": (
        dict(
            skip_frame=5,
            leverage=10,
            broker_commission=0.0002,
            start_cash=1000.0,
            drawdown_call=5,
            target_call=5,
        ),
        True,
        5,
    ),
}


def _pair(eurusd, kw, portfolio, backend):
    kw = {**BASE, "filename": eurusd, **kw}
    ref_cls = PortfolioEnv if portfolio else BTgymEnv
    eng = EngineEnv(actions="portfolio" if portfolio else None, backend=backend, **kw)
    ref = ref_cls(server="inprocess", **kw)
    return eng, ref


@pytest.mark.filterwarnings("ignore:state_shape\\['internal'\\] is Box")  # deliberate
@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_parity_single_env(eurusd, name, backend):
    kw, portfolio, episodes = SETTINGS[name]
    eng, ref = _pair(eurusd, kw, portfolio, backend)
    rng = np.random.default_rng(len(name))
    ends = set()
    try:
        for ep in range(episodes):
            out = run_pair(eng, ref, seed=100 + ep, rng=rng, portfolio=portfolio)
            ends.add(out["info"]["done_reason"])
    finally:
        ref.close()
        eng.close()
    assert ends  # at least one way of ending happened


def test_parity_two_assets_on_different_stamps(two_frames, backend):
    kw = dict(
        BASE,
        dataframe=two_frames,
        data_names=("eur", "alt"),
        skip_frame=5,
        leverage=10,
        broker_commission=0.0002,
        fixed_stake=300,
        drawdown_call=3,
        target_call=3,
        state_shape={"raw": ((20, 8), 0.0, 10.0)},
    )
    eng = EngineEnv(backend=backend, **kw)
    ref = BTgymEnv(server="inprocess", **kw)
    rng = np.random.default_rng(7)
    try:
        for ep in range(4):
            out = run_pair(eng, ref, seed=ep, rng=rng)
            assert set(out["info"]["position"]) == {"eur", "alt"}
    finally:
        ref.close()


def test_parity_two_assets_portfolio(two_frames, backend):
    kw = dict(
        BASE,
        dataframe=two_frames,
        data_names=("eur", "alt"),
        leverage=1,
        broker_commission=0.001,
        start_cash=1000.0,
        drawdown_call=3,
        target_call=3,
    )
    eng = EngineEnv(actions="portfolio", backend=backend, **kw)
    ref = PortfolioEnv(server="inprocess", **kw)
    rng = np.random.default_rng(11)
    try:
        for ep in range(4):
            run_pair(eng, ref, seed=ep, rng=rng, portfolio=True)
    finally:
        ref.close()


def test_parity_random_domain_trials_and_seedless_resets(eurusd, backend):
    """Domain → Trial → Episode: a random domain, seeded and seedless resets alike."""
    kw = dict(
        filename=eurusd,
        domain="random",
        trial_params={"sample_duration": {"days": 2}, "test_period": {"hours": 10}},
        episode_params={"sample_duration": {"hours": 1, "minutes": 20}},
        start_cash=100.0,
        fixed_stake=500,
        leverage=10,
        drawdown_call=2,
        target_call=2,
        skip_frame=3,
    )
    eng = EngineEnv(backend=backend, **kw)
    ref = BTgymEnv(server="inprocess", **kw)
    rng = np.random.default_rng(0)
    try:
        for ep in range(5):
            run_pair(eng, ref, seed=ep if ep % 2 == 0 else None, rng=rng)
    finally:
        ref.close()
