"""Frozen records the registry returns."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Experiment:
    """A named group of runs."""

    id: str
    name: str
    description: str
    created_at: dt.datetime


@dataclass(frozen=True)
class RunRecord:
    """One row of ``runs`` with its config parsed, its experiment's name and its tags."""

    id: str
    experiment_id: str
    experiment: str
    kind: str
    name: str | None
    status: str
    config: Mapping[str, Any]
    config_hash: str
    sweep_id: str | None
    parent_run_id: str | None
    seed: int | None
    data_fingerprint: str | None
    code_version: str | None
    host: str | None
    worker: str | None
    run_dir: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    heartbeat_at: dt.datetime | None
    error: str | None
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def duration(self) -> float | None:
        """Seconds from start to finish (``None`` when either is missing)."""
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    @classmethod
    def from_row(cls, row: Mapping[str, Any], experiment: str, tags: Mapping[str, str]):
        d = dict(row)
        d["config"] = json.loads(d.pop("config_json"))
        return cls(experiment=experiment, tags=dict(tags), **d)


@dataclass(frozen=True)
class ArtifactRecord:
    """A file belonging to a run, with its content hash."""

    run_id: str
    name: str
    uri: str
    sha256: str
    bytes: int
    created_at: dt.datetime


@dataclass(frozen=True)
class SweepResult:
    """What :meth:`Registry.create_sweep` made: the new runs and how many points were
    skipped as duplicates."""

    sweep_id: str
    runs: list[RunRecord]
    duplicates: int
