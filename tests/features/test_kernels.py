"""The shared kernels: doubling sums, one-window forms, NaN windows, short-input paths."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from btgym.datafeed import Bars
from btgym.features import compute_features
from btgym.features.grid import build_grid
from btgym.features.kernels import (
    Ctx,
    r_mean,
    r_std,
    r_sum,
    rolling,
    rolling_sum,
    window_sum,
)
from tests.features.helpers import MIN, REFERENCE, T0


@pytest.mark.parametrize("w", [1, 2, 3, 7, 14, 15, 16, 30, 60, 63, 64, 65, 150])
def test_window_sum_is_rolling_sum_bit_for_bit_wherever_the_window_sits(w):
    rng = np.random.default_rng(w)
    x = rng.normal(size=400) * np.exp(rng.normal(size=400) * 8)  # wide magnitudes
    batch = rolling_sum(x, w)
    for i in range(0, len(x) - w + 1, 7):
        one = window_sum(x[i : i + w])
        assert one.tobytes() == batch[i : i + 1].tobytes(), (w, i)
        assert rolling_sum(x[i : i + w], w).tobytes() == one.tobytes()


@pytest.mark.parametrize("fn", [r_sum, r_mean, r_std])
def test_one_window_forms_match_the_batch_form(fn):
    x = np.random.default_rng(1).normal(size=300) * 1e-4 + 1.05
    for w in (2, 15, 60):
        batch = rolling(x, w, fn)
        ctx = Ctx({"X": np.zeros((0, 5))}, np.zeros(0, np.int64), "X", last=True)
        for t in (w - 1, 100, 299):
            got = ctx.roll(x[: t + 1], w, fn)
            if fn is r_std:  # contract: 1e-12 (same code, einsum per row)
                np.testing.assert_allclose(got, batch[t : t + 1], rtol=1e-12, atol=0)
            else:  # doubling sums: the same adds in the same order
                assert got.tobytes() == batch[t : t + 1].tobytes(), (w, t)
            assert fn(x[t - w + 1 : t + 1].reshape(1, w)).shape == (1,)


@pytest.mark.parametrize("n_nan", [1, 5, 40])
def test_rolling_blanks_every_window_holding_a_nan(n_nan):
    rng = np.random.default_rng(n_nan)
    x = rng.normal(size=500)
    x[rng.choice(500, n_nan, replace=False)] = np.nan
    for w in (1, 4, 30):
        want = pd.Series(x).rolling(w).mean().to_numpy()  # NaN iff the window holds one
        got = rolling(x, w, r_mean)
        assert np.array_equal(np.isnan(got), np.isnan(want)), w
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


def _gapless(n: int) -> Bars:
    rng = np.random.default_rng(3)
    c = 1.1 * np.exp(np.cumsum(rng.normal(0, 1e-4, n)))
    o = np.r_[c[0], c[:-1]]
    v = np.c_[o, np.maximum(o, c) + 1e-5, np.minimum(o, c) - 1e-5, c, np.zeros(n)]
    return Bars(("X",), T0 + np.arange(n, dtype=np.int64) * MIN, {"X": v}, 1)


def test_a_gap_free_grid_is_read_in_place_and_never_written():
    bars = _gapless(1440)
    before = bars.values["X"].copy()
    g = build_grid(bars, 1)
    assert g.present.all() and not g.missing.any()
    assert not g.values["X"].flags.writeable and np.shares_memory(g.values["X"], bars.values["X"])
    df = compute_features(REFERENCE, bars, at="bars")
    np.testing.assert_array_equal(bars.values["X"], before)
    # the same numbers as on a grid that is not gap-free: one extra bar a day later
    longer = Bars(
        ("X",),
        np.r_[bars.index, bars.index[-1] + 1440 * MIN],
        {"X": np.r_[bars.values["X"], bars.values["X"][-1:]]},
        1,
    )
    assert not build_grid(longer, 1).present.all()
    gappy = compute_features(REFERENCE, longer, at="bars").iloc[:-1]
    pd.testing.assert_frame_equal(df, gappy, check_exact=False, rtol=1e-12, atol=1e-15)


def test_short_calls_wrap_their_array_without_a_copy():
    df = compute_features(REFERENCE, _gapless(300), at="bars")
    arr = df.to_numpy(np.float64)
    assert arr.flags.c_contiguous and arr.shape == (300, len(REFERENCE))
    assert list(df.columns) == [f.name for f in REFERENCE]
