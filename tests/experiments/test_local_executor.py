"""LocalExecutor: a clean WorkSpec (acceptance 1), dry run (6), a SIGKILLed worker and
Ctrl-C (4), all on real spawned workers and a real SQLite file."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from btgym.experiments.registry import Registry
from btgym.experiments.spec import load_spec
from tests.experiments.conftest import spec_yaml

RUN_FILES = {"run.json", "results.json", "predictions.parquet", "history.csv", "model"}


def test_workspec_two_units_three_models(workspec_file, tmp_path, executor):
    reg = Registry(artifact_root=tmp_path / "runs")
    s = executor.run(load_spec(workspec_file), reg, progress=False)
    assert (s.created, s.finished, s.failed, s.cancelled) == (6, 6, 0, 0)
    assert s.dataset_builds == {"unit1": 1, "unit2": 1}
    runs = reg.runs(experiment="ws")
    assert [r.status for r in runs] == ["finished"] * 6
    for r in runs:
        assert {p.name for p in Path(r.run_dir).iterdir()} >= RUN_FILES
        assert Path(r.run_dir).parent == reg.artifact_root / "ws"
        assert r.worker and r.worker.split(":")[-1].isdigit()
    # a second identical batch hits the dataset cache
    s2 = executor.run(load_spec(workspec_file), reg, progress=False)
    assert s2.dataset_builds == {} and s2.finished == 6


def _files(root: Path) -> set[str]:
    return {
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if "_scratch" not in p.relative_to(root).parts
    }


def test_dry_run_writes_only_under_scratch(eurusd, tmp_path, executor):
    spec = tmp_path / "long.yaml"
    spec.write_text(spec_yaml(eurusd, name="dry", epochs=50))
    reg = Registry(artifact_root=tmp_path / "runs")
    reg.experiment("keep")  # the main registry has something to keep
    before_counts, before_files = reg.counts(), _files(reg.artifact_root)
    s = executor.run(load_spec(spec), reg, dry_run=True, progress=False)
    assert s.finished == 6 and "_scratch" in s.registry_url
    assert reg.counts() == before_counts and _files(reg.artifact_root) == before_files
    scratch = Registry(url=s.registry_url, artifact_root=tmp_path / "runs" / "_scratch")
    for r in scratch.runs(experiment="dry"):
        assert r.config["epochs"] <= 5 and r.run_dir.startswith(scratch.artifact_root.as_posix())
        for split, (start, end) in r.config["split"].items():
            import pandas as pd

            assert pd.Timestamp(end) - pd.Timestamp(start) <= pd.Timedelta(days=3), split
        m = scratch.metrics(r.id)
        assert m["step"].max() <= 5 or m["step"].isna().all()


def _wait(pred, timeout=180.0, what=""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_sigkilled_worker_fails_its_run_and_ctrl_c_cancels(eurusd, tmp_path, executor):
    spec = tmp_path / "kill.yaml"
    long = "\n      - {name: long%d, model: MLPClassifier, epochs: 1000000, seed: %d}"
    spec.write_text(
        spec_yaml(eurusd, name="kill", epochs=3, extra_model=long % (1, 1) + long % (2, 2)).split(
            "\n  - name: unit2"
        )[0]
    )
    reg = Registry(artifact_root=tmp_path / "runs")
    events: dict[str, str] = {}

    def saboteur():
        watch = Registry(artifact_root=tmp_path / "runs")
        first = _wait(
            lambda: next(
                (r for r in watch.runs(status="running") if r.name.startswith("unit1/long")), None
            ),
            what="a long run",
        )
        events["killed"] = first.id
        os.kill(int(first.worker.split(":")[-1]), signal.SIGKILL)
        _wait(lambda: watch.get(first.id).status == "failed", what="the killed run to fail")
        _wait(lambda: len(watch.runs(status="finished")) == 3, what="the short runs")
        other = _wait(
            lambda: next((r for r in watch.runs(status="running")), None), what="the other long run"
        )
        events["cancelled"] = other.id
        os.kill(os.getpid(), signal.SIGINT)

    t = threading.Thread(target=saboteur, daemon=True)
    t.start()
    with pytest.raises(KeyboardInterrupt):
        executor.run(load_spec(spec), reg, progress=False)
    t.join(timeout=30)
    runs = {r.id: r for r in reg.runs(experiment="kill")}
    killed, cancelled = runs[events["killed"]], runs[events["cancelled"]]
    assert killed.status == "failed" and "worker process died (exit code -9)" in killed.error
    assert cancelled.status == "cancelled"
    assert sorted(r.status for r in runs.values()) == [
        "cancelled",
        "failed",
        "finished",
        "finished",
        "finished",
    ]
