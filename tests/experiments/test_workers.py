"""Two ``btgym worker`` processes drain one queue (acceptance 10): every run is claimed
exactly once (the workers' claim logs and the ``worker`` column) and all finish."""

from __future__ import annotations

import os
import re
import subprocess

from btgym.experiments.registry import Registry
from btgym.experiments.spec import load_spec
from tests.experiments.conftest import btgym_cmd, spec_yaml


def test_two_workers_claim_each_run_once(eurusd, tmp_path):
    spec = tmp_path / "w.yaml"
    spec.write_text(spec_yaml(eurusd, name="queue", epochs=2))
    configs = load_spec(spec).configs()
    # 20 distinct runs: the 6 configs under several seeds
    batch = []
    for seed in range(4):
        for c in configs:
            batch.append({**c, "seed": seed})
    batch = batch[:20]
    arts = tmp_path / "runs"
    reg = Registry(artifact_root=arts)
    queued = {r.id for r in reg.create_runs("queue", batch)}
    assert len(queued) == 20
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen(
            btgym_cmd(
                "worker",
                "--artifacts",
                str(arts),
                "--idle-exit",
                "3",
                "--max-runs",
                "10",  # 20 runs, 10 each: both take part however late one starts
                "--poll",
                "0.2",
                "--name",
                f"w{i}",
                "--experiment",
                "queue",
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for i in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    claims = {f"w{i}": re.findall(r"^claimed (\w{26}) ", o[0], re.M) for i, o in enumerate(outs)}
    all_claims = claims["w0"] + claims["w1"]
    assert sorted(all_claims) == sorted(queued)  # each exactly once
    assert len(claims["w0"]) == len(claims["w1"]) == 10  # both took part, capped
    runs = {r.id: r for r in reg.runs(experiment="queue")}
    assert all(r.status == "finished" for r in runs.values())
    for name, ids in claims.items():
        assert all(runs[i].worker == name for i in ids)
