"""Env steps per second of A3C on the Ray backend vs the local backend, and across
simulated nodes.

Yardstick (issue 15): at equal worker count on one machine, the Ray backend's env
steps/s >= 80 % of the local backend's.

Phases (each measured over ``--seconds`` of steady state after ``--warmup`` seconds;
start-up excluded), alternating ``local, ray, local, ray, local`` (``--rounds`` Ray
phases): the machine is shared and its load drifts, so each Ray phase is compared with
the local phases around it and the median ratio is the verdict.

- **local**: :class:`~btgym.algorithms.A3C`, ``--workers`` worker processes.
- **ray**: :class:`~btgym.algorithms.distributed.RayA3C`, as many worker actors on a
  local Ray (``ray.init(num_cpus=cores)``).
- **nodes=N**: RayA3C on a simulated cluster (``ray.cluster_utils.Cluster``, a head
  without CPUs and N nodes sharing this machine's cores), the same worker count spread
  over the nodes: what crossing raylets and object stores costs. (One machine has the
  same cores whatever the node count: this measures overhead, not added capacity.)

Prints a table and writes ``benchmarks/results/ray_throughput.json``.

Usage: ``python benchmarks/ray_throughput.py [--seconds 30] [--workers 2] [--nodes 1 2]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

try:  # run as a script (benchmarks/ on sys.path) or as benchmarks.ray_throughput
    from train_throughput import cpu_delta, tree_cpu
except ImportError:
    from benchmarks.train_throughput import cpu_delta, tree_cpu

RESULTS = Path(__file__).resolve().parent / "results" / "ray_throughput.json"
EPISODE = {"days": 0, "hours": 8, "minutes": 32}


def env_kwargs(server: str) -> dict[str, Any]:
    from btgym.datafeed import sample_data_path

    return dict(
        filename=str(sample_data_path("sine")),
        parsing_params={"header": 0},
        episode_duration=EPISODE,
        start_00=False,
        start_weekdays=[0, 1, 2, 3, 4, 5, 6],
        server=server,
    )


def measure(cls: type, kw: dict, workers: int, seconds: float, warmup: float, **extra) -> dict:
    """Steady-state env steps/s (and steps per CPU second of the whole process tree:
    workers, Ray's daemons, simulated nodes) of one run stopped after warm-up + ``seconds``."""
    st: dict[str, Any] = {}

    def callback(progress: Any) -> bool:
        now = time.monotonic()
        first = st.setdefault("first", now)
        if now - first >= warmup and "t0" not in st:
            st.update(t0=now, s0=progress.steps, cpu0=tree_cpu())
        if now - first >= warmup + seconds and "t1" not in st:
            st.update(t1=now, s1=progress.steps, cpu1=tree_cpu())
        return "t1" not in st

    with tempfile.TemporaryDirectory() as logdir:
        trainer = cls(
            env_kwargs=kw,
            logdir=logdir,
            num_workers=workers,
            total_steps=10**8,
            seed=0,
            checkpoint_every=10**8,
            **extra,
        )
        with trainer:
            trainer.train(callback=callback)
    steps, wall = st["s1"] - st["s0"], st["t1"] - st["t0"]
    cpu = cpu_delta(st["cpu0"], st["cpu1"])
    return {
        "steps_per_sec": steps / wall,
        "steps_per_cpu_sec": steps / cpu if cpu > 0 else float("nan"),
        "seconds": wall,
        "steps": steps,
    }


def local_phase(kw, args) -> dict:
    from btgym.algorithms import A3C

    return measure(A3C, kw, args.workers, args.seconds, args.warmup)


def ray_phase(kw, args) -> dict:
    import ray

    from btgym.algorithms.distributed import RayA3C

    ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    try:
        return measure(RayA3C, kw, args.workers, args.seconds, args.warmup)
    finally:
        ray.shutdown()


def cluster_phase(kw, args, nodes: int) -> dict:
    """RayA3C with the workers spread over ``nodes`` simulated nodes."""
    import ray
    from ray.cluster_utils import Cluster

    from btgym.algorithms.distributed import RayA3C

    cores = os.cpu_count() or 2
    per_node = args.workers / nodes
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    try:
        for _ in range(nodes):
            cluster.add_node(num_cpus=int(per_node + 0.999))
        ray.init(address=cluster.address, log_to_driver=False)
        cluster.wait_for_nodes()
        out = measure(
            RayA3C, kw, args.workers, args.seconds, args.warmup, ray_config={"worker_cpus": 1.0}
        )
        out["nodes"] = nodes
        out["cores"] = cores
        return out
    finally:
        ray.shutdown()
        cluster.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=8.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2, help="Ray phases (between local ones)")
    parser.add_argument("--nodes", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--server", choices=["process", "inprocess"], default="inprocess")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    kw = env_kwargs(args.server)

    local = [local_phase(kw, args)]
    rays = []
    for _ in range(args.rounds):
        rays.append(ray_phase(kw, args))
        local.append(local_phase(kw, args))
    ratios = [
        r["steps_per_sec"] / ((a["steps_per_sec"] + b["steps_per_sec"]) / 2)
        for r, a, b in zip(rays, local, local[1:])
    ]
    nodes = [cluster_phase(kw, args, n) for n in args.nodes]
    ratio = statistics.median(ratios)

    print(
        f"\nA3C env steps/s, {args.workers} workers, server={args.server}, "
        f"{os.cpu_count()} cores (shared machine)"
    )
    print(f"{'phase':<24} {'steps/s':>9} {'steps/cpu-s':>12}")

    def row(label: str, m: dict, extra: str = "") -> None:
        print(f"{label:<24} {m['steps_per_sec']:>9.0f} {m['steps_per_cpu_sec']:>12.0f}{extra}")

    for i, a in enumerate(local):
        row(f"local #{i + 1}", a)
    for i, r in enumerate(rays):
        row(f"ray #{i + 1}", r, f"   ratio {ratios[i]:.0%}")
    for n in nodes:
        row(f"ray cluster, {n['nodes']} node(s)", n)
    print(f"ray / local (median): {ratio:.0%}  (yardstick >= 80 %)")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "date": date.today().isoformat(),
                "machine": {
                    "cpus": os.cpu_count(),
                    "platform": platform.platform(),
                    "note": "shared with other jobs while measured; compare ratios within "
                    "this run, not absolute rates across runs",
                },
                "workers": args.workers,
                "server": args.server,
                "seconds": args.seconds,
                "local": local,
                "ray": rays,
                "ratios": ratios,
                "ray_vs_local": ratio,
                "yardstick": 0.8,
                "meets_yardstick": ratio >= 0.8,
                "cluster": nodes,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
