"""Learning sanity on the sine data: A3C and PPO vs a random policy vs an oracle.

The data: 10,000 one-minute bars of a sine (period 256 bars, amplitude 0.002 around
1.1), the last day held out as the test split; no commission (with the default
0.1 % per fill the oracle's profit per swing is eaten: it ends slightly negative, so
the comparison would say nothing) and ``shortcash=False`` (backtrader's default lets
a short sale raise cash, so shorts are unbounded: a learner found that and the
"oracle" was no yardstick any more). Every policy is scored by its mean
return over test episodes (``sample_type=1``, greedy actions for the trained ones):

- **random**: uniform random actions;
- **oracle** (hand-written): buys at troughs and sells at peaks: while the last close
  rose it closes any short and keeps buying (the broker caps the position), while it
  fell it closes any long and keeps selling (so it turns one bar after each extremum);
- **a3c**, **ppo**: trained for ``--steps`` env steps on train episodes.

Yardstick (issue 5): both trained agents beat random by a clear margin and reach
>= 50 % of the oracle's mean test return within 500k env steps.

Writes learning curves (train episode return vs env steps, from the runs'
TensorBoard files) and the test scores to ``benchmarks/results/learning_sine.json``
and ``learning_sine.png``. ``--smoke`` runs a tiny version (what CI runs).

Usage: ``python benchmarks/learning_sine.py [--steps 500000] [--episodes 20] [--smoke]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
EPISODE = {"days": 0, "hours": 8, "minutes": 32}  # 512 bars: two sine periods
SMOKE_EPISODE = {"days": 0, "hours": 2, "minutes": 0}
TEST_PERIOD = {"days": 1, "hours": 0, "minutes": 0}
HOLD, BUY, SELL, CLOSE = 0, 1, 2, 3


def sine_file(data_dir: Path | None = None) -> str:
    """The sine CSV: in ``data_dir`` when given, else the sample bundled in the package."""
    from btgym.datafeed import sample_data_path

    if data_dir is not None:
        return str(Path(data_dir) / "test_sine_1min_period256_delta0002.csv")
    return str(sample_data_path("sine"))


def env_kwargs(
    server: str = "process", episode: dict[str, int] = EPISODE, data_dir: Path | None = None
) -> dict[str, Any]:
    return dict(
        filename=sine_file(data_dir),
        parsing_params={"header": 0},
        episode_duration=episode,
        start_00=False,
        start_weekdays=[0, 1, 2, 3, 4, 5, 6],
        test_period=TEST_PERIOD,
        broker_commission=0.0,  # with the default 0.1 % even the oracle loses money here
        shortcash=False,  # shorts tie up cash like longs: positions bounded both ways
        server=server,
    )


# --------------------------------------------------------------------------- baselines


def oracle_action(obs: dict[str, np.ndarray], position: float) -> int:
    """Buy at troughs, sell at peaks, as hard as the broker allows: while the last close
    rose, add to the long (after one CLOSE if short); while it fell, add to the short."""
    close = obs["raw"][:, 3]
    slope = float(close[-1] - close[-2])
    want = 1 if slope > 0 else -1 if slope < 0 else 0
    if want == 0:
        return HOLD
    if position * want < 0:
        return CLOSE  # the turn: flat in one step, then build the new side
    return BUY if want > 0 else SELL


def run_baseline(kind: str, kw: dict[str, Any], episodes: int, seed: int) -> list[float]:
    """Test-episode returns of ``"random"`` or ``"oracle"``."""
    from btgym.algorithms.common.envs import make_env
    from btgym.algorithms.evaluation import TEST_EPISODE

    rng = np.random.default_rng(seed)
    env = make_env(kw)
    returns = []
    try:
        for n in range(episodes):
            obs, info = env.reset(seed=seed if n == 0 else None, options=TEST_EPISODE)
            total, done, position = 0.0, False, 0.0
            while not done:
                if kind == "random":
                    action = int(rng.integers(4))
                else:
                    action = oracle_action(obs, position)
                obs, reward, term, trunc, info = env.step(action)
                position = float(sum(info["position"].values()))
                total += float(reward)
                done = term or trunc
            returns.append(total)
    finally:
        env.close()
    return returns


# --------------------------------------------------------------------------- agents


def train_agent(
    algo: str,
    kw: dict[str, Any],
    steps: int,
    workers: int,
    seed: int,
    logdir: Path,
    **keywords: Any,
) -> dict[str, Any]:
    """Train, then return the run summary and its learning curve."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from btgym.algorithms import Tags, get_algo

    n_key = "num_workers" if algo == "a3c" else "num_envs"
    t0 = time.monotonic()
    with get_algo(algo)(
        env_kwargs=kw,
        logdir=logdir,
        total_steps=steps,
        seed=seed,
        checkpoint_every=max(steps // 10, 1000),
        **{n_key: workers},
        **keywords,
    ) as trainer:
        result = trainer.train()
    acc = EventAccumulator(str(logdir), size_guidance={"scalars": 0})
    acc.Reload()
    events = (
        acc.Scalars(Tags.EPISODE_RETURN) if Tags.EPISODE_RETURN in acc.Tags()["scalars"] else []
    )
    return {
        "checkpoint": result.checkpoint,
        "steps": result.steps,
        "episodes": result.episodes,
        "wall_time": time.monotonic() - t0,
        "train_steps_per_sec": result.steps_per_sec,
        "curve": [(int(e.step), float(e.value)) for e in events],
    }


def score_agent(checkpoint: str, kw: dict[str, Any], episodes: int, seed: int) -> list[float]:
    from btgym.algorithms.common.envs import make_env
    from btgym.algorithms.evaluation import TEST_EPISODE, evaluate, load_policy

    policy = load_policy(checkpoint)
    env = make_env(kw)
    try:
        results = evaluate(policy, env, episodes, reset_options=TEST_EPISODE, seed=seed)
    finally:
        env.close()
    return [r.episode_return for r in results]


# --------------------------------------------------------------------------- report


def smooth(curve: list[tuple[int, float]], window: int = 20) -> tuple[np.ndarray, np.ndarray]:
    if not curve:
        return np.array([]), np.array([])
    steps = np.array([s for s, _ in curve], dtype=float)
    values = np.array([v for _, v in curve], dtype=float)
    order = np.argsort(steps, kind="stable")
    steps, values = steps[order], values[order]
    w = max(1, min(window, len(values)))
    kernel = np.ones(w) / w
    return steps[w - 1 :], np.convolve(values, kernel, mode="valid")


def steps_to_fraction(curve: list[tuple[int, float]], target: float) -> int | None:
    """First env step where the smoothed train-episode return reaches ``target``."""
    x, y = smooth(curve)
    hit = np.flatnonzero(y >= target)
    return int(x[hit[0]]) if hit.size else None


def plot(report: dict[str, Any], path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for algo, color in (("a3c", "tab:blue"), ("ppo", "tab:orange")):
        if algo in report["agents"]:
            x, y = smooth(report["agents"][algo]["curve"])
            ax.plot(x, y, color=color, label=f"{algo.upper()} train episodes (smoothed)")
            ax.axhline(
                report["test"][algo]["mean"], color=color, ls=":", label=f"{algo.upper()} test mean"
            )
    ax.axhline(report["test"]["oracle"]["mean"], color="tab:green", ls="--", label="oracle (test)")
    ax.axhline(report["test"]["random"]["mean"], color="tab:gray", ls="--", label="random (test)")
    ax.set_xlabel("env steps")
    ax.set_ylabel("episode return")
    ax.set_title("btgym: learning the sine (512-bar episodes)")
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(path)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--episodes", type=int, default=20, help="test episodes per policy")
    parser.add_argument("--algos", nargs="+", default=["a3c", "ppo"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--server", choices=["process", "inprocess"], default="process")
    parser.add_argument("--smoke", action="store_true", help="tiny run (CI)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="directory of the JSON and PNG")
    parser.add_argument("--logdir", type=Path, default=None, help="keep the runs here")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="folder with test_sine_1min_period256_delta0002.csv (default: the bundled sample)",
    )
    args = parser.parse_args(argv)
    if args.smoke:  # 2-hour episodes so a few hundred steps finish some
        args.steps, args.episodes = min(args.steps, 600), min(args.episodes, 2)
    kw = env_kwargs(args.server, SMOKE_EPISODE if args.smoke else EPISODE, args.data_dir)
    test: dict[str, Any] = {}
    for kind in ("random", "oracle"):
        rets = run_baseline(kind, kw, args.episodes, args.seed)
        test[kind] = {"mean": float(np.mean(rets)), "std": float(np.std(rets)), "returns": rets}
    agents: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = args.logdir or Path(tmp)
        for algo in args.algos:
            extra = {"n_steps": 128} if algo == "ppo" else {}
            agents[algo] = train_agent(
                algo, kw, args.steps, args.workers, args.seed, root / algo, **extra
            )
            rets = score_agent(agents[algo]["checkpoint"], kw, args.episodes, args.seed)
            test[algo] = {"mean": float(np.mean(rets)), "std": float(np.std(rets)), "returns": rets}
            agents[algo]["checkpoint"] = str(Path(agents[algo]["checkpoint"]).name)
    oracle = test["oracle"]["mean"]
    report = {
        "date": date.today().isoformat(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "smoke": args.smoke,
        "steps": args.steps,
        "workers": args.workers,
        "test_episodes": args.episodes,
        "env": {k: v for k, v in kw.items() if k != "filename"} | {"data": "sample 'sine'"},
        "test": test,
        "agents": agents,
        "vs_oracle": {a: test[a]["mean"] / oracle if oracle else float("nan") for a in agents},
        "beats_random": {a: test[a]["mean"] > test["random"]["mean"] for a in agents},
        "steps_to_half_oracle_train": {
            a: steps_to_fraction(agents[a]["curve"], 0.5 * oracle) for a in agents
        },
    }
    print(f"\n{'policy':<8} {'test return':>12} {'std':>8} {'vs oracle':>10}")
    for name, t in test.items():
        ratio = t["mean"] / oracle if oracle else float("nan")
        print(f"{name:<8} {t['mean']:>12.4g} {t['std']:>8.3g} {ratio:>10.0%}")
    for algo, a in agents.items():
        half = report["steps_to_half_oracle_train"][algo]
        print(
            f"{algo}: {a['steps']} steps, {a['episodes']} episodes, {a['wall_time']:.0f} s, "
            f"{a['train_steps_per_sec']:.0f} steps/s; train episodes reach 50 % of the oracle "
            f"at {half if half is not None else 'never'} steps"
        )
    name = "learning_sine_smoke" if args.smoke else "learning_sine"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    plot(report, args.out / f"{name}.png")
    print(f"wrote {args.out / name}.json and .png")
    return report


if __name__ == "__main__":
    main()
