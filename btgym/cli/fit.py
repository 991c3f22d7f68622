"""``btgym fit SPEC``: train every model of a WorkSpec.

Exit codes: 0 all runs finished, 2 some failed, 1 usage or btgym error, 130 interrupted.
"""

from __future__ import annotations

import argparse
from typing import Any

from btgym.cli.common import add_registry_args, open_registry


def print_summary(s: Any) -> None:
    builds = ", ".join(f"{k}: {v}" for k, v in sorted(s.dataset_builds.items())) or "none"
    print(
        f"runs: {s.created} created, {s.skipped} skipped (already finished) | "
        f"{s.finished} finished, {s.failed} failed, {s.cancelled} cancelled | "
        f"dataset builds: {builds} | {s.wall_time:.1f} s | registry {s.registry_url}",
        flush=True,
    )


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
