"""Env steps per second while training vs raw env stepping, in the same run.

Yardstick (issue 5): with 2 workers on 2 cores, env steps/s while training A3C
>= 70 % of the raw steps/s of 2 envs stepping random actions.

Phases (each ``--seconds`` long, steady state only: start-up excluded):

1. **raw**: 2 spawned processes, each with one env (sharing one data server, as the
   trainers' envs do), step random actions; aggregate steps/s.
2. **a3c**: A3C with 2 workers; env steps/s between the first and last progress
   reports after a warm-up.
3. **ppo**: PPO with 2 envs (async vector env), same measure.
4. **raw** again (drift check: the machine is shared).

Prints a table and writes ``benchmarks/results/train_throughput.json``.

Usage: ``python benchmarks/train_throughput.py [--seconds 30] [--server process]``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import tempfile
import time
from datetime import date
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "train_throughput.json"
EPISODE = {"days": 0, "hours": 8, "minutes": 32}


def env_kwargs(server: str) -> dict:
    from btgym.datafeed import sample_data_path

    return dict(
        filename=str(sample_data_path("sine")),
        parsing_params={"header": 0},
        episode_duration=EPISODE,
        server=server,
    )


def _raw_worker(env_fn, seconds: float, seed: int, out) -> None:
    import numpy as np

    env = env_fn()
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    for _ in range(50):  # warm-up
        _, _, te, tr, _ = env.step(int(rng.integers(4)))
        if te or tr:
            env.reset()
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        _, _, te, tr, _ = env.step(int(rng.integers(4)))
        steps += 1
        if te or tr:
            env.reset()
    out.put((steps, time.perf_counter() - t0))
    env.close()


def raw_rate(kw: dict, seconds: float, n: int = 2) -> float:
    """Aggregate random-action steps/s of ``n`` envs in ``n`` processes (resets included)."""
    from btgym.envs.vector import make_env_fns

    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    fns = make_env_fns(n, **kw)
    try:
        procs = [
            ctx.Process(target=_raw_worker, args=(f, seconds, i, out)) for i, f in enumerate(fns)
        ]
        for p in procs:
            p.start()
        results = [out.get(timeout=seconds + 120) for _ in procs]
        for p in procs:
            p.join(30)
    finally:
        fns.close()
    return sum(s / t for s, t in results)


def train_rate(algo: str, kw: dict, seconds: float, warmup_steps: int = 1000) -> dict:
    """Steady-state env steps/s of a training run stopped after ``seconds`` of steady state."""
    from btgym.algorithms import get_algo

    marks: list[tuple[float, int]] = []
    n_key = "num_workers" if algo == "a3c" else "num_envs"

    def callback(p) -> bool:
        if p.steps >= warmup_steps:
            marks.append((time.monotonic(), p.steps))
        return not marks or marks[-1][0] - marks[0][0] < seconds  # False: stop

    with tempfile.TemporaryDirectory() as logdir:
        trainer = get_algo(algo)(
            env_kwargs=kw, logdir=logdir, total_steps=10**8, seed=0, **{n_key: 2}
        )
        with trainer:
            result = trainer.train(callback=callback)
    (t0, s0), (t1, s1) = marks[0], marks[-1]
    return {
        "steps_per_sec": (s1 - s0) / (t1 - t0),
        "steps": result.steps,
        "updates": result.updates,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--server", choices=["process", "inprocess"], default="process")
    parser.add_argument("--no-ppo", action="store_true")
    args = parser.parse_args()
    kw = env_kwargs(args.server)

    rows: dict[str, float] = {}
    rows["raw_before"] = raw_rate(kw, args.seconds)
    a3c = train_rate("a3c", kw, args.seconds)
    rows["a3c"] = a3c["steps_per_sec"]
    if not args.no_ppo:
        ppo = train_rate("ppo", kw, args.seconds)
        rows["ppo"] = ppo["steps_per_sec"]
    rows["raw_after"] = raw_rate(kw, args.seconds)
    raw = (rows["raw_before"] + rows["raw_after"]) / 2

    print(f"\nenv steps/s, 2 envs, server={args.server}, {os.cpu_count()} cores")
    print(f"{'phase':<12} {'steps/s':>10} {'vs raw':>8}")
    for name, value in rows.items():
        print(f"{name:<12} {value:>10.0f} {value / raw:>8.0%}")
    verdict = rows["a3c"] / raw >= 0.70
    print(
        f"yardstick: A3C >= 70% of raw: {'PASS' if verdict else 'FAIL'} ({rows['a3c'] / raw:.0%})"
    )

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "date": date.today().isoformat(),
                "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
                "server": args.server,
                "seconds_per_phase": args.seconds,
                "steps_per_sec": rows,
                "raw_mean": raw,
                "ratio": {k: rows[k] / raw for k in ("a3c", "ppo") if k in rows},
                "yardstick_a3c_ge_70pct": verdict,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
