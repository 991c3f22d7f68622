"""RLlib PPO trains on btgym's envs, unchanged (a few iterations on a local Ray)."""

from __future__ import annotations

import numpy as np
import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("ray.rllib")

from btgym.integrations.rllib import ENV_NAMES, make_env, ppo_config, register_envs  # noqa: E402
from tests.algorithms.ray_support import local_ray, ray_env_kwargs  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ray_local():
    with local_ray(ray) as r:
        yield r


def test_register_envs_names_every_btgym_id(ray_local):
    from ray.tune.registry import ENV_CREATOR, _global_registry

    names = register_envs()
    assert set(names) == set(ENV_NAMES) >= {"btgym/Backtrader-v0", "btgym/MultiDiscrete-v0"}
    assert all(_global_registry.contains(ENV_CREATOR, n) for n in names)


def test_env_creator_defaults_to_the_inprocess_server():
    env_config = {k: v for k, v in ray_env_kwargs().items() if k != "server"}
    env = make_env("BTgymEnv", env_config)
    try:
        assert env.config["server"].mode == "inprocess"
        obs, _ = env.reset(seed=0)
        assert env.observation_space.contains(obs)
    finally:
        env.close()


@pytest.mark.parametrize(
    ("name", "runners"),
    [("btgym/Backtrader-v0", 1), ("btgym/MultiDiscrete-v0", 0)],
    ids=["BTgymEnv-on-an-EnvRunner-actor", "MultiDiscreteEnv-local-runner"],
)
def test_rllib_ppo_trains_on_btgym_envs(ray_local, name, runners):
    env_config = {k: v for k, v in ray_env_kwargs().items() if k != "server"}
    config = (
        ppo_config(
            name,
            env_config,
            train_batch_size_per_learner=128,
            minibatch_size=64,
            num_epochs=2,
        )
        .env_runners(num_env_runners=runners, num_envs_per_env_runner=1)
        .learners(num_learners=0)
        .debugging(seed=0)
    )
    algo = config.build_algo()
    try:
        results = [algo.train() for _ in range(2)]
    finally:
        algo.stop()
    runners_stats = results[-1]["env_runners"]
    assert runners_stats["num_env_steps_sampled_lifetime"] >= 2 * 128
    assert runners_stats["num_episodes_lifetime"] >= 1  # 120-bar episodes (90 steps)
    assert np.isfinite(runners_stats["episode_return_mean"])
    learner = results[-1]["learners"]["default_policy"]
    assert np.isfinite(learner["total_loss"])
