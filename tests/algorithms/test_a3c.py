"""A3C on the real BTgymEnv (sine sample): summaries, checkpoints, resume, seeding, faults."""

from __future__ import annotations

import functools
import shutil

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from btgym.algorithms import A3C, Tags
from btgym.algorithms.common.checkpoint import load_checkpoint
from btgym.algorithms.common.logger import worker_tag
from btgym.errors import RemoteError
from tests.algorithms.conftest import sine_env_kwargs
from tests.algorithms.toy_env import ExplodingEnv, ToyTradingEnv, slow_toy

pytestmark = pytest.mark.slow

STEPS = 500


def _events(logdir) -> EventAccumulator:
    acc = EventAccumulator(str(logdir), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return acc


@pytest.fixture(scope="module")
def a3c_run(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("a3c")
    with A3C(
        env_kwargs=sine_env_kwargs(),
        logdir=logdir,
        num_workers=2,
        total_steps=STEPS,
        seed=0,
        checkpoint_every=150,
        log_every=50,
        image_every=3,
    ) as algo:
        result = algo.train()
    return logdir, result


def test_two_workers_write_every_tag_and_a_checkpoint(a3c_run, no_children_left):
    logdir, result = a3c_run
    assert result.steps >= STEPS and result.episodes >= 4 and not result.interrupted
    acc = _events(logdir)
    scalars = set(acc.Tags()["scalars"])
    episode_tags = [
        Tags.EPISODE_RETURN,
        Tags.EPISODE_LENGTH,
        Tags.EPISODE_BROKER_VALUE,
        Tags.EPISODE_MAX_DRAWDOWN,
    ]
    for tag in [*episode_tags, *Tags.TRAIN]:
        assert tag in scalars, tag
    for worker in (0, 1):
        for tag in episode_tags:
            assert worker_tag(worker, tag) in scalars, worker_tag(worker, tag)
    assert acc.Scalars(Tags.EPISODE_BROKER_VALUE)[0].value > 0
    assert Tags.EPISODE_IMAGE in acc.Tags()["images"]
    assert "_hparams_/experiment" in acc.PluginTagToContent("hparams")
    ckpt = load_checkpoint(result.checkpoint)
    assert ckpt["algo"] == "a3c" and ckpt["counters"]["env_steps"] == result.steps
    assert ckpt["counters"]["episodes"] == result.episodes
    assert len(ckpt["worker_rng"]) == 2 and all(s is not None for s in ckpt["worker_rng"])
    assert all(s["reward_norm"]["count"] > 1 for s in ckpt["worker_rng"])
    assert ckpt["env_kwargs"]["filename"].endswith(".csv")
    assert set(ckpt["optimizer"]["state"][0]) == {"step", "exp_avg", "exp_avg_sq"}


def test_resume_continues_steps_episodes_and_optimizer(a3c_run, tmp_path, no_children_left):
    src, first = a3c_run
    logdir = tmp_path / "run"
    shutil.copytree(src, logdir)
    before = load_checkpoint(logdir)
    with A3C(env_kwargs=sine_env_kwargs(), logdir=logdir, num_workers=2, seed=0) as algo:
        result = algo.train(total_steps=first.steps + 200, resume=True)
    after = load_checkpoint(result.checkpoint)
    assert result.steps >= first.steps + 200
    assert after["counters"]["episodes"] > before["counters"]["episodes"]
    assert after["counters"]["updates"] > before["counters"]["updates"]
    assert after["counters"]["wall_time"] > before["counters"]["wall_time"]
    step_before = before["optimizer"]["state"][0]["step"].item()
    assert after["optimizer"]["state"][0]["step"].item() > step_before
    # reward statistics carried on, not restarted: a restart would drop a worker's count
    # to ~1e-4. Each worker's count is kept (an async worker may get no rollout in 200
    # steps, so per-worker growth is not guaranteed), and together they grew.
    counts = [
        (
            before["worker_rng"][w]["reward_norm"]["count"],
            after["worker_rng"][w]["reward_norm"]["count"],
        )
        for w in (0, 1)
    ]
    assert all(a >= b > 1.0 for b, a in counts)
    assert sum(a for _, a in counts) > sum(b for b, _ in counts)
    steps = [e.step for e in _events(logdir).Scalars(Tags.STEPS_PER_SEC)]
    assert max(steps) >= first.steps + 200


def _first_update(logdir, seed: int) -> dict[str, torch.Tensor]:
    with A3C(
        env_kwargs=sine_env_kwargs(),
        logdir=logdir,
        num_workers=1,
        total_steps=1,
        rollout_steps=16,
        seed=seed,
    ) as algo:
        result = algo.train()
    assert result.updates == 1 and result.steps == 16
    return load_checkpoint(result.checkpoint)["model"]


def test_same_seed_and_one_worker_give_identical_first_updates(tmp_path, no_children_left):
    a = _first_update(tmp_path / "a", seed=5)
    b = _first_update(tmp_path / "b", seed=5)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_a_failing_worker_is_reported_with_its_traceback(tmp_path, no_children_left):
    fns = [functools.partial(ToyTradingEnv), functools.partial(ExplodingEnv)]
    algo = A3C(fns, logdir=tmp_path, num_workers=2, total_steps=10_000, seed=0)
    with pytest.raises(RemoteError, match="boom in the env") as err:
        algo.train()
    assert "ExplodingEnv" in err.value.remote_traceback or "step" in err.value.remote_traceback
    assert load_checkpoint(tmp_path)["algo"] == "a3c"  # exit checkpoint still written


def test_workers_start_stepping_together(tmp_path, no_children_left):
    """A worker whose env takes 3 s to make still gets its share: none steps before
    all are ready (else the first spends the whole budget alone)."""
    fns = [functools.partial(ToyTradingEnv), functools.partial(slow_toy, 3.0)]
    with A3C(fns, logdir=tmp_path, num_workers=2, total_steps=400, seed=0) as algo:
        result = algo.train()
    assert result.steps >= 400
    counts = [s["reward_norm"]["count"] for s in load_checkpoint(result.checkpoint)["worker_rng"]]
    assert all(c >= 40 for c in counts), counts  # both stepped (each ~200 of the 400)


def test_lstm_policy_with_the_torch_rollout_path(tmp_path, no_children_left):
    """The worker path a GPU model takes (torch actor), with recurrent state carried
    across rollouts and reset at episode starts; fast toy env."""
    fn = functools.partial(ToyTradingEnv, length=30)
    with A3C(
        fn,
        logdir=tmp_path,
        num_workers=1,
        total_steps=150,
        seed=0,
        rollout_steps=8,
        rollout_actor="torch",
        policy={"lstm": True, "lstm_size": 16},
    ) as algo:
        result = algo.train()
    assert result.steps >= 150 and result.episodes >= 4 and result.updates >= 19
    assert load_checkpoint(result.checkpoint)["policy_spec"]["config"]["lstm"] is True
