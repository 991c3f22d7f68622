"""The ``btgym`` command.

Subcommands (one module per verb group):

- ``btgym train`` (:mod:`btgym.cli.rl`): train A3C or PPO on bar files (default: the
  sine sample shipped in the package) with a progress bar, TensorBoard summaries and
  checkpoints in ``--logdir``; ``--resume`` continues a run. Ends with a summary and
  writes one episode image (``episode.png``) of the trained policy into the logdir.
  With ``--registry URL`` / ``--experiment NAME`` the training is recorded as a
  ``kind="rl"`` run of the run registry.
- ``btgym eval``: test episodes (``sample_type=1``) of a checkpoint's policy; prints
  return, final broker value, max drawdown and trades per episode and on average.
- ``btgym render``: one episode with a random policy, saved as a PNG.
- ``btgym fit SPEC`` (:mod:`btgym.cli.fit`): every model of a WorkSpec.
- ``btgym runs ls|show|diff|rerun|cancel|create``, ``btgym sweep`` (:mod:`btgym.cli.runs`).
- ``btgym worker`` (:mod:`btgym.cli.worker`), ``btgym report`` (:mod:`btgym.cli.report`).
- ``btgym live model|policy|read`` (:mod:`btgym.live.cli`).

Data: ``--data`` takes file paths or the names of shipped samples (``sine``,
``eurusd``). A file whose first line is not a HistData bar is read as having a
header line. Without ``--data`` the demo settings :data:`SINE_DEMO` apply. Any
other env keyword goes through ``--env KEY=VALUE`` (VALUE is JSON
when it parses, else a string), trainer keywords through ``--set KEY=VALUE``.

Exit codes: 0 success (all runs finished), 2 some runs failed, 1 a usage or btgym
error, 130 interrupted.

Heavy imports (torch, the env) happen inside the subcommands, so ``btgym --help``
is instant and spawned workers do not pay for the CLI.
"""

from __future__ import annotations

import argparse
import sys
import time

from btgym.cli.common import (
    DEFAULT_SAMPLE,
    DEFAULT_STEPS,
    NO_TEST_PART,
    SINE_DEMO,
    _Parser,
    env_keywords,
    has_test_part,
    parse_pairs,
    resolve_data,
)
from btgym.cli.rl import cmd_eval, cmd_render, cmd_train
from btgym.errors import BTgymError
from btgym.log import get_logger, setup_logging

log = get_logger(__name__)

__all__ = [
    "DEFAULT_SAMPLE",
    "DEFAULT_STEPS",
    "NO_TEST_PART",
    "SINE_DEMO",
    "build_parser",
    "cmd_eval",
    "cmd_render",
    "cmd_train",
    "env_keywords",
    "has_test_part",
    "main",
    "parse_pairs",
    "resolve_data",
]


def build_parser() -> argparse.ArgumentParser:
    """The parser of every ``btgym`` verb."""
    from btgym.cli import fit, report, rl, runs, worker

    parser = _Parser(prog="btgym", description="btgym: RL backtesting on backtrader")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    rl.add_train(sub)
    rl.add_eval(sub)
    rl.add_render(sub)
    from btgym.live.cli import add_live_parser  # btgym live model|policy|read

    add_live_parser(sub)
    fit.add_fit(sub)
    runs.add_runs(sub)
    runs.add_sweep(sub)
    worker.add_worker(sub)
    report.add_report(sub)
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
