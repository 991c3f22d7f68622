"""Persistence without pickle (§11 item 3)."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest
import torch

from btgym.errors import CheckpointError, ModelNotFittedError
from btgym.models import build_model, load_model
from btgym.models.persistence import sha256_file

from .test_zoo import data_for, make

NAMES = [
    "MLPClassifier",
    "GRURegressor",
    "OLSBaseline",
    "PriorBaseline",
    "MeanProbaEnsemble",
    "SKLogisticRegression",
    "SKGradientBoostingRegressor",
    "SKGradientBoostingClassifier",
    "MajorityVoteEnsemble",
]


@pytest.mark.parametrize("name", NAMES)
def test_save_load_reproduces_predictions_exactly(name, synth, tmp_path):
    if name.startswith("SK"):
        pytest.importorskip("skops")
    m = make(name)
    X, y = data_for(m, synth)
    with pytest.raises(ModelNotFittedError):
        m.save(tmp_path / "m")
    m.fit(X, y, epochs=5)
    path = m.save(tmp_path / "m")
    meta = json.loads((path / "model.json").read_text())
    assert meta["format"] == "btgym-model" and meta["version"] == 1 and meta["class"] == name
    back = load_model(path)
    assert type(back) is type(m) and back.feature_names == m.feature_names
    if m.task == "classification":
        np.testing.assert_array_equal(back.predict_proba(X), m.predict_proba(X))
    np.testing.assert_array_equal(back.predict(X), m.predict(X))
    # saving again replaces the directory atomically; no temp dirs left
    m.save(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_weights_files_load_with_the_safe_readers(synth, tmp_path):
    X, y, _ = synth
    mlp = build_model("MLPClassifier", n_features=4, n_classes=3)
    mlp.fit(X, y, epochs=3)
    state = torch.load(mlp.save(tmp_path / "mlp") / "weights.pt", weights_only=True)
    assert set(state) >= {"head.weight", "head.bias"}
    ols = build_model("OLSBaseline", n_features=4)
    ols.fit(X, y)
    with np.load(ols.save(tmp_path / "ols") / "arrays.npz", allow_pickle=False) as z:
        assert set(z.files) == {"coef_", "intercept_"}


class _Boom:
    def __reduce__(self):
        return (os.system, ("echo pwned > /tmp/btgym_models_pwned",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")
def test_flipped_byte_and_code_running_pickle_raise_checkpoint_error(synth, tmp_path):
    X, y, _ = synth
    m = build_model("MLPClassifier", n_features=4, n_classes=3)
    m.fit(X, y, epochs=3)
    path = m.save(tmp_path / "m")
    w = path / "weights.pt"
    data = bytearray(w.read_bytes())
    data[len(data) // 2] ^= 0xFF
    w.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="sha256"):
        load_model(path)
    # a pickle that runs code, with model.json's sha256 updated to match it
    w.write_bytes(pickle.dumps({"head.weight": _Boom()}))
    meta = json.loads((path / "model.json").read_text())
    meta["weights"]["sha256"] = sha256_file(w)
    (path / "model.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=r"weights\.pt"):
        load_model(path)
    assert not os.path.exists("/tmp/btgym_models_pwned")
    # npz holding an object array
    ols = build_model("OLSBaseline", n_features=4)
    ols.fit(X, y)
    p2 = ols.save(tmp_path / "ols")
    np.savez(p2 / "arrays.npz", coef_=np.array([_Boom()], dtype=object), intercept_=np.zeros(()))
    meta = json.loads((p2 / "model.json").read_text())
    meta["weights"]["sha256"] = sha256_file(p2 / "arrays.npz")
    (p2 / "model.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError):
        load_model(p2)


def test_format_version_and_class_are_checked(synth, tmp_path):
    X, _, y = synth
    m = build_model("MeanBaseline", n_features=4)
    m.fit(X, y)
    path = m.save(tmp_path / "m")
    meta = json.loads((path / "model.json").read_text())
    for key, value, match in (
        ("format", "other", "format"),
        ("version", 99, "version"),
        ("class", "EvilModel", "EvilModel"),
    ):
        bad = dict(meta, **{key: value})
        (path / "model.json").write_text(json.dumps(bad))
        with pytest.raises(CheckpointError, match=match):
            load_model(path)
    with pytest.raises(CheckpointError, match=r"model\.json"):
        load_model(tmp_path / "nowhere")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "x").write_text("x")
    with pytest.raises(CheckpointError, match="not a saved model"):
        m.save(tmp_path / "junk")
