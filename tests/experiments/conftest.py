"""Fixtures of the experiments tests: a YAML WorkSpec on EURUSD Jan 2017 (2 units × 3
model specs), registries in tmp dirs, and a ``btgym`` command runner."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EURUSD_JAN = "DAT_ASCII_EURUSD_M1_201701.csv"

FEATURES_1 = [
    "LogReturns(1min,basis=close,lookback=1)",
    "LogReturns(1min,basis=close,lookback=5)",
    "Volatility(1min,basis=close,window=15,estimator=std)",
]
FEATURES_2 = [
    "LogReturns(1min,basis=close,lookback=1)",
    "Range(1min,basis=close,window=1)",
    "LogReturns(1min,basis=close,lookback=15)",
    "ZScore(1min,basis=close,window=30)",
]
LABEL = "LogReturns(1min,basis=close,lookforward=1)"
SPLIT = {
    "train": ["2017-01-02", "2017-01-07"],
    "val": ["2017-01-09", "2017-01-10"],
    "test": ["2017-01-10", "2017-01-12"],
}


def spec_yaml(data_file: Path, name: str = "ws", epochs: int = 15, extra_model: str = "") -> str:
    """Two units × three model specs (logistic, MLP with an "n" layer, a baseline)."""
    models = f"""
      - {{name: logistic, model: LogisticClassifier, epochs: {epochs}, seed: 1}}
      - {{name: mlp, model: MLPClassifier, params: {{hidden_layers: ["n"]}}, epochs: {epochs}}}
      - {{name: prior, model: PriorBaseline}}{extra_model}"""

    def unit(uname: str, feats: list[str]) -> str:
        flist = "".join(f'\n          - "{f}"' for f in feats)
        return f"""
  - name: {uname}
    featureset:
        name: fs_{uname}
        features:{flist}
        labels: ["{LABEL}"]
    data: {{filename: "{data_file.as_posix()}"}}
    split:
        train: {SPLIT["train"]}
        val: {SPLIT["val"]}
        test: {SPLIT["test"]}
    dataset_params: {{task: classification}}
    model_specs:{models}"""

    return (
        f"name: {name}\ndescription: two units on EURUSD Jan 2017\nunits:"
        + unit("unit1", FEATURES_1)
        + unit("unit2", FEATURES_2)
        + "\n"
    )


@pytest.fixture
def eurusd(shared_data, tmp_path) -> Path:
    """A private copy of EURUSD Jan 2017 (tests may change it)."""
    dst = tmp_path / "data" / EURUSD_JAN
    dst.parent.mkdir()
    shutil.copy(shared_data / EURUSD_JAN, dst)
    return dst


@pytest.fixture
def workspec_file(eurusd, tmp_path) -> Path:
    path = tmp_path / "work.yaml"
    path.write_text(spec_yaml(eurusd), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def executor():
    """One LocalExecutor with 2 workers whose pool lives for the whole session (worker
    start-up, torch import included, is paid once)."""
    from btgym.experiments.executors import LocalExecutor

    with LocalExecutor(n_workers=2) as ex:
        yield ex


def btgym_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "btgym.cli", *args]


def run_btgym(
    *args: str, cwd: Path | None = None, timeout: float = 240, env: dict | None = None
) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run(
        btgym_cmd(*args), cwd=cwd, capture_output=True, text=True, timeout=timeout, env=full_env
    )
