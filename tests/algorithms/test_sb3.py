"""Stable-Baselines3 PPO (MultiInputPolicy) trains on BTgymEnv through SB3's SubprocVecEnv
(the env form is btgym.wrappers.sb3.SB3Env: tests/wrappers/test_sb3.py)."""

from __future__ import annotations

import pytest

from btgym.algorithms.common.sb3 import sb3_env_fns
from btgym.envs.vector import make_env_fns
from tests.algorithms.conftest import sine_env_kwargs

pytestmark = pytest.mark.slow


def test_sb3_ppo_multiinput_trains_on_btgym_subproc_vec_env(tmp_path, no_children_left):
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import SubprocVecEnv

    fns = make_env_fns(2, **sine_env_kwargs())
    venv = SubprocVecEnv(sb3_env_fns(fns), start_method="spawn")
    try:
        model = PPO(
            "MultiInputPolicy", venv, n_steps=512, batch_size=256, n_epochs=2, seed=0, device="cpu"
        )
        before = {k: v.clone() for k, v in model.policy.state_dict().items()}
        model.learn(total_timesteps=2048)
        assert model.num_timesteps >= 2048
        changed = [k for k, v in model.policy.state_dict().items() if not v.equal(before[k])]
        assert changed  # it learned something
        obs = venv.reset()
        actions, _ = model.predict(obs, deterministic=True)
        assert actions.shape == (2,) and set(actions.tolist()) <= {0, 1, 2, 3}
    finally:
        venv.close()
        fns.close()
