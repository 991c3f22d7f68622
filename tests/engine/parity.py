"""Parity harness: the vector engine against the backtrader engine, step by step.

Both are driven through their public env APIs with the same action sequences; every
step's reward, terminated/truncated, broker value, cash, positions, PnL, drawdown,
info keys, broker messages and observations must agree (floats to 1e-9, observations
to float32 precision).
"""

from __future__ import annotations

from typing import Any

import numpy as np

FLOAT_KEYS = ("broker_value", "broker_cash", "realized_pnl", "unrealized_pnl", "drawdown")


def random_action(rng: np.random.Generator, assets, portfolio: bool, p_hold: float = 0.6):
    """A random action: codes per asset, or weights incl. all-cash and all-zero rows."""
    k = len(assets)
    if portfolio:
        u = rng.random()
        if u < 0.15:
            return np.r_[1.0, np.zeros(k)]  # all cash
        if u < 0.25:
            return np.zeros(k + 1)  # all zero = flat
        if u < 0.4:
            return None  # keep the previous weights
        return rng.dirichlet(np.ones(k + 1))
    return {a: (0 if rng.random() < p_hold else int(rng.integers(1, 4))) for a in assets}


def assert_same_step(eng: tuple, ref: tuple, where: str) -> None:
    """One ``step()`` / ``reset()`` result of the engine (``eng``) against backtrader."""
    obs_e, obs_b = eng[0], ref[0]
    info_e, info_b = eng[-1], ref[-1]
    assert set(obs_e) == set(obs_b), where
    for key in obs_b:
        a, b = np.asarray(obs_e[key]), np.asarray(obs_b[key])
        assert a.dtype == b.dtype and a.shape == b.shape, (where, key, a.dtype, b.dtype)
        np.testing.assert_allclose(
            a.astype(np.float64),
            b.astype(np.float64),
            rtol=2e-7,
            atol=1e-7,
            err_msg=f"{where}: obs {key}",
        )
    if len(eng) == 5:
        assert abs(eng[1] - ref[1]) <= 1e-9, (where, "reward", eng[1], ref[1])
        assert (eng[2], eng[3]) == (ref[2], ref[3]), (where, "done", eng[2:4], ref[2:4])
    assert set(info_e) == set(info_b), (where, sorted(info_e), sorted(info_b))
    for key in FLOAT_KEYS:
        assert abs(info_e[key] - info_b[key]) <= 1e-9, (where, key, info_e[key], info_b[key])
    for asset, size in info_b["position"].items():
        assert abs(info_e["position"][asset] - size) <= 1e-9, (where, "position", asset)
    for key in ("step", "time", "broker_message", "done_reason", "bars_stepped"):
        assert info_e.get(key) == info_b.get(key), (where, key, info_e.get(key), info_b.get(key))
    for key, value in info_b["action"].items():
        assert abs(info_e["action"][key] - value) <= 1e-12, (where, "action", key)


def run_pair(
    eng: Any,
    ref: Any,
    seed: int | None,
    rng: np.random.Generator,
    portfolio: bool = False,
    max_steps: int = 10_000,
) -> dict[str, Any]:
    """One episode on both envs (``reset(seed=seed)``), same random actions; returns
    the last info and the number of steps."""
    r_e, r_b = eng.reset(seed=seed), ref.reset(seed=seed)
    assert_same_step(r_e, r_b, f"reset seed={seed}")
    assets = ref.asset_names
    action = np.r_[1.0, np.zeros(len(assets))] if portfolio else None
    for step in range(1, max_steps):
        new = random_action(rng, assets, portfolio)
        action = action if new is None else new
        s_e, s_b = eng.step(action), ref.step(action)
        assert_same_step(s_e, s_b, f"seed={seed} step {step}")
        if s_b[2] or s_b[3]:
            return {"info": s_b[-1], "steps": step, "terminated": s_b[2]}
    raise AssertionError("episode did not end")
