"""No look-ahead, by construction and by test (§0, §13.4-5).

The no-look-ahead tests randomise every bar after t and compare every value at or
before t.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from btgym.datafeed import Bars
from btgym.features import FeatureLabelSet, LogReturns, compute_features
from tests.features.helpers import REFERENCE, perturb_row, randomise_after

FIVE = [f.five_min() for f in REFERENCE]


@pytest.fixture(scope="module")
def region(eurusd_jan) -> Bars:
    """~3,000 EURUSD bars around the first weekend (Fri 6 Jan → Mon 9 Jan 2017)."""
    lo = int(np.searchsorted(eurusd_jan.index, pd.Timestamp("2017-01-06 14:00").value))
    return eurusd_jan.slice(lo, lo + 3000)


def assert_same(a: np.ndarray, b: np.ndarray, what: str) -> None:
    assert (np.isnan(a) == np.isnan(b)).all(), f"{what}: NaN positions differ"
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12, err_msg=what)


def test_acceptance_4_prefix_invariance_200_random_t(region):
    full = compute_features(REFERENCE, region).to_numpy()
    stamps = compute_features(REFERENCE[:1], region).index
    rng = np.random.default_rng(4)
    for t in np.sort(rng.choice(len(region), size=200, replace=False)):
        cut = compute_features(REFERENCE, region.slice(0, t + 1)).to_numpy()
        assert len(cut) == t + 1
        assert_same(cut[t], full[t], f"cut after {stamps[t]}")


def test_acceptance_4_randomising_every_later_bar_changes_nothing_before(region):
    full = compute_features(REFERENCE, region).to_numpy()
    rng = np.random.default_rng(5)
    for k, t in enumerate(rng.choice(len(region) - 1, size=40, replace=False)):
        other = compute_features(REFERENCE, randomise_after(region, t, seed=k)).to_numpy()
        assert_same(other[: t + 1], full[: t + 1], f"randomised after row {t}")
        assert not np.allclose(other[t + 1 :, 0], full[t + 1 :, 0], equal_nan=True)


def test_acceptance_4_at_bars_on_five_minute_bins(region):
    full = compute_features(FIVE, region, at="bars").to_numpy()
    rng = np.random.default_rng(6)
    for k, t in enumerate(rng.choice(len(region) - 1, size=25, replace=False)):
        other = compute_features(FIVE, randomise_after(region, t, seed=k), at="bars").to_numpy()
        assert_same(other[: t + 1], full[: t + 1], f"5-min at bars, randomised after row {t}")


@pytest.mark.slow
def test_acceptance_4_reference_set_on_all_six_months(eurusd6):
    full = compute_features(REFERENCE, eurusd6).to_numpy()
    for k, t in enumerate((50_000, 150_000)):
        other = compute_features(REFERENCE, randomise_after(eurusd6, t, seed=k)).to_numpy()
        assert_same(other[: t + 1], full[: t + 1], f"six months, randomised after row {t}")


def test_acceptance_5_label_reads_exactly_t_and_t_plus_n(region):
    n = 3
    y = LogReturns().lookforward(n)
    base = y.compute(region).to_numpy()
    t = 200  # Friday afternoon: rows t … t+n are consecutive minutes
    assert np.isfinite(base[t])
    moved = y.compute(perturb_row(region, t + n)).to_numpy()
    assert moved[t] != base[t]
    values = {k: v.copy() for k, v in region.values.items()}
    for v in values.values():
        v[:t, :4] *= 1.5  # every bar before t
    before = Bars(region.names, region.index, values, 1)
    assert y.compute(before).to_numpy()[t] == base[t]


class RecordingBars(Bars):
    """Bars that record which rows the feature code takes (every computation reads
    ``slice(lo, hi)`` of the bars it is given)."""

    def slice(self, start: int, stop: int) -> Bars:
        self.__dict__.setdefault("_taken", []).append((start, stop))
        return Bars.slice(self, start, stop)


def test_acceptance_5_get_data_reads_no_bar_at_or_after_end(region):
    n = 4
    fls = FeatureLabelSet(REFERENCE[:6], [LogReturns().lookforward(n)])
    rec = RecordingBars(region.names, region.index, dict(region.values), 1)
    start, end = pd.Timestamp("2017-01-06 16:00"), pd.Timestamp("2017-01-06 16:40")
    df = fls.get_data(rec, start, end)
    stop = int(np.searchsorted(region.index, end.value))
    taken = rec.__dict__["_taken"]
    assert taken and all(hi <= stop for _, hi in taken)
    assert df.index.min() >= start and df.index.max() < end
    label = df[fls.label_names[0]]
    assert label.iloc[-n:].isna().all() and label.iloc[:-n].notna().all()
    # behaviourally: garbage in every bar ≥ end changes nothing
    values = {k: v.copy() for k, v in region.values.items()}
    for v in values.values():
        v[stop:] = np.nan
    garbage = Bars.__new__(Bars)
    for key, val in (("names", region.names), ("index", region.index), ("values", values)):
        object.__setattr__(garbage, key, val)
    object.__setattr__(garbage, "timeframe", 1)
    pd.testing.assert_frame_equal(fls.get_data(garbage, start, end), df, check_like=False)
