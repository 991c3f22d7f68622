"""SB3 PPO on btgym.integrations.sb3.SB3VecEnv (the vector engine's lanes), wrapped in
VecNormalize as the sine benchmark and docs/scaling.md use it."""

from __future__ import annotations

import numpy as np
import pytest

from tests.algorithms.conftest import sine_env_kwargs

pytest.importorskip("stable_baselines3")


def _train(seed: int):
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecNormalize

    from btgym.integrations.sb3 import SB3VecEnv

    venv = SB3VecEnv(num_envs=4, **sine_env_kwargs())
    venv.seed(seed)
    env = VecNormalize(venv, norm_obs=True, norm_reward=True)
    model = PPO(
        "MultiInputPolicy", env, n_steps=64, batch_size=128, n_epochs=2, seed=seed, device="cpu"
    )
    model.learn(512)
    return model, env


def test_sb3_ppo_trains_on_the_vector_engine_adapter():
    model, env = _train(seed=0)
    try:
        assert model.num_timesteps == 512
        assert env.obs_rms["raw"].count > 500  # observations normalised as they came
        obs = env.reset()
        ends = 0
        for _ in range(40):  # the 60-bar sine episodes end after 30 steps
            actions, _ = model.predict(obs, deterministic=True)
            obs, rewards, dones, infos = env.step(actions)
            for done, info in zip(dones, infos):
                if done:  # SB3's convention: the last observation travels in the info
                    ends += 1
                    assert set(info["terminal_observation"]) == {"raw", "internal"}
                    assert info["TimeLimit.truncated"] is True
        assert ends == 4
        assert np.all(np.isfinite(rewards))
    finally:
        env.close()


def test_sb3_ppo_on_the_adapter_is_deterministic_for_a_seed():
    first, env1 = _train(seed=1)
    second, env2 = _train(seed=1)
    try:
        a = first.policy.state_dict()
        b = second.policy.state_dict()
        assert all(a[k].equal(b[k]) for k in a)
    finally:
        env1.close()
        env2.close()
