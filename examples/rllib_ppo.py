"""RLlib PPO on btgym's envs, unchanged: ``BTgymEnv`` or ``MultiDiscreteEnv``.

:func:`btgym.integrations.rllib.register_envs` registers btgym's ids with Ray Tune
(``tune.register_env``); ``env_config`` holds the env's keywords. Each EnvRunner
actor steps its envs with the in-process backtrader server (one process per
EnvRunner plus each env's data server). RLlib's default models take flat vectors, so
the helper ``ppo_config`` adds a ``FlattenObservations`` connector: the env's Dict
observations reach the network flattened.

Run: ``python examples/rllib_ppo.py [--env btgym/MultiDiscrete-v0] [--iterations 5]
[--runners 2] [--address auto]`` (``pip install "btgym[ray]"``).
"""

from __future__ import annotations

import argparse

import ray

from btgym.datafeed import sample_data_path
from btgym.integrations.rllib import ENV_NAMES, ppo_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", choices=sorted(ENV_NAMES), default="btgym/Backtrader-v0")
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--runners", type=int, default=1, help="EnvRunner actors")
    parser.add_argument("--data", default=None, help="bar CSV (default: the shipped sine)")
    parser.add_argument("--address", default=None, help="a Ray cluster (default: local Ray)")
    args = parser.parse_args()

    env_config = {
        "filename": args.data or str(sample_data_path("sine")),
        "episode_duration": {"days": 0, "hours": 8, "minutes": 32},
        "start_00": False,
        "start_weekdays": [0, 1, 2, 3, 4, 5, 6],
        "broker_commission": 0.0,
        "shortcash": False,
    }
    if args.data is None:
        env_config["parsing_params"] = {"header": 0}
    ray.init(address=args.address or "local", include_dashboard=False)
    try:
        config = (
            ppo_config(args.env, env_config, train_batch_size_per_learner=1024, lr=3e-4)
            .env_runners(num_env_runners=args.runners, num_envs_per_env_runner=1)
            .learners(num_learners=0)
        )
        algo = config.build_algo()
        try:
            for i in range(args.iterations):
                stats = algo.train()["env_runners"]
                print(
                    f"iteration {i + 1}: {int(stats['num_env_steps_sampled_lifetime'])} steps, "
                    f"episode return {stats.get('episode_return_mean', float('nan')):.4g}",
                    flush=True,
                )
        finally:
            algo.stop()
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
