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
import socket
from contextlib import AbstractContextManager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Update, select, update

from btgym.errors import RegistryError, RunNotFoundError, RunStateError
from btgym.experiments.registry import schema as S
from btgym.experiments.registry.data import now_utc
from btgym.experiments.registry.records import RunRecord
from btgym.experiments.registry.schema import runs
from btgym.log import get_logger

log = get_logger(__name__)

#: status -> the statuses it may move to (requeue of stale runs is separate)
TRANSITIONS = {
    "queued": ("running", "cancelled"),
    "running": ("finished", "failed", "cancelled"),
}


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


class QueueMixin:
    """The status machine of :class:`Registry`: claim, start, heartbeat, finish,
    cancel, requeue of stale runs."""

    dialect: str

    def tx(self, write: bool = True) -> AbstractContextManager[sa.Connection]:
        raise NotImplementedError

    def _experiment_id(self, conn: sa.Connection, name: str | None) -> str | None:
        raise NotImplementedError

    def _records(self, conn: sa.Connection, rows: Any) -> list[RunRecord]:
        raise NotImplementedError

    def _move(self, conn: sa.Connection, run_id: str, to: str, **values: Any) -> None:
        allowed = [s for s, nxt in TRANSITIONS.items() if to in nxt]
        res = conn.execute(
            update(S.runs)
            .where(S.runs.c.id == run_id, S.runs.c.status.in_(allowed))
            .values(status=to, **values)
        )
        if res.rowcount == 1:
            return
        cur = conn.execute(select(S.runs.c.status).where(S.runs.c.id == run_id)).scalar()
        if cur is None:
            raise RunNotFoundError(f"no run {run_id!r} in registry {self!r}")
        raise RunStateError(f"run {run_id}: cannot move from {cur!r} to {to!r}")

    def claim(
        self, worker: str, *, kind: str | None = None, experiment: str | None = None
    ) -> RunRecord | None:
        """Atomically take the oldest queued run (``None`` when the queue is empty)."""
        while True:
            with self.tx() as conn:
                exp_id = self._experiment_id(conn, experiment)
                stmt = claim_statement(
                    self.dialect, worker, now_utc(), kind=kind, experiment_id=exp_id
                )
                claimed = conn.execute(stmt).scalars().all()
                if len(claimed) == 1:
                    conn.execute(
                        update(S.runs)
                        .where(S.runs.c.id == claimed[0])
                        .values(host=socket.gethostname())
                    )
                    row = conn.execute(select(S.runs).where(S.runs.c.id == claimed[0])).first()
                    return self._records(conn, [row])[0]
                q = select(sa.func.count()).select_from(S.runs).where(S.runs.c.status == "queued")
                if kind is not None:
                    q = q.where(S.runs.c.kind == kind)
                if exp_id is not None:
                    q = q.where(S.runs.c.experiment_id == exp_id)
                if not conn.execute(q).scalar():
                    return None

    def start(self, run_id: str, worker: str) -> None:
        """``queued → running`` for ``worker``."""
        now = now_utc()
        with self.tx() as conn:
            self._move(
                conn,
                run_id,
                "running",
                worker=worker,
                started_at=now,
                heartbeat_at=now,
                host=socket.gethostname(),
            )

    def heartbeat(self, run_id: str) -> bool:
        """Refresh a running run's heartbeat; ``False`` when it is no longer running
        (cancelled or requeued: the worker should stop)."""
        with self.tx() as conn:
            res = conn.execute(
                update(S.runs)
                .where(S.runs.c.id == run_id, S.runs.c.status == "running")
                .values(heartbeat_at=now_utc())
            )
            return res.rowcount == 1

    def finish(
        self,
        run_id: str,
        status: str,
        error: str | None = None,
        *,
        data_fingerprint: str | None = None,
    ) -> None:
        """End a run: ``running → finished | failed | cancelled`` (or ``queued → cancelled``)."""
        if status not in ("finished", "failed", "cancelled"):
            raise RunStateError(f"run {run_id}: {status!r} is not a final status")
        values: dict[str, Any] = dict(finished_at=now_utc(), error=error)
        if data_fingerprint is not None:
            values["data_fingerprint"] = data_fingerprint
        with self.tx() as conn:
            self._move(conn, run_id, status, **values)

    def cancel(self, run_id: str) -> None:
        """Cancel a queued or running run."""
        self.finish(run_id, "cancelled")

    def requeue_stale(self, stale_after: float = 120.0) -> int:
        """Put running runs whose heartbeat is older than ``stale_after`` s back in the queue."""
        limit = now_utc() - dt.timedelta(seconds=stale_after)
        with self.tx() as conn:
            res = conn.execute(
                update(S.runs)
                .where(S.runs.c.status == "running", S.runs.c.heartbeat_at < limit)
                .values(status="queued", worker=None, started_at=None, heartbeat_at=None)
            )
            n = res.rowcount
        if n:
            log.info(f"requeued {n} stale run(s)")
        return n

    def set_fields(self, run_id: str, **values: Any) -> None:
        """Set identity fields of a run (``data_fingerprint``, ``code_version``, ``host``)."""
        for key in values:
            if key not in ("data_fingerprint", "code_version", "host", "run_dir"):
                raise RegistryError(f"set_fields: {key!r} is not settable")
        with self.tx() as conn:
            conn.execute(update(S.runs).where(S.runs.c.id == run_id).values(**values))
