"""Checkpoints: they never choose code; a full disk or a read-only logdir is a named
error that leaves the previous checkpoint intact and no temp file behind."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from btgym.algorithms.common.checkpoint import (
    check_logdir,
    env_from_checkpoint,
    load_checkpoint,
    save_checkpoint,
    trusted_class,
)
from btgym.cli import main as cli_main
from btgym.errors import CheckpointError, LogdirError
from tests.conftest import read_only_dir

EVIL_MODULE = """
import pathlib
pathlib.Path(__file__).with_name("imported.marker").write_text("ran")
class Env:
    def __init__(self, **kw):
        pathlib.Path(__file__).with_name("constructed.marker").write_text("ran")
"""


def _ckpt(path: Path, env_kwargs: dict) -> Path:
    return save_checkpoint(path, {"algo": "a3c", "env_kwargs": env_kwargs})


def test_a_checkpoint_naming_a_foreign_class_is_refused(tmp_path, monkeypatch, capsys):
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    (tmp_path / "evil_mod.py").write_text(EVIL_MODULE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))  # as `python -m btgym.cli` run from there
    for name, kw in (
        ("logging:FileHandler", {"filename": str(victim), "mode": "w"}),
        ("evil_mod:Env", {"filename": "x.csv"}),
    ):
        ckpt = _ckpt(tmp_path / "run" / "checkpoint.pt", {"env_class": name, **kw})
        assert cli_main(["eval", "--checkpoint", str(ckpt)]) == 1
        err = capsys.readouterr().err
        assert name in err and "--env-class" in err and "trusted_classes" in err
        with pytest.raises(CheckpointError, match="not on your allow-list"):
            env_from_checkpoint(load_checkpoint(ckpt))
    assert victim.read_text() == "keep me"
    assert not (tmp_path / "imported.marker").exists()  # no module named by a file ran
    assert "evil_mod" not in sys.modules


def test_strategies_follow_the_same_rule(tmp_path):
    ckpt = load_checkpoint(_ckpt(tmp_path / "c.pt", {"strategy": "evil_mod:Strategy"}))
    with pytest.raises(CheckpointError, match="strategy 'evil_mod:Strategy'"):
        env_from_checkpoint(ckpt)
    ok = load_checkpoint(_ckpt(tmp_path / "d.pt", {"strategy": "BTgymBaseStrategy"}))
    cls, kw = env_from_checkpoint(ok)
    from btgym.envs import BTgymEnv
    from btgym.strategy import BTgymBaseStrategy

    assert cls is BTgymEnv and kw["strategy"] is BTgymBaseStrategy


def test_btgym_classes_and_the_allow_list_resolve():
    from btgym.envs import MultiDiscreteEnv, PortfolioEnv

    cls, _ = env_from_checkpoint({"env_kwargs": {"env_class": "MultiDiscreteEnv"}})
    assert cls is MultiDiscreteEnv
    name = f"{PortfolioEnv.__module__}:PortfolioEnv"
    with pytest.raises(CheckpointError):  # even a btgym module, if named by path
        env_from_checkpoint({"env_kwargs": {"env_class": name}})
    cls, _ = env_from_checkpoint({"env_kwargs": {"env_class": name}}, trusted_classes=[name])
    assert cls is PortfolioEnv  # a "module:Class" the user typed
    cls, _ = env_from_checkpoint({"env_kwargs": {"env_class": name}}, [PortfolioEnv])
    assert cls is PortfolioEnv  # a class object on the allow-list
    assert trusted_class("PortfolioEnv", "env class", {"PortfolioEnv": name}) is PortfolioEnv


DISK_FULL = textwrap.dedent(
    """
    import resource, signal, sys, torch
    from btgym.algorithms.common.checkpoint import save_checkpoint
    from btgym.errors import CheckpointError
    path = sys.argv[1]
    save_checkpoint(path, {"model": {"w": torch.zeros(10)}})
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG)
    resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))
    try:
        save_checkpoint(path, {"model": {"w": torch.zeros(1_000_000)}})
    except CheckpointError as exc:
        print("CheckpointError:", exc)
    """
)


def test_full_disk_keeps_the_previous_checkpoint_and_no_temp_file(tmp_path):
    path = tmp_path / "run" / "checkpoint.pt"
    out = subprocess.run(
        [sys.executable, "-c", DISK_FULL, str(path)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("CheckpointError:") and str(path) in out.stdout
    assert list(path.parent.glob(".*.tmp")) == []
    assert load_checkpoint(path)["model"]["w"].numel() == 10  # the previous one, intact


def test_stale_temp_files_are_cleaned_at_the_next_save(tmp_path):
    path = tmp_path / "checkpoint.pt"
    stale = tmp_path / ".checkpoint.pt.999999999.tmp"  # a writer that is gone
    stale.write_bytes(b"torn")
    live = tmp_path / f".checkpoint.pt.{os.getppid()}.tmp"  # a live writer's: kept
    live.write_bytes(b"in progress")
    save_checkpoint(path, {"model": {"w": torch.ones(3)}})
    assert not stale.exists() and live.exists()
    stale.write_bytes(b"torn")
    load_checkpoint(path)  # and at resume
    assert not stale.exists()


def test_read_only_logdir_is_a_named_error_before_training(tmp_path):
    with read_only_dir(tmp_path) as ro:
        with pytest.raises(CheckpointError, match=str(ro)):
            save_checkpoint(ro / "checkpoint.pt", {"model": {}})
        with pytest.raises(LogdirError, match="not writable"):
            check_logdir(ro / "run")
        from btgym.algorithms.common.logger import MetricLogger

        with pytest.raises(LogdirError, match="not writable"):
            MetricLogger(ro)
        from btgym.algorithms import A3C

        with pytest.raises(LogdirError):  # before any env or data server starts
            A3C(env_kwargs={"filename": "never-read.csv"}, logdir=ro / "run")
        assert os.listdir(ro) == []


TB_FULL = textwrap.dedent(
    """
    import resource, signal, sys
    from btgym.algorithms.common.logger import MetricLogger
    from btgym.errors import LogdirError
    logger = MetricLogger(sys.argv[1])
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))
    try:
        for i in range(20_000):
            logger.scalar("x/y", float(i), i)
            if i % 1000 == 0:
                logger.flush()
        logger.close()
    except LogdirError as exc:
        print("LogdirError:", exc)
    """
)


def test_tensorboard_writer_failure_is_a_named_error(tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", TB_FULL, str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert "LogdirError: TensorBoard writer for" in out.stdout, out.stdout + out.stderr
    assert str(tmp_path) in out.stdout
