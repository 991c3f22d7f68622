"""The latency benchmark of live.md §10 runs in CI's smoke mode (acceptance 13)."""

from __future__ import annotations

import json

from benchmarks import live_latency


def test_live_latency_smoke_writes_json(shared_data, tmp_path, model_dirs):
    out = tmp_path / "live_latency_smoke.json"
    report = live_latency.main(
        [
            "--smoke",
            "--bars",
            "60",
            "--data-dir",
            str(shared_data),
            "--out",
            str(out),
            "--model-dir",
            str(model_dirs["mlp20"]),
        ]
    )
    stored = json.loads(out.read_text())
    assert stored == json.loads(json.dumps(report)) and stored["smoke"]
    for kind in ("model", "policy"):
        r = stored[kind]
        assert r["bars"] == r["signals"] == r["entries_read"] == 60
        assert 0 < r["median_ms"] <= r["p90_ms"] <= r["p99_ms"]
        assert isinstance(r["meets_target"], bool)
