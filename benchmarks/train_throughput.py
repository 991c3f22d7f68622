"""Env steps per second while training vs raw env stepping, in the same run.

Yardstick (issue 5): with 2 workers on 2 cores, env steps/s while training A3C
>= 70 % of the raw steps/s of 2 envs stepping random actions.

Phases (each ``--seconds`` long, steady state only: start-up excluded), alternating
``raw, a3c, raw, a3c, raw`` (``--rounds`` A3C phases; the machine is shared and its
load drifts, so each A3C phase is compared with the raw phases around it and the
median ratio is the verdict), then one PPO phase:

- **raw**: 2 spawned processes, each with one env (sharing one data server, as the
  trainers' envs do), step random actions; aggregate steps/s.
- **a3c**: A3C with 2 workers; env steps/s between the first and last progress
  reports after a warm-up.
- **ppo**: PPO with 2 envs (async vector env), same measure (no yardstick).

Then the **vector rows** (issue 14; skip with ``--no-vec``): the same measure for
separate envs vs btgym's native vector env (``BTgymVectorEnv``, what
``btgym.make_vec`` gives: process-mode servers stepped concurrently from the trainer,
no worker process per env, no pickling):

- ``ppo/async x2`` (gymnasium ``AsyncVectorEnv``, the trainer's default before) vs
  ``ppo/native x2`` and ``ppo/native x4``;
- ``a3c 2w x1`` (2 workers, one env each: the ``a3c`` phases) vs ``a3c 1w x2``
  (one worker stepping a 2-lane vector env) and ``a3c 2w x2``.

Each phase also reports steps per CPU second of the whole process tree, a second
view that is less sensitive to other tenants of the machine.

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

import numpy as np
import psutil

RESULTS = Path(__file__).resolve().parent / "results" / "train_throughput.json"
EPISODE = {"days": 0, "hours": 8, "minutes": 32}


def env_kwargs(server: str, data_dir: Path | None = None) -> dict:
    from btgym.datafeed import sample_data_path

    sine = (
        Path(data_dir) / "test_sine_1min_period256_delta0002.csv"
        if data_dir is not None
        else sample_data_path("sine")
    )
    return dict(
        filename=str(sine),
        parsing_params={"header": 0},
        episode_duration=EPISODE,
        start_00=False,
        start_weekdays=[0, 1, 2, 3, 4, 5, 6],
        server=server,
    )


def tree_cpu() -> dict[int, float]:
    """CPU seconds (user + system) of this process and every live descendant, by pid."""
    me = psutil.Process()
    out = {}
    for p in [me, *me.children(recursive=True)]:
        try:
            t = p.cpu_times()
            out[p.pid] = t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return out


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two :func:`tree_cpu` snapshots."""
    return sum(t - before.get(pid, 0.0) for pid, t in after.items())


def _raw_worker(env_fn, seconds: float, seed: int, go, stop, out) -> None:
    import numpy as np

    env = env_fn()
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    for _ in range(50):  # warm-up
        _, _, te, tr, _ = env.step(int(rng.integers(4)))
        if te or tr:
            env.reset()
    go.wait()
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        _, _, te, tr, _ = env.step(int(rng.integers(4)))
        steps += 1
        if te or tr:
            env.reset()
    out.put((steps, time.perf_counter() - t0))
    stop.wait()  # stay alive until the parent has read the CPU counters
    env.close()


def raw_rate(kw: dict, seconds: float, n: int = 2) -> dict:
    """Random-action stepping of ``n`` envs in ``n`` processes (resets included)."""
    from btgym.envs.vector import make_env_fns

    ctx = mp.get_context("spawn")
    out, go, stop = ctx.Queue(), ctx.Event(), ctx.Event()
    fns = make_env_fns(n, **kw)
    try:
        procs = [
            ctx.Process(target=_raw_worker, args=(f, seconds, i, go, stop, out))
            for i, f in enumerate(fns)
        ]
        for p in procs:
            p.start()
        time.sleep(2.0)
        while not all(p.is_alive() for p in procs):
            time.sleep(0.1)
        time.sleep(8.0)  # env construction and warm-up
        cpu0 = tree_cpu()
        go.set()
        results = [out.get(timeout=seconds + 120) for _ in procs]
        cpu = cpu_delta(cpu0, tree_cpu())
        stop.set()
        for p in procs:
            p.join(30)
    finally:
        fns.close()
    steps = sum(s for s, _ in results)
    return {"steps_per_sec": sum(s / t for s, t in results), "steps_per_cpu_sec": steps / cpu}


def train_rate(
    algo: str, kw: dict, seconds: float, warmup_steps: int = 1000, n: int = 2, **extra
) -> dict:
    """Steady-state env steps/s of a training run (``n`` workers / envs) stopped after
    ``seconds`` of steady state."""
    from btgym.algorithms import get_algo

    marks: list[tuple[float, int, dict]] = []
    n_key = "num_workers" if algo == "a3c" else "num_envs"

    def callback(p) -> bool:
        if marks and marks[-1][0] - marks[0][0] >= seconds:
            return False  # done (the trainers' last report, after shutdown, lands here)
        if p.steps >= warmup_steps:
            marks.append((time.monotonic(), p.steps, tree_cpu()))
        return True

    with tempfile.TemporaryDirectory() as logdir:
        trainer = get_algo(algo)(
            env_kwargs=kw, logdir=logdir, total_steps=10**8, seed=0, **{n_key: n}, **extra
        )
        with trainer:
            result = trainer.train(callback=callback)
    (t0, s0, c0), (t1, s1, c1) = marks[0], marks[-1]
    return {
        "steps_per_sec": (s1 - s0) / (t1 - t0),
        "steps_per_cpu_sec": (s1 - s0) / cpu_delta(c0, c1),
        "steps": result.steps,
        "updates": result.updates,
    }


def vector_rows(kw: dict, seconds: float) -> dict[str, dict]:
    """PPO and A3C on btgym's native vector env (see the module doc)."""
    return {
        "ppo/native x2": train_rate("ppo", kw, seconds, n=2, vec_env="native"),
        "ppo/native x4": train_rate("ppo", kw, seconds, n=4, vec_env="native"),
        "a3c 1w x2": train_rate("a3c", kw, seconds, n=1, envs_per_worker=2),
        "a3c 2w x2": train_rate("a3c", kw, seconds, n=2, envs_per_worker=2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--server", choices=["process", "inprocess"], default="process")
    parser.add_argument("--rounds", type=int, default=2, help="A3C phases (raw between)")
    parser.add_argument("--no-ppo", action="store_true")
    parser.add_argument("--no-vec", action="store_true", help="skip the vector-env rows")
    parser.add_argument("--a3c", action="append", metavar="KEY=VALUE", help="A3C keyword")
    parser.add_argument("--ppo", action="append", metavar="KEY=VALUE", help="PPO keyword")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="folder with test_sine_1min_period256_delta0002.csv (default: the bundled sample)",
    )
    args = parser.parse_args()
    kw = env_kwargs(args.server, args.data_dir)
    from btgym.cli import parse_pairs

    a3c_kw, ppo_kw = parse_pairs(args.a3c, "--a3c"), parse_pairs(args.ppo, "--ppo")
    # raw, a3c, raw, a3c, ..., raw: each A3C phase is compared with the raw phases
    # right before and after it (the machine is shared: its load drifts)
    raws = [raw_rate(kw, args.seconds)]
    a3cs, ratios = [], []
    for _ in range(args.rounds):
        a3cs.append(train_rate("a3c", kw, args.seconds, **a3c_kw))
        raws.append(raw_rate(kw, args.seconds))
        ratios.append(
            {
                k: a3cs[-1][k] / ((raws[-2][k] + raws[-1][k]) / 2)
                for k in ("steps_per_sec", "steps_per_cpu_sec")
            }
        )
    ppo = (
        train_rate("ppo", kw, args.seconds, **{"vec_env": "async", **ppo_kw})
        if not args.no_ppo
        else None
    )
    vec = {} if args.no_vec or args.server != "process" else vector_rows(kw, args.seconds)
    raw = {k: float(np.mean([r[k] for r in raws])) for k in ("steps_per_sec", "steps_per_cpu_sec")}
    ratio = {
        k: float(np.median([r[k] for r in ratios])) for k in ("steps_per_sec", "steps_per_cpu_sec")
    }

    print(f"\nenv steps, 2 envs, server={args.server}, {os.cpu_count()} cores (shared machine)")
    head = ("phase", "steps/s", "steps/cpu-s", "vs raw (wall)", "vs raw (cpu)")
    print("{:<8} {:>9} {:>12} {:>14} {:>13}".format(*head))
    for i, r in enumerate(raws):
        print(f"{'raw':<8} {r['steps_per_sec']:>9.0f} {r['steps_per_cpu_sec']:>12.0f}")
        if i < len(a3cs):
            a, q = a3cs[i], ratios[i]
            print(
                f"{'a3c':<8} {a['steps_per_sec']:>9.0f} {a['steps_per_cpu_sec']:>12.0f} "
                f"{q['steps_per_sec']:>14.0%} {q['steps_per_cpu_sec']:>13.0%}"
            )
    if ppo is not None:
        print(
            f"{'ppo':<8} {ppo['steps_per_sec']:>9.0f} {ppo['steps_per_cpu_sec']:>12.0f} "
            f"{ppo['steps_per_sec'] / raw['steps_per_sec']:>14.0%} "
            f"{ppo['steps_per_cpu_sec'] / raw['steps_per_cpu_sec']:>13.0%}"
        )
    if vec:
        print(f"\nvector rows (btgym's native vector env), load avg {os.getloadavg()[0]:.1f}")
        print("{:<16} {:>9} {:>12}".format("phase", "steps/s", "steps/cpu-s"))
        rows = {"a3c 2w x1": a3cs[0], "ppo/async x2": ppo, **vec}
        for name, r in rows.items():
            if r is not None:
                print(f"{name:<16} {r['steps_per_sec']:>9.0f} {r['steps_per_cpu_sec']:>12.0f}")
    verdict = ratio["steps_per_sec"] >= 0.70
    mark = "PASS" if verdict else "FAIL"
    print(
        f"yardstick: A3C >= 70% of raw steps/s: {mark} (median {ratio['steps_per_sec']:.0%}; "
        f"per CPU second {ratio['steps_per_cpu_sec']:.0%})"
    )

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "date": date.today().isoformat(),
                "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
                "server": args.server,
                "seconds_per_phase": args.seconds,
                "a3c_keywords": a3c_kw,
                "ppo_keywords": ppo_kw,
                "raw": raws,
                "a3c": a3cs,
                "ppo": ppo,
                "vector_rows": vec,
                "load_avg_at_end": os.getloadavg(),
                "a3c_vs_adjacent_raw": ratios,
                "median_ratio": ratio,
                "yardstick_a3c_ge_70pct": verdict,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
