"""The feature benchmark runs in smoke mode and writes its JSON (§10; §13.18)."""

from __future__ import annotations

import json

from benchmarks import features_batch


def test_acceptance_18_benchmark_smoke_mode_writes_json(shared_data, tmp_path):
    out = tmp_path / "features_batch_smoke.json"
    result = features_batch.main(
        ["--smoke", "--data-dir", str(shared_data), "--out", str(out), "--runs", "1"]
    )
    stored = json.loads(out.read_text())
    assert stored == json.loads(json.dumps(result))
    assert stored["smoke"] and stored["bars"] == 31_500 and stored["features"] == 20
    for key in ("compute_s", "split_s", "pandas_reference_s"):
        assert stored[key] > 0
    assert stored["update"]["n"] == 3_000 and stored["update"]["median_ms"] > 0
    assert set(stored["meets_targets"]) == {"compute", "split", "update"}
    assert stored["split_rows"]["train"] > 0
