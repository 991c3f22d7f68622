"""CI smoke run of benchmarks/experiments_overhead.py (acceptance 15)."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow


def test_overhead_benchmark_smoke_writes_json(tmp_path):
    from benchmarks import experiments_overhead

    out = tmp_path / "overhead.json"
    experiments_overhead.main(["--smoke", "--out", str(out)])
    saved = json.loads(out.read_text())
    assert saved["smoke"] is True
    assert saved["metrics"]["rows"] == 1000 and saved["metrics"]["seconds_100_per_call"] > 0
    assert saved["claim"]["median_ms"] > 0
    assert saved["runs"]["finished"] == 6 and saved["runs"]["failed"] == 0
    assert saved["report"]["runs"] == 6 and saved["report"]["bytes"] > 10_000
