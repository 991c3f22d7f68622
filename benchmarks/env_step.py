"""Env speed and memory, with the two references measured in the same run (DESIGN §5).

Prints a table and writes ``benchmarks/results/env_step.json``:

- steps/s of a random and a hold agent, process and in-process modes;
- reset latency (median, p95) and construction-to-first-observation;
- RSS and PSS of the env's process plus its servers;
- aggregate steps/s of 1, 2, 4 envs sharing one data server (AsyncVectorEnv);
- the floor (empty backtrader strategy, one ZeroMQ round trip per bar from a child)
  and backtrader alone (same window work, no env, no IPC), and btgym's ratios to them.

Usage: ``python benchmarks/env_step.py [--quick] [--data-dir DIR]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from datetime import date
from pathlib import Path

import numpy as np
import psutil

import btgym
from benchmarks import references

RESULTS = Path(__file__).resolve().parent / "results" / "env_step.json"
EPISODE = {"days": 2, "hours": 23, "minutes": 55}


def env_kwargs(data_dir: Path) -> dict:
    """The env under test: a 30×4 raw OHLC window, the same work as the references."""
    import gymnasium as gym

    return dict(
        filename=str(data_dir / "DAT_ASCII_EURUSD_M1_201701.csv"),
        episode_duration=EPISODE,
        state_shape={"raw": gym.spaces.Box(0, 10, (30, 4))},
        drawdown_call=99,
        target_call=1000,
    )


def steps_per_s(env, agent: str, seconds: float) -> float:
    """Steps per second over ``seconds``, resets excluded."""
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    steps, busy = 0, 0.0
    while busy < seconds:
        t0 = time.perf_counter()
        n_here = 0
        while n_here < 500:
            action = int(rng.integers(4)) if agent == "random" else 0
            _, _, term, trunc, _ = env.step(action)
            n_here += 1
            if term or trunc:
                break
        busy += time.perf_counter() - t0
        steps += n_here
        if term or trunc:
            env.reset()
    return steps / busy


def reset_latency(env, n: int) -> tuple[float, float]:
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        env.reset(options={"trial_config": {"get_new": True}} if i % 2 else None)
        times.append(time.perf_counter() - t0)
    times.sort()
    return statistics.median(times), times[int(0.95 * (len(times) - 1))]


def memory(env_pid: int) -> tuple[float, float]:
    """RSS and PSS (MB) of the env process and its descendants (forkserver included)."""
    me = psutil.Process(env_pid)
    rss = pss = 0
    for proc in [me, *me.children(recursive=True)]:
        try:
            info = proc.memory_full_info()
            rss += info.rss
            pss += getattr(info, "pss", info.rss)
        except psutil.Error:
            pass
    return rss / 2**20, pss / 2**20


_MEMORY_SCRIPT = """
import json, os, sys
from pathlib import Path
import btgym
from benchmarks.env_step import env_kwargs, memory
env = btgym.BTgymEnv(server=sys.argv[1], **env_kwargs(Path(sys.argv[2])))
env.reset(seed=0)
for i in range(300):
    env.step(i % 4)
print(json.dumps(memory(os.getpid())))
env.close()
"""


def fresh_process_memory(mode: str, data_dir: Path) -> tuple[float, float]:
    """RSS and PSS (MB) of one env with its servers, measured in a fresh interpreter
    (this benchmark's own process has loaded more than a user's would)."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", _MEMORY_SCRIPT, mode, str(data_dir)],
        capture_output=True,
        text=True,
        check=True,
        cwd=root,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    rss, pss = json.loads(out.stdout.strip().splitlines()[-1])
    return rss, pss


def one_mode(mode: str, data_dir: Path, seconds: float, n_resets: int) -> dict:
    t0 = time.perf_counter()
    env = btgym.BTgymEnv(server=mode, **env_kwargs(data_dir))
    env.reset(seed=0)
    first_obs = time.perf_counter() - t0
    try:
        out = {
            "first_obs_s": first_obs,
            "random_steps_s": steps_per_s(env, "random", seconds),
            "hold_steps_s": steps_per_s(env, "hold", seconds),
        }
        out["reset_median_s"], out["reset_p95_s"] = reset_latency(env, n_resets)
        out["rss_mb"], out["pss_mb"] = fresh_process_memory(mode, data_dir)
    finally:
        env.close()
    return out


def _vector_worker_steps(n: int, data_dir: Path, seconds: float, mode: str) -> float:
    import gymnasium as gym

    fns = btgym.make_env_fns(n, server=mode, **env_kwargs(data_dir))
    venv = gym.vector.AsyncVectorEnv(list(fns), context="forkserver")
    try:
        venv.reset(seed=0)
        rng = np.random.default_rng(0)
        steps, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            venv.step({"default_asset": rng.integers(4, size=n)})
            steps += n
        return steps / (time.perf_counter() - t0)
    finally:
        venv.close()
        fns.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=references.DATA_DIR,
        help="folder with DAT_ASCII_EURUSD_M1_201701.csv (default: the bundled tests/data)",
    )
    args = parser.parse_args()
    seconds, n_resets, n_bars = (1.5, 10, 5_000) if args.quick else (6.0, 40, 20_000)

    bars = references.load_bars(n_bars, args.data_dir)
    refs = {
        "floor_steps_s": references.floor(n_bars, data_dir=args.data_dir),
        "floor_trading_steps_s": references.floor(n_bars, trade=True, data_dir=args.data_dir),
        "backtrader_alone_bars_s": references.backtrader_alone(bars),
        "backtrader_alone_trading_bars_s": references.backtrader_alone(bars, trade=True),
    }
    modes = {m: one_mode(m, args.data_dir, seconds, n_resets) for m in ("process", "inprocess")}
    render_off = btgym.BTgymEnv(
        server="inprocess", render_enabled=False, **env_kwargs(args.data_dir)
    )
    try:
        modes["inprocess"]["hold_steps_s_render_disabled"] = steps_per_s(
            render_off, "hold", seconds
        )
    finally:
        render_off.close()
    shared = {
        f"{n}_envs_inprocess_steps_s": _vector_worker_steps(n, args.data_dir, seconds, "inprocess")
        for n in (1, 2, 4)
    }
    p, ip = modes["process"], modes["inprocess"]
    ratios = {
        "process_hold_vs_floor": p["hold_steps_s"] / refs["floor_steps_s"],
        "process_random_vs_trading_floor": p["random_steps_s"] / refs["floor_trading_steps_s"],
        "inprocess_hold_vs_backtrader": ip["hold_steps_s"] / refs["backtrader_alone_bars_s"],
        "inprocess_random_vs_trading_backtrader": (
            ip["random_steps_s"] / refs["backtrader_alone_trading_bars_s"]
        ),
    }
    result = {
        "date": date.today().isoformat(),
        "machine": _machine(),
        "quick": args.quick,
        "references": refs,
        "modes": modes,
        "shared_data_server": shared,
        "ratios": ratios,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))
    print(table(result))


def _machine() -> str:
    return f"{platform.machine()}, {psutil.cpu_count()} cores, {platform.python_version()}"


def _ms_pair(m: dict) -> str:
    return f"{m['reset_median_s'] * 1e3:.1f} / {m['reset_p95_s'] * 1e3:.1f}"


def table(r: dict) -> str:
    """The README table (markdown) and the reference lines."""
    p, ip = r["modes"]["process"], r["modes"]["inprocess"]
    refs, ratios = r["references"], r["ratios"]
    rows = [
        ("hold agent, steps/s", f"{p['hold_steps_s']:,.0f}", f"{ip['hold_steps_s']:,.0f}"),
        ("random agent, steps/s", f"{p['random_steps_s']:,.0f}", f"{ip['random_steps_s']:,.0f}"),
        (
            "hold: share of its reference",
            f"{ratios['process_hold_vs_floor']:.0%} of floor",
            f"{ratios['inprocess_hold_vs_backtrader']:.0%} of bt alone",
        ),
        (
            "random: share of its reference",
            f"{ratios['process_random_vs_trading_floor']:.0%} of floor+orders",
            f"{ratios['inprocess_random_vs_trading_backtrader']:.0%} of bt+orders",
        ),
        ("reset median / p95, ms", _ms_pair(p), _ms_pair(ip)),
        ("construct → first obs, s", f"{p['first_obs_s']:.2f}", f"{ip['first_obs_s']:.2f}"),
        (
            "RSS / PSS, MB (all processes)",
            f"{p['rss_mb']:.0f} / {p['pss_mb']:.0f}",
            f"{ip['rss_mb']:.0f} / {ip['pss_mb']:.0f}",
        ),
    ]
    lines = [
        f"btgym env benchmark — {r['date']}, {r['machine']}",
        "",
        f"| {'metric':32} | {'process':>22} | {'in-process':>22} |",
        f"|{'-' * 34}|{'-' * 24}|{'-' * 24}|",
    ]
    lines += [f"| {a:32} | {b:>22} | {c:>22} |" for a, b, c in rows]
    lines += [
        "",
        f"references in the same run: floor {refs['floor_steps_s']:,.0f} steps/s "
        f"(with the random orders {refs['floor_trading_steps_s']:,.0f}); backtrader alone "
        f"{refs['backtrader_alone_bars_s']:,.0f} bars/s (with the random orders "
        f"{refs['backtrader_alone_trading_bars_s']:,.0f})",
        "rendering never called costs step() nothing: in-process hold "
        f"{ip['hold_steps_s']:,.0f} steps/s with rendering enabled, "
        f"{ip['hold_steps_s_render_disabled']:,.0f} with render_enabled=False",
        "envs sharing one data server (AsyncVectorEnv, in-process servers): "
        + ", ".join(
            f"{k.split('_')[0]} → {v:,.0f} steps/s" for k, v in r["shared_data_server"].items()
        ),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
