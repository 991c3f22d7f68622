"""Stable-Baselines3 PPO on btgym: ``MultiInputPolicy`` over ``SubprocVecEnv``.

Two envs share one data server (``btgym.envs.make_env_fns``); SB3 cannot take a Dict
*action* space, so :func:`btgym.algorithms.common.sb3.sb3_env_fns` wraps each env
(one asset: ``Discrete(4)``; several: ``MultiDiscrete``; portfolio weights: ``Box``)
and drops the ``metadata`` observation entry. Then it is plain SB3.

Run: ``python examples/sb3_ppo.py [--steps 20000] [--data FILE] [--logdir runs/sb3]``
(``tensorboard --logdir runs/sb3`` shows SB3's own curves).
"""

from __future__ import annotations

import argparse

from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import SubprocVecEnv

from btgym.algorithms.common.sb3 import SB3ActionWrapper, sb3_env_fns
from btgym.datafeed import sample_data_path
from btgym.envs import BTgymEnv
from btgym.envs.vector import make_env_fns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--envs", type=int, default=2)
    parser.add_argument("--data", default=None, help="bar CSV (default: the shipped sine sample)")
    parser.add_argument("--logdir", default="runs/sb3")
    args = parser.parse_args()

    env_kw = dict(episode_duration={"days": 0, "hours": 8, "minutes": 32})
    if args.data:
        env_kw["filename"] = args.data
    else:
        env_kw.update(filename=str(sample_data_path("sine")), parsing_params={"header": 0})

    fns = make_env_fns(args.envs, **env_kw)  # one data server for all envs
    venv = SubprocVecEnv(sb3_env_fns(fns), start_method="spawn")
    try:
        model = PPO(
            "MultiInputPolicy",
            venv,
            n_steps=256,
            batch_size=128,
            seed=0,
            verbose=1,
            tensorboard_log=args.logdir,
        )
        model.learn(total_timesteps=args.steps)
        model.save(f"{args.logdir}/ppo_btgym")
    finally:
        venv.close()
        fns.close()

    # one greedy episode on a fresh env
    env = SB3ActionWrapper(BTgymEnv(**env_kw))
    try:
        obs, _ = env.reset(seed=1)
        total, done = 0.0, False
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            obs, reward, terminated, truncated, info = env.step(action)
            total += float(reward)
            done = terminated or truncated
        print(f"greedy episode: return {total:.4g}, final broker value {info['broker_value']:.2f}")
    finally:
        env.close()


if __name__ == "__main__":
    main()
