"""``btgym train``, ``btgym eval`` and ``btgym render``: the RL verbs.

``btgym train --registry URL --experiment NAME`` records the training as a ``kind="rl"``
run of the run registry (``btgym.experiments.rl``).
"""

from __future__ import annotations

import argparse
import signal
from pathlib import Path
from typing import Any

from btgym.cli.common import (
    DEFAULT_STEPS,
    NO_TEST_PART,
    _add_data_args,
    add_registry_args,
    env_keywords,
    has_test_part,
    open_registry,
    parse_pairs,
)
from btgym.errors import BTgymError, ConfigError, SamplingError
from btgym.log import get_logger

log = get_logger(__name__)

__all__ = ["add_eval", "add_render", "add_train", "cmd_eval", "cmd_render", "cmd_train"]


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
    if args.registry or args.experiment:
        return train_recorded(args, env_kw, keywords)
    logdir = Path(args.logdir or "runs/btgym")
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


def train_recorded(
    args: argparse.Namespace, env_kw: dict[str, Any], keywords: dict[str, Any]
) -> int:
    """``btgym train --registry/--experiment``: a ``kind="rl"`` run recorded live
    (curves, summaries, test episodes, checkpoint and image artifacts)."""
    from btgym.experiments.rl import record_training, rl_config

    if getattr(args, "backend", "local") not in (None, "local"):
        raise ConfigError("--registry / --experiment record local training only (no --backend)")
    if args.resume:
        raise ConfigError("--resume continues a logdir; a registry run starts fresh (drop one)")
    if args.logdir:
        raise ConfigError("--logdir: a recorded run writes into its run directory (drop it)")
    reg = open_registry(args)
    cfg = rl_config(args.algo, keywords, env_kw, args.seed)
    tags = {k: str(v) for k, v in parse_pairs(args.tag, "--tag").items()}
    episodes = args.eval_episodes
    if episodes is None:
        episodes = 5 if has_test_part(env_kw) else 0
    experiment = args.experiment or "default"
    print(
        f"btgym train: {args.algo.upper()} on {env_kw['filename']} -> registry "
        f"{reg.safe_url}, experiment {experiment}",
        flush=True,
    )
    old = signal.signal(signal.SIGTERM, _raise_interrupt)
    bar = _ProgressBar(args.steps)
    try:
        run, outcome = record_training(
            reg, experiment, cfg, tags=tags, eval_episodes=episodes, progress=bar
        )
    finally:
        bar.close()
        signal.signal(signal.SIGTERM, old)
    train = outcome.metrics.get("train") or {}
    test = outcome.metrics.get("test") or {}
    print(
        f"\nrun {run.id}: {run.status} | {int(train.get('steps') or 0)} env steps, "
        f"{int(train.get('episodes') or 0)} episodes, mean return "
        f"{train.get('mean_return')} | run dir {run.run_dir}",
        flush=True,
    )
    if test:
        print(
            "  test: " + ", ".join(f"{k} {v:.4g}" for k, v in test.items() if v is not None),
            flush=True,
        )
    if run.error and run.status == "failed":
        print(f"  error: {run.error.strip().splitlines()[-1]}", flush=True)
    return {"finished": 0, "cancelled": 130}.get(run.status, 2)


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


def _episode_png(checkpoint: str, env_kw: dict[str, Any], path: Path, seed: int | None) -> None:
    """One greedy episode of the trained policy (a test episode when the data has a
    test part), reported and saved as a PNG; skipped with a warning on failure."""
    from btgym.algorithms.common.envs import make_env
    from btgym.algorithms.evaluation import TEST_EPISODE, evaluate, load_policy
    from btgym.engine.records import with_records

    try:
        from btgym.rendering import save_png

        policy = load_policy(checkpoint)
        env = make_env(with_records(env_kw))
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
    from btgym.engine.records import with_records
    from btgym.rendering import save_png

    env_kw = env_keywords(args)
    env = make_env(with_records(env_kw))
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


# --------------------------------------------------------------------------- parsers


def add_train(sub: Any) -> None:
    t = sub.add_parser("train", help="train an A3C or PPO agent")
    t.add_argument("--algo", choices=["a3c", "ppo"], default="a3c", help="the agent")
    _add_data_args(t)
    t.add_argument("--workers", type=int, default=2, help="A3C workers / PPO envs")
    t.add_argument("--steps", type=int, default=DEFAULT_STEPS, help="env steps in total")
    t.add_argument(
        "--logdir",
        default=None,
        help="TensorBoard + checkpoint directory (default: runs/btgym); with --registry or "
        "--experiment: the run's directory",
    )
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
    g = t.add_argument_group("run registry (records a kind='rl' run)")
    g.add_argument("--experiment", help="record the run in this experiment")
    g.add_argument("--tag", action="append", metavar="KEY=VALUE", help="a tag of the run")
    g.add_argument(
        "--eval-episodes",
        type=int,
        default=None,
        metavar="N",
        help="greedy test episodes after training (default 5 when the data has a test part)",
    )
    add_registry_args(g, quiet=False)
    t.set_defaults(func=cmd_train)


def add_eval(sub: Any) -> None:
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


def add_render(sub: Any) -> None:
    r = sub.add_parser("render", help="one random-policy episode as a PNG")
    _add_data_args(r)
    r.add_argument("--out", default="episode.png", help="PNG path")
    r.add_argument("--seed", type=int, default=0, help="seed of the episode and actions")
    r.set_defaults(func=cmd_render)
