"""Observation encoders standalone: spaces, warm-up, bind, streams, dicts (§11 items 13, 14)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from btgym.errors import CheckpointError, ConfigError, UnknownComponentError
from btgym.features import compute_features
from btgym.models import GRUClassifier, load_model
from btgym.models.encoders import FeatureEncoder, ModelEncoder, encoder_from_dict
from btgym.models.persistence import model_dataset_info


def test_feature_encoder_declares_spaces_warmup_and_matches_compute_features(
    eurusd, eurusd_dataset
):
    ds = eurusd_dataset
    enc = FeatureEncoder.from_dataset(ds, window=4, key="feat")
    sp = enc.spaces()
    assert sp["feat"].shape == (4, 5) and (sp["feat"].low, sp["feat"].high) == (-10.0, 10.0)
    assert sp["feat_valid"].shape == (4,) and sp["feat"].dtype == "float32"
    assert enc.warmup_bars(1) == (15 + 2) - 1 + 3  # Volatility(15) extent 15, window 4
    ep = eurusd.slice(5000, 6440)
    values, valid = enc.bind(ep)
    assert values.shape == (1440, 4, 5) and values.dtype == np.float32 and valid.shape == (1440, 4)
    raw = compute_features(enc.features, eurusd, at="bars").to_numpy()[5000:6440]
    z = (raw - np.asarray(ds.scaler.mean)) / np.asarray(ds.scaler.std)
    nan_rows = ~np.isfinite(z).all(axis=1)
    expect = np.clip(np.where(nan_rows[:, None], 0.0, z), -10, 10).astype(np.float32)
    w = enc.warmup_bars(1)
    for t in range(w - 1, 1440):  # from the warm-up on, the slice equals the full history
        np.testing.assert_allclose(values[t], expect[t - 3 : t + 1], rtol=1e-6)
        np.testing.assert_array_equal(valid[t], (~nan_rows[t - 3 : t + 1]).astype(np.float32))
    assert (values[:, -1][valid[:, -1] == 0] == 0).all()
    assert np.abs(values).max() <= 10.0


def test_streams_equal_bind(eurusd, eurusd_dataset, mlp_dir):
    fe = FeatureEncoder.from_dataset(eurusd_dataset, window=3)
    me = ModelEncoder(mlp_dir, key="mlp")
    gap = int(np.argmax(np.diff(eurusd.index) > 60_000_000_000 * 60)) + 1  # first weekend
    ep = eurusd.slice(gap - 200, gap + 300)
    fv, fok = fe.bind(ep, dtype=np.float64)
    mv, mok = me.bind(ep, dtype=np.float64)
    fs, ms = fe.stream(1, dtype=np.float64), me.stream(1, dtype=np.float64)
    rows = ep.values[ep.names[0]]
    for i, stamp in enumerate(ep.index):
        a, aok = fs.update(int(stamp), rows[i])
        b, bok = ms.update(int(stamp), rows[i])
        np.testing.assert_allclose(a, fv[i], rtol=0, atol=1e-12)
        np.testing.assert_array_equal(aok, fok[i])
        np.testing.assert_allclose(b, mv[i], rtol=0, atol=1e-6)
        np.testing.assert_array_equal(bok, mok[i])
    assert fok[200:210].min() == 0 and fok[-1].all() and mok[200:205].min() == 0


def test_model_encoder_outputs_bounds_and_fit_ranges(eurusd, mlp_dir):
    me = ModelEncoder(mlp_dir, key="mlp", window=2)
    sp = me.spaces()
    assert sp["mlp"].shape == (2, 2) and (sp["mlp"].low, sp["mlp"].high) == (0.0, 1.0)
    v, ok = me.bind(eurusd.slice(20000, 20500))
    assert np.allclose(v[ok[:, 1] == 1][:, 1].sum(axis=1), 1.0, atol=1e-6)
    emb = ModelEncoder(mlp_dir, key="emb", output="embedding", clip=3.0)
    assert emb.spaces()["emb"].shape == (16,) and emb.spaces()["emb"].high == 3.0
    ev, _ = emb.bind(eurusd.slice(20000, 20500))
    assert np.abs(ev).max() <= 3.0
    info = model_dataset_info(mlp_dir)
    assert set(info["fit_ranges"]) == {"train", "val"}
    assert me.overlap(*[np.datetime64("2017-01-13").astype("datetime64[ns]").astype(int)] * 2)
    assert (
        me.overlap(*[np.datetime64("2017-01-20").astype("datetime64[ns]").astype(int)] * 2) is None
    )
    with pytest.raises(ConfigError, match="output"):
        ModelEncoder(mlp_dir, output="nope")


def test_encoder_dicts_round_trip_as_json(eurusd, eurusd_dataset, mlp_dir):
    ep = eurusd.slice(3000, 3500)
    for enc in (
        FeatureEncoder.from_dataset(eurusd_dataset, window=2),
        ModelEncoder(mlp_dir, key="m"),
    ):
        d = json.loads(json.dumps(enc.to_dict()))
        back = encoder_from_dict(d)
        assert back.spaces() == enc.spaces() and back.fit_range == enc.fit_range
        np.testing.assert_array_equal(back.bind(ep)[0], enc.bind(ep)[0])
    with pytest.raises(UnknownComponentError):
        encoder_from_dict({"class": "FeatureEncodr"})
    bad = ModelEncoder(mlp_dir, key="m").to_dict()
    bad["sha256"] = "0" * 64
    with pytest.raises(CheckpointError, match="sha256"):
        encoder_from_dict(bad)


def test_feature_encoder_fit_on_bars_and_window_model_encoder(eurusd, eurusd_dataset, tmp_path):
    from tests.models.conftest import small_featureset

    enc = FeatureEncoder.fit(
        small_featureset(), eurusd, train=("2017-01-02", "2017-01-12"), window=1
    )
    assert enc.scaler.columns == tuple(eurusd_dataset.feature_names)
    grid = compute_features(enc.features, eurusd, at="grid")
    rows = grid[(grid.index >= "2017-01-02") & (grid.index < "2017-01-12")].dropna()
    np.testing.assert_allclose(enc.scaler.mean, rows.mean().to_numpy(), rtol=1e-9)
    assert enc.fit_range == [
        (
            int(rows.index[0].value) - int(rows.index[0].value) % 86400_000_000_000,
            int(np.datetime64("2017-01-12", "ns").astype(np.int64)),
        )
    ]
    # a GRU (window 3) behind a ModelEncoder: window over consecutive grid rows
    from btgym.features import make_windows

    ds = eurusd_dataset
    W, idx = make_windows(ds.X_train, 3)
    g = GRUClassifier(n_features=5, n_classes=2, window=3, hidden=8)
    g.fit(W, ds.y_train.reindex(idx), epochs=3)
    path = g.save(tmp_path / "gru", dataset=ds)
    me = ModelEncoder(path, key="gru")
    assert me.warmup_bars(1) == (15 + 2 + 2) - 1
    ep = eurusd.slice(7000, 7400)
    v, ok = me.bind(ep, dtype=np.float64)
    s = me.stream(1, dtype=np.float64)
    rows = ep.values[ep.names[0]]
    for i, stamp in enumerate(ep.index):
        b, bok = s.update(int(stamp), rows[i])
        np.testing.assert_allclose(b, v[i], atol=1e-6)
        assert bok[0] == ok[i, 0]
    assert load_model(path).window == 3


def test_regressor_value_encoder(eurusd, tmp_path):
    from btgym.models import MLPRegressor
    from tests.models.conftest import RANGES, small_featureset

    ds = small_featureset().split(eurusd, **RANGES)
    m = MLPRegressor(n_features=5, hidden_layers=[4])
    m.fit(ds.X_train, ds.y_train, epochs=3)
    enc = ModelEncoder(m.save(tmp_path / "reg", dataset=ds), key="ret", clip=1e-3)
    spec = enc.spaces()["ret"]
    assert spec.shape == (1,) and (spec.low, spec.high) == (-1e-3, 1e-3)
    v, ok = enc.bind(eurusd.slice(4000, 4300), dtype=np.float64)
    assert v.shape == (300, 1) and np.abs(v).max() <= 1e-3 and ok.mean() > 0.9
    expect = np.clip(m.predict(_scaled_row(enc, eurusd, 4299)), -1e-3, 1e-3)[0]
    np.testing.assert_allclose(v[-1, 0], expect, atol=1e-9)
    with pytest.raises(ConfigError, match="proba"):
        ModelEncoder(tmp_path / "reg", output="proba")


def _scaled_row(enc, bars, t):
    raw = compute_features(enc.features, bars, at="bars").to_numpy()[t]
    return ((raw - np.asarray(enc.scaler.mean)) / np.asarray(enc.scaler.std))[None, :]


def test_model_encoder_module_imports_first_in_a_fresh_interpreter():
    """``btgym.models.model_encoder`` and ``btgym.models.encoders`` import each other:
    either may be imported first (a fresh process, as a worker or server child is)."""
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "from btgym.models.model_encoder import ModelEncoder as A\n"
        "from btgym.models.encoders import ModelEncoder as B, ENCODER_REGISTRY\n"
        "assert A is B and ENCODER_REGISTRY['ModelEncoder'] is A\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
