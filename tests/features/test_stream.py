"""FeatureStream parity with compute_features(at="bars") (§6; §13.10)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from btgym.datafeed import Bars
from btgym.errors import DataValidationError, FeatureUnavailableError, LookaheadError
from btgym.features import (
    InterAssetSpread,
    LogReturns,
    RatioZScore,
    ReturnSpread,
    Volatility,
    compute_features,
)
from btgym.features.stream import FeatureStream
from tests.features.helpers import REFERENCE

FIVE = [f.five_min() for f in REFERENCE]


@pytest.fixture(scope="module")
def week(eurusd_jan) -> Bars:
    """~5,000 EURUSD bars over the first weekend."""
    lo = int(np.searchsorted(eurusd_jan.index, pd.Timestamp("2017-01-06 08:00").value))
    return eurusd_jan.slice(lo, lo + 5000)


def feed(stream: FeatureStream, bars: Bars, start: int = 0) -> np.ndarray:
    vals = bars.values[bars.names[0]]
    out = np.empty((len(bars) - start, len(stream.features)))
    for i in range(start, len(bars)):
        out[i - start] = stream.update(bars.index[i], vals[i])
    return out


def assert_parity(feats, got: np.ndarray, want: np.ndarray) -> None:
    for j, f in enumerate(feats):
        a, b = got[:, j], want[:, j]
        assert (np.isnan(a) == np.isnan(b)).all(), f"{f.name}: NaN positions differ"
        if f.ELEMENTWISE:
            np.testing.assert_array_equal(a, b, err_msg=f"{f.name} is not bit-exact")
        else:
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12, err_msg=f.name)
    assert np.isfinite(want).mean() > 0.5  # the comparison compares numbers


@pytest.mark.parametrize("fill", [None, 2])
def test_acceptance_10_reference_set_bar_by_bar(week, fill):
    want = compute_features(REFERENCE, week, at="bars", fill=fill).to_numpy()
    got = feed(FeatureStream(REFERENCE, 1, fill=fill), week)
    assert_parity(REFERENCE, got, want)


@pytest.mark.parametrize("fill", [None, 2])
def test_acceptance_10_five_minute_set_on_one_minute_bars(week, fill):
    want = compute_features(FIVE, week, at="bars", fill=fill).to_numpy()
    got = feed(FeatureStream(FIVE, 1, fill=fill), week)
    assert_parity(FIVE, got, want)


def test_mixed_resolutions_in_one_stream(week):
    feats = [LogReturns(), Volatility().five_min().window(12), LogReturns().fifteen_min()]
    part = week.slice(0, 1500)
    want = compute_features(feats, part, at="bars").to_numpy()
    assert_parity(feats, feed(FeatureStream(feats, 1), part), want)


def test_multi_asset_stream_on_btc_eth(crypto):
    feats = [
        InterAssetSpread().hour().on("BTC").against("ETH"),
        ReturnSpread().hour().on("ETH").against("BTC").lookback(2),
        RatioZScore().hour().on("BTC").against("ETH").window(24),
        LogReturns().hour().on("ETH"),
    ]
    want = compute_features(feats, crypto, at="bars").to_numpy()
    s = FeatureStream(feats, 60, assets=("BTC", "ETH"))
    got = np.array(
        [
            s.update(crypto.index[i], {a: crypto.values[a][i] for a in crypto.names})
            for i in range(len(crypto))
        ]
    )
    assert_parity(feats, got, want)


def test_acceptance_10_repeated_stamp_raises_and_keeps_state(week):
    feats = REFERENCE[:8]
    want = compute_features(feats, week.slice(0, 300), at="bars").to_numpy()
    s = FeatureStream(feats, 1)
    vals = week.values[week.names[0]]
    got = []
    for i in range(300):
        got.append(s.update(week.index[i], vals[i]))
        if i in (100, 200):
            with pytest.raises(DataValidationError, match="not after"):
                s.update(week.index[i], vals[i] * 2)  # same stamp
            with pytest.raises(DataValidationError):
                s.update(week.index[i - 5], vals[i])  # earlier stamp
            with pytest.raises(DataValidationError):
                s.update(week.index[i] + 1, vals[i][:4])  # bad row: nothing taken
    assert_parity(feats, np.array(got), want)


def test_prime_and_warmup_bars(week):
    feats = FIVE[:10]
    s = FeatureStream(feats, 1)
    ext = max(f.extent for f in feats)
    assert s.warmup_bars == (ext + 2) * 5 - 1
    assert FeatureStream([LogReturns().lookback(3)], 1).warmup_bars == 3 + 1
    want = compute_features(feats, week, at="bars").to_numpy()
    s.prime(week.slice(0, 3000))
    got = feed(s, week, start=3000)
    assert_parity(feats, got, want[3000:])
    # warmup_bars of history are enough for a value where the batch has one
    t = 3001
    short = FeatureStream(feats, 1)
    short.prime(week.slice(t - short.warmup_bars, t))
    v = short.update(week.index[t], week.values[week.names[0]][t])
    assert (np.isnan(v) == np.isnan(want[t])).all()
    np.testing.assert_allclose(v, want[t], rtol=1e-12, atol=1e-12)


def test_stream_refuses_labels_order_book_and_fine_resolutions():
    with pytest.raises(LookaheadError):
        FeatureStream([LogReturns().lookforward(1)], 1)
    with pytest.raises(FeatureUnavailableError):
        FeatureStream([LogReturns()], 5)
    with pytest.raises(FeatureUnavailableError):
        FeatureStream([LogReturns().on("BTC")], 60, assets=("ETH",))
