"""Data-layer speed: loading, in-process sampling, and sampling through the data server.

Measures, on the six shared HistData EURUSD files (Jan-Jun 2017, ~186k minute bars):

1. **load**: parse + validate the six files into ``Bars`` (median of a few runs);
2. **in-process**: episodes per second from a ``BTgymDataset`` (episodes drawn from the
   data directly) and trial + episode per second from a ``BTgymRandomDataDomain``;
3. **data server**: per-sample latency (median, p95) and throughput of
   ``DataClient.sample()`` with 1 and 4 concurrent client processes, for episodes
   (server domain: ``BTgymDataset``) and for trials (server domain:
   ``BTgymRandomDataDomain`` with BTGym's example trial settings, 30-day trials).

Yardsticks (issue 2): load < 1 s; an episode sample through the data server < 5 ms
median. Run ``python benchmarks/data_sampling.py [--quick] [--data-dir DIR]``; it
prints a table and writes ``benchmarks/results/data_sampling.json``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT / "tests" / "data"  # the bundled copy of the shared data
RESULTS = Path(__file__).resolve().parent / "results" / "data_sampling.json"
MONTHS = range(1, 7)

#: BTGym's example settings: 30-day trials with a week of test, one-day episodes.
TRIAL_PARAMS = dict(
    sample_duration={"days": 30},
    time_gap={"days": 15},
    start_00=False,
    test_period={"days": 6, "hours": 23},
)
EPISODE_PARAMS = dict(sample_duration={"hours": 23, "minutes": 55}, time_gap={"hours": 10})


def files(data_dir: Path) -> list[str]:
    paths = [data_dir / f"DAT_ASCII_EURUSD_M1_2017{m:02d}.csv" for m in MONTHS]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        sys.exit(f"missing data files: {missing} (use --data-dir)")
    return [str(p) for p in paths]


def dataset_config(data_dir: Path, seed: int) -> Any:
    from btgym.datafeed import DataConfig

    return DataConfig(domain="dataset", filename=files(data_dir), seed=seed)


def domain_config(data_dir: Path, seed: int) -> Any:
    from btgym.datafeed import DataConfig

    return DataConfig(
        domain="random",
        filename=files(data_dir),
        trial_params=TRIAL_PARAMS,
        episode_params=EPISODE_PARAMS,
        target_period={"days": 45},
        seed=seed,
    )


def stats_ms(seconds: list[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1e3
    return {
        "median_ms": float(np.median(ms)),
        "p95_ms": float(np.percentile(ms, 95)),
        "mean_ms": float(ms.mean()),
        "n": len(ms),
    }


# --------------------------------------------------------------------------- load


def bench_load(data_dir: Path, runs: int) -> dict[str, Any]:
    from btgym.datafeed import load_bars

    paths = files(data_dir)
    times, rows = [], 0
    for _ in range(runs):
        t0 = time.perf_counter()
        bars = load_bars(paths)
        times.append(time.perf_counter() - t0)
        rows = len(bars)
    return {"rows": rows, "files": len(paths), "median_s": statistics.median(times), "runs": runs}


# --------------------------------------------------------------------------- in-process


def bench_inprocess(data_dir: Path, n: int) -> dict[str, Any]:
    from btgym.datafeed import make_domain

    dataset = make_domain(dataset_config(data_dir, seed=0))
    dataset.reset()
    t0 = time.perf_counter()
    for _ in range(n):
        dataset.sample()
    episodes_s = n / (time.perf_counter() - t0)

    domain = make_domain(domain_config(data_dir, seed=0))
    domain.reset()
    t0 = time.perf_counter()
    for _ in range(n):
        trial = domain.sample()
        trial.reset()
        trial.sample()
    trial_episode_s = n / (time.perf_counter() - t0)
    return {"dataset_episodes_per_s": episodes_s, "domain_trial_and_episode_per_s": trial_episode_s}


# --------------------------------------------------------------------------- data server


def _client_worker(endpoint: str, n: int, start_at: float, out: Any) -> None:
    from btgym.dataserver import DataClient

    with DataClient(endpoint, timeout=30.0) as client:
        client.sample()  # warm up: imports, connection
        while time.time() < start_at:
            time.sleep(0.001)
        lat = []
        for _ in range(n):
            t0 = time.perf_counter()
            client.sample()
            lat.append(time.perf_counter() - t0)
    out.put(lat)


def bench_server(config: Any, clients: int, n: int) -> dict[str, Any]:
    from btgym.dataserver import DataServerProcess

    ctx = mp.get_context("spawn")
    with DataServerProcess(config) as server:
        queue = ctx.Queue()
        start_at = time.time() + 3.0 + clients  # after every worker has started
        procs = [
            ctx.Process(target=_client_worker, args=(server.endpoint, n, start_at, queue))
            for _ in range(clients)
        ]
        for p in procs:
            p.start()
        lats = [queue.get(timeout=300) for _ in procs]
        for p in procs:
            p.join(30)
        with server.client() as client:
            rows = len(client.sample())
    flat = [x for lat in lats for x in lat]
    wall = max(sum(lat) for lat in lats)
    return {
        "clients": clients,
        "rows_per_sample": rows,
        **stats_ms(flat),
        "samples_per_s": len(flat) / wall,
    }


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=DATA_DIR,
        help="folder with the six EURUSD 2017 files (default: the bundled tests/data)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    runs, n_local, n_server = (3, 200, 100) if args.quick else (5, 1000, 500)

    load = bench_load(args.data_dir, runs)
    local = bench_inprocess(args.data_dir, n_local)
    served = []
    for what, config in (
        ("episode", dataset_config(args.data_dir, seed=1)),
        ("trial", domain_config(args.data_dir, seed=1)),
    ):
        for clients in (1, 4):
            served.append({"sample": what, **bench_server(config, clients, n_server)})

    result = {
        "benchmark": "data_sampling",
        "quick": args.quick,
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "loadavg_1min_at_end": os.getloadavg()[0],  # other work on the machine
        },
        "load": load,
        "in_process": local,
        "data_server": served,
        "yardsticks": {
            "load_s_max": 1.0,
            "episode_median_ms_max": 5.0,
            "load_ok": load["median_s"] < 1.0,
            "episode_ok": all(r["median_ms"] < 5.0 for r in served if r["sample"] == "episode"),
        },
    }
    print_table(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    return result


def print_table(r: dict[str, Any]) -> None:
    load, local = r["load"], r["in_process"]
    print(f"{'measure':<46} {'value':>12}")
    print("-" * 59)
    print(
        f"{'load Jan-Jun 2017 EURUSD (' + str(load['rows']) + ' rows), median':<46} "
        f"{load['median_s']:>10.3f} s"
    )
    print(f"{'in-process: BTgymDataset episodes / s':<46} {local['dataset_episodes_per_s']:>12.0f}")
    print(
        f"{'in-process: domain trial + episode / s':<46} "
        f"{local['domain_trial_and_episode_per_s']:>12.0f}"
    )
    print()
    head = (
        f"{'data server':<10} {'clients':>7} {'rows':>6} {'median ms':>10} {'p95 ms':>8} "
        f"{'samples/s':>10}"
    )
    print(head)
    print("-" * len(head))
    for s in r["data_server"]:
        print(
            f"{s['sample']:<10} {s['clients']:>7} {s['rows_per_sample']:>6} "
            f"{s['median_ms']:>10.2f} {s['p95_ms']:>8.2f} {s['samples_per_s']:>10.0f}"
        )
    y = r["yardsticks"]
    print(
        f"\nyardsticks: load < 1 s: {'ok' if y['load_ok'] else 'MISSED'}; "
        f"episode via data server < 5 ms median: {'ok' if y['episode_ok'] else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
