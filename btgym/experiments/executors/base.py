"""What every executor shares: planning (create runs, resume, dry run), recording
outcomes into the registry (the driver alone writes it) and the run summary."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from btgym.errors import ConfigError, RegistryError
from btgym.experiments.config import config_hash
from btgym.experiments.registry import Registry, RunRecord
from btgym.experiments.runner import RunOutcome
from btgym.log import get_logger

log = get_logger(__name__)

SCRATCH = "_scratch"
DRY_RUN_DAYS = 3
DRY_RUN_EPOCHS = 5
DEFAULT_EPOCHS = 100


@dataclass
class RunSummary:
    """What an executor did."""

    created: int = 0
    skipped: int = 0
    finished: int = 0
    failed: int = 0
    cancelled: int = 0
    dataset_builds: dict[str, int] = field(default_factory=dict)
    wall_time: float = 0.0
    run_ids: list[str] = field(default_factory=list)
    registry_url: str = ""

    @property
    def exit_code(self) -> int:
        """0 all finished, 2 some failed, 130 some cancelled."""
        if self.cancelled:
            return 130
        return 2 if self.failed else 0


@dataclass
class Plan:
    """Runs to execute, in the registry they belong to."""

    registry: Registry
    experiment: str
    runs: list[RunRecord]
    created: int
    skipped: int
    lanes: dict[str, int] = field(default_factory=dict)


def dry_run_config(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Each split cut to its first 3 days; epochs at most 5."""
    import pandas as pd

    out = dict(cfg)
    if "split" in cfg:
        split = {}
        for k, (start, end) in cfg["split"].items():
            s, e = pd.Timestamp(start), pd.Timestamp(end)
            split[k] = [s.isoformat(), min(e, s + pd.Timedelta(days=DRY_RUN_DAYS)).isoformat()]
        out["split"] = split
    epochs = cfg.get("epochs")
    out["epochs"] = min(int(epochs) if epochs else DEFAULT_EPOCHS, DRY_RUN_EPOCHS)
    return out


def scratch_registry(registry: Registry) -> Registry:
    """The dry-run registry: ``<artifact_root>/_scratch/registry.sqlite``."""
    root = registry.artifact_root / SCRATCH
    return Registry(url=f"sqlite:///{(root / 'registry.sqlite').as_posix()}", artifact_root=root)


def _configs(spec_or_configs: Any, experiment: str | None) -> tuple[list[dict], str, dict]:
    from btgym.experiments.spec import WorkSpec

    if isinstance(spec_or_configs, WorkSpec):
        name = experiment or spec_or_configs.name
        lanes = {u.name: spec_or_configs.lane_of(u.name) for u in spec_or_configs.units}
        return (
            spec_or_configs.configs(name),
            name,
            {k: v for k, v in lanes.items() if v is not None},
        )
    configs = [dict(c) for c in spec_or_configs]
    if not configs:
        raise ConfigError("nothing to run: no configs")
    name = experiment or configs[0].get("experiment") or "default"
    return [{**c, "experiment": name} for c in configs], name, {}


def plan(
    spec_or_configs: Any,
    registry: Registry,
    *,
    experiment: str | None = None,
    resume: bool = False,
    dry_run: bool = False,
) -> Plan:
    """Create the runs (all ``queued``) and decide which to execute (a list of queued
    :class:`RunRecord` is executed as it is).

    With ``resume``, a config whose ``(config_hash, data_fingerprint)`` already has a
    finished run in the experiment is skipped (each distinct DataRef is fingerprinted
    once); a queued or stale run of the same config is reused; failed and cancelled
    ones get a new run.
    """
    if (
        isinstance(spec_or_configs, Sequence)
        and spec_or_configs
        and all(isinstance(r, RunRecord) for r in spec_or_configs)
    ):  # queued runs that exist already (reruns, runs create)
        runs = [registry.get(r.id) for r in spec_or_configs]
        for r in runs:
            if r.status != "queued":
                raise ConfigError(f"run {r.id} is {r.status}, not queued: it cannot be run")
        return Plan(registry, experiment or runs[0].experiment, runs, 0, 0, {})
    configs, name, lanes = _configs(spec_or_configs, experiment)
    if dry_run:
        registry = scratch_registry(registry)
        configs = [dry_run_config(c) for c in configs]
    if not resume:
        runs = registry.create_runs(name, configs)
        return Plan(registry, name, runs, len(runs), 0, lanes)

    from btgym.experiments.config import canonical_json
    from btgym.experiments.datasets import load_data

    registry.requeue_stale()
    registry.experiment(name)
    existing = registry.runs(experiment=name)
    done = {(r.config_hash, r.data_fingerprint) for r in existing if r.status == "finished"}
    waiting = {}
    for r in existing:
        if r.status == "queued":
            waiting.setdefault(r.config_hash, r)
    prints: dict[str, str] = {}
    to_create, reuse, skipped = [], [], 0
    for cfg in configs:
        key = canonical_json(cfg.get("data"))
        if key not in prints:
            prints[key] = load_data(cfg["data"])[1] if cfg.get("data") else ""
        h = config_hash(cfg)
        if (h, prints[key] or None) in done:
            skipped += 1
        elif h in waiting:
            reuse.append(waiting.pop(h))
        else:
            to_create.append(cfg)
    created = registry.create_runs(name, to_create) if to_create else []
    return Plan(registry, name, reuse + created, len(created), skipped, lanes)


def record_outcome(registry: Registry, run: RunRecord, outcome: RunOutcome) -> str:
    """Write an outcome's metrics, artifacts and final status; returns the status."""
    run_dir = Path(outcome.run_dir or run.run_dir or "")
    try:
        rows = [
            (split, k, v, None)
            for split, vals in outcome.metrics.items()
            for k, v in vals.items()
            if isinstance(v, (int, float)) or v is None
        ]
        rows += [(s, k, v, step) for s, k, v, step in outcome.curves]
        if rows:
            registry.log_metric_rows(run.id, rows)
        files = {
            n: run_dir / rel for n, rel in outcome.artifacts.items() if (run_dir / rel).is_file()
        }
        uris: dict[str, str] = {}
        if registry.store.remote and outcome.artifacts and not run_dir.is_dir():
            raise RegistryError(
                f"run dir {run_dir} is not visible to this process, so it cannot be "
                f"published to {registry.store!r} (put the working dir on a shared mount)"
            )
        if registry.store.remote and run_dir.is_dir():
            published = registry.publish_run(run, run_dir)
            uris = {
                n: published[Path(rel).as_posix()]
                for n, rel in outcome.artifacts.items()
                if Path(rel).as_posix() in published
            }
        if files:
            registry.log_artifacts(run.id, files, uris=uris)
    except Exception as exc:  # a bad metric must not leave the run 'running'
        log.warning(f"run {run.id}: could not record its results: {exc}")
        registry.finish(
            run.id,
            "failed",
            error=f"recording results failed: {exc}",
            data_fingerprint=outcome.data_fingerprint,
        )
        return "failed"
    registry.finish(
        run.id, outcome.status, error=outcome.error, data_fingerprint=outcome.data_fingerprint
    )
    return outcome.status


def parent_fingerprint(registry: Registry, run: RunRecord) -> str | None:
    """The data fingerprint a rerun must match (its parent's), if any."""
    if run.parent_run_id is None:
        return None
    try:
        return registry.get(run.parent_run_id).data_fingerprint
    except Exception:
        return None


def units_of(runs: Sequence[RunRecord]) -> dict[str, list[RunRecord]]:
    """Supervised runs grouped by the dataset they share (unit name, or a hash)."""
    from btgym.experiments.config import sha256_text

    groups: dict[str, list[RunRecord]] = {}
    for r in runs:
        if r.kind != "supervised":
            continue
        c = r.config
        key = sha256_text(
            c.get("data"), c.get("featureset"), c.get("split"), c.get("dataset_params")
        )
        groups.setdefault(key, []).append(r)
    return groups


def unit_name(run: RunRecord) -> str:
    return str(run.config.get("unit") or run.name or run.id)


def progress_bar(total: int, enabled: bool, desc: str) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, disable=not enabled, desc=desc, unit="run", dynamic_ncols=True)


def elapsed(t0: float) -> float:
    return time.perf_counter() - t0


def utc_stamp() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%H:%M:%S")
