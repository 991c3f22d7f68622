"""FeatureLabelSet.split → Dataset (§7; §13.11-15, 17)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from btgym.datafeed import Bars
from btgym.errors import (
    ConfigError,
    DegenerateBucketsError,
    EmptySplitError,
    FeatureSpecError,
    LookaheadError,
)
from btgym.features import (
    RSI,
    Dataset,
    FeatureLabelSet,
    LogReturns,
    TimeOfDay,
    Volatility,
    ZScore,
    compute_features,
)
from tests.features.helpers import geometric_bars

FEATS = [LogReturns(), LogReturns().lookback(5), Volatility().window(15), RSI(), TimeOfDay()]
A, B, C, D = "2017-01-02", "2017-01-21", "2017-01-26", "2017-02-01"


@pytest.fixture(scope="module")
def fls() -> FeatureLabelSet:
    return FeatureLabelSet(FEATS, [LogReturns().lookforward(3)], "test-set")


@pytest.fixture(scope="module")
def ds(fls, eurusd_jan) -> Dataset:
    return fls.split(eurusd_jan, train=(A, B), val=(B, C), test=(C, D))


def test_acceptance_11_rows_lie_in_their_ranges_with_embargo(ds, fls):
    ranges = {"train": (A, B), "val": (B, C), "test": (C, D)}
    for split, (lo, hi) in ranges.items():
        X = getattr(ds, f"X_{split}")
        assert X.index.min() >= pd.Timestamp(lo) and X.index.max() < pd.Timestamp(hi)
        assert getattr(ds, f"y_{split}").index.equals(X.index)
    n, R = fls.horizon, pd.Timedelta(minutes=1)
    for split, hi in (("train", B), ("val", C), ("test", D)):
        last = getattr(ds, f"X_{split}").index.max()
        assert last + n * R < pd.Timestamp(hi)


def test_acceptance_11_bad_ranges_raise(fls, eurusd_jan):
    with pytest.raises(ConfigError, match="overlap"):
        fls.split(eurusd_jan, train=(A, C), val=(B, D), test=(C, D))
    with pytest.raises(ConfigError, match="overlap"):
        fls.split(eurusd_jan, train=(B, C), test=(A, B))
    with pytest.raises(ConfigError, match="empty"):
        fls.split(eurusd_jan, train=(B, B), test=(C, D))
    with pytest.raises(ConfigError, match="embargo"):
        fls.split(eurusd_jan, train=(A, B), test=(C, D), embargo=2)


def test_longer_embargo_drops_more(fls, eurusd_jan):
    ds = fls.split(eurusd_jan, train=(A, B), test=(C, D), embargo=60)
    assert ds.X_train.index.max() < pd.Timestamp(B) - pd.Timedelta(minutes=60)
    assert ds.X_val is None and ds.y_val is None and "val" not in ds.y_value


def test_acceptance_12_scaler_is_fitted_on_train_only(ds, fls, eurusd_jan):
    X = ds.X_train
    np.testing.assert_allclose(X.mean().to_numpy(), 0, atol=1e-9)
    np.testing.assert_allclose(X.std(ddof=1).to_numpy(), 1, atol=1e-9)
    raw = fls.get_data(eurusd_jan, C, D).dropna()[fls.feature_names]
    mean, std = np.array(ds.scaler.mean), np.array(ds.scaler.std)
    np.testing.assert_allclose(ds.X_test.to_numpy(), ((raw - mean) / std).to_numpy(), rtol=1e-12)
    # editing test-period bars alters neither X_train nor the scaler
    lo = int(np.searchsorted(eurusd_jan.index, pd.Timestamp(C).value))
    values = {k: v.copy() for k, v in eurusd_jan.values.items()}
    for v in values.values():
        v[lo:, :4] *= np.exp(np.random.default_rng(0).normal(0, 0.01, (len(v) - lo, 1)))
    edited = Bars(eurusd_jan.names, eurusd_jan.index, values, 1)
    other = fls.split(edited, train=(A, B), val=(B, C), test=(C, D))
    pd.testing.assert_frame_equal(other.X_train, ds.X_train)
    assert other.scaler.to_dict() == ds.scaler.to_dict()
    assert not other.X_test.equals(ds.X_test)
    assert other.data_fingerprint != ds.data_fingerprint


@pytest.fixture(scope="module")
def zero_set():
    return FeatureLabelSet([LogReturns(), ZScore()], [LogReturns().lookforward(1)])


def test_acceptance_13_sign_drop_loses_exactly_the_zero_moves(zero_set, eurusd_jan):
    reg = zero_set.split(eurusd_jan, train=(A, B), test=(C, D))
    zeros = {s: int((reg.y_value[s] == 0).sum()) for s in ("train", "test")}
    assert zeros["train"] > 0.04 * len(reg.y_train)  # HistData: many exact-zero moves
    cls = zero_set.split(eurusd_jan, train=(A, B), test=(C, D), task="classification")
    assert cls.class_names == ("down", "up") and cls.n_classes == 2
    for s in ("train", "test"):
        assert len(getattr(reg, f"y_{s}")) - len(getattr(cls, f"y_{s}")) == zeros[s]
        assert (cls.y_value[s] != 0).all()
    ufd = zero_set.split(
        eurusd_jan, train=(A, B), test=(C, D), task="classification", up_flat_down=0
    )
    assert ufd.class_names == ("down", "flat", "up")
    for s in ("train", "test"):
        y, v = getattr(ufd, f"y_{s}"), ufd.y_value[s]
        assert len(y) == len(getattr(reg, f"y_{s}"))
        assert ((y == 1) == (v == 0)).all() and int((y == 1).sum()) == zeros[s]
        assert ((y == 0) == (v < 0)).all()


def test_acceptance_14_percentiles_fitted_on_train_only():
    bars = geometric_bars(12_000, seed=9)
    fls = FeatureLabelSet([LogReturns(), RSI()], [LogReturns().lookforward(2)])
    idx = bars.frame().index
    a, b, c, d = idx[0], idx[7000], idx[8000], idx[-1] + pd.Timedelta(minutes=1)
    ds = fls.split(
        bars, train=(a, b), val=(b, c), test=(c, d), task="classification", percentiles=[0.33, 0.67]
    )
    y_train = fls.get_data(bars, a, b).dropna()[fls.label_names[0]]
    want = np.quantile(y_train, [0.33, 0.67], method="linear")
    np.testing.assert_array_equal(ds.bucketizer.fitted_boundaries, want)
    shares = ds.y_train.value_counts(normalize=True).sort_index().to_numpy()
    np.testing.assert_allclose(shares, [0.33, 0.34, 0.33], atol=0.02)
    assert ds.class_names == ("c0", "c1", "c2")


def test_acceptance_14_collapsed_percentiles_raise(zero_set, eurusd_jan):
    with pytest.raises(DegenerateBucketsError, match="strictly increasing"):
        zero_set.split(
            eurusd_jan, train=(A, B), test=(C, D), task="classification", percentiles=[0.49, 0.51]
        )


def test_acceptance_15_undersample(zero_set, eurusd_jan):
    kw = dict(train=(A, B), val=(B, C), test=(C, D), task="classification")
    plain = zero_set.split(eurusd_jan, **kw)
    ds = zero_set.split(eurusd_jan, rebalance="undersample", seed=3, **kw)
    counts = ds.y_train.value_counts()
    assert counts.nunique() == 1 and counts.iloc[0] == plain.y_train.value_counts().min()
    assert ds.X_train.index.is_monotonic_increasing
    assert ds.X_train.index.isin(plain.X_train.index).all()
    assert (ds.train_origin == "orig").all()
    pd.testing.assert_series_equal(
        ds.y_value["train"], plain.y_value["train"].loc[ds.X_train.index]
    )
    again = zero_set.split(eurusd_jan, rebalance="undersample", seed=3, **kw)
    pd.testing.assert_frame_equal(again.X_train, ds.X_train)
    other = zero_set.split(eurusd_jan, rebalance="undersample", seed=4, **kw)
    assert not other.X_train.index.equals(ds.X_train.index)
    for s in ("val", "test"):
        pd.testing.assert_frame_equal(getattr(ds, f"X_{s}"), getattr(plain, f"X_{s}"))
        pd.testing.assert_series_equal(getattr(ds, f"y_{s}"), getattr(plain, f"y_{s}"))


def test_oversample_keeps_source_stamps(zero_set, eurusd_jan):
    kw = dict(train=(A, B), test=(C, D), task="classification")
    plain = zero_set.split(eurusd_jan, **kw)
    ds = zero_set.split(eurusd_jan, rebalance="oversample", seed=1, **kw)
    counts = ds.y_train.value_counts()
    assert counts.nunique() == 1 and counts.iloc[0] == plain.y_train.value_counts().max()
    dup = ds.train_origin == "dup"
    assert dup.sum() == len(ds.X_train) - len(plain.X_train)
    assert ds.X_train.index.isin(plain.X_train.index).all()
    assert ds.X_train.index.is_monotonic_increasing


def test_acceptance_17_to_dir_from_dir_round_trip(ds, tmp_path, zero_set, eurusd_jan):
    cls = zero_set.split(
        eurusd_jan,
        train=(A, B),
        val=(B, C),
        test=(C, D),
        task="classification",
        rebalance="oversample",
    )
    for d in (ds, cls):
        path = d.to_dir(tmp_path / d.task)
        back = Dataset.from_dir(path)
        for stem, frame in d.frames().items():
            other = back.frames()[stem]
            if frame is None:
                assert other is None
            elif isinstance(frame, pd.Series):
                pd.testing.assert_series_equal(other, frame, check_exact=True)
            else:
                pd.testing.assert_frame_equal(other, frame, check_exact=True)
        assert back.scaler.to_dict() == d.scaler.to_dict()
        assert json.dumps(back.scaler.to_dict()) == json.dumps(d.scaler.to_dict())
        if d.bucketizer is not None:
            assert back.bucketizer.to_dict() == d.bucketizer.to_dict()
        assert back.featureset == d.featureset and back.params == d.params
        assert back.info() == d.info() and back.ranges == d.ranges
    assert cls.params["timeframe"] == 1 and cls.params["resolution"] == "1min"
    X_train, y_train, X_test, y_test, scaler = cls
    assert X_train is cls.X_train and scaler == cls.scaler.to_dict()
    assert y_train is cls.y_train and X_test is cls.X_test and y_test is cls.y_test


def test_empty_split_names_split_and_step(fls, eurusd_jan):
    with pytest.raises(EmptySplitError, match=r"'test'.*get_data"):
        fls.split(eurusd_jan, train=(A, B), test=("2017-01-28 12:00", "2017-01-28 13:00"))


def test_featureset_checks_and_json(fls):
    with pytest.raises(LookaheadError):
        FeatureLabelSet([LogReturns().lookforward(1)], [LogReturns().lookforward(2)])
    with pytest.raises(FeatureSpecError, match="one resolution"):
        FeatureLabelSet([LogReturns().five_min()], [LogReturns().lookforward(1)])
    with pytest.raises(FeatureSpecError, match="duplicate"):
        FeatureLabelSet([LogReturns(), LogReturns()], [LogReturns().lookforward(1)])
    with pytest.raises(FeatureSpecError, match="lookforward"):
        FeatureLabelSet([LogReturns()], [LogReturns().lookback(2)])
    ok = FeatureLabelSet(
        [LogReturns()], [LogReturns().lookback(2)], allow_contemporaneous_label=True
    )
    assert ok.horizon == 0
    back = FeatureLabelSet.from_dict(json.loads(json.dumps(fls.to_dict())))
    assert back == fls and back.digest == fls.digest
    assert fls.resolution == "1min" and fls.extent == 15 and fls.horizon == 3
    assert fls.warmup_bars(1) == 16
    five = FeatureLabelSet([f.five_min() for f in FEATS], [LogReturns().five_min().lookforward(1)])
    assert five.warmup_bars(1) == 17 * 5 - 1


def test_get_data_attrs_and_coverage_report(fls, eurusd_jan):
    df = fls.get_data(eurusd_jan, A, B)
    assert list(df.columns) == fls.feature_names + fls.label_names
    assert df.attrs["feature_columns"] == fls.feature_names
    assert df.attrs["label_columns"] == fls.label_names
    assert df.attrs["resolution"] == "1min"
    assert df.attrs["data_fingerprint"] == eurusd_jan.fingerprint()
    assert df.index.name == "timestamp" and (df.dtypes == np.float64).all()
    rep = fls.coverage_report(eurusd_jan, A, B)
    assert list(rep.columns) == [
        "name",
        "first_valid",
        "last_valid",
        "coverage",
        "coverage_valid_range",
    ]
    assert list(rep["name"]) == fls.feature_names + fls.label_names
    assert ((rep["coverage"] > 0.5) & (rep["coverage"] < 0.8)).all()  # nights and weekends
    assert (rep["coverage_valid_range"] >= rep["coverage"]).all()


def test_plot_data_returns_an_agg_figure(fls, eurusd_jan, ds):
    fig = fls.plot_data(eurusd_jan, "2017-01-03 10:00", "2017-01-03 12:00", scaler=ds.scaler)
    assert len(fig.axes) == len(FEATS) + 1
    assert "lookforward" in fig.axes[-1].get_title(loc="left")
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    assert np.asarray(canvas.buffer_rgba()).shape[2] == 4
    one = fls.plot_data(eurusd_jan, "2017-01-03 10:00", "2017-01-03 11:00", subplots=False)
    assert len(one.axes) == 2


def test_make_windows_skip_gaps(ds):
    from btgym.features import make_windows

    X = ds.X_train
    w, idx = make_windows(X, 5)
    assert w.shape[1:] == (5, X.shape[1]) and len(w) == len(idx) < len(X)
    i = X.index.get_loc(idx[0])
    np.testing.assert_array_equal(w[0], X.iloc[i - 4 : i + 1].to_numpy())
    steps = [X.index.get_loc(t) for t in idx]
    for t, pos in zip(idx[:50], steps[:50]):
        assert t - X.index[pos - 4] == pd.Timedelta(minutes=4)


def test_get_data_features_equal_the_full_history(fls, eurusd_jan):
    full = compute_features(fls.features, eurusd_jan)
    for start, end in ((B, C), ("2017-01-09 00:03", "2017-01-09 05:00"), (A, D)):
        df = fls.get_data(eurusd_jan, start, end)
        want = full.loc[(full.index >= pd.Timestamp(start)) & (full.index < pd.Timestamp(end))]
        pd.testing.assert_frame_equal(df[fls.feature_names], want, check_exact=True)
    with_fill = FeatureLabelSet(FEATS, [LogReturns().lookforward(3)], fill=3)
    full3 = compute_features(FEATS, eurusd_jan, fill=3)
    df = with_fill.get_data(eurusd_jan, B, C)[with_fill.feature_names]
    pd.testing.assert_frame_equal(df, full3.loc[B:C].iloc[: len(df)], check_exact=True)
