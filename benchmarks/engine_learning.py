"""Learning the sine on the vector engine vs the backtrader engine: score and wall time.

The task and scoring of ``benchmarks/learning_sine.py`` (sine data, 512-bar episodes,
no commission, ``shortcash=False``, mean return over test episodes vs the hand-written
oracle). In one run, on the same seeds:

- **A3C** (btgym's, ``--workers`` workers) trained for ``--steps`` env steps on the
  backtrader engine (``server="inprocess"``) and on the vector engine
  (``EngineEnv``, what ``BTgymEnv(engine="vector")`` gives);
- **PPO** (btgym's) on both engines (with ``--ppo``; slower);
- **SB3 PPO** on :class:`btgym.integrations.sb3.SB3VecEnv` (all lanes in one vector
  engine).

Reports each agent's test return as a fraction of the oracle's and its training wall
time; the vector engine's wall time over the backtrader engine's for the same agent.
Writes ``benchmarks/results/engine_learning.json``.

Usage: ``python benchmarks/engine_learning.py [--steps 100000] [--ppo] [--sb3-steps 200000]``.
"""

from __future__ import annotations

import argparse
import functools
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


def train(algo: str, engine: str, steps: int, workers: int, seed: int, root: Path) -> dict:
    from btgym.algorithms import get_algo
    from btgym.algorithms.evaluation import TEST_EPISODE, evaluate, load_policy

    n_key = "num_workers" if algo == "a3c" else "num_envs"
    extra = {"n_steps": 128} if algo == "ppo" else {}
    if engine == "vector":
        source = {"env_fns": functools.partial(make_engine_env, **engine_kwargs())}
    else:
        source = {"env_kwargs": env_kwargs("inprocess", EPISODE)}
    t0 = time.monotonic()
    with get_algo(algo)(
        logdir=root / f"{algo}-{engine}",
        total_steps=steps,
        seed=seed,
        checkpoint_every=max(steps // 4, 1000),
        **{n_key: workers},
        **extra,
        **source,
    ) as trainer:
        result = trainer.train()
    wall = time.monotonic() - t0
    policy = load_policy(result.checkpoint)
    env = make_engine_env(**engine_kwargs())  # same semantics on both: score on one
    try:
        scores = evaluate(policy, env, 20, reset_options=TEST_EPISODE, seed=seed)
    finally:
        env.close()
    rets = [r.episode_return for r in scores]
    return {"steps": result.steps, "wall_time": wall, "test_mean": float(np.mean(rets))}


def train_sb3(steps: int, seed: int, lanes: int) -> dict:
    from stable_baselines3 import PPO

    from btgym.integrations.sb3 import SB3VecEnv

    venv = SB3VecEnv(num_envs=lanes, **engine_kwargs())
    venv.seed(seed)
    t0 = time.monotonic()
    model = PPO("MultiInputPolicy", venv, n_steps=128, batch_size=256, seed=seed, verbose=0)
    model.learn(steps)
    wall = time.monotonic() - t0
    keys = venv.keys
    env = make_engine_env(**engine_kwargs())
    try:
        rets = test_returns(
            lambda obs, _pos: int(model.predict({k: obs[k] for k in keys}, deterministic=True)[0]),
            env,
            20,
            seed,
        )
    finally:
        env.close()
    return {"steps": steps, "lanes": lanes, "wall_time": wall, "test_mean": float(np.mean(rets))}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ppo", action="store_true", help="also btgym's PPO (slow)")
    parser.add_argument("--no-a3c", action="store_true", help="skip A3C (e.g. SB3 only)")
    parser.add_argument("--sb3-steps", type=int, default=200_000)
    parser.add_argument("--sb3-lanes", type=int, default=16)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    env = make_engine_env(**engine_kwargs())
    oracle = float(np.mean(test_returns(oracle_action, env, 20, args.seed)))
    env.close()
    agents: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for algo in ([] if args.no_a3c else ["a3c"]) + (["ppo"] if args.ppo else []):
            for engine in ("vector", "backtrader"):
                r = train(algo, engine, args.steps, args.workers, args.seed, Path(tmp))
                r["vs_oracle"] = r["test_mean"] / oracle
                agents[f"{algo}/{engine}"] = r
                print(f"{algo}/{engine}: {r}", flush=True)
    if args.sb3_steps:
        r = train_sb3(args.sb3_steps, args.seed, args.sb3_lanes)
        r["vs_oracle"] = r["test_mean"] / oracle
        agents["sb3-ppo/vector"] = r
        print(f"sb3-ppo/vector: {r}", flush=True)
    wall_ratio = {
        a: agents[f"{a}/vector"]["wall_time"] / agents[f"{a}/backtrader"]["wall_time"]
        for a in ("a3c", "ppo")
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
