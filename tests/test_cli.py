"""The ``btgym`` command: train (SIGKILL + resume), eval, render, and its errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from btgym.algorithms.common.checkpoint import load_checkpoint
from btgym.cli import main, parse_pairs
from btgym.errors import ConfigError
from tests.algorithms.conftest import EPISODE, live_descendants, wait_gone

SHORT = ["--env", f"episode_duration={json.dumps(EPISODE)}"]


def _btgym(*args: str, **kw) -> list[str]:
    return [sys.executable, "-m", "btgym.cli", *args]


def _wait_checkpoint(path: Path, min_steps: int, proc: subprocess.Popen, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, (path.parent.parent / "first.log").read_text()[-3000:]
        if path.exists():
            try:
                ckpt = load_checkpoint(path)
            except Exception:
                ckpt = None
            if ckpt and ckpt["counters"]["env_steps"] >= min_steps:
                return ckpt
        time.sleep(0.2)
    raise AssertionError(f"no checkpoint with >= {min_steps} steps within {timeout} s")


@pytest.mark.slow
def test_train_sigkill_resume_then_eval(tmp_path):
    logdir = tmp_path / "run"
    args = [
        "train",
        "--algo",
        "a3c",
        "--workers",
        "2",
        "--logdir",
        str(logdir),
        "--seed",
        "0",
        "--checkpoint-every",
        "150",
        "--image-every",
        "0",
        *SHORT,
    ]
    log = open(tmp_path / "first.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        _btgym(*args, "--steps", "1000000", "--no-image"), stdout=log, stderr=subprocess.STDOUT
    )
    try:
        ckpt = _wait_checkpoint(logdir / "checkpoint.pt", 300, proc, timeout=150)
        children = live_descendants(proc.pid)  # workers, env servers, data server, helpers
        assert len(children) >= 5, [c.cmdline()[-1][:80] for c in children]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    alive = wait_gone(children, timeout=10.0)
    assert not alive, f"outlived the SIGKILLed trainer: {[p.pid for p in alive]}"
    killed = load_checkpoint(logdir)
    assert killed["counters"]["env_steps"] >= ckpt["counters"]["env_steps"] >= 300

    target = killed["counters"]["env_steps"] + 300
    out = subprocess.run(
        _btgym(*args, "--steps", str(target), "--resume"),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    assert "A3C done" in out.stdout and "checkpoint:" in out.stdout
    resumed = load_checkpoint(logdir)
    assert resumed["counters"]["env_steps"] >= target
    assert resumed["counters"]["updates"] > killed["counters"]["updates"]
    assert resumed["counters"]["wall_time"] > killed["counters"]["wall_time"]  # continued
    png = logdir / "episode.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "greedy test episode: return" in out.stdout

    ev = subprocess.run(
        _btgym("eval", "--checkpoint", str(logdir), "--episodes", "2", "--seed", "1"),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert ev.returncode == 0, ev.stdout[-2000:] + ev.stderr[-3000:]
    lines = ev.stdout.strip().splitlines()
    assert lines[0].startswith("btgym eval: 2 test episodes of")  # progress: rows as they end
    assert lines[1].split()[:3] == ["episode", "return", "final"]
    assert lines[-1].startswith("   mean") and "2 test episodes" in lines[-1]


@pytest.mark.slow
@pytest.mark.parametrize("engine", [[], ["--env", "engine=vector"]], ids=["backtrader", "vector"])
def test_render_writes_a_random_episode_png(tmp_path, engine):
    """Also on the vector engine, which keeps records (what the image is drawn from)
    only when asked: the CLI asks."""
    out = tmp_path / "random.png"
    res = subprocess.run(
        _btgym("render", "--out", str(out), "--seed", "3", *SHORT, *engine),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert "random-policy episode" in res.stdout
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_parse_pairs_json_and_strings():
    assert parse_pairs(["a=1", 'b={"x": [1, 2]}', "c=text", "d="], "--env") == {
        "a": 1,
        "b": {"x": [1, 2]},
        "c": "text",
        "d": "",
    }
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_pairs(["novalue"], "--set")


def test_errors_are_one_clear_line_and_exit_code_1(tmp_path, capsys):
    assert main(["eval", "--checkpoint", str(tmp_path / "none.pt")]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert main(["render", "--out", str(tmp_path / "x.png"), "--env", "drawdown_cal=5"]) == 1
    err = capsys.readouterr().err
    assert "drawdown_cal" in err and "drawdown_call" in err
    assert main(["train", "--data", "no_such_file.csv", "--logdir", str(tmp_path)]) == 1
    assert "no_such_file.csv" in capsys.readouterr().err
    assert main(["train", "--set", "lrr=1", "--logdir", str(tmp_path), "--steps", "10"]) == 1
    assert "lrr" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--algo", "dqn"])


def test_help_shows_defaults():
    from btgym.cli import build_parser

    sub = build_parser()._subparsers._group_actions[0].choices
    text = " ".join(sub["train"].format_help().split())  # unwrapped
    assert "(default: a3c)" in text and "(default: 50000)" in text
    assert "(default: runs/btgym)" in text
    assert "(default: 5)" in sub["eval"].format_help()


def test_has_test_part():
    from btgym.cli import SINE_DEMO, has_test_part

    assert has_test_part(SINE_DEMO)
    assert has_test_part({"trial_params": {"test_period": {"days": 1}}})
    assert not has_test_part({"filename": "x.csv"})


@pytest.mark.slow
def test_train_on_eurusd_then_eval_without_test_part_says_train_episodes(tmp_path):
    logdir = tmp_path / "run"
    out = subprocess.run(
        _btgym("train", "--data", "eurusd", "--workers", "1", "--steps", "150",
               "--image-every", "0", "--logdir", str(logdir), "--seed", "0"),
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    assert "ERROR" not in out.stdout + out.stderr and "Traceback" not in out.stderr
    assert "greedy train episode" in out.stdout
    ev = subprocess.run(
        _btgym("eval", "--checkpoint", str(logdir), "--episodes", "1"),
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert ev.returncode == 1
    assert "--train-episodes" in ev.stderr.strip().splitlines()[-1]
    assert "Traceback" not in ev.stderr
    ev = subprocess.run(
        _btgym("eval", "--checkpoint", str(logdir), "--episodes", "1", "--train-episodes"),
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert ev.returncode == 0, ev.stderr[-3000:]
    assert "(1 train episodes)" in ev.stdout
