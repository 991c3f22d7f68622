"""The existing benchmarks take --data-dir, default to the bundled data, and the
env_step floor's child uses the data folder it is given (it used to ignore it and hang)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ["env_step", "data_sampling", "learning_sine", "train_throughput", "render"]


def test_references_default_to_the_bundled_data():
    from benchmarks import references

    assert references.DATA_DIR == ROOT / "tests" / "data"
    assert (references.DATA_DIR / "DAT_ASCII_EURUSD_M1_201701.csv").is_file()


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_benchmark_takes_data_dir(name):
    done = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{name}", "--help"],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "--data-dir" in done.stdout


def test_floor_child_reads_the_data_dir_and_never_hangs(tmp_path):
    import glob
    import tempfile

    from benchmarks import references

    def bench_dirs() -> set[str]:
        return set(glob.glob(os.path.join(tempfile.gettempdir(), "btgym-bench-*")))

    before = bench_dirs()
    assert references.floor(300, data_dir=references.DATA_DIR) > 0
    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match="floor's child died"):
        references.floor(300, data_dir=tmp_path)  # no data there
    assert time.monotonic() - t0 < 60
    assert bench_dirs() <= before  # its ipc folder is removed on both paths
