"""``btgym fit``, ``btgym worker`` and ``btgym report``.

Exit codes: 0 all runs finished, 2 some failed, 1 usage or btgym error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from btgym.log import get_logger

log = get_logger(__name__)


def add_registry_args(p: argparse.ArgumentParser) -> None:
    """``--registry URL`` and ``--artifacts DIR`` (defaults from the environment)."""
    p.add_argument(
        "--registry",
        metavar="URL",
        help="SQLAlchemy URL (default: $BTGYM_REGISTRY or sqlite:///<artifacts>/registry.sqlite)",
    )
    p.add_argument(
        "--artifacts", metavar="DIR", help="artifact root (default: $BTGYM_ARTIFACTS or ./runs)"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def open_registry(args: argparse.Namespace) -> Any:
    from btgym.experiments.registry import Registry

    return Registry(url=args.registry, artifact_root=args.artifacts)


def print_summary(s: Any) -> None:
    builds = ", ".join(f"{k}: {v}" for k, v in sorted(s.dataset_builds.items())) or "none"
    print(
        f"runs: {s.created} created, {s.skipped} skipped (already finished) | "
        f"{s.finished} finished, {s.failed} failed, {s.cancelled} cancelled | "
        f"dataset builds: {builds} | {s.wall_time:.1f} s | registry {s.registry_url}",
        flush=True,
    )


# --------------------------------------------------------------------------- fit


def cmd_fit(args: argparse.Namespace) -> int:
    from btgym.experiments.executors import make_executor
    from btgym.experiments.spec import load_spec

    spec = load_spec(args.spec)
    reg = open_registry(args)
    executor = make_executor(
        args.executor,
        workers=args.workers,
        device=args.device,
        allow_data_change=args.allow_data_change,
    )
    mode = " (dry run: _scratch/)" if args.dry_run else ""
    print(
        f"btgym fit: {spec.name}: {len(spec.units)} units, "
        f"{sum(len(u.model_specs) for u in spec.units)} runs, {args.executor} executor"
        f"{mode}",
        flush=True,
    )
    summary = executor.run(
        spec,
        reg,
        experiment=args.experiment,
        resume=args.resume,
        dry_run=args.dry_run,
        progress=not args.quiet,
    )
    print_summary(summary)
    return summary.exit_code


def add_fit(sub: Any) -> None:
    f = sub.add_parser("fit", help="train every model of a WorkSpec (JSON, YAML, module:attr)")
    f.add_argument("spec", help="WorkSpec file (.json/.yaml/.yml) or package.module:attribute")
    f.add_argument("--executor", choices=["local", "ray"], default="local")
    f.add_argument("--workers", type=int, default=None, help="processes (default: CPUs)")
    f.add_argument("--device", default="cpu", help="cpu, auto or cuda (lane i → cuda:i)")
    f.add_argument(
        "--dry-run",
        action="store_true",
        help="3 days per split, ≤ 5 epochs, into <artifacts>/_scratch/",
    )
    f.add_argument(
        "--resume", action="store_true", help="skip configs already finished on the same data"
    )
    f.add_argument("--experiment", help="experiment name (default: the WorkSpec's name)")
    f.add_argument(
        "--allow-data-change",
        action="store_true",
        help="let reruns run on data whose fingerprint changed",
    )
    add_registry_args(f)
    f.set_defaults(func=cmd_fit)


# --------------------------------------------------------------------------- worker


def cmd_worker(args: argparse.Namespace) -> int:
    from btgym.experiments.worker import work

    reg = open_registry(args)
    s = work(
        reg,
        worker=args.name,
        kind=args.kind,
        experiment=args.experiment,
        max_runs=args.max_runs,
        idle_exit=args.idle_exit,
        poll=args.poll,
        device=args.device,
        allow_data_change=args.allow_data_change,
        echo=(lambda m: None) if args.quiet else (lambda m: print(m, flush=True)),
    )
    print(
        f"worker {s.worker}: {len(s.claimed)} claimed, {s.finished} finished, "
        f"{s.failed} failed, {s.cancelled} cancelled",
        flush=True,
    )
    return 2 if s.failed else 0


def add_worker(sub: Any) -> None:
    w = sub.add_parser("worker", help="claim and run queued runs of the registry")
    w.add_argument("--kind", choices=["supervised", "rl", "encoder"])
    w.add_argument("--experiment")
    w.add_argument("--max-runs", type=int, default=None)
    w.add_argument(
        "--idle-exit",
        type=float,
        default=None,
        metavar="SECONDS",
        help="exit after the queue stayed empty this long (default: never)",
    )
    w.add_argument("--poll", type=float, default=1.0, help="seconds between empty claims")
    w.add_argument("--name", help="worker name (default host:pid)")
    w.add_argument("--device", default="cpu")
    w.add_argument("--allow-data-change", action="store_true")
    add_registry_args(w)
    w.set_defaults(func=cmd_worker)


# --------------------------------------------------------------------------- report


def cmd_report(args: argparse.Namespace) -> int:
    from btgym.experiments.report import build_report

    reg = open_registry(args)
    path = build_report(
        reg,
        args.runs or None,
        args.out,
        experiment=args.experiment,
        split=args.split,
        max_cards=args.max_cards,
    )
    print(f"report -> {path} ({os.path.getsize(path) / 1e6:.1f} MB)", flush=True)
    return 0


def add_report(sub: Any) -> None:
    r = sub.add_parser("report", help="one self-contained offline HTML report")
    g = r.add_mutually_exclusive_group()
    g.add_argument("--experiment")
    g.add_argument("--runs", nargs="+", metavar="ID")
    r.add_argument("--split", default="test", choices=["train", "val", "test"])
    r.add_argument("--max-cards", type=int, default=200)
    r.add_argument("--out", required=True, help="HTML file to write")
    add_registry_args(r)
    r.set_defaults(func=cmd_report)


# --------------------------------------------------------------------------- stand-alone


def main(argv: list[str] | None = None) -> int:
    """Run these verbs without the rest of the ``btgym`` command (tests, scripts)."""
    from btgym.errors import BTgymError
    from btgym.experiments.runs_cli import add_runs, add_sweep

    parser = argparse.ArgumentParser(prog="btgym")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (add_fit, add_runs, add_sweep, add_worker, add_report):
        add(sub)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BTgymError as exc:
        print(f"btgym {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
