"""Using a trained policy: load it from a checkpoint, run test episodes."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from btgym.algorithms.common.checkpoint import load_checkpoint
from btgym.algorithms.common.device import resolve_device
from btgym.algorithms.common.monitor import STATS_KEY, EpisodeMonitor
from btgym.algorithms.common.policies import ActorCritic

#: reset options that ask a btgym env for a test episode (``sample_type=1``)
TEST_EPISODE = {
    "trial_config": {"get_new": True, "sample_type": 1},
    "episode_config": {"get_new": True, "sample_type": 1},
}


@dataclass(frozen=True)
class EpisodeResult:
    """One evaluated episode."""

    episode_return: float
    length: int
    broker_value: float
    max_drawdown: float
    trades: int


def load_policy(path: str | os.PathLike, device: str = "cpu") -> ActorCritic:
    """The trained policy of a checkpoint (file or run logdir), in eval mode.

    Raises:
        CheckpointError: missing or unreadable checkpoint.
    """
    dev = resolve_device(device)
    ckpt = load_checkpoint(path, map_location=dev)
    policy = ActorCritic.from_spec(ckpt["policy_spec"])
    policy.load_state_dict(ckpt["model"])
    return policy.to(dev).eval()


def evaluate(
    policy: ActorCritic,
    env: gym.Env,
    episodes: int = 1,
    *,
    deterministic: bool = True,
    reset_options: dict[str, Any] | None = None,
    seed: int | None = None,
) -> list[EpisodeResult]:
    """Run ``episodes`` full episodes of ``policy`` on ``env``.

    Args:
        policy: e.g. from :func:`load_policy`.
        env: a btgym env (or any env with the policy's spaces); not closed here.
        deterministic: take the most likely action instead of sampling.
        reset_options: passed to every ``reset`` (e.g. :data:`TEST_EPISODE`).
        seed: seeds the first reset.
    """
    monitored = EpisodeMonitor(env)
    results = []
    for n in range(episodes):
        obs, _ = monitored.reset(seed=seed if n == 0 else None, options=reset_options)
        state, start = None, True
        while True:
            with torch.no_grad():
                action, state = policy.predict(obs, state, start, deterministic)
            start = False
            obs, _, terminated, truncated, info = monitored.step(action)
            if terminated or truncated:
                s = info[STATS_KEY]
                results.append(
                    EpisodeResult(
                        episode_return=float(s["return"]),
                        length=int(s["length"]),
                        broker_value=float(s["broker_value"]),
                        max_drawdown=float(s["max_drawdown"]),
                        trades=int(s["trades"]),
                    )
                )
                break
    return results


def summarize(results: list[EpisodeResult]) -> dict[str, float]:
    """Means over episodes."""
    if not results:
        return {}
    return {
        "episodes": float(len(results)),
        "mean_return": float(np.mean([r.episode_return for r in results])),
        "mean_broker_value": float(np.mean([r.broker_value for r in results])),
        "mean_max_drawdown": float(np.mean([r.max_drawdown for r in results])),
        "mean_trades": float(np.mean([r.trades for r in results])),
    }
