"""CI smoke run of benchmarks/learning_sine.py (tiny steps; the real run is by hand)."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow


def test_learning_sine_smoke_writes_json_and_png(tmp_path, no_children_left):
    from benchmarks import learning_sine

    report = learning_sine.main(
        [
            "--smoke",
            "--algos",
            "ppo",
            "--episodes",
            "1",
            "--server",
            "inprocess",
            "--out",
            str(tmp_path),
        ]
    )
    saved = json.loads((tmp_path / "learning_sine_smoke.json").read_text())
    assert saved["smoke"] and saved["steps"] == report["steps"] <= 600
    assert saved["test"]["oracle"]["mean"] > 0 > saved["test"]["random"]["mean"] - 1e-3
    assert saved["test"]["oracle"]["mean"] > saved["test"]["random"]["mean"]
    assert saved["agents"]["ppo"]["steps"] >= 512 and saved["agents"]["ppo"]["curve"]
    assert (tmp_path / "learning_sine_smoke.png").read_bytes()[:4] == b"\x89PNG"
