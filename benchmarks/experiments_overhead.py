"""Overhead of the experiments layer (experiments.md §12).

``python benchmarks/experiments_overhead.py [--smoke] [--out FILE]`` prints a table and
writes ``benchmarks/results/experiments_overhead.json`` (``--smoke``: small sizes, for
CI; writes ``experiments_overhead_smoke.json``). Targets:

- 10,000 metric rows logged in < 1 s (one ``log_metric_rows`` call per 100 rows, as a
  run's history is recorded; plus one row per ``log_metrics`` call, for reference);
- a claim < 50 ms on SQLite (median over claims from a queue of 1,000 runs);
- per-run overhead (all but ``fit``) < 0.5 s on a 10k-row dataset, measured on 2 units ×
  50 ``LogisticClassifier`` runs with 2 workers: ``(wall × workers − Σ fit_s) / runs``,
  which charges data loading, datasets, evaluation, files and the registry to the runs
  (the pool's start-up, torch imports included, is measured apart and also reported
  charged to the runs);
- a 100-run report in < 60 s (cards drawn fresh, no cache).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = ROOT / "tests" / "data" / "DAT_ASCII_EURUSD_M1_201701.csv"
RESULTS = ROOT / "benchmarks" / "results"

FEATURES = [
    "LogReturns(1min,basis=close,lookback=1)",
    "LogReturns(1min,basis=close,lookback=5)",
    "Volatility(1min,basis=close,window=15,estimator=std)",
]
LABEL = "LogReturns(1min,basis=close,lookforward=1)"


def workspec(n_models: int, epochs: int) -> Any:
    """2 units × n_models LogisticClassifier runs on ~10k rows of EURUSD 1-min bars."""
    from btgym.experiments.spec import WorkSpec

    split = {
        "train": ["2017-01-02", "2017-01-10"],
        "val": ["2017-01-10", "2017-01-11"],
        "test": ["2017-01-11", "2017-01-13"],
    }
    units = []
    for u, feats in (("unit1", FEATURES), ("unit2", FEATURES[:2])):
        units.append(
            {
                "name": u,
                "featureset": {"name": u, "features": feats, "labels": [LABEL]},
                "data": {"filename": str(DATA)},
                "split": split,
                "dataset_params": {"task": "classification"},
                "model_specs": [
                    {
                        "name": f"logit{i:03d}",
                        "model": "LogisticClassifier",
                        "epochs": epochs,
                        "seed": i,
                    }
                    for i in range(n_models)
                ],
            }
        )
    return WorkSpec.from_dict({"name": "overhead", "units": units})


def bench_metrics(root: Path, rows: int) -> dict[str, float]:
    from btgym.experiments.registry import Registry

    reg = Registry(artifact_root=root / "m")
    (run,) = reg.create_runs("m", [{"kind": "supervised", "seed": 0}])
    batch = [("train", "loss", 1.0 / (i + 1), i) for i in range(rows)]
    t0 = time.perf_counter()
    for i in range(0, rows, 100):
        reg.log_metric_rows(run.id, batch[i : i + 100])
    bulk = time.perf_counter() - t0
    n_single = min(rows, 1000)
    t0 = time.perf_counter()
    for i in range(n_single):
        reg.log_metrics(run.id, "val", {"loss": float(i)}, step=i)
    single = (time.perf_counter() - t0) / n_single
    return {"rows": rows, "seconds_100_per_call": bulk, "single_row_call_ms": single * 1e3}


def bench_claim(root: Path, queued: int, claims: int) -> dict[str, float]:
    from btgym.experiments.registry import Registry

    reg = Registry(artifact_root=root / "c")
    reg.create_runs("c", [{"kind": "supervised", "seed": i} for i in range(queued)])
    times = []
    for _ in range(claims):
        t0 = time.perf_counter()
        reg.claim("bench")
        times.append(time.perf_counter() - t0)
    return {
        "queued": queued,
        "claims": claims,
        "median_ms": statistics.median(times) * 1e3,
        "p90_ms": sorted(times)[int(0.9 * len(times))] * 1e3,
    }


def bench_runs(root: Path, n_models: int, epochs: int, workers: int) -> dict[str, Any]:
    from btgym.experiments.executors import LocalExecutor
    from btgym.experiments.registry import Registry

    reg = Registry(artifact_root=root / "r")
    spec = workspec(n_models, epochs)
    with LocalExecutor(n_workers=workers) as ex:
        t0 = time.perf_counter()  # pool start-up: a first batch of one tiny run
        ex.run(workspec(1, 1).configs("warmup"), Registry(artifact_root=root / "w"), progress=False)
        startup = time.perf_counter() - t0
        t0 = time.perf_counter()
        summary = ex.run(spec, reg, progress=False)
        wall = time.perf_counter() - t0
    timings = [
        json.loads((Path(r.run_dir) / "run.json").read_text())["timings"]
        for r in reg.runs(experiment="overhead", status="finished")
    ]
    n = len(timings)
    fit = sum(t["fit_s"] for t in timings)
    run0 = reg.runs(experiment="overhead")[0]
    import pandas as pd

    rows = len(pd.read_parquet(Path(run0.run_dir) / "predictions.parquet"))
    return {
        "runs": n,
        "workers": workers,
        "epochs": epochs,
        "dataset_rows": rows,
        "finished": summary.finished,
        "failed": summary.failed,
        "wall_s": wall,
        "sum_fit_s": fit,
        "pool_startup_s": startup,
        "overhead_per_run_s": (wall * workers - fit) / max(n, 1),
        "overhead_per_run_with_startup_s": ((wall + startup) * workers - fit) / max(n, 1),
        "mean_dataset_s": sum(t["dataset_s"] for t in timings) / max(n, 1),
        "mean_eval_s": sum(t["eval_s"] for t in timings) / max(n, 1),
        "registry": reg,
    }


def bench_report(reg: Any, out: Path) -> dict[str, float]:
    from btgym.experiments.report import build_report

    runs = reg.runs(experiment="overhead")
    for r in runs:  # no card cache: draw them all
        for f in Path(r.run_dir).glob("card_*.png"):
            f.unlink()
    t0, c0 = time.perf_counter(), _cpu()
    path = build_report(reg, runs, out)
    cpu = _cpu() - c0  # this process and the card pool's workers (joined at the end)
    return {
        "runs": len(runs),
        "seconds": time.perf_counter() - t0,
        "cpu_seconds": cpu,
        "bytes": path.stat().st_size,
    }


def _cpu() -> float:
    """CPU seconds of this process and its waited-for children."""
    import resource

    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="small sizes (CI)")
    parser.add_argument("--out", type=Path, default=None, help="JSON file to write")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    smoke = args.smoke
    root = Path(tempfile.mkdtemp(prefix="btgym-bench-"))
    try:
        metrics = bench_metrics(root, 1000 if smoke else 10_000)
        claim = bench_claim(root, 100 if smoke else 1000, 20 if smoke else 200)
        runs = bench_runs(root, 3 if smoke else 50, 5 if smoke else 20, args.workers)
        reg = runs.pop("registry")
        report = bench_report(reg, root / "report.html")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    result = {
        "smoke": smoke,
        "metrics": metrics,
        "claim": claim,
        "runs": runs,
        "report": report,
        "targets": {
            "metric_rows_10k_s": 1.0,
            "claim_ms": 50,
            "overhead_per_run_s": 0.5,
            "report_100_runs_s": 60,
        },
        "machine": {
            "cpus": os.cpu_count(),
            "loadavg_1min_at_end": os.getloadavg()[0],
            "note": "shared 2-core VM: several helpers ran their own work at the same time",
        },
    }
    rows = [
        (
            "metric rows logged (100 per call)",
            f"{metrics['rows']}",
            f"{metrics['seconds_100_per_call']:.3f} s",
            "< 1 s per 10,000",
        ),
        ("one log_metrics call (1 row)", "", f"{metrics['single_row_call_ms']:.2f} ms", ""),
        (
            "claim (SQLite, median)",
            f"{claim['queued']} queued",
            f"{claim['median_ms']:.2f} ms",
            "< 50 ms",
        ),
        (
            "per-run overhead (all but fit)",
            f"{runs['runs']} runs, {runs['workers']} workers",
            f"{runs['overhead_per_run_s']:.3f} s",
            "< 0.5 s",
        ),
        (
            "  same, pool start-up charged too",
            "",
            f"{runs['overhead_per_run_with_startup_s']:.3f} s",
            "",
        ),
        ("report", f"{report['runs']} runs", f"{report['seconds']:.1f} s", "< 60 s"),
        ("  report CPU time (all processes)", "", f"{report['cpu_seconds']:.1f} s", ""),
    ]
    print(f"{'measure':36} {'size':24} {'result':>12}  target")
    for name, size, value, target in rows:
        print(f"{name:36} {size:24} {value:>12}  {target}")
    out = args.out or RESULTS / (
        "experiments_overhead_smoke.json" if smoke else "experiments_overhead.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"-> {out}")
    return result


if __name__ == "__main__":
    main()
