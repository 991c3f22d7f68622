"""Learning the sine on the vector engine vs the backtrader engine: score and wall time.

The task and scoring of ``benchmarks/learning_sine.py`` (sine data, 512-bar episodes,
no commission, ``shortcash=False``, mean return over 20 test episodes, greedy
actions, vs the hand-written oracle). In one run, on the same seeds, each agent
trains on the vector engine and on the backtrader engine with the same
hyperparameters:

- **a3c** (btgym's): ``--workers`` workers, ``--steps`` env steps, A3CConfig
  defaults; vector engine (``env_kwargs`` with ``engine="vector"``): each worker
  steps a 4-lane ``VectorBTgymEnv`` (``envs_per_worker`` default there), backtrader:
  one in-process server per worker;
- **ppo** (btgym's): ``--ppo-envs`` lanes (default 16), ``n_steps=128``,
  ``--ppo-steps`` env steps (other settings: PPOConfig defaults: 4 epochs of 4
  minibatches, lr 3e-4 linear to 0, GAE 0.95, clip 0.2, reward normalisation and
  per-window observation standardisation on); vector engine: one
  ``VectorBTgymEnv`` with all lanes; backtrader: ``BTgymVectorEnv``
  (``btgym.make_vec``'s) over that many process-mode servers;
- **sb3-ppo** (Stable-Baselines3 PPO, ``MultiInputPolicy``): ``--sb3-lanes`` lanes
  (default 16), ``n_steps=128``, ``batch_size=256``, ``--sb3-steps`` env steps, other
  settings SB3's defaults, on :class:`btgym.integrations.sb3.SB3VecEnv` wrapped in
  SB3's ``VecNormalize(norm_obs=True, norm_reward=True)``; vector engine:
  ``SB3VecEnv(num_envs=...)``; backtrader: ``btgym.make_vec(n, sb3=True)``.

Why ``VecNormalize`` (measured, see docs/scaling.md): the ``raw`` observation is
the price window, 1.1 +- 0.002 here, and a step's reward is a change of broker value
over the start cash, ~1e-5. btgym's PPO standardises each window in its encoder and
divides rewards by the running std of the return; SB3's defaults do neither. At 100k
steps, 16 lanes (``--agents sb3-ppo --engines vector --sb3-normalize none|obs|reward|both``):
raw 0 % of the oracle (it learns to hold), observations normalised only -33 %,
rewards normalised only -1 %, both 100 %.

Reports each agent's test return as a fraction of the oracle's and its training wall
time (env construction included); the vector engine's wall time over the backtrader
engine's for the same agent. Writes ``benchmarks/results/engine_learning.json``.

Usage: ``python benchmarks/engine_learning.py [--agents a3c ppo sb3-ppo] [--steps 100000]
[--ppo-steps 200000] [--sb3-steps 100000]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from learning_sine import EPISODE, env_kwargs, oracle_action

RESULTS = Path(__file__).resolve().parent / "results"
AGENTS = ("a3c", "ppo", "sb3-ppo")


def engine_kwargs() -> dict[str, Any]:
    kw = env_kwargs("inprocess", EPISODE)
    kw.pop("server")
    return kw


def make_engine_env(**kw: Any) -> Any:
    from btgym.engine import EngineEnv

    return EngineEnv(**kw)


def test_returns(policy_fn, env, episodes: int, seed: int) -> list[float]:
    from btgym.algorithms.evaluation import TEST_EPISODE

    out = []
    for n in range(episodes):
        obs, info = env.reset(seed=seed if n == 0 else None, options=TEST_EPISODE)
        total, done, position = 0.0, False, 0.0
        while not done:
            obs, reward, term, trunc, info = env.step(policy_fn(obs, position))
            position = float(sum(info["position"].values()))
            total += float(reward)
            done = term or trunc
        out.append(total)
    return out


def train(algo: str, engine: str, steps: int, n: int, seed: int, root: Path) -> dict:
    """btgym's ``algo`` with ``n`` workers (A3C) or lanes (PPO) on ``engine``."""
    from btgym.algorithms import get_algo
    from btgym.algorithms.evaluation import TEST_EPISODE, evaluate, load_policy

    n_key = "num_workers" if algo == "a3c" else "num_envs"
    extra = {"n_steps": 128} if algo == "ppo" else {}
    if engine == "vector":
        kw = engine_kwargs() | {"engine": "vector"}
    else:  # A3C: in-process backtrader per worker; PPO: make_vec's process servers
        kw = env_kwargs("inprocess" if algo == "a3c" else "process", EPISODE)
    t0 = time.monotonic()
    with get_algo(algo)(
        env_kwargs=kw,
        logdir=root / f"{algo}-{engine}",
        total_steps=steps,
        seed=seed,
        checkpoint_every=max(steps // 4, 1000),
        **{n_key: n},
        **extra,
    ) as trainer:
        result = trainer.train()
        lanes = getattr(trainer, "lanes", None)
    wall = time.monotonic() - t0
    policy = load_policy(result.checkpoint)
    env = make_engine_env(**engine_kwargs())  # same semantics on both: score on one
    try:
        scores = evaluate(policy, env, 20, reset_options=TEST_EPISODE, seed=seed)
    finally:
        env.close()
    rets = [r.episode_return for r in scores]
    out = {n_key: n, "steps": result.steps, "wall_time": wall, "test_mean": float(np.mean(rets))}
    if lanes is not None:
        out["envs_per_worker"] = lanes
    return out


def train_sb3(engine: str, steps: int, seed: int, lanes: int, normalize: str = "both") -> dict:
    """SB3 PPO on ``lanes`` lanes of ``engine``; ``normalize``: what ``VecNormalize``
    normalises (``both``, ``obs``, ``reward``, ``none``)."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecNormalize

    from btgym.integrations.sb3 import SB3VecEnv

    t0 = time.monotonic()
    if engine == "vector":
        venv = SB3VecEnv(num_envs=lanes, **engine_kwargs())
        venv.seed(seed)
    else:
        import btgym

        venv = btgym.make_vec(lanes, sb3=True, seed=seed, **env_kwargs("process", EPISODE))
    env = VecNormalize(
        venv, norm_obs=normalize in ("both", "obs"), norm_reward=normalize in ("both", "reward")
    )
    try:
        model = PPO(
            "MultiInputPolicy", env, n_steps=128, batch_size=256, seed=seed, verbose=0, device="cpu"
        )
        model.learn(steps)
    finally:
        env.close()
    wall = time.monotonic() - t0
    env.training = False
    keys = venv.keys

    def act(obs: dict, _position: float) -> int:
        batch = env.normalize_obs({k: obs[k][None] for k in keys})
        return int(model.predict(batch, deterministic=True)[0][0])

    test_env = make_engine_env(**engine_kwargs())
    try:
        rets = test_returns(act, test_env, 20, seed)
    finally:
        test_env.close()
    return {
        "lanes": lanes,
        "steps": int(model.num_timesteps),
        "wall_time": wall,
        "test_mean": float(np.mean(rets)),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", nargs="+", default=list(AGENTS), choices=list(AGENTS))
    parser.add_argument("--engines", nargs="+", default=["vector", "backtrader"])
    parser.add_argument("--steps", type=int, default=100_000, help="A3C env steps")
    parser.add_argument("--workers", type=int, default=2, help="A3C workers")
    parser.add_argument("--ppo-steps", type=int, default=200_000)
    parser.add_argument("--ppo-envs", type=int, default=16)
    parser.add_argument("--sb3-steps", type=int, default=100_000)
    parser.add_argument("--sb3-lanes", type=int, default=16)
    parser.add_argument(
        "--sb3-normalize",
        default="both",
        choices=["both", "obs", "reward", "none"],
        help="what VecNormalize normalises for SB3 (the diagnostic of docs/guide)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)  # small networks: more threads only contend (2 shared cores)
    env = make_engine_env(**engine_kwargs())
    oracle = float(np.mean(test_returns(oracle_action, env, 20, args.seed)))
    env.close()
    agents: dict[str, Any] = {}
    t_all = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("SB3_LOGDIR", tmp)  # SB3's logger folder: not /tmp/SB3-*
        for agent in args.agents:
            for engine in args.engines:
                if agent == "sb3-ppo":
                    r = train_sb3(
                        engine, args.sb3_steps, args.seed, args.sb3_lanes, args.sb3_normalize
                    )
                elif agent == "ppo":
                    r = train("ppo", engine, args.ppo_steps, args.ppo_envs, args.seed, Path(tmp))
                else:
                    r = train("a3c", engine, args.steps, args.workers, args.seed, Path(tmp))
                r["vs_oracle"] = r["test_mean"] / oracle
                r["load_avg_after"] = os.getloadavg()[0]
                agents[f"{agent}/{engine}"] = r
                print(f"{agent}/{engine}: {r}", flush=True)
    wall_ratio = {
        a: agents[f"{a}/vector"]["wall_time"] / agents[f"{a}/backtrader"]["wall_time"]
        for a in AGENTS
        if f"{a}/vector" in agents and f"{a}/backtrader" in agents
    }
    report = {
        "date": date.today().isoformat(),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load_avg_at_end": os.getloadavg(),
            "note": "shared machine: compare within this run",
        },
        "command": "python benchmarks/engine_learning.py " + " ".join(argv or sys.argv[1:]),
        "total_wall_time": time.monotonic() - t_all,
        "oracle_test_mean": oracle,
        "agents": agents,
        "vector_wall_time_over_backtrader": wall_ratio,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "engine_learning.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["vector_wall_time_over_backtrader"]))
    return report


if __name__ == "__main__":
    main()
