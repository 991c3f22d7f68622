"""The run registry's tables (SQLAlchemy Core, portable column types, UTC timestamps)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)
from sqlalchemy.types import TypeDecorator

#: bump when a table changes; a database written by newer code is refused
SCHEMA_VERSION = 1

KINDS = ("supervised", "rl", "encoder")
STATUSES = ("queued", "running", "finished", "failed", "cancelled")
SPLITS = ("train", "val", "test", "live")
STRATEGIES = ("grid", "one_at_a_time", "random")


class UTCDateTime(TypeDecorator):
    """``DateTime(timezone=True)`` that always stores UTC and returns aware UTC values
    (SQLite keeps no offset, so naive values read back are UTC by construction)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        value = value.astimezone(dt.timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)


metadata = MetaData()

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

experiments = Table(
    "experiments",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("experiment_id", String(26), ForeignKey("experiments.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("name", String(400)),
    Column("status", String(16), nullable=False),
    Column("config_json", Text, nullable=False),
    Column("config_hash", String(64), nullable=False),
    Column("sweep_id", String(26)),
    Column("parent_run_id", String(26)),
    Column("seed", BigInteger),
    Column("data_fingerprint", String(80)),
    Column("code_version", String(80)),
    Column("host", String(200)),
    Column("worker", String(200)),
    Column("run_dir", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    Column("heartbeat_at", UTCDateTime),
    Column("error", Text),
    Index("ix_runs_queue", "status", "created_at", "id"),
    Index("ix_runs_experiment", "experiment_id", "config_hash"),
)

metrics = Table(
    "metrics",
    metadata,
    Column("run_id", String(26), ForeignKey("runs.id"), nullable=False),
    Column("split", String(8), nullable=False),
    Column("key", String(200), nullable=False),
    Column("value", Float),
    Column("step", BigInteger),
    Column("ts", UTCDateTime, nullable=False),
    Index("ix_metrics_run", "run_id", "split", "key"),
)

artifacts = Table(
    "artifacts",
    metadata,
    Column("run_id", String(26), ForeignKey("runs.id"), nullable=False),
    Column("name", String(400), nullable=False),
    Column("uri", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("run_id", "name"),
)

sweeps = Table(
    "sweeps",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("experiment_id", String(26), ForeignKey("experiments.id"), nullable=False),
    Column("strategy", String(16), nullable=False),
    Column("base_config_json", Text, nullable=False),
    Column("space_json", Text, nullable=False),
    Column("n", BigInteger),
    Column("seed", BigInteger),
    Column("created_at", UTCDateTime, nullable=False),
)

tags = Table(
    "tags",
    metadata,
    Column("run_id", String(26), ForeignKey("runs.id"), nullable=False),
    Column("key", String(200), nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("run_id", "key"),
)

ALL_TABLES = (meta, experiments, runs, metrics, artifacts, sweeps, tags)
