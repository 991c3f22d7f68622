"""Helpers of the engine-surface tests: the engine env and the backtrader env on the
same keywords, and comparisons of their records and statistics."""

from __future__ import annotations

from typing import Any

import numpy as np

from btgym.engine import EngineEnv
from btgym.envs import BTgymEnv, PortfolioEnv

#: statistics that measure the machine, not the episode.
WALL_KEYS = ("wall_time_s", "steps_per_s")


def env_pair(
    portfolio: bool = False, backend: str | None = None, **kw: Any
) -> tuple[EngineEnv, BTgymEnv]:
    """``(engine env keeping records, backtrader env in-process)`` on ``kw``."""
    kind = "portfolio" if portfolio else None
    eng = EngineEnv(actions=kind, records=True, backend=backend, **kw)
    ref = (PortfolioEnv if portfolio else BTgymEnv)(server="inprocess", **kw)
    return eng, ref


def assert_same_records(eng: dict, ref: dict, where: str) -> None:
    """Every record column: same keys, dtype, shape; ints equal, floats to 1e-9."""
    assert list(eng) == list(ref), (where, list(eng), list(ref))
    for key, b in ref.items():
        a = eng[key]
        assert a.dtype == b.dtype and a.shape == b.shape, (where, key, a.dtype, b.dtype, a.shape)
        if a.dtype.kind == "f":
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-9, err_msg=f"{where}: {key}")
        else:
            np.testing.assert_array_equal(a, b, err_msg=f"{where}: {key}")


def assert_same_stat(eng: dict, ref: dict, where: str) -> None:
    """Same keys; every value equal (floats to 1e-9) but the wall-clock ones."""
    assert list(eng) == list(ref), (where, list(eng), list(ref))
    for key, b in ref.items():
        a = eng[key]
        if key in WALL_KEYS:
            assert isinstance(a, float) and a >= 0, (where, key, a)
        elif isinstance(b, float):
            assert abs(a - b) <= 1e-9, (where, key, a, b)
        else:
            assert a == b, (where, key, a, b)


def random_action(rng: np.random.Generator, env: Any, portfolio: bool) -> Any:
    """A random action (weights with all-cash and all-zero rows for portfolios)."""
    k = len(env.asset_names)
    if portfolio:
        u = rng.random()
        if u < 0.2:
            return np.r_[1.0, np.zeros(k)]
        if u < 0.3:
            return np.zeros(k + 1)
        return rng.dirichlet(np.ones(k + 1))
    return {a: (0 if rng.random() < 0.5 else int(rng.integers(1, 4))) for a in env.asset_names}


def play(
    eng: Any,
    ref: Any,
    seed: int,
    rng: np.random.Generator,
    portfolio: bool = False,
    check_every: int = 0,
) -> dict[str, Any]:
    """One episode on both envs with the same actions; records and statistics compared
    at reset, every ``check_every`` steps (0: never) and at the end. Returns the
    backtrader env's last info."""
    eng.reset(seed=seed)
    ref.reset(seed=seed)
    where = f"seed={seed} reset"
    assert_same_records(eng.episode_records(), ref.episode_records(), where)
    assert_same_stat(eng.get_stat(), ref.get_stat(), where)
    step = 0
    while True:
        step += 1
        action = random_action(rng, ref, portfolio)
        *_, te, tr, _ = eng.step(action)
        *_, tb, ub, info_b = ref.step(action)
        assert (te, tr) == (tb, ub), (seed, step)
        if (check_every and step % check_every == 0) or tb or ub:
            where = f"seed={seed} step {step}"
            assert_same_records(eng.episode_records(), ref.episode_records(), where)
            assert_same_stat(eng.get_stat(), ref.get_stat(), where)
        if tb or ub:
            return info_b
