"""``btgym fit`` end to end on real worker processes and a real SQLite file.

One story per module (tests run in order and share the registry): a WorkSpec of 2
units × 3 model specs where one spec raises in ``fit`` (acceptance 4), its run
directories (1, 7), ``--resume`` (5), ``runs rerun`` / ``runs diff`` (11), and a data
file that changes under them (5, 11).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from btgym.experiments.config import diff_configs
from btgym.experiments.registry import Registry
from btgym.experiments.rundir import load_predictions
from btgym.experiments.spec import load_spec
from tests.experiments.conftest import EURUSD_JAN, run_btgym, spec_yaml

BROKEN = "\n      - {name: broken, model: GRUClassifier, params: {window: 100000}, epochs: 2}"


@pytest.fixture(scope="module")
def story(tmp_path_factory, shared_data):
    import shutil

    root = tmp_path_factory.mktemp("fit")
    data = root / EURUSD_JAN
    shutil.copy(shared_data / EURUSD_JAN, data)
    text = spec_yaml(data, epochs=5).replace(
        "      - {name: prior, model: PriorBaseline}", BROKEN.lstrip("\n"), 1
    )
    spec = root / "work.yaml"
    spec.write_text(text)
    arts = root / "runs"
    res = run_btgym("fit", str(spec), "--workers", "2", "--artifacts", str(arts), "-q")
    return {
        "root": root,
        "data": data,
        "spec": spec,
        "arts": arts,
        "first": res,
        "reg": Registry(artifact_root=arts),
    }


def _by_name(reg, **kw):
    return {r.name: r for r in reg.runs(experiment="ws", **kw)}


def test_a_failing_fit_fails_only_its_run(story):
    res = story["first"]
    assert res.returncode == 2, res.stdout + res.stderr[-3000:]
    runs = _by_name(story["reg"])
    assert len(runs) == 6
    broken = runs["unit1/broken"]
    assert broken.status == "failed"
    assert "Traceback" in broken.error and "ModelInputError" in broken.error
    assert [r.status for n, r in runs.items() if n != "unit1/broken"] == ["finished"] * 5
    assert "dataset builds: unit1: 1, unit2: 1" in res.stdout


def test_run_directories_hold_every_file(story):
    reg = story["reg"]
    for run in reg.runs(experiment="ws", status="finished"):
        names = {p.name for p in Path(run.run_dir).iterdir()}
        assert {
            "run.json",
            "results.json",
            "predictions.parquet",
            "history.csv",
            "model",
        } <= names, (run.name, names)
        arts = {a.name for a in reg.artifacts(run.id)}
        assert {
            "run.json",
            "results.json",
            "predictions.parquet",
            "history.csv",
            "model/model.json",
        } <= arts
        assert run.data_fingerprint.startswith("sha256:") and run.code_version


def test_predictions_history_and_reloaded_model(story):
    from btgym.experiments.datasets import DATASETS_DIR
    from btgym.features import Dataset
    from btgym.models import load_model

    reg = story["reg"]
    run = _by_name(reg)["unit1/logistic"]
    pred = load_predictions(run.run_dir)
    assert isinstance(pred.index, pd.DatetimeIndex) and pred.index.name == "timestamp"

    key = json.loads((Path(run.run_dir) / "run.json").read_text())["dataset"]["key"]
    ds = Dataset.from_dir(story["arts"] / DATASETS_DIR / key)
    test = pred[pred["split"] == "test"]
    assert test.index.equals(ds.X_test.index)
    model = load_model(f"{run.run_dir}/model")
    np.testing.assert_array_equal(model.predict(ds.X_test), test["y_pred"].to_numpy())
    hist = pd.read_csv(f"{run.run_dir}/history.csv")
    assert list(hist.columns) == ["step", "split", "key", "value", "wall_time"]
    # eval_every = max(1, 5 // 100) = 1: a row per step for loss and acc, train and val
    assert sorted(hist["step"].unique()) == [1, 2, 3, 4, 5]
    assert set(zip(hist["split"], hist["key"])) == {
        ("train", "loss"),
        ("train", "acc"),
        ("val", "loss"),
        ("val", "acc"),
    }
    curves = reg.metrics(run.id)
    assert len(curves[curves["step"].notna()]) == len(hist)


def test_resume_runs_only_the_failed_run(story, executor):
    s = executor.run(load_spec(story["spec"]), story["reg"], resume=True, progress=False)
    assert (s.created, s.skipped, s.failed, s.finished) == (1, 5, 1, 0)
    assert len(story["reg"].runs(experiment="ws")) == 7


def test_rerun_reproduces_metrics_and_diff_prints_the_paths(story):
    reg = story["reg"]
    runs = _by_name(reg, status="finished")
    a = runs["unit1/logistic"]
    res = run_btgym("runs", "rerun", a.id, "--artifacts", str(story["arts"]))
    assert res.returncode == 0, res.stdout + res.stderr[-3000:]
    child_id = re.search(r"(\w{26}) queued", res.stdout).group(1)
    child = reg.get(child_id)
    assert child.status == "finished" and child.parent_run_id == a.id
    m = reg.metrics([a.id, child.id])
    t = m[(m["split"] == "test") & m["step"].isna()].pivot(
        index="key", columns="run_id", values="value"
    )
    np.testing.assert_allclose(t[child.id], t[a.id], atol=1e-6, rtol=0)

    b = runs["unit1/mlp"]
    out = run_btgym("runs", "diff", a.id, b.id, "--artifacts", str(story["arts"]))
    assert out.returncode == 0
    printed = [ln.split(":")[0] for ln in out.stdout.strip().splitlines()]
    assert printed == [c.path for c in diff_configs(a.config, b.config)]
    assert "model.class" in printed and "model_spec" in printed and "unit" not in printed


def test_changed_data_fails_reruns_and_resume_runs_all_again(story, executor):
    reg = story["reg"]
    data = story["data"]
    lines = data.read_text().splitlines(keepends=True)
    fields = lines[100].split(";")  # a bar of 2017-01-02, inside unit1's train range
    fields[4] = f"{float(fields[4]) + 0.00001:.6f}"
    lines[100] = ";".join(fields)
    data.write_text("".join(lines))

    a = _by_name(reg, status="finished")["unit1/logistic"]
    child = reg.rerun(a.id)
    s = executor.run([child], reg, progress=False)
    assert (s.created, s.failed) == (0, 1)
    child = reg.get(child.id)
    assert child.status == "failed" and "FingerprintMismatchError" in child.error
    assert a.data_fingerprint in child.error and str(data) in child.error

    s = executor.run(load_spec(story["spec"]), reg, resume=True, progress=False)
    assert (s.created, s.skipped, s.finished, s.failed) == (6, 0, 5, 1)
