"""Scaler, Bucketizer, conversions and rebalancing (§8; §13.13, 16)."""

from __future__ import annotations

import importlib.util
import json
import sys

import numpy as np
import pandas as pd
import pytest

from btgym.errors import (
    ConfigError,
    DegenerateBucketsError,
    DegenerateFeatureError,
    MissingExtraError,
)
from btgym.features import (
    Bucketizer,
    Scaler,
    from_one_hot,
    one_hot,
    percentile_boundaries,
    rebalance,
    to_classes,
)


def test_acceptance_13_boundary_rules():
    v = np.array([-1.0, 0.0, 2.0, np.nan])
    assert to_classes(v, [0], "assign_left")[1] == 0
    assert to_classes(v, [0], "assign_right")[1] == 1
    drop = to_classes(v, [0], "drop")
    assert np.isnan(drop[1]) and drop[0] == 0 and drop[2] == 1
    for rule in ("assign_left", "assign_right", "drop", "assign_random"):
        assert np.isnan(to_classes(v, [0], rule)[3])  # NaN stays NaN
    b = Bucketizer("boundaries", boundaries=[0]).fit(v)
    y = b.transform(pd.Series(v))
    assert str(y.dtype) == "Int64" and y.isna().tolist() == [False, True, False, True]
    # a class is the number of boundaries strictly below the value
    np.testing.assert_array_equal(
        to_classes([-5, -1, 0.5, 1, 3], [-1, 1], "assign_left"), [0, 0, 1, 1, 2]
    )


def test_assign_random_is_seeded():
    v = np.zeros(200)
    a = Bucketizer("sign", handle_boundary="assign_random", seed=7).fit(v).transform(v)
    b = Bucketizer("sign", handle_boundary="assign_random", seed=7).fit(v).transform(v)
    c = Bucketizer("sign", handle_boundary="assign_random", seed=8).fit(v).transform(v)
    assert a.equals(b) and not a.equals(c) and set(a.unique()) == {0, 1}


def test_up_flat_down_band():
    b = Bucketizer("up_flat_down", up_flat_down=0.5).fit([])
    got = b.transform(np.array([-0.6, -0.5, 0.0, 0.5, 0.6, np.nan])).tolist()
    assert got[:5] == [0, 1, 1, 1, 2] and pd.isna(got[5])
    assert b.class_names == ("down", "flat", "up")


def test_acceptance_16_one_hot_round_trip():
    for k in (2, 3):
        c = np.arange(30) % k
        oh = one_hot(c, k)
        assert oh.shape == (30, k) and (oh.sum(axis=1) == 1).all()
        np.testing.assert_array_equal(from_one_hot(oh), c)
    with_nan = one_hot(pd.array([0, None, 2], dtype="Int64"), 3)
    assert np.isnan(with_nan[1]).all()
    assert np.isnan(from_one_hot(with_nan)[1]) and from_one_hot(with_nan)[2] == 2


def test_percentile_boundaries():
    v = np.random.default_rng(0).normal(size=1000)
    np.testing.assert_array_equal(
        percentile_boundaries(v, [0.25, 0.75]), np.quantile(v, [0.25, 0.75], method="linear")
    )
    with pytest.raises(DegenerateBucketsError):
        percentile_boundaries(np.r_[np.zeros(900), v[:100]], [0.4, 0.6])
    with pytest.raises(ConfigError):
        percentile_boundaries(v, [0.6, 0.4])


def test_bucketizer_json_round_trip():
    b = Bucketizer("percentiles", percentiles=[0.1, 0.9], seed=3).fit(
        np.random.default_rng(1).normal(size=500)
    )
    back = Bucketizer.from_dict(json.loads(json.dumps(b.to_dict())))
    assert back == b and back.fitted_boundaries == b.fitted_boundaries
    with pytest.raises(ConfigError):
        Bucketizer("percentiles")
    with pytest.raises(ConfigError):
        Bucketizer("sign", handle_boundary="nearest")


def test_scaler():
    rng = np.random.default_rng(2)
    idx = pd.date_range("2017-01-02", periods=100, freq="min", name="timestamp")
    X = pd.DataFrame(rng.normal(3, 2, (100, 3)), index=idx, columns=["a", "b", "c"])
    s = Scaler.fit(X)
    Z = s.transform(X)
    np.testing.assert_allclose(Z.mean(), 0, atol=1e-12)
    np.testing.assert_allclose(Z.std(ddof=1), 1, atol=1e-12)
    pd.testing.assert_frame_equal(s.inverse_transform(Z), X, rtol=1e-12)
    back = Scaler.from_dict(json.loads(json.dumps(s.to_dict())))
    assert back == s and back.n_rows == 100 and back.fit_range[0].startswith("2017-01-02")
    with pytest.raises(ConfigError, match="columns"):
        s.transform(X[["b", "a", "c"]])
    X2 = X.assign(c=1.0, d=np.inf)
    with pytest.raises(DegenerateFeatureError, match=r"\['c', 'd'\]"):
        Scaler.fit(X2)


def test_rebalance_methods_keep_stamps():
    idx = pd.date_range("2017-01-02", periods=50, freq="min")
    X = pd.DataFrame({"a": np.arange(50.0)}, index=idx)
    y = pd.Series([0] * 40 + [1] * 10, index=idx)
    Xu, yu, ou = rebalance(X, y, "undersample", 0)
    assert yu.value_counts().tolist() == [10, 10] and Xu.index.isin(idx).all()
    minutes = (Xu.index - idx[0]).total_seconds() / 60
    assert Xu.index.is_monotonic_increasing and (Xu["a"].to_numpy() == minutes).all()
    assert (ou == "orig").all()
    Xo, yo, oo = rebalance(X, y, "oversample", 0)
    assert yo.value_counts().tolist() == [40, 40] and (oo == "dup").sum() == 30
    assert (Xo["a"].to_numpy() == (Xo.index - idx[0]).total_seconds() / 60).all()
    with pytest.raises(ConfigError):
        rebalance(X, y, "magic", 0)


def _without_imblearn(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import imblearn`` (and its submodules) raise ImportError for this test,
    installed or not: a ``None`` entry in ``sys.modules`` is Python's documented way."""
    for name in [m for m in sys.modules if m.startswith("imblearn.")] + ["imblearn"]:
        monkeypatch.setitem(sys.modules, name, None)


@pytest.mark.parametrize("method", ["smote", "adasyn"])
def test_smote_without_the_extra_names_it(monkeypatch, method):
    _without_imblearn(monkeypatch)
    with pytest.raises(ImportError):
        import imblearn  # noqa: F401
    idx = pd.date_range("2017-01-02", periods=20, freq="min")
    X = pd.DataFrame({"a": np.arange(20.0)}, index=idx)
    y = pd.Series([0] * 14 + [1] * 6, index=idx)
    with pytest.raises(MissingExtraError, match=r"btgym\[imbalance\]") as err:
        rebalance(X, y, method, 0)
    assert "imbalanced-learn" in str(err.value) and method in str(err.value)
    assert issubclass(MissingExtraError, ImportError)


def test_smote_rows_take_their_seed_stamps():
    """With the extra: synthetic rows take their seed stamps; without it (a plain
    install): the same call names the extra to install. Never skipped."""
    rng = np.random.default_rng(0)
    idx = pd.date_range("2017-01-02", periods=60, freq="min")
    X = pd.DataFrame(rng.normal(size=(60, 2)), index=idx, columns=["a", "b"])
    y = pd.Series([0] * 45 + [1] * 15, index=idx)
    if importlib.util.find_spec("imblearn") is None:
        with pytest.raises(MissingExtraError, match=r"btgym\[imbalance\]"):
            rebalance(X, y, "smote", 0)
        return
    Xs, ys, origin = rebalance(X, y, "smote", 0)
    assert ys.value_counts().tolist() == [45, 45] and (origin == "synthetic").sum() == 30
    assert Xs.index.isin(idx).all() and Xs.index.is_monotonic_increasing
    assert (ys[origin == "synthetic"] == 1).all()
