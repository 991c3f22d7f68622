"""The run registry: experiments, runs, metrics, artifacts, sweeps and tags in one SQL
database (SQLite by default, PostgreSQL by URL). Every public call is one transaction."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, insert, select

from btgym.errors import ConfigError, RegistryError, RunNotFoundError, RunStateError
from btgym.experiments.config import (
    ConfigChange,
    canonical_json,
    code_version,
    config_hash,
    diff_configs,
    new_ulid,
)
from btgym.experiments.registry import schema as S
from btgym.experiments.registry.claim import QueueMixin
from btgym.experiments.registry.data import MetricsMixin, now_utc
from btgym.experiments.registry.records import Experiment, RunRecord
from btgym.experiments.store import FsspecStore, LocalStore, is_url, open_store, work_dir_for
from btgym.log import get_logger

log = get_logger(__name__)


def default_artifact_root() -> Path:
    """``$BTGYM_ARTIFACTS`` or ``./runs`` (read at call time)."""
    return Path(os.environ.get("BTGYM_ARTIFACTS") or "runs")


def default_registry_url(artifact_root: str | os.PathLike | None = None) -> str:
    """``$BTGYM_REGISTRY`` or ``sqlite:///<artifact_root>/registry.sqlite``."""
    url = os.environ.get("BTGYM_REGISTRY")
    if url:
        return url
    root = Path(artifact_root) if artifact_root is not None else default_artifact_root()
    return f"sqlite:///{root.resolve().as_posix()}/registry.sqlite"


def _sqlite_setup(engine: sa.Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get("write", True) else "BEGIN")


class Registry(QueueMixin, MetricsMixin):
    """The run registry.

    Args:
        url: an SQLAlchemy URL (default :func:`default_registry_url`).
        artifact_root: where run directories go (default :func:`default_artifact_root`).
    """

    def __init__(
        self, url: str | None = None, artifact_root: str | os.PathLike | None = None
    ) -> None:
        if artifact_root is None and is_url(os.environ.get("BTGYM_ARTIFACTS")):
            artifact_root = os.environ["BTGYM_ARTIFACTS"]
        self.store: LocalStore | FsspecStore
        if is_url(artifact_root):  # fsspec root: runs write to a local working dir first
            self.artifact_url = os.fspath(artifact_root).rstrip("/")
            self.store = open_store(self.artifact_url)
            root = work_dir_for(self.artifact_url)
        else:
            root = Path(artifact_root) if artifact_root is not None else default_artifact_root()
            self.store = LocalStore(root)
            self.artifact_url = self.store.root.as_posix()
        self.artifact_root = root.resolve()
        self.url = url or default_registry_url(self.artifact_root)
        try:
            parsed = sa.engine.make_url(self.url)
        except sa.exc.ArgumentError as exc:
            raise RegistryError(f"bad registry URL {self.url!r}: {exc}") from None
        self.dialect = parsed.get_backend_name()
        if self.dialect == "sqlite" and parsed.database not in (None, "", ":memory:"):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        try:
            self.engine = sa.create_engine(parsed, future=True)
        except ImportError as exc:
            raise RegistryError(f"registry {self.url!r}: database driver missing ({exc})") from None
        if self.dialect == "sqlite":
            _sqlite_setup(self.engine)
        self._exp_cache: dict[str, str] = {}
        self._open()

    @property
    def safe_url(self) -> str:
        """The URL with its password hidden (for messages and logs)."""
        return self.engine.url.render_as_string(hide_password=True)

    def __repr__(self) -> str:
        return f"Registry({self.engine.url.render_as_string(hide_password=True)!r})"

    # ------------------------------------------------------------------ plumbing

    @contextmanager
    def tx(self, write: bool = True) -> Iterator[sa.Connection]:
        """One transaction (``BEGIN IMMEDIATE`` for writes on SQLite)."""
        try:
            with self.engine.connect() as conn:
                conn.info["write"] = write
                with conn.begin():
                    yield conn
        except sa.exc.OperationalError as exc:
            raise RegistryError(f"registry {self!r}: {exc.orig}") from exc

    def _open(self) -> None:
        with self.tx() as conn:
            S.metadata.create_all(conn)
            row = conn.execute(select(S.meta.c.value).where(S.meta.c.key == "schema_version"))
            value = row.scalar_one_or_none()
            if value is None:
                conn.execute(
                    insert(S.meta).values(key="schema_version", value=str(S.SCHEMA_VERSION))
                )
            elif int(value) > S.SCHEMA_VERSION:
                raise RegistryError(
                    f"registry {self!r} has schema version {value}, newer than this btgym "
                    f"({S.SCHEMA_VERSION}): upgrade btgym"
                )

    def close(self) -> None:
        """Dispose of the connection pool."""
        self.engine.dispose()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ experiments

    def experiment(self, name: str, description: str = "") -> Experiment:
        """Get or create the experiment ``name``."""
        with self.tx() as conn:
            row = conn.execute(select(S.experiments).where(S.experiments.c.name == name)).first()
            if row is None:
                values = dict(
                    id=new_ulid(), name=name, description=description, created_at=now_utc()
                )
                conn.execute(insert(S.experiments).values(**values))
                return Experiment(**values)
        return Experiment(**row._mapping)

    def experiments(self) -> list[Experiment]:
        with self.tx(write=False) as conn:
            rows = conn.execute(select(S.experiments).order_by(S.experiments.c.created_at))
            return [Experiment(**r._mapping) for r in rows]

    def _experiment_id(self, conn: sa.Connection, name: str | None) -> str | None:
        if name is None:
            return None
        eid = conn.execute(
            select(S.experiments.c.id).where(S.experiments.c.name == name)
        ).scalar_one_or_none()
        if eid is None:
            raise RegistryError(f"registry {self!r} has no experiment {name!r}")
        return eid

    # ------------------------------------------------------------------ runs

    def run_dir_of(self, experiment: str, run_id: str) -> Path:
        """``<artifact_root>/<experiment>/<run_id>``."""
        return self.artifact_root / experiment / run_id

    def publish_run(self, run: RunRecord, run_dir: str | os.PathLike) -> dict[str, str]:
        """Publish a finished run directory to the artifact store; ``{file: URI}``
        (a no-op for a local root, where the run directory already is)."""
        return self.store.put_dir(run_dir, f"{run.experiment}/{run.id}")

    def local_run_dir(self, run: RunRecord) -> Path | None:
        """A local directory holding the files of ``run``: its run directory for a local
        root; for an fsspec root the working copy, fetched from the store when missing."""
        if not self.store.remote:
            return Path(run.run_dir) if run.run_dir else None
        local = self.run_dir_of(run.experiment, run.id)
        if not (local / "run.json").is_file():
            rel = f"{run.experiment}/{run.id}"
            if not self.store.exists(rel):
                return None
            self.store.get_dir(rel, local)
        return local

    def create_runs(
        self,
        experiment: str,
        configs: Sequence[Mapping[str, Any]],
        *,
        kind: str | None = None,
        sweep_id: str | None = None,
        parent_run_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        status: str = "queued",
        worker: str | None = None,
        data_fingerprint: str | None = None,
    ) -> list[RunRecord]:
        """Create several runs in one transaction (see :meth:`create_run`)."""
        if status not in ("queued", "running"):
            raise RunStateError(f"a new run starts queued or running, not {status!r}")
        exp = self.experiment(experiment)
        rows, tag_rows = [], []
        now = now_utc()
        for cfg in configs:
            run_kind = kind or cfg.get("kind")
            if run_kind not in S.KINDS:
                raise ConfigError(f"run kind {run_kind!r} is not one of {list(S.KINDS)}")
            cfg = dict(cfg)
            cfg.setdefault("kind", run_kind)
            run_id = new_ulid()
            run_tags = {**(cfg.get("tags") or {}), **(tags or {})}
            rows.append(
                dict(
                    id=run_id,
                    experiment_id=exp.id,
                    kind=run_kind,
                    name=cfg.get("name") or _default_name(cfg),
                    status=status,
                    config_json=canonical_json(cfg),
                    config_hash=config_hash(cfg),
                    sweep_id=sweep_id,
                    parent_run_id=parent_run_id,
                    seed=cfg.get("seed"),
                    data_fingerprint=data_fingerprint,
                    code_version=code_version(),
                    host=socket.gethostname() if status == "running" else None,
                    worker=worker if status == "running" else None,
                    run_dir=self.run_dir_of(experiment, run_id).as_posix(),
                    created_at=now,
                    started_at=now if status == "running" else None,
                    heartbeat_at=now if status == "running" else None,
                )
            )
            tag_rows += [dict(run_id=run_id, key=str(k), value=str(v)) for k, v in run_tags.items()]
        with self.tx() as conn:
            if rows:
                conn.execute(insert(S.runs), rows)
            if tag_rows:
                conn.execute(insert(S.tags), tag_rows)
        ids = [r["id"] for r in rows]
        return self._get_many(ids)

    def create_run(
        self,
        experiment: str,
        config: Mapping[str, Any],
        *,
        kind: str,
        name: str | None = None,
        sweep_id: str | None = None,
        parent_run_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        **kw: Any,
    ) -> RunRecord:
        """Create one run (status ``queued`` unless ``status="running"``)."""
        cfg = dict(config)
        if name is not None:
            cfg["name"] = name
        return self.create_runs(
            experiment,
            [cfg],
            kind=kind,
            sweep_id=sweep_id,
            parent_run_id=parent_run_id,
            tags=tags,
            **kw,
        )[0]

    def _records(self, conn: sa.Connection, rows: Sequence[Any]) -> list[RunRecord]:
        if not rows:
            return []
        ids = [r.id for r in rows]
        exp_ids = {r.experiment_id for r in rows}
        names = dict(
            conn.execute(
                select(S.experiments.c.id, S.experiments.c.name).where(
                    S.experiments.c.id.in_(exp_ids)
                )
            ).all()
        )
        tags: dict[str, dict[str, str]] = {}
        for chunk in range(0, len(ids), 500):
            part = ids[chunk : chunk + 500]
            for t in conn.execute(select(S.tags).where(S.tags.c.run_id.in_(part))):
                tags.setdefault(t.run_id, {})[t.key] = t.value
        return [
            RunRecord.from_row(r._mapping, names[r.experiment_id], tags.get(r.id, {})) for r in rows
        ]

    def _get_many(self, ids: Sequence[str]) -> list[RunRecord]:
        with self.tx(write=False) as conn:
            out: dict[str, RunRecord] = {}
            for chunk in range(0, len(ids), 500):
                part = list(ids[chunk : chunk + 500])
                rows = conn.execute(select(S.runs).where(S.runs.c.id.in_(part))).all()
                out.update({r.id: r for r in self._records(conn, rows)})
        return [out[i] for i in ids]

    def get(self, run_id: str) -> RunRecord:
        """The run ``run_id``, else :class:`RunNotFoundError`."""
        with self.tx(write=False) as conn:
            row = conn.execute(select(S.runs).where(S.runs.c.id == run_id)).first()
            if row is None:
                raise RunNotFoundError(f"no run {run_id!r} in registry {self!r}")
            return self._records(conn, [row])[0]

    def runs(
        self,
        experiment: str | None = None,
        status: str | Sequence[str] | None = None,
        kind: str | None = None,
        tag: str | tuple[str, str] | None = None,
        ids: Sequence[str] | None = None,
    ) -> list[RunRecord]:
        """Runs by creation order, filtered by experiment, status(es), kind, tag
        (``"k=v"`` or ``(k, v)``) and ids."""
        q = select(S.runs)
        with self.tx(write=False) as conn:
            if experiment is not None:
                q = q.where(S.runs.c.experiment_id == self._experiment_id(conn, experiment))
            if status is not None:
                q = q.where(S.runs.c.status.in_([status] if isinstance(status, str) else status))
            if kind is not None:
                q = q.where(S.runs.c.kind == kind)
            if ids is not None:
                q = q.where(S.runs.c.id.in_(list(ids)))
            if tag is not None:
                k, _, v = tag.partition("=") if isinstance(tag, str) else (tag[0], "", tag[1])
                q = q.where(
                    S.runs.c.id.in_(
                        select(S.tags.c.run_id).where(S.tags.c.key == k, S.tags.c.value == v)
                    )
                )
            rows = conn.execute(q.order_by(S.runs.c.created_at, S.runs.c.id)).all()
            return self._records(conn, rows)

    # ------------------------------------------------------------------ diff, rerun, counts

    def diff(self, a: str, b: str) -> list[ConfigChange]:
        """Differing config leaves of runs ``a`` and ``b`` (dotted paths)."""
        return diff_configs(self.get(a).config, self.get(b).config)

    def rerun(self, run_id: str) -> RunRecord:
        """A new queued run with the config of ``run_id`` (``parent_run_id`` set)."""
        parent = self.get(run_id)
        return self.create_run(
            parent.experiment,
            parent.config,
            kind=parent.kind,
            name=parent.name,
            parent_run_id=parent.id,
            tags=parent.tags,
        )

    def counts(self) -> dict[str, int]:
        """Row counts per table."""
        with self.tx(write=False) as conn:
            return {
                t.name: conn.execute(select(sa.func.count()).select_from(t)).scalar()
                for t in S.ALL_TABLES
            }

    def create_sweep(
        self,
        experiment: str,
        base: Mapping[str, Any],
        space: Mapping[str, Any],
        strategy: str,
        **kw: Any,
    ) -> Any:
        """See :func:`btgym.experiments.sweeps.create_sweep`."""
        from btgym.experiments.sweeps import create_sweep

        return create_sweep(self, experiment, base, space, strategy, **kw)


def _default_name(cfg: Mapping[str, Any]) -> str | None:
    parts = [cfg.get("unit"), cfg.get("model_spec")]
    name = "/".join(str(p) for p in parts if p)
    return name or (cfg.get("algo") and f"{cfg['kind']}-{cfg['algo']}") or None
