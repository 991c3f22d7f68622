"""The ``btgym`` command.

Subcommands:

- ``btgym train``: train A3C or PPO on bar files (default: the sine sample shipped
  in the package) with a progress bar, TensorBoard summaries and checkpoints in
  ``--logdir``; ``--resume`` continues a run. Ends with a summary and writes one
  episode image (``episode.png``) of the trained policy into the logdir.
- ``btgym eval``: test episodes (``sample_type=1``) of a checkpoint's policy; prints
  return, final broker value, max drawdown and trades per episode and on average.
- ``btgym render``: one episode with a random policy, saved as a PNG.

Data: ``--data`` takes file paths or the names of shipped samples (``sine``,
``eurusd``). A file whose first line is not a HistData bar is read as having a
header line. Without ``--data`` the demo settings :data:`SINE_DEMO` apply. Any
other env keyword goes through ``--env KEY=VALUE`` (VALUE is JSON
when it parses, else a string), trainer keywords through ``--set KEY=VALUE``.

Heavy imports (torch, the env) happen inside the subcommands, so ``btgym --help``
is instant and spawned workers do not pay for the CLI.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import time
from pathlib import Path
from typing import Any

from btgym.errors import BTgymError, ConfigError, SamplingError
from btgym.log import get_logger, setup_logging

log = get_logger(__name__)

#: the shipped sample ``btgym train`` uses without ``--data``
DEFAULT_SAMPLE = "sine"
#: env settings of the demo on the sine sample (as benchmarks/learning_sine.py):
#: episodes of two sine periods, the last day held out for ``btgym eval``, any start
#: time (the sample's week runs Sunday..Saturday), no commission and shorts that tie
#: up cash like longs (with 0.1 % commission even a perfect trend follower loses on
#: this small sine; with backtrader's ``shortcash`` shorts are unbounded)
SINE_DEMO = {
    "episode_duration": {"days": 0, "hours": 8, "minutes": 32},
    "test_period": {"days": 1, "hours": 0, "minutes": 0},
    "start_00": False,
    "start_weekdays": [0, 1, 2, 3, 4, 5, 6],
    "broker_commission": 0.0,
    "shortcash": False,
}
DEFAULT_STEPS = 50_000
_HISTDATA_LINE = re.compile(rb"^\d{8} \d{6};")


# --------------------------------------------------------------------------- data and env keywords


def resolve_data(items: list[str] | None) -> tuple[list[str], bool]:
    """Paths of ``--data`` items (files or shipped sample names).

    Returns:
        ``(paths, is_default_sample)``.

    Raises:
        DataFileNotFoundError: neither a file nor a shipped sample.
    """
    from btgym.datafeed import sample_data_path

    if not items:
        return [str(sample_data_path(DEFAULT_SAMPLE))], True
    paths = []
    for item in items:
        paths.append(item if os.path.exists(item) else str(sample_data_path(item)))
    return paths, False


def _has_header(path: str) -> bool:
    with open(path, "rb") as fh:
        first = fh.readline()
    return bool(first.strip()) and not _HISTDATA_LINE.match(first)


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_pairs(pairs: list[str] | None, option: str) -> dict[str, Any]:
    """``["a=1", "b={\\"x\\": 2}"]`` -> ``{"a": 1, "b": {"x": 2}}``."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"{option} {pair!r}: expected KEY=VALUE")
        out[key.strip()] = _parse_value(value)
    return out


def env_keywords(args: argparse.Namespace) -> dict[str, Any]:
    """The env keywords a ``train`` / ``render`` command line describes."""
    paths, default = resolve_data(args.data)
    kw: dict[str, Any] = {"filename": paths[0] if len(paths) == 1 else paths}
    if _has_header(paths[0]):
        kw["parsing_params"] = {"header": 0}
    if default:
        kw.update(SINE_DEMO)
    if getattr(args, "server", None):
        kw["server"] = args.server
    if getattr(args, "env_class", None):
        kw["env_class"] = args.env_class
    kw.update(parse_pairs(args.env, "--env"))
    return kw


# --------------------------------------------------------------------------- train


class _ProgressBar:
    """tqdm bar opened at the first progress report (so worker start-up does not count
    in its rate) showing steps, episodes, mean return and steps/s."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.bar: Any = None

    def __call__(self, p: Any) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(
                total=p.total_steps,
                initial=p.steps,
                unit="step",
                dynamic_ncols=True,
                smoothing=0.3,
                mininterval=0.5,
            )
        self.bar.update(max(0, min(p.steps, p.total_steps) - self.bar.n))
        self.bar.set_postfix(episodes=p.episodes, mean_return=f"{p.mean_return:.3g}", refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _raise_interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


def cmd_train(args: argparse.Namespace) -> int:
    from btgym.algorithms.distributed.cli import trainer_for

    env_kw = env_keywords(args)
    cls, backend_kw = trainer_for(args)
    workers_key = "num_workers" if args.algo == "a3c" else "num_envs"
    keywords: dict[str, Any] = {
        workers_key: args.workers,
        "total_steps": args.steps,
        "device": args.device,
        "seed": args.seed,
        "checkpoint_every": args.checkpoint_every,
        "image_every": args.image_every,
    }
    keywords.update(parse_pairs(args.set, "--set"))
    keywords.update(backend_kw)
    logdir = Path(args.logdir)
    print(f"btgym train: {args.algo.upper()} on {env_kw['filename']} -> {logdir}", flush=True)
    old = signal.signal(signal.SIGTERM, _raise_interrupt)
    bar = _ProgressBar(args.steps)
    try:
        with cls(env_kwargs=env_kw, logdir=logdir, **keywords) as trainer:
            result = trainer.train(resume=args.resume, callback=bar)
    finally:
        bar.close()
        signal.signal(signal.SIGTERM, old)
    _print_summary(result)
    if not args.no_image and not result.interrupted:
        _episode_png(result.checkpoint, env_kw, logdir / "episode.png", args.seed)
    return 130 if result.interrupted else 0


def _print_summary(r: Any) -> None:
    state = "interrupted" if r.interrupted else "done"
    print(
        f"\n{r.algo.upper()} {state}: {r.steps} env steps, {r.episodes} episodes, {r.updates} "
        f"updates in {r.wall_time:.1f} s ({r.steps_per_sec:.0f} steps/s)\n"
        f"  mean return (last 100 episodes): {r.mean_return:.4g}\n"
        f"  checkpoint: {r.checkpoint}\n"
        f"  tensorboard: tensorboard --logdir {r.logdir}",
        flush=True,
    )


def has_test_part(env_kw: dict[str, Any]) -> bool:
    """Whether env keywords give the data a test part (``test_period`` flat or in
    ``trial_params``; a ready ``dataset=`` is asked for its params)."""
    if env_kw.get("test_period"):
        return True
    if (env_kw.get("trial_params") or {}).get("test_period"):
        return True
    dataset = env_kw.get("dataset")
    params = getattr(dataset, "params", None) or getattr(dataset, "trial_params", None)
    return bool(getattr(params, "test_period", None) or (
        isinstance(params, dict) and params.get("test_period")
    ))  # fmt: skip


NO_TEST_PART = (
    "this data has no test part (no test_period): pass --train-episodes to evaluate on "
    "train episodes, or give it one with --env 'test_period={\"days\": 1}'"
)


def _episode_png(checkpoint: str, env_kw: dict[str, Any], path: Path, seed: int | None) -> None:
    """One greedy episode of the trained policy (a test episode when the data has a
    test part), reported and saved as a PNG; skipped with a warning on failure."""
    from btgym.algorithms.common.envs import make_env
    from btgym.algorithms.evaluation import TEST_EPISODE, evaluate, load_policy

    try:
        from btgym.rendering import save_png

        policy = load_policy(checkpoint)
        env = make_env(env_kw)
        try:
            kind = "test" if has_test_part(env_kw) else "train"
            try:
                options = TEST_EPISODE if kind == "test" else None
                (res,) = evaluate(policy, env, 1, reset_options=options, seed=seed)
            except BTgymError:  # no test part after all: a train episode then
                kind = "train"
                (res,) = evaluate(policy, env, 1, seed=seed)
            save_png(env.render_image("episode"), path)
        finally:
            env.close()
        print(
            f"  greedy {kind} episode: return {res.episode_return:.4g}, final value "
            f"{res.broker_value:.2f}, {res.trades} trades -> {path}",
            flush=True,
        )
    except Exception as exc:  # an image is a bonus: never fail the run for it
        log.warning(f"episode image not written: {exc}")
        print(f"  episode image not written: {exc}", flush=True)


# --------------------------------------------------------------------------- eval, render


def cmd_eval(args: argparse.Namespace) -> int:
    from btgym.algorithms.common.checkpoint import env_from_checkpoint, load_checkpoint
    from btgym.algorithms.evaluation import TEST_EPISODE, evaluate, load_policy, summarize

    ckpt = load_checkpoint(args.checkpoint)
    # a checkpoint never chooses code: the classes it names resolve only from btgym's
    # own or from what the user names here (--env-class, --trust); see docs/security.md
    trusted = [args.env_class] if args.env_class else []
    trusted += list(args.trust or [])
    stored = dict(ckpt.get("env_kwargs") or {})
    if args.env_class:  # the user's choice replaces the stored name
        stored["env_class"] = args.env_class
    env_cls, env_kw = env_from_checkpoint(
        {"env_kwargs": stored}, trusted, source=f"checkpoint {args.checkpoint}"
    )
    if args.data:
        extra = env_keywords(args)
        extra.pop("env_class", None)
        env_kw.update(extra)
    else:
        env_kw.update(parse_pairs(args.env, "--env"))
    if not env_kw.get("filename") and not env_kw.get("dataset"):
        raise ConfigError(f"checkpoint {args.checkpoint} stores no env keywords: pass --data")
    if not args.train_episodes and not has_test_part(env_kw):
        raise SamplingError(NO_TEST_PART)
    policy = load_policy(args.checkpoint, device=args.device)
    options = None if args.train_episodes else TEST_EPISODE
    kind = "train" if args.train_episodes else "test"
    print(f"btgym eval: {args.episodes} {kind} episodes of {args.checkpoint}", flush=True)
    head = ("episode", "return", "final value", "drawdown", "trades", "steps")
    print("{:>7} {:>12} {:>12} {:>9} {:>7} {:>6}".format(*head), flush=True)
    env = env_cls(**env_kw)
    results = []
    try:
        for i in range(args.episodes):  # one row per episode as it ends: the progress
            try:
                (r,) = evaluate(
                    policy,
                    env,
                    1,
                    deterministic=not args.stochastic,
                    reset_options=options,
                    seed=args.seed if i == 0 else None,
                )
            except SamplingError as exc:
                if args.train_episodes:
                    raise
                raise SamplingError(f"{exc}; {NO_TEST_PART}") from None
            results.append(r)
            print(
                f"{i:>7} {r.episode_return:>12.5g} {r.broker_value:>12.2f} "
                f"{r.max_drawdown:>9.4f} {r.trades:>7d} {r.length:>6d}",
                flush=True,
            )
    finally:
        env.close()
    m = summarize(results)
    print(
        f"{'mean':>7} {m['mean_return']:>12.5g} {m['mean_broker_value']:>12.2f} "
        f"{m['mean_max_drawdown']:>9.4f} {m['mean_trades']:>7.1f}"
        f"   ({len(results)} {kind} episodes)"
    )
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    import numpy as np

    from btgym.algorithms.common.envs import make_env
    from btgym.rendering import save_png

    env_kw = env_keywords(args)
    env = make_env(env_kw)
    try:
        env.action_space.seed(args.seed)
        env.reset(seed=args.seed)
        steps, done, total = 0, False, 0.0
        while not done:
            _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            total += float(reward)
            steps += 1
            done = terminated or truncated
        image = env.render_image("episode")
        path = save_png(np.asarray(image), args.out)
    finally:
        env.close()
    print(f"random-policy episode: {steps} steps, return {total:.5g} -> {path}")
    return 0


# --------------------------------------------------------------------------- parser


def _add_data_args(p: argparse.ArgumentParser, env_class: bool = True) -> None:
    p.add_argument(
        "--data",
        nargs="+",
        metavar="FILE",
        help=f"bar CSV files or shipped samples (default: {DEFAULT_SAMPLE!r})",
    )
    p.add_argument(
        "--env",
        action="append",
        metavar="KEY=VALUE",
        help="extra BTgymEnv keyword (VALUE parsed as JSON when it can be)",
    )
    p.add_argument(
        "--server",
        choices=["process", "inprocess"],
        help="where backtrader runs: a child process (default) or in the env's process",
    )
    if env_class:
        p.add_argument(
            "--env-class",
            metavar="NAME",
            help="BTgymEnv (default), MultiDiscreteEnv, PortfolioEnv or module:Class",
        )


class _DefaultsFormatter(argparse.HelpFormatter):
    """Appends ``(default: X)`` to an option's help unless it names its default
    already or has none (``None`` / ``False``)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default in (None, False, argparse.SUPPRESS):
            return text
        return f"{text} (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    """``--help`` shows the options' defaults."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _DefaultsFormatter)
        super().__init__(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="btgym", description="btgym: RL backtesting on backtrader")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    t = sub.add_parser("train", help="train an A3C or PPO agent")
    t.add_argument("--algo", choices=["a3c", "ppo"], default="a3c", help="the agent")
    _add_data_args(t)
    t.add_argument("--workers", type=int, default=2, help="A3C workers / PPO envs")
    t.add_argument("--steps", type=int, default=DEFAULT_STEPS, help="env steps in total")
    t.add_argument("--logdir", default="runs/btgym", help="TensorBoard + checkpoint directory")
    t.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda[:N]")
    t.add_argument("--resume", action="store_true", help="continue from logdir/checkpoint.pt")
    t.add_argument("--seed", type=int, default=None, help="seed of the run (default: random)")
    t.add_argument(
        "--checkpoint-every",
        type=int,
        default=10_000,
        metavar="STEPS",
        help="write the checkpoint every STEPS env steps",
    )
    t.add_argument(
        "--image-every",
        type=int,
        default=50,
        metavar="EPISODES",
        help="an episode image in TensorBoard every K episodes (0: never)",
    )
    t.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="trainer keyword, e.g. --set lr=3e-4 --set 'policy={\"lstm\": true}'",
    )
    t.add_argument("--no-image", action="store_true", help="skip the final episode.png")
    from btgym.algorithms.distributed.cli import add_backend_args

    add_backend_args(t)
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("eval", help="run test episodes of a trained policy")
    e.add_argument("--checkpoint", required=True, help="checkpoint file or run logdir")
    e.add_argument("--episodes", type=int, default=5, help="episodes to run")
    _add_data_args(e)
    e.add_argument(
        "--trust",
        action="append",
        metavar="MODULE:CLASS",
        help="allow a class the checkpoint names (e.g. a custom strategy): a checkpoint "
        "never imports code you did not name",
    )
    e.add_argument("--device", default="cpu", help="cpu, cuda[:N] or auto")
    e.add_argument("--seed", type=int, default=None, help="seed of the first episode")
    e.add_argument("--stochastic", action="store_true", help="sample actions (default: greedy)")
    e.add_argument(
        "--train-episodes",
        action="store_true",
        help="sample train episodes instead of test ones (data without a test split)",
    )
    e.set_defaults(func=cmd_eval)

    r = sub.add_parser("render", help="one random-policy episode as a PNG")
    _add_data_args(r)
    r.add_argument("--out", default="episode.png", help="PNG path")
    r.add_argument("--seed", type=int, default=0, help="seed of the episode and actions")
    r.set_defaults(func=cmd_render)
    from btgym.live.cli import add_live_parser  # btgym live model|policy|read

    add_live_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``btgym`` console script."""
    args = build_parser().parse_args(argv)
    setup_logging(verbose=args.verbose)
    t0 = time.monotonic()
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BTgymError as exc:
        print(f"btgym {args.command}: error: {exc}", file=sys.stderr)
        return 1
    finally:
        log.debug(f"{args.command} took {time.monotonic() - t0:.1f} s")


if __name__ == "__main__":
    sys.exit(main())
