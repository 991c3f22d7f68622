"""The zoo: every registered model fits and checks its inputs (§11 items 1, 2, 4, 5)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from btgym.errors import (
    ConfigError,
    ModelError,
    ModelInputError,
    ModelNotFittedError,
    UnknownComponentError,
)
from btgym.models import MODEL_REGISTRY, build_model
from btgym.models.base import model_class

ROOT = Path(__file__).resolve().parents[2]
FAST = {"max_iter": 15}  # sklearn boosting iterations


def make(name, n_classes=None, seed=0):
    cls = model_class(name)
    kw = {"n_features": 4, "seed": seed}
    if cls.sequence:
        kw["window"] = 3
    if cls.task == "classification":
        kw["n_classes"] = 3
    if name.startswith("SKGradient"):
        kw.update(FAST)
    if name.endswith("Ensemble"):
        members = [
            build_model("LogisticClassifier", n_features=4, n_classes=3, seed=seed),
            build_model("MLPClassifier", n_features=4, n_classes=3, seed=seed, hidden_layers=[8]),
            build_model("PriorBaseline", n_features=4, n_classes=3),
        ]
        return cls(members=members)
    return cls(**kw)


def data_for(model, synth):
    X, y_cls, y_reg = synth
    y = y_cls if model.task == "classification" else y_reg
    if model.window > 1:
        W = np.lib.stride_tricks.sliding_window_view(X.to_numpy(), model.window, axis=0)
        return np.ascontiguousarray(W.transpose(0, 2, 1)), y.iloc[model.window - 1 :]
    return X, y


@pytest.mark.parametrize("name", sorted(MODEL_REGISTRY))
def test_every_registered_model_fits_predicts_and_checks_inputs(name, synth):
    if name.startswith("SK"):
        pytest.importorskip("sklearn")
    model = make(name)
    X, y = data_for(model, synth)
    with pytest.raises(ModelNotFittedError):
        model.predict(X)
    hist = model.fit(X, y, epochs=5)
    assert model.is_fitted and len(hist.rows) > 0
    p = model.predict(X)
    assert p.shape == (len(y),)
    if model.task == "classification":
        assert p.dtype == np.int64 and set(np.unique(p)) <= {0, 1, 2}
        proba = model.predict_proba(X)
        assert proba.shape == (len(y), 3) and proba.dtype == np.float64
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
        bad_y = y.to_numpy().copy()
        bad_y[7] = 3
        with pytest.raises(ModelInputError, match="out of range"):
            make(name).fit(X, bad_y)
    else:
        assert p.dtype == np.float64
        with pytest.raises(ModelError):
            model.predict_proba(X)
    if model.window == 1:
        with pytest.raises(ModelInputError, match="order"):
            model.predict(X[["b", "a", "c", "d"]])
        nan = X.copy()
        nan.iloc[5, 2] = np.nan
        with pytest.raises(ModelInputError, match="row 2017-01-02 00:05:00, feature 'c'"):
            model.predict(nan)
    else:
        nan = X.copy()
        nan[5, 1, 2] = np.nan
        with pytest.raises(ModelInputError, match="NaN"):
            model.predict(nan)
    with pytest.raises(ModelInputError, match="shape"):
        model.predict(np.zeros((3, 5)))


def test_unknown_names_and_hyperparameters():
    with pytest.raises(UnknownComponentError, match="MLPClassifier"):
        build_model("MLPClasifier", n_features=3)
    with pytest.raises(TypeError, match="hidden_layers"):
        build_model("MLPClassifier", n_features=3, hiden_layers=[4])
    with pytest.raises(ConfigError):
        build_model("GRUClassifier", n_features=3, window=1)
    m = build_model("MLPRegressor", n_features=5, hidden_layers=["2n", "n", 3])
    assert m.get_config()["params"]["hidden_layers"] == [10, 5, 3]
    logistic = build_model("LogisticClassifier", n_features=2)
    logistic.fit(np.eye(2), [0, 1], epochs=1)
    with pytest.raises(ModelError, match="hidden"):
        logistic.embed(np.eye(2))
    mlp = build_model("MLPClassifier", n_features=2, hidden_layers=[6])
    mlp.fit(np.eye(2), [0, 1], epochs=1)
    assert mlp.embed(np.eye(2)).shape == (2, 6)


@pytest.mark.parametrize("name", ["MLPClassifier", "LSTMRegressor", "SKGradientBoostingClassifier"])
def test_same_seed_is_bitwise_equal_and_seeds_differ(name, synth):
    if name.startswith("SK"):
        pytest.importorskip("sklearn")
    state = torch.random.get_rng_state()
    a, b, c = make(name, seed=1), make(name, seed=1), make(name, seed=2)
    X, y = data_for(a, synth)
    for m in (a, b, c):
        m.fit(X, y, epochs=10)
    assert torch.equal(torch.random.get_rng_state(), state)  # caller's RNG untouched
    out = (lambda m: m.predict_proba(X)) if a.task == "classification" else (lambda m: m.predict(X))
    np.testing.assert_array_equal(out(a), out(b))
    if not name.startswith("SK"):  # boosting without subsampling ignores the seed
        assert not np.array_equal(out(a), out(c))
        for (k, v), w in zip(a.net.state_dict().items(), b.net.state_dict().values()):
            assert torch.equal(v, w), k


@pytest.mark.slow  # a fresh interpreter imports torch, pandas and btgym: ~15 s under load
def test_predictions_agree_across_processes_and_figures_need_no_pyplot(synth):
    """One fresh interpreter (they are slow to start): it fits the same model, and it
    renders a card without ever importing pyplot (§11 items 2 and 12)."""
    X, y_cls, _ = synth
    code = (
        "import sys\n"
        "from tests.models.conftest import synth\n"
        "from tests.models.test_plots import _classifier_result\n"
        "from btgym.models import MLPClassifier\n"
        "from btgym.models.plots import classifier_card, to_png\n"
        "to_png(classifier_card(_classifier_result(2)))\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'\n"
        "X, y, _ = synth.__wrapped__()\n"
        "m = MLPClassifier(n_features=4, n_classes=3, seed=3)\n"
        "m.fit(X, y, epochs=20)\n"
        "sys.stdout.buffer.write(m.predict_proba(X[:50]).tobytes())\n"
    )
    env = {**os.environ, "MPLBACKEND": "Agg", "DISPLAY": ""}
    # the timeout only catches a hang: 18 s in the full suite on 2 shared cores
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, timeout=600, cwd=ROOT, env=env
    )
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    theirs = np.frombuffer(out.stdout, np.float64).reshape(50, 3)
    from btgym.models import MLPClassifier

    m = MLPClassifier(n_features=4, n_classes=3, seed=3)
    m.fit(X, y_cls, epochs=20)
    np.testing.assert_allclose(m.predict_proba(X[:50]), theirs, atol=1e-6)


def test_l2_shrinks_and_l1_sparsifies():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 20))
    y = 2 * X[:, 0] - X[:, 1] + rng.normal(size=200)

    def weights(**kw):
        m = build_model("LinearRegressor", n_features=20, **kw)
        m.fit(X, y, epochs=400)
        return m.net.head.weight.detach().numpy().ravel()

    plain = weights()
    assert np.linalg.norm(weights(l2=0.1)) < np.linalg.norm(plain)
    sparse = weights(l1=0.05)
    assert (np.abs(plain) < 1e-3).sum() == 0
    assert (np.abs(sparse) < 1e-3).sum() >= 3
    assert abs(sparse[0]) > 0.3  # the informative weights survive


def test_ols_matches_lstsq(synth):
    X, _, y = synth
    m = build_model("OLSBaseline", n_features=4)
    m.fit(X, y)
    A = np.hstack([X.to_numpy(), np.ones((len(X), 1))])
    sol = np.linalg.lstsq(A, y.to_numpy(), rcond=None)[0]
    np.testing.assert_allclose(m.coef_, sol[:-1], atol=1e-8)
    assert float(m.intercept_) == pytest.approx(sol[-1], abs=1e-8)


def test_history_cadence_and_callbacks(synth):
    X, y, _ = synth
    seen = []
    m = build_model("MLPClassifier", n_features=4, n_classes=3, hidden_layers=[8])
    h = m.fit(
        X[:1500], y[:1500], X_val=X[1500:], y_val=y[1500:], epochs=250, callbacks=[seen.append]
    )
    f = h.to_frame()
    assert sorted(f.step.unique()) == list(range(2, 251, 2))
    assert set(zip(f.split, f.key)) == {
        ("train", "loss"),
        ("train", "acc"),
        ("val", "loss"),
        ("val", "acc"),
    }
    assert len(seen) == len(f) and seen[0]["key"] == "loss"
    es = build_model("MLPClassifier", n_features=4, n_classes=3, patience=3, lr=0.05)
    hist = es.fit(X[:1500], y[:1500], X_val=X[1500:], y_val=y[1500:], epochs=2000).to_frame()
    assert hist.step.max() < 2000
    # the best weights are restored: the final val loss is the lowest seen
    from btgym.models.stats import log_loss

    final = log_loss(es.predict_proba(X[1500:]), y[1500:].to_numpy())
    seen = hist[(hist.split == "val") & (hist.key == "loss")].value
    assert final <= seen.min() + 1e-5 and final < seen.iloc[-1]


def test_device_auto_is_cpu_without_cuda_and_cuda_is_refused(synth):
    X, y, _ = synth
    m = build_model("MLPClassifier", n_features=4, n_classes=3, device="auto", hidden_layers=[4])
    m.fit(X[:200], y[:200], epochs=2)
    assert m.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert m.predict_proba(X[:5]).dtype == np.float64
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA"):
            build_model("MLPClassifier", n_features=4, n_classes=3, device="cuda").fit(
                X, y, epochs=1
            )
