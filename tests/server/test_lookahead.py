"""No look-ahead (DESIGN §4): perturbing any bar after t leaves every observation
(and reward and info) of bars ≤ t unchanged."""

from __future__ import annotations

import numpy as np
import pytest

from .conftest import small_strategy
from .helpers import FixedSource, frame

N = 300
STATE = {
    "raw": ((10, 4), 0.0, float("inf"), "float32"),
    "internal": ((7,),),
    "metadata": ((5,), float("-inf"), float("inf"), "float64"),
}


def run(handles, mode, df, actions):
    h = handles(
        mode,
        data_source=FixedSource({"asset": df}),
        strategy=small_strategy(state_shape=STATE, fixed_stake=5),
    )
    obs, info = h.reset(seed=0)
    out = [(obs, 0.0, info)]
    for a in actions:
        obs, r, te, tr, info = h.step({"asset": int(a)})
        out.append((obs, r, info))
        if te or tr:
            break
    bars = h.episode_bars()
    rows = np.searchsorted(bars.index, h.records()["time"])
    return out, rows


@pytest.mark.parametrize("t", [15, 120, 250])
def test_perturbing_the_future_leaves_the_past_unchanged(handles, mode, t):
    df = frame(N, seed=3)
    actions = np.random.default_rng(0).integers(0, 4, N)
    base, rows = run(handles, mode, df, actions)

    future = df.copy()
    rng = np.random.default_rng(1)
    shock = rng.uniform(0.5, 2.0, N - t - 1)
    for col in ("open", "high", "low", "close"):
        future.iloc[t + 1 :, future.columns.get_loc(col)] *= shock
    moved, rows2 = run(handles, mode, future, actions)

    assert rows.tolist()[: len(rows2)] == rows2.tolist()[: len(rows)]
    past = [k for k, row in enumerate(rows) if row <= t]
    later = [k for k, row in enumerate(rows) if row > t]
    assert past and later
    for k in past:
        (o1, r1, i1), (o2, r2, i2) = base[k], moved[k]
        for key in o1:
            np.testing.assert_array_equal(o1[key], o2[key], err_msg=f"step {k} {key}")
        assert r1 == r2 and i1 == i2, k
    # ... and the perturbation is visible right after t
    first_later = later[0]
    assert not np.array_equal(base[first_later][0]["raw"], moved[first_later][0]["raw"])


def test_raw_window_is_the_bars_up_to_t(handles, mode):
    df = frame(N, seed=4)
    out, rows = run(handles, mode, df, np.zeros(50, int))
    ohlc = df[["open", "high", "low", "close"]].to_numpy(np.float32)
    for k, (obs, _, _) in enumerate(out):
        t = rows[k]
        np.testing.assert_array_equal(obs["raw"], ohlc[t - 9 : t + 1])
