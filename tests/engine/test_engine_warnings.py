"""The backtrader engine's setup warnings on the engine envs: a bounded ``raw`` Box
that clips the data, a leaf whose first observation lies outside its Box, a stake (or
one portfolio unit) the start cash cannot pay for — the same ``BTgymWarning`` texts,
once per env and key."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from btgym.engine import EngineEnv, VectorBTgymEnv
from btgym.envs import BTgymEnv, PortfolioEnv
from btgym.errors import BTgymWarning

BASE = dict(episode_duration={"hours": 1}, drawdown_call=50, target_call=50)


def caught(make, resets=(0, 1)) -> tuple[list[str], object]:
    """BTgymWarning texts raised by making an env and resetting it with ``resets``."""
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        env = make()
        for seed in resets:
            env.reset(seed=seed)
    texts = [str(w.message) for w in got if issubclass(w.category, BTgymWarning)]
    return texts, env


@pytest.mark.parametrize(
    "over, portfolio, keys",
    [
        (dict(state_shape={"raw": ((10, 4), 0.0, 1.0)}), False, ["raw"]),
        (
            dict(state_shape={"raw": ((10, 4), 0.0, 10.0), "internal": ((7,), -0.5, 0.9)}),
            False,
            ["internal"],
        ),
        (dict(fixed_stake=1e4), False, ["fixed_stake=10000"]),
        (dict(start_cash=0.5), True, ["cannot buy one unit"]),
        (
            dict(
                state_shape={"raw": ((10, 4), 0.0, 1.0), "internal": ((7,), 0.0, 0.5)},
                fixed_stake=500.0,
            ),
            False,
            ["raw", "fixed_stake=500", "internal"],
        ),
    ],
)
def test_same_warnings_as_the_backtrader_engine_once(eurusd, over, portfolio, keys):
    kw = dict(BASE, filename=eurusd, **over)
    kind = "portfolio" if portfolio else None
    ref_cls = PortfolioEnv if portfolio else BTgymEnv
    got_e, eng = caught(lambda: EngineEnv(actions=kind, **kw))
    got_b, ref = caught(lambda: ref_cls(server="inprocess", **kw))
    eng.close()
    ref.close()
    assert got_e == got_b  # same texts, same order, each once over two resets
    assert len(got_e) == len(keys)
    for text, key in zip(got_e, keys):
        assert key in text, (key, text)


def test_the_warning_points_at_the_callers_line(eurusd):
    env = EngineEnv(filename=eurusd, **BASE, state_shape={"raw": ((10, 4), 0.0, 1.0)})
    with pytest.warns(BTgymWarning, match=r"state_shape\['raw'\] is Box\(0, 1\)") as rec:
        env.reset(seed=0)
    assert rec[0].filename == __file__
    env.close()


def test_vector_env_warns_once_per_key(eurusd):
    shape = {"raw": ((10, 4), 0.0, 1.0), "internal": ((7,), 0.0, 0.5)}
    got, env = caught(
        lambda: VectorBTgymEnv(num_envs=4, filename=eurusd, state_shape=shape, **BASE)
    )
    assert len(got) == 2 and "raw" in got[0] and "internal" in got[1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3):  # later autoresets stay quiet
            env.step(np.zeros((4, 1), np.int64))
    env.close()


def test_default_settings_are_silent(eurusd):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env = EngineEnv(filename=eurusd, **BASE)
        env.reset(seed=0)
        env.step(1)
        port = EngineEnv(actions="portfolio", filename=eurusd, **BASE)
        port.reset(seed=0)
    env.close()
    port.close()
