"""Live bridge latency: bar received → entry visible to a blocking ``XREAD`` (live.md §10).

Replays EURUSD 1-minute bars with ``speed=max`` through a :class:`LiveRunner` into a local
``redis-server`` (started here, AOF ``appendfsync always`` as in the tests). A reader
thread of the same process blocks on ``XREAD``; the latency of a bar is the moment the
reader has its entry minus ``ClosedBar.received_ns`` (both ``perf_counter_ns``). Two
targets, run one after the other in one process:

- **model**: an MLP 2×64 classifier on the 20-feature reference set (``features.md``
  §10), trained briefly here (latency does not depend on the weights' quality);
- **policy**: the default A3C/PPO ``ActorCritic`` on a ``raw`` 30×4 window plus
  ``internal``, in a live backtrader session with the paper broker.

Targets on CPU: model median < 5 ms, policy median < 20 ms. It prints median, p90, p99
and writes ``benchmarks/results/live_latency.json`` (``--smoke``: a few hundred bars,
``live_latency_smoke.json``). Usage:
``python benchmarks/live_latency.py [--smoke] [--bars N] [--data-dir DIR] [--out FILE]``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core, before numpy loads

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: benchmarks.features_batch is importable
    sys.path.insert(0, str(ROOT))
DATA_DIR = ROOT / "tests" / "data"
RESULTS = ROOT / "benchmarks" / "results"
FILE = "DAT_ASCII_EURUSD_M1_201701.csv"
TARGETS_MS = {"model": 5.0, "policy": 20.0}
START = "2017-01-16T03:00"  # replays start here (Monday); history before it


class Recorder:
    """A source wrapper keeping each bar's ``received_ns`` by its stamp."""

    def __init__(self, source: Any) -> None:
        self.source = source
        self.timeframe, self.asset_names = source.timeframe, source.asset_names
        self.received: dict[int, int] = {}
        self.rejected = 0

    def history(self) -> Any:
        return None

    def bars(self, stop: Any = None):
        for bar in self.source.bars(stop):
            self.received[bar.stamp] = bar.received_ns
            yield bar

    def close(self) -> None:
        self.source.close()


def read_until(url: str, name: str, n: int, seen: dict[int, int], ready: threading.Event) -> None:
    """Block on XREAD until ``n`` entries arrived; ``seen[bar_close_ms] = perf_counter_ns``."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=30)
    key, last = f"btgym:{name}:stream", "0-0"
    ready.set()
    while len(seen) < n:
        reply = client.xread({key: last}, count=1000, block=5000)
        now = time.perf_counter_ns()
        for _k, entries in reply or []:
            for entry_id, _fields in entries:
                last = entry_id.decode()
                seen[int(last.split("-")[0])] = now
    client.close()


def measure(kind: str, target: Any, bars: Any, start: int, n: int, history: int, url: str) -> dict:
    from btgym.live.publisher import RedisPublisher
    from btgym.live.runner import LiveRunner
    from btgym.live.sources import ReplaySource

    name = f"bench-{kind}"
    src = Recorder(ReplaySource(bars=bars.slice(start, start + n), speed=None))
    pub = RedisPublisher(url, name=name, reset=True)
    runner = LiveRunner(
        target, src, pub, timezone="UTC", history=bars.slice(start - history, start)
    )
    seen: dict[int, int] = {}
    ready = threading.Event()
    reader = threading.Thread(target=read_until, args=(url, name, n, seen, ready), daemon=True)
    reader.start()
    ready.wait(10)
    t0 = time.perf_counter()
    stats = runner.run()
    wall = time.perf_counter() - t0
    reader.join(60)
    lat = []
    for stamp, got in src.received.items():
        close_ms = (stamp + 60_000_000_000) // 1_000_000
        if close_ms in seen:
            lat.append((seen[close_ms] - got) / 1e6)
    arr = np.asarray(lat)
    build = stats.latency_ms_median
    return {
        "bars": stats.bars,
        "signals": stats.signals,
        "entries_read": len(arr),
        "ok": stats.ok,
        "stale": stats.stale,
        "median_ms": float(np.median(arr)),
        "p90_ms": float(np.percentile(arr, 90)),
        "p99_ms": float(np.percentile(arr, 99)),
        "build_median_ms": build,
        "bars_per_s": stats.bars / wall,
        "target_median_ms": TARGETS_MS[kind],
        "meets_target": bool(np.median(arr) < TARGETS_MS[kind]),
    }


def model_target(bars: Any, workdir: Path, epochs: int) -> Any:
    from benchmarks.features_batch import reference_set
    from btgym.features import FeatureLabelSet, LogReturns
    from btgym.live.targets import ModelTarget
    from btgym.models import MLPClassifier

    fls = FeatureLabelSet(reference_set(), [LogReturns().lookforward(1)])
    ds = fls.split(
        bars,
        train=("2017-01-03", "2017-01-10"),
        test=("2017-01-10", "2017-01-13"),
        task="classification",
    )
    model = MLPClassifier(n_features=20, n_classes=ds.n_classes, hidden_layers=(64, 64), seed=0)
    model.fit(ds.X_train, ds.y_train, epochs=epochs)
    return ModelTarget.from_dir(model.save(workdir / "mlp", dataset=ds))


def policy_target(workdir: Path, n: int) -> Any:
    from gymnasium import spaces

    from btgym.algorithms.common.checkpoint import save_checkpoint
    from btgym.algorithms.common.policies import ActorCritic
    from btgym.live.policy import PolicyTarget
    from btgym.spaces import ActionDictSpace
    from btgym.strategy import StrategyConfig

    shape = {
        "raw": {"shape": [30, 4], "low": 0.0, "high": 1e12, "dtype": "float32"},
        "internal": {"shape": [7], "low": -100.0, "high": 100.0, "dtype": "float32"},
    }
    kw = {
        "data_names": ["EURUSD"],
        "state_shape": shape,
        "drawdown_call": 90.0,
        "target_call": 1000.0,
        "broker_commission": 0.0001,
    }
    cfg = StrategyConfig(state_shape=shape, asset_names=("EURUSD",))
    obs = spaces.Dict({k: v.to_box() for k, v in cfg.state_shape.items()})
    policy = ActorCritic(obs, ActionDictSpace(["EURUSD"]))  # the default architecture
    path = save_checkpoint(
        workdir / "policy.pt",
        {
            "algo": "a3c",
            "policy_spec": policy.spec(),
            "model": policy.state_dict(),
            "counters": {},
            "config": {},
            "env_kwargs": kw,
        },
    )
    return PolicyTarget.from_checkpoint(path, session_bars=n + 100)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="a few hundred bars (CI)")
    parser.add_argument("--bars", type=int, default=None, help="bars per target (default 2000)")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--model-dir",
        type=Path,
        default=None,
        help="a saved 20-feature MLP to serve instead of training one",
    )
    args = parser.parse_args(argv)
    n = args.bars or (300 if args.smoke else 2000)
    out = args.out or RESULTS / ("live_latency_smoke.json" if args.smoke else "live_latency.json")

    from btgym.datafeed import load_bars
    from btgym.live.localredis import LocalRedis

    bars = load_bars(args.data_dir / FILE, data_names=["EURUSD"])
    start = int(np.searchsorted(bars.index, np.datetime64(START, "ns").astype(np.int64)))
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp, LocalRedis() as server:
        work = Path(tmp)
        if args.model_dir is not None:
            from btgym.live.targets import ModelTarget

            model = ModelTarget.from_dir(args.model_dir)
        else:
            model = model_target(bars, work, 1 if args.smoke else 5)
        results["model"] = measure("model", model, bars, start, n, 400, server.url)
        results["policy"] = measure(
            "policy", policy_target(work, n), bars, start, n, 29, server.url
        )
        redis_version = server.binary
    report = {
        "benchmark": "live_latency",
        "smoke": args.smoke,
        "bars": n,
        "data": FILE,
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "redis_server": redis_version,
            "note": "shared machine: other jobs ran at the same time; compare the two "
            "targets within this run, not absolute times across runs",
        },
        "latency": "bar received (ClosedBar.received_ns) -> entry returned by a blocking "
        "XREAD in a reader thread of the same process (perf_counter_ns)",
        **results,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{'target':8} {'median ms':>10} {'p90 ms':>8} {'p99 ms':>8} {'bars/s':>8} {'goal':>8}")
    for kind in ("model", "policy"):
        r = results[kind]
        print(
            f"{kind:8} {r['median_ms']:10.2f} {r['p90_ms']:8.2f} {r['p99_ms']:8.2f} "
            f"{r['bars_per_s']:8.0f} {'< ' + str(r['target_median_ms']):>8}"
        )
    print(f"wrote {out}")
    return report


if __name__ == "__main__":
    main()
