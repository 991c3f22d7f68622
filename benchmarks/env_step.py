"""Env speed and memory, with the two references measured in the same run (DESIGN §5).

Prints a table and writes ``benchmarks/results/env_step.json``:

- steps/s of a random and a hold agent, process and in-process modes;
- reset latency (median, p95) and construction-to-first-observation;
- RSS and PSS of the env's process plus its servers;
- the CPU split: µs of CPU per step in the env's process and in its servers;
- total steps/s of n = 1, 2, 4, 8 process-mode envs on one data server, stepped by
  ``btgym.make_vec`` (one process, a ZeroMQ poller) and by gymnasium's
  ``AsyncVectorEnv`` (a worker per env), beside n × one env, and by
  ``btgym.make_vec(n, servers=2)`` / ``servers=1`` (grouped servers: each process
  hosts n / servers envs and answers one batched step per vector step), with n / 2
  or all envs hosted in this process (``local_envs``);
- aggregate steps/s of 1, 2, 4 envs sharing one data server (AsyncVectorEnv, in-process);
- the floor (empty backtrader strategy, one ZeroMQ round trip per bar from a child)
  and backtrader alone (same window work, no env, no IPC), and btgym's ratios to them.

Usage: ``python benchmarks/env_step.py [--quick] [--data-dir DIR] [--vector-only]``
(``--vector-only``: the vector rows and one env only, written to
``benchmarks/results/env_step_vector.json``).
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


def tree_procs() -> list[psutil.Process]:
    """Every live descendant of this process (servers, workers), found once: a scan of
    the process table costs milliseconds, so a measurement does not repeat it."""
    return psutil.Process().children(recursive=True)


def cpu_of(procs: list[psutil.Process]) -> float:
    """CPU seconds used so far by ``procs`` (gone ones count 0)."""
    total = 0.0
    for proc in procs:
        try:
            t = proc.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def steps_per_s(env, agent: str, seconds: float) -> float:
    """Steps per second over ``seconds``, resets excluded."""
    return measure(env, agent, seconds)["steps_s"]


def agent_actions(agent: str, n: int) -> list[int]:
    """The agent's ``n`` actions, drawn before the clock starts (seeded): the references
    draw their random orders up front too, so no subject times its action sampling."""
    if agent == "random":
        return np.random.default_rng(0).integers(4, size=n).tolist()
    return [0] * n


def measure(env, agent: str, seconds: float) -> dict[str, float]:
    """Steps/s over ``seconds`` (resets excluded) and the CPU split: µs of CPU per step
    in this process (``time.process_time``) and in its children (psutil)."""
    actions = agent_actions(agent, 500)
    env.reset(seed=0)
    procs = tree_procs()
    steps, busy, cpu, child = 0, 0.0, 0.0, 0.0
    while busy < seconds:
        c0, k0, t0 = time.process_time(), cpu_of(procs), time.perf_counter()
        n_here = 0
        for action in actions:
            _, _, term, trunc, _ = env.step(action)
            n_here += 1
            if term or trunc:
                break
        busy += time.perf_counter() - t0
        cpu += time.process_time() - c0
        child += cpu_of(procs) - k0
        steps += n_here
        if term or trunc:
            env.reset()
    return {
        "steps_s": steps / busy,
        "parent_us": cpu / steps * 1e6,
        "child_us": child / steps * 1e6,
    }


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


def one_mode(mode: str, data_dir: Path, n_resets: int) -> dict:
    """Construction → first observation, reset latency and memory of one env."""
    t0 = time.perf_counter()
    env = btgym.BTgymEnv(server=mode, **env_kwargs(data_dir))
    env.reset(seed=0)
    out: dict = {"first_obs_s": time.perf_counter() - t0}
    try:
        out["reset_median_s"], out["reset_p95_s"] = reset_latency(env, n_resets)
        out["rss_mb"], out["pss_mb"] = fresh_process_memory(mode, data_dir)
    finally:
        env.close()
    return out


def best(samples: list[dict]) -> dict:
    """Best of alternating rounds: the highest rate and the lowest CPU per step (the
    load of a shared machine only ever slows a subject down)."""
    return {
        "steps_s": max(m["steps_s"] for m in samples),
        "parent_us": min(m["parent_us"] for m in samples),
        "child_us": min(m["child_us"] for m in samples),
        "rounds": len(samples),
    }


def open_vector(kind: str, n: int, data_dir: Path) -> tuple:
    """``n`` process-mode envs on one data server as a vector env: ``kind``
    "make_vec" (btgym.make_vec: this process sends all n requests, then collects) or
    "async" (gymnasium AsyncVectorEnv over the same envs: a worker process per env).
    Returns ``(venv, close)``."""
    import gymnasium as gym

    if kind.startswith("make_vec"):
        servers, local = GROUPED[kind](n) if kind in GROUPED else (None, 0)
        venv = btgym.make_vec(n, seed=0, servers=servers, local_envs=local, **env_kwargs(data_dir))
        venv.reset(seed=0)
        return venv, venv.close
    fns = btgym.make_env_fns(n, seed=0, server="process", **env_kwargs(data_dir))
    venv = gym.vector.AsyncVectorEnv(list(fns), context="forkserver")
    venv.reset(seed=0)

    def close() -> None:
        venv.close()
        fns.close()

    return venv, close


def vector_measure(venv, n: int, agent: str, seconds: float) -> dict:
    """Total steps/s of a vector env and its CPU split per env step."""
    hold = {"default_asset": np.zeros(n, np.int64)}
    for _ in range(10):  # warm up
        venv.step(hold)
    # the actions drawn before the clock starts (as for one env and the references)
    codes = np.random.default_rng(0).integers(4, size=(512, n))
    actions = [{"default_asset": c} if agent == "random" else hold for c in codes]
    steps = i = 0
    procs = tree_procs()
    c0, k0, t0 = time.process_time(), cpu_of(procs), time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for a in actions[i : i + 64]:
            venv.step(a)
        i = (i + 64) % len(actions)
        steps += 64 * n
    wall, cpu, child = time.perf_counter() - t0, time.process_time() - c0, cpu_of(procs) - k0
    return {
        "steps_s": steps / wall,
        "parent_us": cpu / steps * 1e6,
        "child_us": child / steps * 1e6,
    }


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


def vector_rows(one_env, args: argparse.Namespace, seconds: float, take, samples: dict) -> dict:
    """The vector rows: make_vec (one server per env, and grouped), AsyncVectorEnv
    and one env, alternating per n in the same rounds (best kept)."""
    vector: dict = {"make_vec": {}, "async": {}, "one_env": {}}
    vector.update({kind: {} for kind in GROUPED})
    for n in VECTOR_NS:
        kinds = ["make_vec", *(k for k, at in GROUPED.items() if at(n)), "async"]
        opened = {k: open_vector(k, n, args.data_dir) for k in kinds}
        try:
            for _ in range(args.rounds):
                for agent in ("hold", "random"):
                    for kind, (venv, _) in opened.items():
                        take(f"{kind}_{n}_{agent}", vector_measure(venv, n, agent, seconds))
                    take(f"one_{n}_{agent}", measure(one_env, agent, seconds))
        finally:
            for _, close in opened.values():
                close()
        for agent in ("hold", "random"):
            for kind in [*kinds, "one"]:
                m = best(samples[f"{kind}_{n}_{agent}"])
                vector["one_env" if kind == "one" else kind].setdefault(agent, {})[str(n)] = m
            print(
                f"n={n} {agent}: "
                + ", ".join(f"{k} {vector[k][agent][str(n)]['steps_s']:,.0f}" for k in kinds)
                + f", one env {vector['one_env'][agent][str(n)]['steps_s']:,.0f} steps/s",
                flush=True,
            )
    return vector


def vector_ratios(vec: dict) -> dict[str, float]:
    """make_vec(4) (one server per env, and grouped) vs one env and AsyncVectorEnv(4)."""
    out = {}
    for agent in ("hold", "random"):
        one = vec["one_env"][agent]["4"]["steps_s"]  # measured alternating with make_vec(4)
        av = vec["async"][agent]["4"]["steps_s"]
        for kind in ("make_vec", *GROUPED):
            rate = vec[kind][agent]["4"]["steps_s"]
            name = "make_vec4" if kind == "make_vec" else f"make_vec4_{kind[9:]}"  # e.g. servers2
            out[f"{name}_vs_one_process_{agent}"] = rate / one
            out[f"{name}_vs_async4_{agent}"] = rate / av
    return out


def vector_table(r: dict) -> str:
    """The grouped rows: total steps/s (CPU µs per env step, this process / children)."""
    vec = r["vector"]
    lines = [
        "| n | agent | make_vec | servers=2 | servers=1 | servers=1 + n/2 here | all here "
        "| AsyncVectorEnv | one env |",
        "|--:|-------|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def cell(d: dict | None) -> str:
        if d is None:
            return "–"
        return f"{d['steps_s']:,.0f} ({d['parent_us']:.0f} / {d['child_us']:.0f})"

    for agent in ("hold", "random"):
        for n in vec["make_vec"][agent]:
            row = [cell(vec[k][agent].get(n)) for k in ("make_vec", *GROUPED, "async")]
            one = cell(vec["one_env"][agent][n])
            lines.append(f"| {n} | {agent} | " + " | ".join(row) + f" | {one} |")
    ratios = r["ratios"]
    lines.append("")
    lines.append(
        "make_vec(4) vs one env / vs AsyncVectorEnv(4): "
        + "; ".join(
            f"{name} {agent} {ratios[f'{name}_vs_one_process_{agent}']:.2f}× / "
            f"{ratios[f'{name}_vs_async4_{agent}']:.2f}×"
            for name in ("make_vec4", *(f"make_vec4_{k[9:]}" for k in GROUPED))
            for agent in ("hold", "random")
        )
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=references.DATA_DIR,
        help="folder with DAT_ASCII_EURUSD_M1_201701.csv (default: the bundled tests/data)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (best kept)")
    parser.add_argument("--vector-only", action="store_true", help="only the vector rows")
    args = parser.parse_args()
    seconds, n_resets, n_bars = (0.5, 10, 1_000) if args.quick else (2.0, 40, 5_000)

    load_start = os.getloadavg()
    bars = references.load_bars(n_bars, args.data_dir)
    samples: dict[str, list] = {}

    def take(name: str, m: dict) -> None:
        samples.setdefault(name, []).append(m)

    # references and single envs, alternating rounds (best kept)
    envs = {m: btgym.BTgymEnv(server=m, **env_kwargs(args.data_dir)) for m in MODES}
    try:
        for _ in range(0 if args.vector_only else args.rounds):
            take("floor", references.floor_split(n_bars, data_dir=args.data_dir))
            take("floor_trading", references.floor_split(n_bars, True, args.data_dir))
            take("backtrader_alone", references.backtrader_alone_split(bars))
            take("backtrader_alone_trading", references.backtrader_alone_split(bars, True))
            for mode, env in envs.items():
                for agent in ("hold", "random"):
                    take(f"{mode}_{agent}", measure(env, agent, seconds))
        if args.vector_only:
            vector = vector_rows(envs["process"], args, seconds, take, samples)
            result = {
                "date": date.today().isoformat(),
                "machine": _machine(),
                "load_average": {"start": load_start, "end": os.getloadavg()},
                "quick": args.quick,
                "vector": vector,
            }
            result["ratios"] = vector_ratios(vector)
            VECTOR_RESULTS.write_text(json.dumps(result, indent=2))
            print(vector_table(result))
            return
        vector = vector_rows(envs["process"], args, seconds, take, samples)
    finally:
        for env in envs.values():
            env.close()
    splits = {k: best(samples[k]) for k in REFERENCES}
    refs = {
        "floor_steps_s": splits["floor"]["steps_s"],
        "floor_trading_steps_s": splits["floor_trading"]["steps_s"],
        "backtrader_alone_bars_s": splits["backtrader_alone"]["steps_s"],
        "backtrader_alone_trading_bars_s": splits["backtrader_alone_trading"]["steps_s"],
        "cpu_us": {
            k: {"parent": v["parent_us"], "child": v["child_us"]} for k, v in splits.items()
        },
    }
    modes = {m: one_mode(m, args.data_dir, n_resets) for m in MODES}
    for mode in MODES:
        for agent in ("hold", "random"):
            m = best(samples[f"{mode}_{agent}"])
            modes[mode][f"{agent}_steps_s"] = m["steps_s"]
            modes[mode][f"{agent}_cpu_us"] = {"parent": m["parent_us"], "child": m["child_us"]}
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
    result = {
        "date": date.today().isoformat(),
        "machine": _machine(),
        "shared_machine": (
            "see load_average (other jobs on the machine deflate wall rates): compare "
            "ratios measured within this one run; CPU µs per step are less distorted by "
            "load, but a process-mode round trip's CPU varies between runs (wake-ups, "
            "caches) by up to ~2x on the 2-core VM"
        ),
        "load_average": {"start": load_start, "end": os.getloadavg()},
        "quick": args.quick,
        "method": (
            f"{args.rounds} alternating rounds of {seconds:g} s per subject (references: "
            f"{n_bars:,} bars per round); best rate and lowest CPU per step kept"
        ),
        "references": refs,
        "modes": modes,
        "vector": vector,
        "shared_data_server": shared,
        "before_lean_step": BEFORE,
        "before_step_frame": BEFORE_STEP_FRAME,
    }
    result["ratios"] = ratios(result)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))
    print(table(result))


#: n of the vector rows
VECTOR_NS = (1, 2, 4, 8)
#: the grouped make_vec rows: kind → (servers, envs hosted here) for n envs (measured
#: where that differs from one server per env)
GROUPED = {
    "make_vec_servers2": lambda n: (2, 0) if n > 2 else None,
    "make_vec_servers1": lambda n: (1, 0) if n > 1 else None,
    "make_vec_servers1_half_here": lambda n: (1, n // 2) if n > 1 else None,
    "make_vec_all_here": lambda n: (0, n),
}
VECTOR_RESULTS = RESULTS.parent / "env_step_vector.json"
MODES = ("process", "inprocess")
REFERENCES = ("floor", "floor_trading", "backtrader_alone", "backtrader_alone_trading")

#: the same measurement (one env, 3,000 steps, steps/s and CPU µs per step in this
#: process / the server) at commit 8659535, before the lean step path, on the same
#: shared machine (load 16-18): wall rates are not comparable across runs, CPU µs are.
BEFORE = {
    "commit": "8659535",
    "load_average": 17,
    "process": {
        "hold": {"steps_s": 3891, "parent_us": 70, "child_us": 113},
        "random": {"steps_s": 1115, "parent_us": 118, "child_us": 337},
    },
    "inprocess": {
        "hold": {"steps_s": 6018, "parent_us": 45, "child_us": 0},
        "random": {"steps_s": 1190, "parent_us": 224, "child_us": 0},
    },
}


#: the full benchmark at commit 38465aa (load 1-3), before the one-frame step reply,
#: the server's fast step path and the lean in-process step (issue 14, item 1): CPU µs
#: per step parent / child and the yardstick ratios of that run
BEFORE_STEP_FRAME = {
    "commit": "38465aa",
    "load_average": "1-3",
    "references_cpu_us": {
        "floor": {"parent": 21.2, "child": 44.0},
        "floor_trading": {"parent": 28.0, "child": 184.0},
        "backtrader_alone": {"parent": 22.3, "child": 0.0},
    },
    "process": {
        "hold": {"steps_s": 6130, "parent_us": 51.9, "child_us": 110.6},
        "random": {"steps_s": 2390, "parent_us": 102.4, "child_us": 312.2},
    },
    "inprocess": {
        "hold": {"steps_s": 23739, "parent_us": 41.6, "child_us": 0},
        "random": {"steps_s": 5659, "parent_us": 174.0, "child_us": 0},
    },
    "make_vec4_hold": {"steps_s": 5302, "parent_us": 82.4, "child_us": 188.6},
    "ratios": {
        "process_hold_vs_floor": 0.41,
        "process_random_vs_trading_floor": 0.51,
        "inprocess_hold_vs_backtrader": 0.54,
        "inprocess_random_vs_trading_backtrader": 0.81,
        "make_vec4_vs_one_process_hold": 1.23,
        "make_vec4_vs_one_process_random": 1.61,
        "make_vec4_vs_async4_hold": 1.80,
        "make_vec4_vs_async4_random": 1.46,
    },
    "note": (
        "the random agent's action was drawn inside the timed loop for the envs (about "
        "2 µs of parent CPU per step) but before it for the references; since then every "
        "subject's actions are drawn before the clock starts"
    ),
}


def _cpu(d: dict) -> float:
    return d["parent"] + d["child"]


def ratios(r: dict) -> dict[str, float]:
    """Every yardstick ratio, from numbers of the same run."""
    refs, p, ip, vec = r["references"], r["modes"]["process"], r["modes"]["inprocess"], r["vector"]
    cpu = refs["cpu_us"]
    out = {
        "process_hold_vs_floor": p["hold_steps_s"] / refs["floor_steps_s"],
        "process_random_vs_trading_floor": p["random_steps_s"] / refs["floor_trading_steps_s"],
        "inprocess_hold_vs_backtrader": ip["hold_steps_s"] / refs["backtrader_alone_bars_s"],
        "inprocess_random_vs_trading_backtrader": (
            ip["random_steps_s"] / refs["backtrader_alone_trading_bars_s"]
        ),
        # the same shares in CPU time per step (reference CPU / btgym CPU)
        "process_hold_vs_floor_cpu": _cpu(cpu["floor"]) / _cpu(p["hold_cpu_us"]),
        "process_random_vs_trading_floor_cpu": (
            _cpu(cpu["floor_trading"]) / _cpu(p["random_cpu_us"])
        ),
        "inprocess_hold_vs_backtrader_cpu": _cpu(cpu["backtrader_alone"]) / _cpu(ip["hold_cpu_us"]),
        "inprocess_random_vs_trading_backtrader_cpu": (
            _cpu(cpu["backtrader_alone_trading"]) / _cpu(ip["random_cpu_us"])
        ),
    }
    for agent in ("hold", "random"):
        mv, av = vec["make_vec"][agent], vec["async"][agent]
        one = vec["one_env"][agent]["4"]["steps_s"]  # measured alternating with make_vec(4)
        out[f"make_vec4_vs_one_process_{agent}"] = mv["4"]["steps_s"] / one
        out[f"make_vec4_vs_async4_{agent}"] = mv["4"]["steps_s"] / av["4"]["steps_s"]
    out.update(vector_ratios(vec))
    return out


def _machine() -> str:
    return f"{platform.machine()}, {psutil.cpu_count()} cores, {platform.python_version()}"


def _ms_pair(m: dict) -> str:
    return f"{m['reset_median_s'] * 1e3:.1f} / {m['reset_p95_s'] * 1e3:.1f}"


def _split(d: dict) -> str:
    return f"{d['parent']:.0f} / {d['child']:.0f}"


def table(r: dict) -> str:
    """The README tables (markdown) and the reference lines."""
    p, ip = r["modes"]["process"], r["modes"]["inprocess"]
    refs, ratios = r["references"], r["ratios"]
    cpu = refs["cpu_us"]
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
        (
            "hold: share, in CPU time",
            f"{ratios['process_hold_vs_floor_cpu']:.0%} of floor",
            f"{ratios['inprocess_hold_vs_backtrader_cpu']:.0%} of bt alone",
        ),
        (
            "random: share, in CPU time",
            f"{ratios['process_random_vs_trading_floor_cpu']:.0%} of floor+orders",
            f"{ratios['inprocess_random_vs_trading_backtrader_cpu']:.0%} of bt+orders",
        ),
        ("hold: CPU µs/step parent / server", _split(p["hold_cpu_us"]), _split(ip["hold_cpu_us"])),
        (
            "random: CPU µs/step parent / server",
            _split(p["random_cpu_us"]),
            _split(ip["random_cpu_us"]),
        ),
        ("reset median / p95, ms", _ms_pair(p), _ms_pair(ip)),
        ("construct → first obs, s", f"{p['first_obs_s']:.2f}", f"{ip['first_obs_s']:.2f}"),
        (
            "RSS / PSS, MB (all processes)",
            f"{p['rss_mb']:.0f} / {p['pss_mb']:.0f}",
            f"{ip['rss_mb']:.0f} / {ip['pss_mb']:.0f}",
        ),
    ]
    load = r["load_average"]
    lines = [
        f"btgym env benchmark — {r['date']}, {r['machine']}, shared machine "
        f"(load average {load['start'][0]:.1f} → {load['end'][0]:.1f})",
        "",
        f"| {'metric':36} | {'process':>22} | {'in-process':>22} |",
        f"|{'-' * 38}|{'-' * 24}|{'-' * 24}|",
    ]
    lines += [f"| {a:36} | {b:>22} | {c:>22} |" for a, b, c in rows]
    pre = r.get("before_step_frame")
    if pre:
        bp, bi = pre["process"], pre["inprocess"]
        lines += [
            "",
            f"before the step frame ({pre['commit']}, another run): CPU µs/step parent / "
            f"server, process hold {bp['hold']['parent_us']:.0f} / "
            f"{bp['hold']['child_us']:.0f}, random {bp['random']['parent_us']:.0f} / "
            f"{bp['random']['child_us']:.0f}; in-process hold "
            f"{bi['hold']['parent_us']:.0f}, random {bi['random']['parent_us']:.0f}",
        ]
    lines += [
        "",
        f"references in the same run: floor {refs['floor_steps_s']:,.0f} steps/s "
        f"(with the random orders {refs['floor_trading_steps_s']:,.0f}); backtrader alone "
        f"{refs['backtrader_alone_bars_s']:,.0f} bars/s (with the random orders "
        f"{refs['backtrader_alone_trading_bars_s']:,.0f}); CPU µs/step parent / child: "
        f"floor {_split(cpu['floor'])}, floor+orders {_split(cpu['floor_trading'])}, "
        f"bt alone {cpu['backtrader_alone']['parent']:.0f}, "
        f"bt+orders {cpu['backtrader_alone_trading']['parent']:.0f}",
        "rendering never called costs step() nothing: in-process hold "
        f"{ip['hold_steps_s']:,.0f} steps/s with rendering enabled, "
        f"{ip['hold_steps_s_render_disabled']:,.0f} with render_enabled=False",
        "",
        "process-mode envs on one data server, total steps/s (CPU µs per env step: "
        "this process / its children); one env measured in the same rounds:",
        "",
        "| n | agent | make_vec | AsyncVectorEnv | n × one env | make_vec / Async |",
        "|--:|-------|---------:|---------------:|------------:|-----------------:|",
    ]
    vec = r["vector"]
    for agent in ("hold", "random"):
        for n, mv in vec["make_vec"][agent].items():
            av = vec["async"][agent][n]
            one = vec["one_env"][agent][n]["steps_s"]
            lines.append(
                f"| {n} | {agent} | {mv['steps_s']:,.0f} ({mv['parent_us']:.0f} / "
                f"{mv['child_us']:.0f}) | {av['steps_s']:,.0f} ({av['parent_us']:.0f} / "
                f"{av['child_us']:.0f}) | {int(n) * one:,.0f} | "
                f"{mv['steps_s'] / av['steps_s']:.1f}× |"
            )
    lines += [
        "",
        f"make_vec(4) vs one process-mode env: hold "
        f"{ratios['make_vec4_vs_one_process_hold']:.2f}×, random "
        f"{ratios['make_vec4_vs_one_process_random']:.2f}×; vs AsyncVectorEnv(4): hold "
        f"{ratios['make_vec4_vs_async4_hold']:.2f}×, random "
        f"{ratios['make_vec4_vs_async4_random']:.2f}×",
        "",
        "grouped servers (make_vec(n, servers=k): n / k envs per server process):",
        "",
        vector_table(r),
        "",
        "envs sharing one data server (AsyncVectorEnv, in-process servers): "
        + ", ".join(
            f"{k.split('_')[0]} → {v:,.0f} steps/s" for k, v in r["shared_data_server"].items()
        ),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
