"""Encoder runs (spec §8): ``runs create --config`` queues one, a worker fits it, and
``FeatureEncoder.from_run`` reads it back."""

from __future__ import annotations

import json
import re

from btgym.experiments.registry import Registry
from btgym.experiments.worker import work
from tests.experiments.conftest import FEATURES_1, run_btgym


def test_encoder_run_created_by_cli_and_run_by_a_worker(eurusd, tmp_path):
    from btgym.models.encoders import FeatureEncoder

    cfg = {
        "kind": "encoder",
        "featureset": {"features": FEATURES_1, "fill": None},
        "data": {"filename": str(eurusd)},
        "train": ["2017-01-02", "2017-01-09"],
        "window": 1,
    }
    path = tmp_path / "enc.json"
    path.write_text(json.dumps(cfg))
    arts = tmp_path / "runs"
    res = run_btgym(
        "runs", "create", "--config", str(path), "--experiment", "enc", "--artifacts", str(arts)
    )
    assert res.returncode == 0, res.stderr[-2000:]
    run_id = re.search(r"(\w{26}) queued", res.stdout).group(1)
    reg = Registry(artifact_root=arts)
    assert reg.get(run_id).status == "queued" and reg.get(run_id).kind == "encoder"
    s = work(reg, kind="encoder", max_runs=1, idle_exit=0, echo=lambda m: None)
    assert s.finished == 1 and s.claimed == [run_id]
    run = reg.get(run_id)
    assert run.status == "finished" and run.data_fingerprint.startswith("sha256:")
    assert {a.name for a in reg.artifacts(run_id)} >= {"encoder.json", "run.json"}
    enc = FeatureEncoder.from_run(run_id, reg)
    assert [f.name for f in enc.features] == FEATURES_1
