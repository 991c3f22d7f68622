"""RL runs recorded by ``btgym train --registry`` (acceptance 13) and the HTML report of
a WorkSpec batch plus one RL run (acceptance 14)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from btgym.experiments.registry import Registry
from btgym.experiments.spec import load_spec
from tests.experiments.conftest import run_btgym

SHORT_EPISODES = ["--env", 'episode_duration={"days": 0, "hours": 1, "minutes": 0}']


@pytest.fixture(scope="module")
def batch(tmp_path_factory, shared_data, executor):
    """The WorkSpec of acceptance 1 run into a registry, plus one RL run by the CLI."""
    import shutil

    from tests.experiments.conftest import EURUSD_JAN, spec_yaml

    root = tmp_path_factory.mktemp("rlrep")
    shutil.copy(shared_data / EURUSD_JAN, root / EURUSD_JAN)
    spec = root / "work.yaml"
    spec.write_text(spec_yaml(root / EURUSD_JAN, epochs=5))
    arts = root / "runs"
    reg = Registry(artifact_root=arts)
    s = executor.run(load_spec(spec), reg, progress=False)
    assert s.finished == 6
    res = run_btgym(
        "train",
        "--algo",
        "a3c",
        "--workers",
        "1",
        "--steps",
        "2000",
        "--seed",
        "0",
        "--device",
        "cpu",
        "--registry",
        reg.url,
        "--artifacts",
        str(arts),
        "--experiment",
        "ws",
        "--tag",
        "team=a",
        "--eval-episodes",
        "2",
        *SHORT_EPISODES,
        timeout=300,
    )
    return {"reg": reg, "arts": arts, "train": res, "root": root}


def test_train_records_an_rl_run(batch):
    res = batch["train"]
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    reg = batch["reg"]
    (run,) = reg.runs(experiment="ws", kind="rl")
    assert run.status == "finished" and run.tags == {"team": "a"}
    assert run.config["algo"] == "a3c" and run.config["trainer"]["total_steps"] == 2000
    assert run.config["env_kwargs"]["filename"].endswith(".csv")
    assert run.data_fingerprint.startswith("sha256:")
    m = reg.metrics(run.id)
    curve = m[(m["key"] == "episode_return_mean") & m["step"].notna()]
    assert len(curve) >= 1 and curve["step"].max() >= 1000
    assert len(m[(m["key"] == "steps_per_sec") & m["step"].notna()]) == len(curve)
    s = m[m["step"].isna()]
    summ = {(sp, k): v for sp, k, v in zip(s["split"], s["key"], s["value"])}
    assert summ[("train", "steps")] >= 2000
    for key in ("episodes", "updates", "wall_time", "mean_return"):
        assert ("train", key) in summ
    for key in ("mean_return", "mean_broker_value", "mean_max_drawdown", "mean_trades"):
        assert ("test", key) in summ
    arts = {a.name: a for a in reg.artifacts(run.id)}
    ckpt = Path(run.run_dir) / "model" / "checkpoint.pt"
    assert arts["checkpoint.pt"].sha256 == hashlib.sha256(ckpt.read_bytes()).hexdigest()
    assert (Path(run.run_dir) / "episode.png").read_bytes()[:4] == b"\x89PNG"
    assert "episode.png" in arts and "equity.parquet" in arts
    assert any((Path(run.run_dir) / "tb").glob("events.out.tfevents.*"))


def test_report_is_one_offline_file(batch, tmp_path):
    out = tmp_path / "report.html"
    res = run_btgym(
        "report", "--experiment", "ws", "--out", str(out), "--artifacts", str(batch["arts"])
    )
    assert res.returncode == 0, res.stderr[-3000:]
    html = out.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*https?://""", html, re.I)
    assert "<link" not in html and "@import" not in html
    imgs = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    for b64 in imgs:
        assert base64.b64decode(b64)[:8] == b"\x89PNG\r\n\x1a\n"
    assert html.count('<img alt="batch heatmap"') == 1
    assert len(re.findall(r"<div class='card' id='card-", html)) == 6
    assert len(re.findall(r"<div class='card rl' id='rl-", html)) == 1
    table = html.split("<table id='runs'>")[1].split("</table>")[0]
    assert table.count("<tr class=") == 7
    assert len(imgs) == 1 + 6 + 1
    assert "sortTable" in html


@pytest.mark.slow
def test_sigint_leaves_the_rl_run_cancelled(tmp_path):
    arts = tmp_path / "runs"
    reg = Registry(artifact_root=arts)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "btgym.cli",
            "train",
            "--workers",
            "1",
            "--steps",
            "1000000",
            "--seed",
            "0",
            "--device",
            "cpu",
            "--artifacts",
            str(arts),
            "--experiment",
            "rl",
            "--checkpoint-every",
            "500",
            *SHORT_EPISODES,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            runs = reg.runs(kind="rl") if any(e.name == "rl" for e in reg.experiments()) else []
            if (
                runs
                and len(reg.metrics(runs[0].id)) >= 2
                and (Path(runs[0].run_dir) / "tb" / "checkpoint.pt").exists()
            ):
                break
            time.sleep(0.5)
        else:
            raise AssertionError("the RL run never reported progress")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err[-3000:]
    (run,) = reg.runs(kind="rl")
    assert run.status == "cancelled"
    assert "checkpoint.pt" in {a.name for a in reg.artifacts(run.id)}
    assert json.loads((Path(run.run_dir) / "run.json").read_text())["status"] == "cancelled"
