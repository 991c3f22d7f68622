"""CI smoke run of benchmarks/encoders.py (quick mode; the real run is by hand) (§11 item 18)."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow


def test_encoders_benchmark_smoke_writes_json(tmp_path, shared_data):
    from benchmarks import encoders

    out = tmp_path / "encoders.json"
    report = encoders.main(["--quick", "--data-dir", str(shared_data), "--out", str(out)])
    saved = json.loads(out.read_text())
    assert saved["feature_bind_ms"] == report["feature_bind_ms"] > 0
    assert saved["model_bind_ms"] > 0 and saved["meta"]["quick"]
    assert 0 < saved["env_ratio"] < 2
