"""Catalogue kernels against independent references (features.md §4; §13.3, §13.9)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from btgym.errors import DegenerateFeatureError
from btgym.features import (
    RSI,
    BodyRatio,
    CloseLocation,
    DayOfWeek,
    InterAssetSpread,
    LogReturns,
    MAGap,
    Price,
    PriceDiff,
    Range,
    RatioZScore,
    RelativeVolume,
    ReturnSpread,
    Scaler,
    SimpleReturns,
    TimeOfDay,
    Volatility,
    Volume,
    ZScore,
    compute_features,
)
from tests.features.helpers import geometric_bars

N = 2000


@pytest.fixture(scope="module")
def path():
    bars = geometric_bars(N, seed=3)
    frame = bars.frame()
    return bars, frame


def col(bars, f):
    return compute_features([f], bars)[f.name].to_numpy()


@pytest.mark.parametrize("n", [1, 2, 5, 17])
def test_acceptance_3_horizons(path, n):
    bars, fr = path
    p = fr["close"].to_numpy()
    t = np.arange(N)
    back, fwd = t[n:], t[: N - n]
    np.testing.assert_allclose(
        col(bars, LogReturns().lookback(n))[back], np.log(p[back] / p[back - n]), rtol=0, atol=1e-12
    )
    np.testing.assert_allclose(
        col(bars, LogReturns().lookforward(n))[fwd], np.log(p[fwd + n] / p[fwd]), rtol=0, atol=1e-12
    )
    # cumulative over n steps for simple returns and diffs too (not single-step)
    np.testing.assert_allclose(
        col(bars, SimpleReturns().lookback(n))[back], p[back] / p[back - n] - 1, atol=1e-12
    )
    np.testing.assert_allclose(
        col(bars, SimpleReturns().lookforward(n))[fwd], p[fwd + n] / p[fwd] - 1, atol=1e-12
    )
    np.testing.assert_allclose(col(bars, PriceDiff().lookback(n))[back], p[back] - p[back - n])
    np.testing.assert_allclose(col(bars, PriceDiff().lookforward(n))[fwd], p[fwd + n] - p[fwd])
    assert np.isnan(col(bars, LogReturns().lookback(n))[:n]).all()
    assert np.isnan(col(bars, LogReturns().lookforward(n))[N - n :]).all()
    np.testing.assert_array_equal(col(bars, Price().lookforward(n))[fwd], p[fwd + n])


@pytest.mark.parametrize("w", [2, 15, 60])
def test_acceptance_3_volatility_is_pandas_rolling_std(path, w):
    bars, fr = path
    r = np.log(fr["close"]).diff()
    ref = r.rolling(w).std(ddof=1).to_numpy()
    got = col(bars, Volatility().window(w))
    assert (np.isnan(got) == np.isnan(ref)).all()
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12)
    # label: std of r[t+1 … t+n]
    fwd = col(bars, Volatility().lookforward(w))
    np.testing.assert_allclose(fwd[: N - w], ref[w:], rtol=1e-9, atol=1e-12)


def test_range_estimators_and_candles(path):
    bars, fr = path
    o, h, lo, c, v = (fr[k] for k in ("open", "high", "low", "close", "volume"))
    ln2 = np.log(2)
    park = np.sqrt((np.log(h / lo) ** 2).rolling(30).mean() / (4 * ln2))
    np.testing.assert_allclose(col(bars, Volatility().estimator("parkinson")), park, rtol=1e-9)
    gk = 0.5 * np.log(h / lo) ** 2 - (2 * ln2 - 1) * np.log(c / o) ** 2
    np.testing.assert_allclose(
        col(bars, Volatility().estimator("garman_klass").window(20)),
        np.sqrt(gk.rolling(20).mean()),
        rtol=1e-9,
    )
    rng = (h.rolling(15).max() - lo.rolling(15).min()) / c
    np.testing.assert_allclose(col(bars, Range().window(15)), rng, rtol=1e-12)
    np.testing.assert_allclose(col(bars, Range()), (h - lo) / c, rtol=1e-15)
    np.testing.assert_allclose(col(bars, BodyRatio()), (c - o) / (h - lo), rtol=1e-15)
    np.testing.assert_allclose(
        col(bars, CloseLocation()), ((c - lo) - (h - c)) / (h - lo), rtol=1e-15
    )
    np.testing.assert_allclose(col(bars, Volume().window(3)), v.rolling(3).sum(), rtol=1e-12)
    np.testing.assert_allclose(
        col(bars, RelativeVolume().window(10)), v / v.rolling(10).mean(), rtol=1e-12
    )


def test_trend_kernels(path):
    bars, fr = path
    p = fr["close"]
    np.testing.assert_allclose(col(bars, MAGap()), np.log(p / p.rolling(20).mean()), rtol=1e-9)
    w = 10
    a = 2 / (w + 1)
    wts = a * (1 - a) ** np.arange(3 * w)  # j = 0 is the current row
    ema = p.rolling(3 * w).apply(lambda x: (x[::-1] * wts).sum() / wts.sum(), raw=True)
    np.testing.assert_allclose(col(bars, MAGap().kind("ema").window(w)), np.log(p / ema), rtol=1e-9)
    z = (p - p.rolling(60).mean()) / p.rolling(60).std(ddof=1)
    np.testing.assert_allclose(col(bars, ZScore()), z, rtol=1e-7, atol=1e-9)
    d = p.diff()
    up, down = d.clip(lower=0).rolling(14).mean(), (-d).clip(lower=0).rolling(14).mean()
    np.testing.assert_allclose(col(bars, RSI()), up / (up + down), rtol=1e-9)


def test_degenerate_cases_are_defined():
    bars = geometric_bars(200)
    flat_v = bars.values["X"].copy()
    flat_v[:, :4] = 1.0  # H = L, constant price
    flat_v[:, 4] = 0.0
    from btgym.datafeed import Bars

    flat = Bars(("X",), bars.index, {"X": flat_v}, 1)
    df = compute_features(
        [BodyRatio(), CloseLocation(), RSI(), ZScore(), RelativeVolume().window(5)], flat
    )
    assert (df["BodyRatio(1min)"] == 0).all() and (df["CloseLocation(1min)"] == 0).all()
    assert (df["RSI(1min,basis=close,window=14)"].iloc[14:] == 0.5).all()
    assert df["ZScore(1min,basis=close,window=60)"].isna().all()  # std = 0
    assert df["RelativeVolume(1min,window=5)"].isna().all()  # mean volume 0


def test_calendar_encodings(eurusd_jan):
    df = compute_features(
        [TimeOfDay(), TimeOfDay().part("cos"), DayOfWeek(), DayOfWeek().part("cos")], eurusd_jan
    )
    idx = df.index
    m = idx.hour * 60 + idx.minute
    np.testing.assert_array_equal(df.iloc[:, 0], np.sin(2 * np.pi * m.to_numpy() / 1440))
    np.testing.assert_array_equal(df.iloc[:, 1], np.cos(2 * np.pi * m.to_numpy() / 1440))
    np.testing.assert_array_equal(df.iloc[:, 2], np.sin(2 * np.pi * idx.day_of_week.to_numpy() / 7))
    assert df.index[0] == pd.Timestamp("2017-01-02 02:00") and df.iloc[0, 2] == 0.0  # Monday


def test_acceptance_9_inter_asset_spread_on_btc_eth(crypto):
    fr = crypto.frames()
    f = InterAssetSpread().hour().on("BTC").against("ETH")
    got = f.compute(crypto)
    ref = fr["ETH"]["close"] / fr["BTC"]["close"] - 1
    assert len(got) == 337
    np.testing.assert_array_equal(got.to_numpy(), ref.to_numpy())
    rs = ReturnSpread().hour().on("BTC").against("ETH").lookback(3).compute(crypto)
    ref_rs = np.log(fr["BTC"]["close"]).diff(3) - np.log(fr["ETH"]["close"]).diff(3)
    np.testing.assert_allclose(rs, ref_rs, rtol=1e-9, atol=1e-14)
    rz = RatioZScore().hour().on("BTC").against("ETH").window(24).compute(crypto)
    x = np.log(fr["BTC"]["close"] / fr["ETH"]["close"])
    np.testing.assert_allclose(
        rz, (x - x.rolling(24).mean()) / x.rolling(24).std(), rtol=1e-7, atol=1e-9
    )


def test_acceptance_9_zero_volume_cannot_be_scaled(eurusd_jan):
    f = Volume()
    X = compute_features([LogReturns(), f], eurusd_jan).dropna()
    assert (X[f.name] == 0).all()  # HistData volume is always 0
    with pytest.raises(DegenerateFeatureError, match=r"Volume\(1min,window=1\)"):
        Scaler.fit(X)


def test_unknown_asset_and_incomplete_cross_feature(crypto):
    from btgym.errors import FeatureSpecError, FeatureUnavailableError

    with pytest.raises(FeatureUnavailableError, match="SOL"):
        compute_features([LogReturns().hour().on("SOL")], crypto)
    with pytest.raises(FeatureSpecError, match="other"):
        compute_features([InterAssetSpread().hour()], crypto)


def test_basis_prices(path):
    bars, fr = path
    o, h, lo, c = (fr[k].to_numpy() for k in ("open", "high", "low", "close"))
    for b, ref in {
        "open": o,
        "hl2": (h + lo) / 2,
        "hlc3": (h + lo + c) / 3,
        "ohlc4": (o + h + lo + c) / 4,
    }.items():
        np.testing.assert_allclose(col(bars, Price().basis(b)), ref, rtol=1e-15)
