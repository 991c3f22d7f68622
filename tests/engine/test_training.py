"""btgym's A3C and PPO train on the vector engine (``EngineEnv`` through ``env_fns``);
SB3 is covered in ``test_env.py`` (``SB3VecEnv``). A3C spawns its worker process
(slow on a loaded machine: marked slow; it runs in CI)."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from btgym.algorithms import A3C, PPO
from btgym.algorithms.evaluation import evaluate, load_policy
from btgym.engine import EngineEnv


def sine_kwargs(shared_data):
    return dict(
        filename=str(shared_data / "test_sine_1min_period256_delta0002.csv"),
        parsing_params={"header": 0},
        episode_duration={"hours": 1, "minutes": 30},
        start_00=False,
        start_weekdays=[0, 1, 2, 3, 4, 5, 6],
        broker_commission=0.0,
        shortcash=False,
        state_shape={"raw": ((30, 4), 0.0, 10.0), "internal": ((7,), -100.0, 100.0)},
    )


@pytest.mark.parametrize("algo", [pytest.param("a3c", marks=pytest.mark.slow), "ppo"])
def test_btgym_trainers_run_on_the_vector_engine(shared_data, tmp_path, algo):
    fn = functools.partial(EngineEnv, **sine_kwargs(shared_data))
    if algo == "a3c":
        trainer = A3C(
            [fn], logdir=tmp_path, num_workers=1, total_steps=300, rollout_steps=20, seed=0
        )
    else:
        trainer = PPO(
            [fn, fn],
            logdir=tmp_path,
            num_envs=2,
            vec_env="sync",
            n_steps=64,
            n_epochs=1,
            total_steps=256,
            seed=0,
        )
    with trainer:
        result = trainer.train()
    assert result.steps >= 256 and result.episodes >= 1
    policy = load_policy(result.checkpoint)
    env = fn()
    scores = evaluate(policy, env, 1, seed=0)
    assert np.isfinite(scores[0].episode_return)
