"""``btgym live model|read`` (acceptance 12)."""

from __future__ import annotations

import json
import os
import signal
import threading

import numpy as np
import pytest

from btgym.cli import main
from btgym.live.reader import SignalReader

from .conftest import start_server
from .helpers import wait_for


@pytest.fixture(autouse=True)
def keep_torch_threads():
    """``btgym live`` sets one torch thread for its process; give the suite its own back."""
    import torch

    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_live_model_replay_then_read(shared_redis, live_name, model_dirs, eurusd, tmp_path, capsys):
    i = int(np.searchsorted(eurusd.index, np.datetime64("2017-01-16T10:00", "ns").astype(np.int64)))
    history, replay = tmp_path / "history.csv", tmp_path / "replay.csv"
    rows = [
        f"{np.datetime64(int(t), 'ns').astype('datetime64[s]').item():%Y%m%d %H%M%S};"
        + ";".join(repr(float(x)) for x in v[:4])
        + ";0\n"
        for t, v in zip(eurusd.index, eurusd.values["EURUSD"])
    ]
    history.write_text("".join(rows[i - 400 : i]))
    replay.write_text("".join(rows[i : i + 200]))
    code = main(
        [
            "live",
            "model",
            str(model_dirs["mlp20"]),
            "--replay",
            str(replay),
            "--speed",
            "max",
            "--history",
            str(history),
            "--max-bars",
            "50",
            "--redis",
            shared_redis.url,
            "--name",
            live_name,
            "--timezone",
            "Etc/GMT+5",
            "-q",
        ]
    )
    assert code == 0
    assert len(SignalReader(shared_redis.url, name=live_name).read(count=1000)) == 50
    capsys.readouterr()
    assert main(["live", "read", live_name, "--redis", shared_redis.url, "--from", "0-0"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 50 and [json.loads(x)["seq"] for x in out] == list(range(1, 51))
    assert json.loads(out[0])["bar_open"] == "2017-01-16T15:00:00.000Z"


def test_live_model_refuses_without_clock_and_redacts(live_name, model_dirs, eurusd_path, capsys):
    server = start_server(password="sekrit-pw")
    try:
        args = [
            "live",
            "model",
            str(model_dirs["tiny"]),
            "--replay",
            str(eurusd_path),
            "--speed",
            "max",
            "--max-bars",
            "5",
            "--name",
            live_name,
            "-q",
            "--redis",
        ]
        assert main([*args, server.url]) == 1
        assert "pass --timezone; HistData is Etc/GMT+5, or UTC" in capsys.readouterr().err
        wrong = server.url.replace("sekrit-pw", "sekrit-wrong")
        assert main([*args, wrong, "--timezone", "UTC"]) == 1
        err = capsys.readouterr().err
        assert "sekrit" not in err and "***" in err
        loud = [a for a in args if a != "-q"]  # the status line and summary are printed
        assert main([*loud, server.url, "--timezone", "UTC"]) == 0
        err = capsys.readouterr().err
        assert "5 bars, 5 signals" in err and "sekrit" not in err
        hb = SignalReader(server.url, name=live_name).heartbeat()
        assert "sekrit" not in hb.to_json()
    finally:
        server.stop()


def test_live_model_from_a_users_source_factory(shared_redis, live_name, model_dirs, capsys):
    code = main(
        [
            "live",
            "model",
            str(model_dirs["tiny"]),
            "--source",
            "tests.live.feeds:eurusd_feed",
            "--redis",
            shared_redis.url,
            "--name",
            live_name,
            "--timezone",
            "Etc/GMT+5",
        ]
    )
    assert code == 0
    assert "20 bars, 20 signals" in capsys.readouterr().err
    assert SignalReader(shared_redis.url, name=live_name).latest().seq == 20
    again = [
        "live",
        "model",
        str(model_dirs["tiny"]),
        "--source",
        "tests.live.feeds:eurusd_feed",
        "--redis",
        shared_redis.url,
        "--name",
        live_name,
        "--timezone",
        "Etc/GMT+5",
        "-q",
    ]
    assert main(again) == 0  # the same bars again: already in the stream, nothing new
    assert len(SignalReader(shared_redis.url, name=live_name).read()) == 20
    assert main([*again, "--reset"]) == 0  # keys deleted first: published afresh
    entries = SignalReader(shared_redis.url, name=live_name).read()
    assert len(entries) == 20 and entries[0][1].seq == 1


def test_sigterm_finishes_flushes_and_exits_0(
    shared_redis, live_name, model_dirs, eurusd_path, tmp_path, capsys
):
    """SIGTERM to this very process while ``btgym live model --tail`` runs in its main
    thread: the handler the CLI installs stops the runner after the current bar."""
    lines = eurusd_path.read_text().splitlines(keepends=True)
    feed = tmp_path / "feed.csv"
    feed.write_text("".join(lines[:50]))
    before = signal.getsignal(signal.SIGTERM)
    reader = SignalReader(shared_redis.url, name=live_name)

    def drive() -> None:
        wait_for(
            lambda: signal.getsignal(signal.SIGTERM) is not before,
            timeout=60,
            what="the CLI's SIGTERM handler",
        )
        with open(feed, "a") as fh:
            fh.writelines(lines[50:53])
        wait_for(lambda: len(reader.read()) == 3, what="3 signals")
        os.kill(os.getpid(), signal.SIGTERM)

    driver = threading.Thread(target=drive, daemon=True)
    driver.start()
    code = main(
        [
            "live",
            "model",
            str(model_dirs["tiny"]),
            "--tail",
            str(feed),
            "--redis",
            shared_redis.url,
            "--name",
            live_name,
            "--timezone",
            "Etc/GMT+5",
        ]
    )
    driver.join(10)
    assert code == 0 and signal.getsignal(signal.SIGTERM) is before
    assert reader.heartbeat().state == "stopped"
    assert "3 bars, 3 signals" in capsys.readouterr().err


def test_live_model_of_a_registry_run_logs_live_metrics(
    shared_redis, live_name, model_dirs, eurusd_path, tmp_path
):
    import shutil
    from pathlib import Path

    from btgym.experiments.registry import Registry

    url = f"sqlite:///{tmp_path / 'registry.sqlite'}"
    reg = Registry(url, artifact_root=tmp_path / "runs")
    run = reg.create_run("live-test", {"model": {"class": "MLPClassifier"}}, kind="supervised")
    shutil.copytree(model_dirs["mlp20"], Path(run.run_dir) / "model")
    code = main(
        [
            "live",
            "model",
            run.id,
            "--registry",
            url,
            "--replay",
            str(eurusd_path),
            "--speed",
            "max",
            "--max-bars",
            "400",
            "--redis",
            shared_redis.url,
            "--name",
            live_name,
            "--timezone",
            "Etc/GMT+5",
            "-q",
        ]
    )
    assert code == 0
    latest = SignalReader(shared_redis.url, name=live_name).latest()
    assert latest.source["run_id"] == run.id and latest.source["sha256"]
    live = reg.metrics(run.id)
    live = live[live["split"] == "live"]
    assert {"acc", "n"} <= set(live["key"]) and len(live) >= 4


def test_live_policy_replay(shared_redis, live_name, eurusd_path, tmp_path, capsys):
    from .policies import make_checkpoint

    checkpoint = make_checkpoint(tmp_path / "run" / "checkpoint.pt")
    code = main(
        [
            "live",
            "policy",
            str(checkpoint.parent),
            "--replay",
            str(eurusd_path),
            "--speed",
            "max",
            "--max-bars",
            "60",
            "--session-bars",
            "45",
            "--redis",
            shared_redis.url,
            "--name",
            live_name,
            "--timezone",
            "Etc/GMT+5",
        ]
    )
    assert code == 0
    signals = [s for _, s in SignalReader(shared_redis.url, name=live_name).read()]
    assert len(signals) == 60 - 29 and signals[0].kind == "policy"  # 29 bars of warm-up
    assert [s.policy.session for s in signals][-1] == 2  # 16 decisions per session
    assert signals[0].source["checkpoint"].endswith("checkpoint.pt")
    assert "60 bars, 31 signals" in capsys.readouterr().err
