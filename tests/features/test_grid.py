"""Resampling, the grid, gaps and fill (features.md §3; §13.6-7)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from btgym.datafeed import Bars
from btgym.errors import FeatureSpecError, FeatureUnavailableError
from btgym.features import LogReturns, Price, compute_features, resample
from btgym.features.grid import asof_bins, build_grid
from tests.features.helpers import MIN, T0, geometric_bars


def ts(s: str) -> int:
    return int(pd.Timestamp(s).value)


def test_acceptance_6_left_closed_left_labelled_bins(eurusd_jan):
    five = resample(eurusd_jan, 5)
    base = eurusd_jan.frame()
    assert five.timeframe == 5
    row = five.frame().loc["2017-01-02 10:00"]
    src = base.loc["2017-01-02 10:00":"2017-01-02 10:04"]
    assert len(src) == 5
    assert row["open"] == src["open"].iloc[0]
    assert row["high"] == src["high"].max() and row["low"] == src["low"].min()
    assert row["close"] == src["close"].iloc[-1]
    assert row["volume"] == src["volume"].sum()
    # the HistData bar 20170102 020000 keeps its stamp: no shift anywhere
    assert base.index[0] == pd.Timestamp("2017-01-02 02:00")
    assert base.iloc[0]["open"] == 1.05155
    assert five.index[0] == ts("2017-01-02 02:00")


def test_acceptance_6_no_partial_edge_bins():
    bars = geometric_bars(23)  # 00:00 … 00:22
    part = bars.slice(2, 23)  # starts 00:02: bin 00:00 is a leading partial bin
    five = resample(part, 5)
    stamps = five.index
    assert stamps[0] == T0 + 5 * MIN  # 00:00 absent
    assert stamps[-1] == T0 + 15 * MIN  # 00:20 (00:20 … 00:22) is a trailing partial bin
    assert len(five) == 3
    # a missing last slot inside the data does not make a bin partial
    idx = np.r_[bars.index[:9], bars.index[10:]]  # drop 00:09
    holey = Bars(bars.names, idx, {"X": np.delete(bars.values["X"], 9, axis=0)}, 1)
    assert T0 + 5 * MIN in resample(holey, 5).index
    assert resample(holey, 5, min_count=5).index.tolist().count(T0 + 5 * MIN) == 0


def test_resample_errors(crypto, eurusd_jan):
    with pytest.raises(FeatureUnavailableError):
        resample(crypto, 30)  # finer than hourly data
    with pytest.raises(FeatureSpecError):
        resample(crypto, 90)  # not a multiple of 60
    assert resample(eurusd_jan, 1) is eurusd_jan
    with pytest.raises(FeatureUnavailableError, match="finer"):
        compute_features([LogReturns().five_min()], crypto)


def test_daily_and_hourly_bins_are_epoch_anchored(eurusd_jan):
    hourly = resample(eurusd_jan, 60)
    assert (hourly.index % (60 * MIN) == 0).all()
    daily = resample(eurusd_jan, 1440)
    assert (daily.index % (1440 * MIN) == 0).all()


def test_acceptance_7_weekend_gap_is_nan_without_fill(eurusd_jan):
    f = LogReturns().lookback(5)
    s = f.compute(eurusd_jan)
    stamps = s.index.as_unit("ns").asi8
    gaps = np.flatnonzero(np.diff(stamps) > 24 * 60 * MIN)  # the weekends
    assert len(gaps) >= 4
    for g in gaps:
        after = s.iloc[g + 1 : g + 6]
        assert after.isna().all(), after
        assert np.isfinite(s.iloc[g + 6])
    # no interpolation: every output row is a real bar
    assert s.index.equals(eurusd_jan.frame().index.rename("timestamp"))


def test_acceptance_7_fill_bridges_at_most_k_rows_and_never_adds_rows():
    bars = geometric_bars(60)
    keep = np.ones(60, bool)
    keep[20:23] = False  # a 3-row hole
    keep[40:41] = False  # a 1-row hole
    holey = Bars(bars.names, bars.index[keep], {"X": bars.values["X"][keep]}, 1)
    f = LogReturns().lookback(5)
    none = compute_features([f], holey)[f.name]
    two = compute_features([f], holey, fill=2)[f.name]
    three = compute_features([f], holey, fill=3)[f.name]
    for s in (none, two, three):
        assert len(s) == keep.sum()  # filled rows are never samples
    at = lambda s, i: s.loc[pd.Timestamp(T0 + i * 60_000_000_000)]  # noqa: E731
    assert np.isnan(at(none, 23)) and np.isnan(at(two, 23)) and np.isfinite(at(three, 23))
    assert np.isfinite(at(two, 41)) and np.isnan(at(none, 41))
    # the filled rows copy the last present close (the past only)
    g = build_grid(holey, 1, fill=2)
    c19 = bars.values["X"][19, 3]
    np.testing.assert_array_equal(g.values["X"][20], [c19, c19, c19, c19, 0.0])
    assert np.isnan(g.values["X"][22]).all() and g.missing[22] and not g.present[20]
    # with fill=3 the rows 20 … 22 are bridged; lookback 5 at row 23 reads row 18
    assert at(three, 23) == np.log(bars.values["X"][23, 3] / bars.values["X"][18, 3])
    # and lookback 2 at row 23 reads the synthetic close of row 21 = close[19]
    two_back = compute_features([LogReturns().lookback(2)], holey, fill=3).iloc[:, 0]
    assert at(two_back, 23) == np.log(bars.values["X"][23, 3] / c19)


def test_asof_bin_formula():
    t = np.array([ts("2017-01-02 10:03"), ts("2017-01-02 10:04"), ts("2017-01-02 10:05")])
    b = asof_bins(t, 1, 5)
    assert list(b) == [ts("2017-01-02 09:55"), ts("2017-01-02 10:00"), ts("2017-01-02 10:00")]
    assert list(asof_bins(t, 1, 1)) == list(t)


def test_at_bars_uses_the_last_complete_bin(eurusd_jan):
    f = Price().five_min()
    bars = eurusd_jan.slice(0, 1000)
    df = compute_features([f], bars, at="bars")
    five = resample(bars, 5).frame()
    v = df[f.name]
    assert v.loc["2017-01-02 10:04"] == five.loc["2017-01-02 10:00", "close"]
    assert v.loc["2017-01-02 10:03"] == five.loc["2017-01-02 09:55", "close"]
    assert np.isnan(v.iloc[0])  # no complete bin yet


@pytest.mark.parametrize("minutes", [2, 5, 15, 60, 1440])
def test_resample_matches_pandas_on_gappy_data(minutes):
    rng = np.random.default_rng(minutes)
    bars = geometric_bars(6000, seed=minutes)
    keep = rng.random(6000) > 0.3  # 30 % of the minutes missing
    keep[3000:4500] = False  # and a long hole
    holey = Bars(bars.names, bars.index[keep], {"X": bars.values["X"][keep]}, 1)
    got = resample(holey, minutes).frame()
    fr = holey.frame()
    ref = fr.resample(f"{minutes}min", label="left", closed="left").agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    )
    ref = ref[fr["close"].resample(f"{minutes}min").count() > 0]
    first, last = fr.index[0], fr.index[-1]
    step = pd.Timedelta(minutes=minutes)
    ref = ref[(ref.index >= first) & (ref.index + step - pd.Timedelta(minutes=1) <= last)]
    pd.testing.assert_frame_equal(got, ref, check_names=False, check_freq=False)


def test_daily_bins_start_at_midnight_of_the_source_clock(eurusd_jan):
    daily = LogReturns().day().compute(eurusd_jan)
    assert (daily.index == daily.index.normalize()).all()
    assert daily.index[0] == pd.Timestamp("2017-01-03")  # 2 Jan starts 02:00: a partial bin
    assert daily.index[-1] < pd.Timestamp("2017-01-31")  # the last day ends before 23:59
