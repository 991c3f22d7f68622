"""The run registry (spec §5; acceptance 9): one real SQLite file per test, and the same
suite against PostgreSQL when ``BTGYM_TEST_POSTGRES_URL`` is set."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import threading
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateIndex, CreateTable

from btgym.errors import RegistryError, RunNotFoundError, RunStateError
from btgym.experiments.registry import Registry
from btgym.experiments.registry import schema as S
from btgym.experiments.registry.claim import claim_statement

URLS = ["sqlite"]
if os.environ.get("BTGYM_TEST_POSTGRES_URL"):
    URLS.append("postgresql")


@pytest.fixture(params=URLS)
def reg(request, tmp_path):
    url = None if request.param == "sqlite" else os.environ["BTGYM_TEST_POSTGRES_URL"]
    r = Registry(url=url, artifact_root=tmp_path)
    yield r
    r.close()


@pytest.fixture
def exp():
    return f"exp-{uuid.uuid4().hex[:8]}"  # isolates tests sharing one PostgreSQL database


def _cfgs(n, **extra):
    return [
        {"kind": "supervised", "seed": i, "model": {"class": "X", "params": {}}, **extra}
        for i in range(n)
    ]


def test_defaults_are_read_at_call_time(tmp_path, monkeypatch):
    monkeypatch.setenv("BTGYM_ARTIFACTS", str(tmp_path / "arts"))
    monkeypatch.delenv("BTGYM_REGISTRY", raising=False)
    r = Registry()
    assert r.artifact_root == (tmp_path / "arts").resolve()
    assert r.url == f"sqlite:///{(tmp_path / 'arts' / 'registry.sqlite').as_posix()}"
    assert (tmp_path / "arts" / "registry.sqlite").is_file()
    with r.engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert c.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
        assert c.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_newer_schema_is_refused(tmp_path):
    r = Registry(artifact_root=tmp_path)
    with r.tx() as c:
        c.execute(sa.update(S.meta).values(value=str(S.SCHEMA_VERSION + 1)))
    r.close()
    with pytest.raises(RegistryError, match="newer"):
        Registry(artifact_root=tmp_path)


def test_create_get_filter_and_tags(reg, exp):
    runs = reg.create_runs(exp, _cfgs(3), tags={"team": "a"})
    assert [r.status for r in runs] == ["queued"] * 3
    r0 = reg.get(runs[0].id)
    assert r0.config["seed"] == 0 and r0.tags == {"team": "a"} and r0.experiment == exp
    assert r0.run_dir.endswith(f"{exp}/{r0.id}")
    assert r0.created_at.tzinfo is not None
    assert len(reg.runs(experiment=exp, tag="team=a")) == 3
    assert reg.runs(experiment=exp, tag=("team", "b")) == []
    with pytest.raises(RunNotFoundError, match="NOPE"):
        reg.get("NOPE")
    with pytest.raises(RegistryError, match="no experiment"):
        reg.runs(experiment="missing-" + exp)


def test_status_machine(reg, exp):
    a, b, c = reg.create_runs(exp, _cfgs(3))
    with pytest.raises(RunStateError):
        reg.finish(a.id, "finished")  # queued -> finished skips running
    reg.start(a.id, "w")
    with pytest.raises(RunStateError):
        reg.start(a.id, "w")
    reg.finish(a.id, "finished")
    with pytest.raises(RunStateError, match="'finished' to 'failed'"):
        reg.finish(a.id, "failed")
    reg.cancel(b.id)  # queued -> cancelled
    reg.start(c.id, "w")
    reg.finish(c.id, "failed", error="Traceback ...\nValueError: boom")
    got = {r.id: r for r in reg.runs(experiment=exp)}
    assert got[a.id].status == "finished" and got[a.id].duration >= 0
    assert got[b.id].status == "cancelled"
    assert got[c.id].status == "failed" and "boom" in got[c.id].error
    with pytest.raises(RunStateError):
        reg.finish(c.id, "queued")


def test_claim_takes_the_oldest_and_filters(reg, exp):
    sup = reg.create_runs(exp, _cfgs(2))
    rl = reg.create_run(exp, {"kind": "rl", "algo": "a3c", "seed": 0}, kind="rl")
    first = reg.claim("w1", experiment=exp)
    assert first.id == sup[0].id and first.status == "running" and first.worker == "w1"
    assert first.heartbeat_at is not None and first.host
    assert reg.claim("w1", kind="rl", experiment=exp).id == rl.id
    assert reg.claim("w1", kind="rl", experiment=exp) is None
    assert reg.claim("w2", experiment=exp).id == sup[1].id
    assert reg.claim("w2", experiment=exp) is None


def test_concurrent_claims_are_exactly_once(reg, exp):
    ids = {r.id for r in reg.create_runs(exp, _cfgs(40))}
    got: dict[str, list[str]] = {}

    def worker(name):
        r = Registry(url=reg.url, artifact_root=reg.artifact_root)
        mine = got.setdefault(name, [])
        while (run := r.claim(name, experiment=exp)) is not None:
            mine.append(run.id)
        r.close()

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    claimed = [i for v in got.values() for i in v]
    assert sorted(claimed) == sorted(ids)  # every run once, none twice
    by_worker = {r.id: r.worker for r in reg.runs(experiment=exp)}
    assert all(by_worker[i] == w for w, v in got.items() for i in v)


def test_heartbeat_and_requeue_stale(reg, exp):
    a, b = reg.create_runs(exp, _cfgs(2))
    reg.claim("w1", experiment=exp)
    reg.claim("w2", experiment=exp)
    old = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=600)
    with reg.tx() as c:
        c.execute(sa.update(S.runs).where(S.runs.c.id == a.id).values(heartbeat_at=old))
    assert reg.heartbeat(b.id) is True
    assert reg.requeue_stale(stale_after=120) == 1
    ra, rb = reg.get(a.id), reg.get(b.id)
    assert ra.status == "queued" and ra.worker is None and rb.status == "running"
    assert reg.heartbeat(a.id) is False  # the old worker learns it lost the run
    assert reg.claim("w3", experiment=exp).id == a.id


def test_metrics_summaries_replace_curves_append(reg, exp):
    (r,) = reg.create_runs(exp, _cfgs(1))
    reg.log_metrics(r.id, "test", {"acc": 0.5, "pv_0": 0.4})
    reg.log_metrics(r.id, "test", {"acc": 0.6})
    for step in (1, 2, 2):
        reg.log_metrics(r.id, "train", {"loss": 1.0 / step}, step=step)
    m = reg.metrics(r.id)
    summ = m[m["step"].isna()].set_index("key")["value"]
    assert summ.to_dict() == {"acc": 0.6, "pv_0": 0.4}
    assert len(m[m["key"] == "loss"]) == 3
    assert len(reg.metrics(experiment=exp)) == 5


def test_artifact_sha256_matches_the_file(reg, exp, tmp_path):
    (r,) = reg.create_runs(exp, _cfgs(1))
    f = tmp_path / "w.bin"
    f.write_bytes(os.urandom(5000))
    rec = reg.log_artifact(r.id, "model/weights.pt", f)
    assert rec.sha256 == hashlib.sha256(f.read_bytes()).hexdigest() and rec.bytes == 5000
    f.write_bytes(b"new")
    reg.log_artifact(r.id, "model/weights.pt", f)  # replaces
    (only,) = reg.artifacts(r.id)
    assert only.bytes == 3 and only.uri.startswith("file://")


def test_rerun_clones_and_diff(reg, exp):
    a, b = reg.create_runs(exp, [{**c, "tags": {"k": "v"}} for c in _cfgs(2)])
    child = reg.rerun(a.id)
    assert child.parent_run_id == a.id and child.status == "queued"
    assert child.config_hash == a.config_hash and child.tags == {"k": "v"}
    assert [(c.path, c.a, c.b) for c in reg.diff(a.id, b.id)] == [("seed", 0, 1)]


def test_every_table_and_statement_compiles_for_postgresql():
    dialect = postgresql.dialect()
    for table in S.ALL_TABLES:
        ddl = str(CreateTable(table).compile(dialect=dialect))
        assert table.name in ddl
        for index in table.indexes:
            str(CreateIndex(index).compile(dialect=dialect))
    assert "TIMESTAMP WITH TIME ZONE" in str(CreateTable(S.runs).compile(dialect=dialect))
    now = dt.datetime.now(dt.timezone.utc)
    pg = str(
        claim_statement("postgresql", "w", now, kind="rl", experiment_id="E").compile(
            dialect=dialect
        )
    )
    assert "FOR UPDATE SKIP LOCKED" in pg and "RETURNING" in pg and "LIMIT" in pg
    lite = str(claim_statement("sqlite", "w", now).compile(dialect=sa.dialects.sqlite.dialect()))
    assert "SKIP LOCKED" not in lite and "ORDER BY runs.created_at, runs.id" in lite


def test_store_statements_compile_for_postgresql():
    """Every statement shape the store issues (filters, upserts by delete+insert)."""
    dialect = postgresql.dialect()
    stmts = [
        sa.select(S.runs)
        .where(S.runs.c.status.in_(["queued"]), S.runs.c.kind == "rl")
        .order_by(S.runs.c.created_at, S.runs.c.id),
        sa.update(S.runs)
        .where(S.runs.c.id == "x", S.runs.c.status.in_(["running"]))
        .values(status="finished"),
        sa.delete(S.metrics).where(S.metrics.c.run_id == "x", S.metrics.c.step.is_(None)),
        sa.insert(S.metrics),
        sa.select(sa.func.count()).select_from(S.runs),
    ]
    for s in stmts:
        assert str(s.compile(dialect=dialect))
