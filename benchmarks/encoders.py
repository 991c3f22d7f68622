"""Observation-encoder speed (``models.md`` §7), three yardsticks measured in one run:

1. ``FeatureEncoder.bind`` of the 20-feature reference set (``features.md`` §10) with
   ``window=30`` over one 1,440-bar episode (target < 10 ms);
2. ``ModelEncoder.bind`` of an MLP (2×64) classifier on that set over 1,440 bars
   (target < 15 ms, CPU);
3. in-process env steps/s with that FeatureEncoder against the same env without it
   (target ≥ 85 %), phases alternated so load drifts hit both alike.

Prints a table and writes ``benchmarks/results/encoders.json``.
Usage: ``python benchmarks/encoders.py [--quick] [--no-env] [--data-dir DIR] [--out FILE]``.
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

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from benchmarks.features_batch import reference_set

RESULTS = Path(__file__).resolve().parent / "results" / "encoders.json"
DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
TRAIN = ("2017-01-02", "2017-01-12")
VAL = ("2017-01-12", "2017-01-16")
TEST = ("2017-01-16", "2017-02-01")
TARGETS = {"feature_bind_ms": 10.0, "model_bind_ms": 15.0, "env_ratio": 0.85}


def median_ms(fn, runs: int) -> tuple[float, float]:
    """Median wall and CPU time of ``fn()`` in ms (one warm-up call first); on a shared
    machine the CPU time shows the cost without the waits for a core."""
    fn()
    wall, cpu = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    return statistics.median(wall), statistics.median(cpu)


def build(data_dir: Path, workdir: Path) -> dict[str, Any]:
    """Bars, the fitted FeatureEncoder (window 30) and a saved MLP (2×64) ModelEncoder."""
    from btgym.datafeed import load_bars
    from btgym.features import FeatureLabelSet, LogReturns
    from btgym.models import MLPClassifier
    from btgym.models.encoders import FeatureEncoder, ModelEncoder

    bars = load_bars(filename=str(data_dir / "DAT_ASCII_EURUSD_M1_201701.csv"))
    fls = FeatureLabelSet(reference_set(), [LogReturns().lookforward(1)], "reference-20")
    ds = fls.split(bars, train=TRAIN, val=VAL, test=TEST, task="classification")
    mlp = MLPClassifier(n_features=20, n_classes=ds.n_classes, hidden_layers=[64, 64])
    mlp.fit(ds.X_train, ds.y_train, epochs=5)
    path = mlp.save(workdir / "mlp", dataset=ds)
    fenc = FeatureEncoder.from_dataset(ds, window=30, key="features")
    menc = ModelEncoder(path, key="mlp")
    return {"bars": bars, "dataset": ds, "fenc": fenc, "menc": menc, "model_dir": path}


def env_steps(encoders: list | None, data_dir: Path, seconds: float) -> float:
    """Steps/s of an in-process env (hold agent), resets excluded."""
    import gymnasium as gym

    import btgym

    kw = dict(
        filename=str(data_dir / "DAT_ASCII_EURUSD_M1_201701.csv"),
        episode_duration={"days": 1, "hours": 0, "minutes": 0},
        state_shape={"raw": gym.spaces.Box(0, 10, (30, 4))},
        drawdown_call=99,
        target_call=1000,
        server="inprocess",
        render_enabled=False,
        start_00=True,
    )
    if encoders:
        kw["encoders"] = encoders
    env = btgym.BTgymEnv(**kw)
    try:
        env.reset(seed=0)
        steps, busy = 0, 0.0
        while busy < seconds:
            t0 = time.perf_counter()
            done = False
            n = 0
            while not done and n < 500:
                _, _, term, trunc, _ = env.step(0)
                done = term or trunc
                n += 1
            busy += time.perf_counter() - t0
            steps += n
            if done:
                env.reset()
        return steps / busy
    finally:
        env.close()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smoke mode (CI): fewer runs")
    p.add_argument("--data-dir", type=Path, default=DATA)
    p.add_argument("--no-env", action="store_true", help="skip the env steps/s comparison")
    p.add_argument("--out", type=Path, default=RESULTS, help="the JSON file to write")
    args = p.parse_args(argv)
    runs = 5 if args.quick else 30
    with tempfile.TemporaryDirectory() as tmp:
        parts = build(args.data_dir, Path(tmp))
        bars = parts["bars"]
        start = int(np.searchsorted(bars.index, np.datetime64("2017-01-17", "ns").astype(np.int64)))
        episode = bars.slice(start, start + 1440)
        fenc, menc = parts["fenc"], parts["menc"]
        out: dict[str, Any] = {}
        out["feature_bind_ms"], out["feature_bind_cpu_ms"] = median_ms(
            lambda: fenc.bind(episode), runs
        )
        out["model_bind_ms"], out["model_bind_cpu_ms"] = median_ms(lambda: menc.bind(episode), runs)
        from btgym.features import compute_features

        out["compute_features_ms"], _ = median_ms(
            lambda: compute_features(fenc.features, episode, at="bars"), runs
        )
        if not args.no_env:
            seconds = 2.0 if args.quick else 8.0
            plain, encoded = [], []
            for _ in range(1 if args.quick else 3):  # alternate phases
                plain.append(env_steps(None, args.data_dir, seconds))
                encoded.append(env_steps([fenc], args.data_dir, seconds))
            out["env_steps_plain"] = statistics.median(plain)
            out["env_steps_features"] = statistics.median(encoded)
            out["env_ratio"] = out["env_steps_features"] / out["env_steps_plain"]
    out["targets"] = TARGETS
    out["meta"] = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()} {os.cpu_count()} cpus (shared with other jobs)",
        "load_average": list(os.getloadavg()),
        "python": platform.python_version(),
        "quick": args.quick,
        "episode_bars": 1440,
        "window": 30,
        "features": 20,
    }
    rows = [
        (
            "FeatureEncoder.bind, 20 features, window 30, 1,440 bars",
            f"{out['feature_bind_ms']:.2f} ms (cpu {out['feature_bind_cpu_ms']:.2f})",
            "< 10 ms",
        ),
        ("  of which compute_features(at='bars')", f"{out['compute_features_ms']:.2f} ms", ""),
        (
            "ModelEncoder.bind, MLP 2×64, 1,440 bars",
            f"{out['model_bind_ms']:.2f} ms (cpu {out['model_bind_cpu_ms']:.2f})",
            "< 15 ms",
        ),
    ]
    if "env_ratio" in out:
        rows.append(
            (
                "in-process env steps/s with / without FeatureEncoder",
                f"{out['env_steps_features']:.0f} / {out['env_steps_plain']:.0f}"
                f" = {out['env_ratio']:.1%}",
                "≥ 85 %",
            )
        )
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'result':>28}  target")
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:>28}  {target}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
