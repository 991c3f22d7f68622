"""``btgym worker``: claim and run queued runs of the registry until told to stop."""

from __future__ import annotations

import argparse
from typing import Any

from btgym.cli.common import add_registry_args, open_registry


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
