"""Stable-Baselines3 PPO on btgym: ``MultiInputPolicy``, episode rewards via ``VecMonitor``.

Two envs share one data server (``btgym.make_env_fns``); ``btgym.wrappers.sb3`` gives
each env the form SB3 takes as it is (one asset: ``Discrete(4)``; several:
``MultiDiscrete``; portfolio weights: a symmetric ``Box``; 1-D observation leaves; no
``metadata``). For a single env, ``gymnasium.make("btgym/Backtrader-v0", sb3=True,
...)`` does the same. ``VecMonitor`` records every episode's reward and length: SB3
prints them (``rollout/ep_rew_mean``) and this script prints each finished episode.

Run: ``python examples/sb3_ppo.py [--steps 4096] [--envs 2] [--data FILE] [--logdir DIR]``
(under a minute with the defaults on two idle cores; ``tensorboard --logdir runs/sb3``
shows SB3's curves when ``--logdir`` is given).
"""

from __future__ import annotations

import argparse
import functools
import time

from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import SubprocVecEnv, VecMonitor

import btgym
from btgym.wrappers import sb3

#: sine sample settings (as ``btgym train``'s demo): episodes of two sine periods.
SINE = dict(
    filename=str(btgym.sample_data_path("sine")),
    parsing_params={"header": 0},
    episode_duration={"days": 0, "hours": 8, "minutes": 32},
    start_00=False,
    start_weekdays=[0, 1, 2, 3, 4, 5, 6],
    broker_commission=0.0,
)


def sb3_env(fn):
    """A btgym env thunk's env, in SB3's form (runs in the SubprocVecEnv worker)."""
    return sb3(fn())


class PrintEpisodes(BaseCallback):
    """Prints the reward and length of every episode VecMonitor reports."""

    def _on_step(self) -> bool:
        for info in self.locals["infos"]:
            episode = info.get("episode")
            if episode is not None:
                print(f"episode: reward {episode['r']:+.5f}, {episode['l']} steps", flush=True)
        return True


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--steps", type=int, default=4096, help="PPO env steps in total")
    parser.add_argument("--envs", type=int, default=2, help="envs on one data server")
    parser.add_argument("--data", default=None, help="a bar CSV (default: the sine sample)")
    parser.add_argument("--logdir", default=None, help="TensorBoard dir (default: none)")
    args = parser.parse_args()

    env_kw = dict(SINE) if args.data is None else {"filename": args.data}
    t0 = time.monotonic()
    fns = btgym.make_env_fns(args.envs, **env_kw)  # one data server for all envs
    venv = VecMonitor(SubprocVecEnv([functools.partial(sb3_env, fn) for fn in fns]))
    try:
        model = PPO(
            "MultiInputPolicy",
            venv,
            n_steps=256,
            batch_size=128,
            n_epochs=4,
            seed=0,
            verbose=1,
            device="cpu",
            tensorboard_log=args.logdir,
        )
        model.learn(total_timesteps=args.steps, callback=PrintEpisodes())
    finally:
        venv.close()
        fns.close()
    rewards = [e["r"] for e in model.ep_info_buffer]
    if rewards:
        print(f"mean episode reward of the last {len(rewards)}: {sum(rewards) / len(rewards):+.5f}")

    # one greedy episode on a fresh env
    env = sb3(btgym.BTgymEnv(**env_kw))
    try:
        obs, _ = env.reset(seed=1)
        total, done = 0.0, False
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            obs, reward, terminated, truncated, info = env.step(action)
            total += float(reward)
            done = terminated or truncated
        print(f"greedy episode: reward {total:+.5f}, final broker value {info['broker_value']:.2f}")
    finally:
        env.close()
    print(f"done in {time.monotonic() - t0:.0f} s")


if __name__ == "__main__":
    main()
