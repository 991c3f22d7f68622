"""The Ray backend on a local Ray (``ray.init(num_cpus=2)``): one session for the module.

A worker actor killed mid-run is restarted and training goes on (at most one rollout
lost); PPO on Ray writes the local PPO's tags and checkpoints and resumes; the data
servers of the workers keep train/test apart and take a broadcast; ``btgym train
--backend ray`` runs end to end.
"""

from __future__ import annotations

import os
import signal

import pytest

ray = pytest.importorskip("ray")

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

from btgym.algorithms import PPO, Tags  # noqa: E402
from btgym.algorithms.common.checkpoint import load_checkpoint  # noqa: E402
from btgym.algorithms.distributed import RayA3C, RayConfig, RayPPO  # noqa: E402
from btgym.errors import ConfigError, UnknownKeywordError  # noqa: E402
from tests.algorithms.ray_support import local_ray, ray_env_kwargs  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ray_local():
    with local_ray(ray) as r:
        yield r


def _tags(logdir) -> set[str]:
    acc = EventAccumulator(str(logdir), size_guidance={"scalars": 0})
    acc.Reload()
    return set(acc.Tags()["scalars"])


def test_ray_config_checks_its_keywords():
    with pytest.raises(UnknownKeywordError, match="max_restart"):
        RayConfig.from_keywords(max_restart=2)
    with pytest.raises(ConfigError):
        RayConfig(envs_per_worker=0)


def test_a3c_worker_killed_mid_run_is_restarted_and_training_goes_on(ray_local, tmp_path):
    seen: dict[str, int] = {}

    def callback(progress):
        pool = algo.pool
        if pool is None or not pool.info:
            return None
        if "killed" not in seen and progress.steps > 600:
            seen["killed"] = pool.info[0]["pid"]
            os.kill(seen["killed"], signal.SIGKILL)
        elif "killed" in seen and "reborn" not in seen and pool.info[0]["pid"] != seen["killed"]:
            seen["reborn"], seen["reborn_at"] = pool.info[0]["pid"], progress.steps
        # stop once the restarted worker has taken part for a while
        return not ("reborn" in seen and progress.steps > seen["reborn_at"] + 300)

    algo = RayA3C(
        env_kwargs=ray_env_kwargs(),
        logdir=tmp_path,
        num_workers=2,
        total_steps=30_000,
        seed=0,
        checkpoint_every=1000,
        ray_config={"max_restarts": 2},
    )
    with algo:
        result = algo.train(callback=callback)
    assert "killed" in seen, "the run ended before a worker could be killed"
    assert "reborn" in seen, "the killed worker never answered again"
    assert result.steps < 30_000 and not result.interrupted
    assert algo.lost_rollouts <= 1
    ckpt = load_checkpoint(result.checkpoint)
    assert ckpt["algo"] == "a3c" and ckpt["counters"]["env_steps"] == result.steps
    assert len(ckpt["worker_rng"]) == 2 and all(s is not None for s in ckpt["worker_rng"])
    assert {Tags.EPISODE_RETURN, Tags.POLICY_LOSS, Tags.STEPS_PER_SEC} <= _tags(tmp_path)


def _test_start_ns() -> int:
    """Start of the sine's held-out test day (its last 24 hours), in ns."""
    import pandas as pd

    from btgym.datafeed import sample_data_path

    last_line = sample_data_path("sine").read_text().splitlines()[-1]
    last = pd.to_datetime(last_line.split(";")[0], format="%Y%m%d %H%M%S")
    return (last - pd.Timedelta(hours=23)).value


def test_a3c_resume_and_the_workers_data_servers(ray_local, tmp_path):
    """A3C resumes on Ray; meanwhile each worker's own data server has served train
    trials only (the split holds on every server), global time is their latest, and a
    broadcast reaches them all."""
    seen: dict[str, object] = {}

    def callback(progress):
        # the first report comes while the workers run (each has reset its env: its data
        # server has served a train trial already)
        if "infos" not in seen and algo.pool is not None:
            seen["infos"] = algo._data_infos()
            seen["time"] = algo.global_time()
            seen["broadcast"] = algo.broadcast({"regime": "calm"})

    kw = dict(env_kwargs=ray_env_kwargs(), logdir=tmp_path, num_workers=2, seed=1)
    with RayA3C(total_steps=600, **kw) as algo:
        first = algo.train(callback=callback)
    assert "infos" in seen, "the run ended before its data servers were asked"
    c1 = load_checkpoint(first.checkpoint)["counters"]
    with RayA3C(total_steps=1100, **kw) as algo:
        second = algo.train(resume=True)
    c2 = load_checkpoint(second.checkpoint)["counters"]
    assert second.steps >= 1100 > c1["env_steps"] >= 600
    assert c2["updates"] > c1["updates"] and c2["episodes"] >= c1["episodes"]

    infos = seen["infos"]
    assert len(infos) == 2 and len({i["pid"] for i in infos}) == 2  # one server per worker
    assert all(i["served_by_type"].get("1", 0) == 0 for i in infos)  # train trials only
    assert all(i["global_time"] < _test_start_ns() for i in infos)
    # the latest over the servers (asked a moment later: a new trial may have come since)
    assert max(i["global_time"] for i in infos) <= seen["time"] < _test_start_ns()
    assert [b["message"] for b in seen["broadcast"]] == [{"regime": "calm"}] * 2
    with pytest.raises(ConfigError, match="only while train"):
        algo.global_time()


def test_ppo_on_ray_writes_the_local_tags_and_checkpoint_a_local_run_resumes(ray_local, tmp_path):
    kw = dict(
        env_kwargs=ray_env_kwargs(),
        logdir=tmp_path,
        num_envs=2,
        n_steps=32,
        seed=0,
        ray_config={"envs_per_worker": 1},
    )
    with RayPPO(total_steps=256, **kw) as algo:
        first = algo.train()
    assert first.steps == 256 and first.updates == 4 and first.episodes >= 1
    expected = {
        Tags.EPISODE_RETURN,
        Tags.EPISODE_BROKER_VALUE,
        Tags.POLICY_LOSS,
        Tags.VALUE_LOSS,
        Tags.ENTROPY,
        Tags.LEARNING_RATE,
        Tags.STEPS_PER_SEC,
        "train/approx_kl",
    }
    assert expected <= _tags(tmp_path)
    # the checkpoint is the local PPO's: a local (in-process vector env) run resumes it
    local_kw = {k: v for k, v in kw.items() if k != "ray_config"}
    with PPO(total_steps=320, vec_env="sync", **local_kw) as algo:
        second = algo.train(resume=True)
    ckpt = load_checkpoint(second.checkpoint)
    assert ckpt["algo"] == "ppo" and ckpt["counters"]["env_steps"] == 320
    assert ckpt["counters"]["updates"] == 5 and "reward_norm" in ckpt


def test_cli_train_backend_ray(ray_local, tmp_path, capsys):
    from btgym.cli import main

    argv = ["train", "--backend", "ray", "--workers", "2", "--steps", "200", "--no-image"]
    argv += ["--logdir", str(tmp_path), "--seed", "0"]  # process-mode servers in the actors
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "A3C done" in out and (tmp_path / "checkpoint.pt").is_file()
    assert main(["train", "--address", "auto", "--steps", "10", "--logdir", str(tmp_path)]) == 1
    assert "--address needs --backend ray" in capsys.readouterr().err
