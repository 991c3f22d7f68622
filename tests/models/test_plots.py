"""Figures: cards, heatmap, deterministic PNGs (§11 items 10-12)."""

from __future__ import annotations

from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
import pytest

from btgym.models.plots import batch_heatmap, classifier_card, regressor_card, to_png, to_rgb
from btgym.models.results import ModelResult
from btgym.models.stats import roc_auc, summary_metrics

ROOT = Path(__file__).resolve().parents[2]


def _classifier_result(K=3, n=600, seed=0, name="m", nan_class=False):
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2017-01-02", periods=n, freq="1min", name="timestamp")
    r = rng.integers(0, K, n)
    logits = rng.normal(size=(n, K)) + np.eye(K)[r]
    proba = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    p = proba.argmax(1)
    if nan_class:  # never predict the last class → PV_{K-1} is NaN
        p = np.minimum(p, K - 2)
    f = pd.DataFrame({"split": "test", "y_true": r, "y_pred": p}, index=idx)
    for k in range(K):
        f[f"proba_{k}"] = proba[:, k]
    f["y_value"] = rng.normal(0, 1e-3, n)
    return ModelResult(
        name, "classification", K, None, f, {"test": summary_metrics(f, "classification", K)}, {}
    )


def _pane(fig, gid):
    (ax,) = [a for a in fig.axes if a.get_gid() == gid]
    return ax


def test_classifier_card_full_and_compact():
    res = _classifier_result(K=3)
    fig = classifier_card(res)
    assert len(fig.axes) == 6
    conf = _pane(fig, "confusion")
    assert conf.images[0].get_array().shape == (4, 4)
    assert [t.get_text() for t in conf.get_xticklabels()][-1] == "Prevalence"
    assert [t.get_text() for t in conf.get_yticklabels()][-1] == "Prediction Bias"
    f = res.predictions
    proba = f[["proba_0", "proba_1", "proba_2"]].to_numpy()
    legend = [t.get_text() for t in _pane(fig, "roc").get_legend().get_texts()]
    for k in range(3):
        assert legend[k] == f"class {k} AUC = {roc_auc(proba, f.y_true.to_numpy(), k):.4f}"
    title = _pane(fig, "acc_histogram").get_title()
    assert title.endswith(" interval win rate")
    acc = (f.y_pred.to_numpy()[:600].reshape(10, 60) == f.y_true.to_numpy().reshape(10, 60)).mean(1)
    assert title == f"{np.mean(acc > 1 / 3):.4f} interval win rate"
    compact = classifier_card(res, layout="compact")
    assert len(compact.axes) == 4
    assert {a.get_gid() for a in compact.axes} == {
        "acc_over_time",
        "lr_curves",
        "acc_histogram",
        "roc",
    }


def test_regressor_card_has_five_axes():
    rng = np.random.default_rng(1)
    idx = pd.date_range("2017-01-02", periods=300, freq="1min", name="timestamp")
    t = rng.normal(size=300)
    f = pd.DataFrame(
        {"split": "test", "y_true": t, "y_pred": t + rng.normal(size=300), "y_value": t}, index=idx
    )
    fig = regressor_card(ModelResult("r", "regression", None, None, f, {}, {}))
    assert len(fig.axes) == 5
    assert _pane(fig, "confusion").images[0].get_array().shape == (3, 3)


def test_batch_heatmap_blocks_cells_colours_and_nan():
    units = {
        "u2": [
            _classifier_result(3, seed=1, name="a"),
            _classifier_result(3, seed=2, name="b", nan_class=True),
        ],
        "u1": {"x": _classifier_result(2, seed=3, name="c")},
    }
    fig = batch_heatmap(units, title="batch")
    blocks = [a for a in fig.axes if (a.get_gid() or "").startswith("unit:")]
    assert [a.get_gid() for a in blocks] == ["unit:u1", "unit:u2"]
    assert blocks[0].images[0].get_array().shape == (1, 7)
    assert blocks[1].images[0].get_array().shape == (2, 10)
    ax = blocks[1]
    vals = np.asarray(ax.images[0].get_array().filled(np.nan))
    s = units["u2"][0].summary["test"]
    assert [t.get_text() for t in ax.texts][:2] == [f"{s['acc']:.3f}", f"{s['pv_0']:.3f}"]
    img = ax.images[0]
    expected = mpl.colormaps["viridis"](np.clip(s["acc"], 0, 1))
    np.testing.assert_allclose(img.to_rgba(vals)[0, 0], expected, atol=1e-6)
    # b never predicts class 2: PV2 is NaN → grey "nan"
    texts = [t.get_text() for t in ax.texts]
    assert texts[10 + 3] == "nan"
    assert np.ma.is_masked(ax.images[0].get_array()[1, 3])
    grey = ax.images[0].cmap.get_bad()
    assert np.allclose(grey[:3], mpl.colors.to_rgb("#bdbdbd"))


def test_figures_render_headless_and_png_bytes_are_deterministic():
    res = _classifier_result(2)
    a = to_png(classifier_card(res, layout="compact"))
    b = to_png(classifier_card(res, layout="compact"))
    assert a == b and a[:8] == b"\x89PNG\r\n\x1a\n"
    assert to_rgb(batch_heatmap({"u": [res]})).dtype == np.uint8


def test_card_rejects_wrong_task():
    from btgym.errors import ModelError

    with pytest.raises(ModelError):
        regressor_card(_classifier_result(2))
