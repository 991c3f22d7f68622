"""Metric rows and artifacts of runs (a mixin of :class:`Registry`)."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import and_, delete, insert, select

from btgym.errors import ConfigError, RegistryError
from btgym.experiments.config import sha256_file
from btgym.experiments.registry import schema as S
from btgym.experiments.registry.records import ArtifactRecord


def now_utc() -> dt.datetime:
    """The current time, aware UTC."""
    return dt.datetime.now(dt.timezone.utc)


class MetricsMixin:
    """``log_metrics``, ``metrics``, ``log_artifact(s)``, ``artifacts``."""

    def tx(self, write: bool = True) -> AbstractContextManager[sa.Connection]:
        raise NotImplementedError

    def _experiment_id(self, conn: sa.Connection, name: str | None) -> str | None:
        raise NotImplementedError

    def log_metrics(
        self, run_id: str, split: str, values: Mapping[str, float], step: int | None = None
    ) -> None:
        """Add metric rows; summaries (``step=None``) replace earlier ones, curves append."""
        self.log_metric_rows(run_id, [(split, k, v, step) for k, v in values.items()])

    def log_metric_rows(
        self, run_id: str, rows: Sequence[tuple[str, str, float, int | None]]
    ) -> None:
        """Add many ``(split, key, value, step)`` rows in one transaction."""
        now = now_utc()
        recs = []
        for split, key, value, step in rows:
            if split not in S.SPLITS:
                raise ConfigError(f"metric split {split!r} is not one of {list(S.SPLITS)}")
            v = None if value is None else float(value)
            recs.append(
                dict(
                    run_id=run_id,
                    split=split,
                    key=str(key),
                    value=v if v is None or v == v else None,
                    step=None if step is None else int(step),
                    ts=now,
                )
            )
        summaries = {(r["split"], r["key"]) for r in recs if r["step"] is None}
        with self.tx() as conn:
            for split, key in summaries:
                conn.execute(
                    delete(S.metrics).where(
                        S.metrics.c.run_id == run_id,
                        S.metrics.c.split == split,
                        S.metrics.c.key == key,
                        S.metrics.c.step.is_(None),
                    )
                )
            if recs:
                conn.execute(insert(S.metrics), recs)

    def metrics(
        self, run_id: str | Sequence[str] | None = None, experiment: str | None = None
    ) -> Any:
        """Metric rows as a DataFrame: ``run_id, split, key, value, step, ts``."""
        import pandas as pd

        q = select(S.metrics)
        with self.tx(write=False) as conn:
            if run_id is not None:
                ids = [run_id] if isinstance(run_id, str) else list(run_id)
                q = q.where(S.metrics.c.run_id.in_(ids))
            if experiment is not None:
                eid = self._experiment_id(conn, experiment)
                q = q.where(
                    S.metrics.c.run_id.in_(select(S.runs.c.id).where(S.runs.c.experiment_id == eid))
                )
            rows = conn.execute(q).all()
        cols = ["run_id", "split", "key", "value", "step", "ts"]
        frame = pd.DataFrame([tuple(r) for r in rows], columns=cols)
        frame["step"] = frame["step"].astype("Int64")
        frame["value"] = frame["value"].astype(float)
        return frame

    def log_artifact(self, run_id: str, name: str, path: str | os.PathLike) -> ArtifactRecord:
        """Record a file of a run with its sha256 and size (replacing one of that name)."""
        p = Path(path)
        if not p.is_file():
            raise RegistryError(f"artifact {name!r} of run {run_id}: {p} is not a file")
        digest, size = sha256_file(p)
        rec = ArtifactRecord(
            run_id=run_id,
            name=name,
            uri=p.resolve().as_uri(),
            sha256=digest,
            bytes=size,
            created_at=now_utc(),
        )
        with self.tx() as conn:
            conn.execute(
                delete(S.artifacts).where(
                    and_(S.artifacts.c.run_id == run_id, S.artifacts.c.name == name)
                )
            )
            conn.execute(insert(S.artifacts).values(**rec.__dict__))
        return rec

    def log_artifacts(
        self,
        run_id: str,
        files: Mapping[str, str | os.PathLike],
        uris: Mapping[str, str] | None = None,
    ) -> list[ArtifactRecord]:
        """Record several files of a run in one transaction (``{name: path}``); ``uris``
        (``{name: URI}``) names where a file was published (default: its local URI)."""
        recs = []
        for name, path in files.items():
            p = Path(path)
            if not p.is_file():
                raise RegistryError(f"artifact {name!r} of run {run_id}: {p} is not a file")
            digest, size = sha256_file(p)
            recs.append(
                ArtifactRecord(
                    run_id=run_id,
                    name=name,
                    uri=(uris or {}).get(name) or p.resolve().as_uri(),
                    sha256=digest,
                    bytes=size,
                    created_at=now_utc(),
                )
            )
        if recs:
            with self.tx() as conn:
                conn.execute(
                    delete(S.artifacts).where(
                        S.artifacts.c.run_id == run_id,
                        S.artifacts.c.name.in_([r.name for r in recs]),
                    )
                )
                conn.execute(insert(S.artifacts), [r.__dict__ for r in recs])
        return recs

    def artifacts(self, run_id: str) -> list[ArtifactRecord]:
        with self.tx(write=False) as conn:
            rows = conn.execute(
                select(S.artifacts)
                .where(S.artifacts.c.run_id == run_id)
                .order_by(S.artifacts.c.name)
            )
            return [ArtifactRecord(**r._mapping) for r in rows]
