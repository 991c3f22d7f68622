"""``btgym report``: one self-contained offline HTML report of registry runs."""

from __future__ import annotations

import argparse
import os
from typing import Any

from btgym.cli.common import add_registry_args, open_registry


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
