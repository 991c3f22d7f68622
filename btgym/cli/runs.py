"""``btgym runs ls|show|diff|rerun|cancel|create`` and ``btgym sweep``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from btgym.cli.common import add_registry_args, open_registry
from btgym.errors import ConfigError


def _short(v: Any) -> str:
    return "" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))


def read_config_file(path: str) -> dict[str, Any]:
    """A run config (or sweep base) from JSON or YAML (``safe_load`` only)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {p} does not exist")
    if p.suffix.lower() in (".yaml", ".yml"):
        from btgym.experiments.spec import _yaml_load

        data = _yaml_load(p)
    else:
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{p}, line {exc.lineno}: not valid JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: a config must be a mapping")
    return data


# --------------------------------------------------------------------------- runs


def cmd_ls(args: argparse.Namespace) -> int:
    reg = open_registry(args)
    runs = reg.runs(experiment=args.experiment, status=args.status, kind=args.kind, tag=args.tag)
    if args.limit:
        runs = runs[-args.limit :]
    m = reg.metrics(run_id=[r.id for r in runs]) if runs else None
    key = {}
    if m is not None and len(m):
        s = m[m["step"].isna() & (m["split"] == "test")]
        for row in s.itertuples(index=False):
            if row.key in ("acc", "mse", "mean_return"):
                key.setdefault(row.run_id, f"{row.key}={row.value:.4g}")
    print(
        f"{'run':26}  {'experiment':14} {'kind':10} {'status':9} {'name':28} {'duration':>8}  test"
    )
    for r in runs:
        dur = f"{r.duration:.1f}s" if r.duration is not None else ""
        print(
            f"{r.id:26}  {r.experiment[:14]:14} {r.kind:10} {r.status:9} "
            f"{(r.name or '')[:28]:28} {dur:>8}  {key.get(r.id, '')}"
        )
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    reg = open_registry(args)
    r = reg.get(args.id)
    if args.config:
        print(json.dumps(r.config, indent=2, sort_keys=True))
        return 0
    m = reg.metrics(run_id=r.id)
    summ: dict[str, dict[str, Any]] = {}
    for row in m[m["step"].isna()].itertuples(index=False):
        summ.setdefault(row.split, {})[row.key] = row.value
    curves = sorted(
        {f"{row.split}/{row.key}" for row in m[m["step"].notna()].itertuples(index=False)}
    )
    out = {
        "id": r.id,
        "experiment": r.experiment,
        "kind": r.kind,
        "name": r.name,
        "status": r.status,
        "config_hash": r.config_hash,
        "data_fingerprint": r.data_fingerprint,
        "code_version": r.code_version,
        "worker": r.worker,
        "host": r.host,
        "parent_run_id": r.parent_run_id,
        "sweep_id": r.sweep_id,
        "run_dir": r.run_dir,
        "created_at": str(r.created_at),
        "started_at": str(r.started_at),
        "finished_at": str(r.finished_at),
        "tags": dict(r.tags),
        "metrics": summ,
        "curves": curves,
        "artifacts": {
            a.name: {"sha256": a.sha256, "bytes": a.bytes, "uri": a.uri}
            for a in reg.artifacts(r.id)
        },
        "config": r.config,
        "error": r.error,
    }
    print(json.dumps(out, indent=2, sort_keys=False, default=str))
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    reg = open_registry(args)
    for c in reg.diff(args.a, args.b):
        print(f"{c.path}: {json.dumps(c.a)} -> {json.dumps(c.b)}")
    return 0


def cmd_rerun(args: argparse.Namespace) -> int:
    from btgym.experiments.executors.base import parent_fingerprint, record_outcome
    from btgym.experiments.runner import run_config

    reg = open_registry(args)
    child = reg.rerun(args.id)
    print(f"rerun of {args.id}: {child.id} queued", flush=True)
    if args.queue_only:
        return 0
    reg.start(child.id, "cli")
    try:
        outcome = run_config(
            child.config,
            child.run_dir,
            artifact_root=reg.artifact_root,
            device=args.device,
            run_id=child.id,
            expected_fingerprint=parent_fingerprint(reg, child),
            allow_data_change=args.allow_data_change,
        )
    except KeyboardInterrupt:
        reg.finish(child.id, "cancelled", error="interrupted (Ctrl-C)")
        raise
    status = record_outcome(reg, child, outcome)
    test = outcome.metrics.get("test") or {}
    shown = ", ".join(f"{k}={_short(v)}" for k, v in list(test.items())[:6])
    print(f"{child.id}: {status}" + (f" | test {shown}" if shown else ""), flush=True)
    if outcome.error:
        print(outcome.error.strip().splitlines()[-1], flush=True)
    return 0 if status == "finished" else 2


def cmd_cancel(args: argparse.Namespace) -> int:
    open_registry(args).cancel(args.id)
    print(f"{args.id}: cancelled")
    return 0


def cmd_create(args: argparse.Namespace) -> int:
    cfg = read_config_file(args.config)
    kind = args.kind or cfg.get("kind")
    if kind is None:
        raise ConfigError(f"{args.config}: no 'kind' (supervised, rl, encoder): pass --kind")
    exp = args.experiment or cfg.get("experiment") or "default"
    run = open_registry(args).create_run(exp, {**cfg, "kind": kind}, kind=kind)
    print(f"{run.id} queued ({kind}, experiment {exp})")
    return 0


def add_runs(sub: Any) -> None:
    runs = sub.add_parser("runs", help="list, inspect, compare, rerun or cancel runs")
    rs = runs.add_subparsers(dest="runs_command", required=True)
    ls = rs.add_parser("ls", help="list runs")
    ls.add_argument("--experiment")
    ls.add_argument("--status", choices=["queued", "running", "finished", "failed", "cancelled"])
    ls.add_argument("--kind", choices=["supervised", "rl", "encoder"])
    ls.add_argument("--tag", metavar="KEY=VALUE")
    ls.add_argument("--limit", type=int, default=None)
    ls.set_defaults(func=cmd_ls)
    show = rs.add_parser("show", help="one run as JSON")
    show.add_argument("id")
    show.add_argument("--config", action="store_true", help="print only the resolved config")
    show.set_defaults(func=cmd_show)
    diff = rs.add_parser("diff", help="differing config paths of two runs")
    diff.add_argument("a")
    diff.add_argument("b")
    diff.set_defaults(func=cmd_diff)
    rerun = rs.add_parser("rerun", help="clone a run and run it here (data fingerprint checked)")
    rerun.add_argument("id")
    rerun.add_argument("--queue-only", action="store_true", help="only queue it for a worker")
    rerun.add_argument("--allow-data-change", action="store_true")
    rerun.add_argument("--device", default="cpu")
    rerun.set_defaults(func=cmd_rerun)
    cancel = rs.add_parser("cancel", help="cancel a queued or running run")
    cancel.add_argument("id")
    cancel.set_defaults(func=cmd_cancel)
    create = rs.add_parser("create", help="queue a run from a config file (JSON / YAML)")
    create.add_argument("--config", required=True)
    create.add_argument("--experiment")
    create.add_argument("--kind", choices=["supervised", "rl", "encoder"])
    create.set_defaults(func=cmd_create)
    for p in (ls, show, diff, rerun, cancel, create):
        add_registry_args(p)


# --------------------------------------------------------------------------- sweep


def cmd_sweep(args: argparse.Namespace) -> int:
    base = read_config_file(args.base)
    space: dict[str, Any] = {}
    for pair in args.points:
        path, sep, text = pair.partition("=")
        if not sep or not path:
            raise ConfigError(f"sweep point {pair!r}: expected PATH=JSON")
        try:
            space[path.strip()] = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"sweep point {pair!r}: the value is not JSON ({exc.msg})") from None
    if args.random is not None:
        strategy, n = "random", args.random
    else:
        strategy, n = ("grid" if args.grid else "one_at_a_time"), None
    exp = args.experiment or base.get("experiment") or "default"
    res = open_registry(args).create_sweep(
        exp, base, space, strategy, n=n, seed=args.seed, allow_new=args.allow_new
    )
    print(
        f"sweep {res.sweep_id} ({strategy}): {len(res.runs)} runs queued, "
        f"{res.duplicates} duplicates skipped, experiment {exp}"
    )
    return 0


def add_sweep(sub: Any) -> None:
    s = sub.add_parser("sweep", help="queue a sweep over dotted config paths")
    s.add_argument("--base", required=True, help="base run config (JSON / YAML)")
    g = s.add_mutually_exclusive_group(required=True)
    g.add_argument("--grid", action="store_true")
    g.add_argument("--one-at-a-time", action="store_true")
    g.add_argument("--random", type=int, metavar="N")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--experiment")
    s.add_argument("--allow-new", action="store_true", help="allow paths not in the base")
    s.add_argument(
        "points",
        nargs="+",
        metavar="PATH=JSON",
        help="e.g. model.params.lr=[0.001,0.01] epochs='{\"int\": [5, 50]}'",
    )
    add_registry_args(s)
    s.set_defaults(func=cmd_sweep)
