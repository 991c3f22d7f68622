"""The atomic claim: one UPDATE that moves the oldest queued run to ``running``.

``UPDATE runs SET status='running', worker=:w, started_at=:now, heartbeat_at=:now
WHERE id = (SELECT id FROM runs WHERE status='queued' [AND filters] ORDER BY created_at,
id LIMIT 1) AND status='queued'``. SQLite runs it inside ``BEGIN IMMEDIATE`` (writers
queue on the database lock); PostgreSQL adds ``FOR UPDATE SKIP LOCKED`` to the
sub-select, so concurrent workers skip each other's row instead of waiting. The claim
holds only when exactly one row changed; the caller retries until the queue is empty.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Update, select, update

from btgym.experiments.registry.schema import runs


def claim_statement(
    dialect: str,
    worker: str,
    now: dt.datetime,
    *,
    kind: str | None = None,
    experiment_id: str | None = None,
) -> Update:
    """The claim UPDATE for a dialect (``"sqlite"``, ``"postgresql"``...), returning the
    claimed id."""
    sub = select(runs.c.id).where(runs.c.status == "queued")
    if kind is not None:
        sub = sub.where(runs.c.kind == kind)
    if experiment_id is not None:
        sub = sub.where(runs.c.experiment_id == experiment_id)
    sub = sub.order_by(runs.c.created_at, runs.c.id).limit(1)
    if dialect == "postgresql":
        sub = sub.with_for_update(skip_locked=True)
    return (
        update(runs)
        .where(runs.c.id == sub.scalar_subquery(), runs.c.status == "queued")
        .values(status="running", worker=worker, started_at=now, heartbeat_at=now)
        .returning(runs.c.id)
    )
