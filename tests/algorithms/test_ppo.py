"""PPO on the real BTgymEnv (sine sample): summaries, checkpoints, resume, seeding."""

from __future__ import annotations

import functools
import shutil

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from btgym.algorithms import PPO, Tags
from btgym.algorithms.common.checkpoint import load_checkpoint
from btgym.algorithms.common.logger import worker_tag
from tests.algorithms.conftest import sine_env_kwargs
from tests.algorithms.toy_env import ToyTradingEnv

pytestmark = pytest.mark.slow

COMMON = dict(num_envs=2, n_steps=64, n_epochs=2, n_minibatches=2, checkpoint_every=128)


@pytest.fixture(scope="module")
def ppo_run(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("ppo")
    with PPO(
        env_kwargs=sine_env_kwargs(),
        logdir=logdir,
        total_steps=512,
        seed=0,
        image_every=2,
        vec_env="async",
        **COMMON,
    ) as algo:
        result = algo.train()
    return logdir, result


def test_vector_env_run_writes_every_tag_and_a_checkpoint(ppo_run, no_children_left):
    logdir, result = ppo_run
    assert result.steps == 512 and result.updates == 4 and result.episodes >= 4
    acc = EventAccumulator(str(logdir), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    scalars = set(acc.Tags()["scalars"])
    episode_tags = [
        Tags.EPISODE_RETURN,
        Tags.EPISODE_LENGTH,
        Tags.EPISODE_BROKER_VALUE,
        Tags.EPISODE_MAX_DRAWDOWN,
    ]
    for tag in [*episode_tags, *Tags.TRAIN]:
        assert tag in scalars, tag
    for env_index in (0, 1):
        assert worker_tag(env_index, Tags.EPISODE_RETURN) in scalars
    lrs = [e.value for e in acc.Scalars(Tags.LEARNING_RATE)]
    assert lrs[0] > lrs[-1] > 0  # linear schedule
    assert Tags.EPISODE_IMAGE in acc.Tags()["images"]
    ckpt = load_checkpoint(result.checkpoint)
    assert ckpt["algo"] == "ppo" and ckpt["counters"]["env_steps"] == 512
    assert "numpy" in ckpt["rng"] and "torch" in ckpt["rng"]
    assert ckpt["reward_norm"]["count"] > 500


def test_resume_continues_the_step_count(ppo_run, tmp_path, no_children_left):
    src, first = ppo_run
    logdir = tmp_path / "run"
    shutil.copytree(src, logdir)
    with PPO(env_kwargs=sine_env_kwargs(), logdir=logdir, seed=0, vec_env="sync", **COMMON) as algo:
        result = algo.train(total_steps=768, resume=True)
    after = load_checkpoint(result.checkpoint)
    assert result.steps == 768 and after["counters"]["updates"] == 6
    assert after["reward_norm"]["count"] > load_checkpoint(src)["reward_norm"]["count"]
    assert after["counters"]["episodes"] > first.episodes


def _first_update(logdir, seed: int) -> dict[str, torch.Tensor]:
    with PPO(
        env_kwargs=sine_env_kwargs(),
        logdir=logdir,
        total_steps=1,
        seed=seed,
        vec_env="sync",
        num_envs=1,
        n_steps=32,
        n_epochs=1,
        n_minibatches=2,
    ) as algo:
        algo.train()
    return load_checkpoint(logdir)["model"]


def test_same_seed_gives_identical_first_updates(tmp_path, no_children_left):
    a = _first_update(tmp_path / "a", seed=5)
    b = _first_update(tmp_path / "b", seed=5)
    c = _first_update(tmp_path / "c", seed=6)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)


@pytest.mark.parametrize("actor", ["numpy", "torch"])
def test_lstm_and_portfolio_policies_train_with_either_rollout_actor(tmp_path, actor):
    """Both rollout paths (the torch one is what a GPU model uses), recurrent state
    across time-limit truncations, Dirichlet weights; on the fast toy env."""
    for portfolio in (False, True):
        with PPO(
            functools.partial(ToyTradingEnv, length=20, portfolio=portfolio),
            logdir=tmp_path / str(portfolio),
            num_envs=2,
            vec_env="sync",
            n_steps=16,
            n_epochs=1,
            n_minibatches=2,
            total_steps=96,
            seed=0,
            rollout_actor=actor,
            policy={"lstm": True, "lstm_size": 16},
        ) as algo:
            result = algo.train()
        assert result.steps == 96 and result.episodes == 4  # 2 x 48 steps, 20-step episodes
        assert np.isfinite(result.mean_return)
