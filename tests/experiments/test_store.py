"""fsspec artifact roots: the stores on real fsspec filesystems (memory://, file://), a
WorkSpec batch published to ``memory://`` and a report read back through the store, the
missing-extra error, and a plain path that keeps today's behaviour."""

from __future__ import annotations

import hashlib
import re
import shutil
import sys
import uuid
from pathlib import Path

import pytest

from btgym.errors import MissingExtraError
from btgym.experiments.registry import Registry
from btgym.experiments.spec import load_spec
from btgym.experiments.store import FsspecStore, LocalStore, is_url, open_store
from tests.experiments.conftest import spec_yaml


@pytest.fixture
def fsspec():
    """fsspec itself (a dependency of torch, so present wherever btgym's tests run)."""
    return pytest.importorskip("fsspec")


@pytest.fixture
def mem_url(fsspec):
    name = f"btgym-test-{uuid.uuid4().hex[:8]}"
    yield f"memory://{name}"
    fs = fsspec.filesystem("memory")
    if fs.exists(f"/{name}"):
        fs.rm(f"/{name}", recursive=True)


def _tree(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    (src / "model").mkdir(parents=True)
    (src / "run.json").write_text('{"a": 1}\n')
    (src / "model" / "weights.bin").write_bytes(bytes(range(256)) * 10)
    return src


def test_is_url_and_open_store(tmp_path, fsspec):
    assert is_url("s3://bucket/btgym") and is_url("memory://x") and is_url("file:///tmp/x")
    assert not is_url(tmp_path) and not is_url("runs") and not is_url(None)
    assert isinstance(open_store(tmp_path), LocalStore)
    assert isinstance(open_store("memory://x"), FsspecStore)


@pytest.mark.parametrize("kind", ["memory", "file"])
def test_fsspec_store_roundtrip(tmp_path, mem_url, kind, fsspec):
    url = mem_url if kind == "memory" else (tmp_path / "root").as_uri()
    store = open_store(url)
    src = _tree(tmp_path)
    assert not store.exists("exp/r1")
    urls = store.put_dir(src, "exp/r1")
    assert urls == {
        "model/weights.bin": f"{url}/exp/r1/model/weights.bin",
        "run.json": f"{url}/exp/r1/run.json",
    }
    assert store.exists("exp/r1") and store.exists("exp/r1/model/weights.bin")
    with fsspec.open(urls["model/weights.bin"], "rb") as fh:
        assert fh.read() == (src / "model" / "weights.bin").read_bytes()
    back = store.get_dir("exp/r1", tmp_path / "back")
    assert (back / "run.json").read_text() == '{"a": 1}\n'
    assert (back / "model" / "weights.bin").read_bytes() == bytes(range(256)) * 10


def test_plain_path_keeps_local_behaviour(tmp_path):
    reg = Registry(artifact_root=tmp_path / "runs")
    assert not reg.store.remote and reg.artifact_root == (tmp_path / "runs").resolve()
    assert reg.url.endswith(f"{(tmp_path / 'runs').resolve().as_posix()}/registry.sqlite")


def test_url_root_without_fsspec_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "fsspec", None)
    with pytest.raises(MissingExtraError, match=re.escape('pip install "btgym[cloud]"')):
        Registry(url=f"sqlite:///{tmp_path.as_posix()}/r.sqlite", artifact_root="s3://b/btgym")
    Registry(artifact_root=tmp_path / "runs")  # plain paths never need it


def test_workspec_batch_publishes_to_memory_root_and_report_reads_back(
    eurusd, tmp_path, executor, mem_url, monkeypatch, fsspec
):
    from btgym.experiments.report import build_report

    monkeypatch.setenv("BTGYM_ARTIFACT_CACHE", str(tmp_path / "cache"))
    spec = tmp_path / "work.yaml"
    spec.write_text(spec_yaml(eurusd, epochs=3), encoding="utf-8")
    db = f"sqlite:///{(tmp_path / 'registry.sqlite').as_posix()}"
    reg = Registry(url=db, artifact_root=mem_url)
    assert reg.store.remote and reg.artifact_root.is_relative_to(tmp_path / "cache")
    s = executor.run(load_spec(spec), reg, progress=False)
    assert (s.finished, s.failed) == (6, 0)
    fs = fsspec.filesystem("memory")
    for r in reg.runs(experiment="ws"):
        arts = {a.name: a for a in reg.artifacts(r.id)}
        assert {"run.json", "results.json", "predictions.parquet"} <= set(arts)
        for a in arts.values():
            assert a.uri == f"{mem_url}/ws/{r.id}/{a.name}"
            assert hashlib.sha256(fs.cat(a.uri)).hexdigest() == a.sha256
    # the local working copies go away; the report fetches every run back from the store
    shutil.rmtree(reg.artifact_root)
    reg2 = Registry(url=db, artifact_root=mem_url)
    out = build_report(reg2, experiment="ws", out=tmp_path / "report.html", workers=1)
    html = out.read_text()
    assert html.count('<img alt="batch heatmap"') == 1
    assert len(re.findall(r"<div class='card' id='card-", html)) == 6
    assert (reg2.artifact_root / "ws").is_dir()


def test_runs_show_and_worker_dir_under_a_file_url_root(tmp_path, monkeypatch, fsspec):
    """``runs show`` (a separate process) reports the published URIs of a file:// root."""
    import json

    from btgym.experiments.executors.base import record_outcome
    from btgym.experiments.runner import RunOutcome
    from tests.experiments.conftest import run_btgym

    cache = tmp_path / "cache"
    monkeypatch.setenv("BTGYM_ARTIFACT_CACHE", str(cache))
    url, db = (tmp_path / "root").as_uri(), f"sqlite:///{(tmp_path / 'r.sqlite').as_posix()}"
    reg = Registry(url=db, artifact_root=url)
    run = reg.create_run("exp", {"seed": 1}, kind="supervised", status="running", worker="t")
    local = reg.run_dir_of("exp", run.id)
    assert Path(run.run_dir) == local and local.is_relative_to(cache)
    src = _tree(tmp_path)
    shutil.copytree(src, local)
    files = {"run.json": "run.json", "model/weights.bin": "model/weights.bin"}
    outcome = RunOutcome(run_id=run.id, status="finished", artifacts=files, run_dir=str(local))
    assert record_outcome(reg, run, outcome) == "finished"
    published = tmp_path / "root" / "exp" / run.id
    assert (published / "model" / "weights.bin").read_bytes() == bytes(range(256)) * 10
    res = run_btgym("runs", "show", run.id, "--registry", db, "--artifacts", url)
    assert res.returncode == 0, res.stderr[-3000:]
    arts = json.loads(res.stdout)["artifacts"]
    want = hashlib.sha256((published / "run.json").read_bytes()).hexdigest()
    assert arts["run.json"] == {
        "sha256": want,
        "bytes": len('{"a": 1}\n'),
        "uri": f"{url}/exp/{run.id}/run.json",
    }
    # a fresh working dir (another host): local_run_dir fetches the run back
    shutil.rmtree(cache)
    back = Registry(url=db, artifact_root=url).local_run_dir(reg.get(run.id))
    assert (back / "run.json").read_text() == '{"a": 1}\n'


def test_an_unpublishable_run_fails_with_the_reason(tmp_path, mem_url, monkeypatch):
    """A run dir the recording process cannot see fails the run instead of losing files."""
    from btgym.experiments.executors.base import record_outcome
    from btgym.experiments.runner import RunOutcome

    monkeypatch.setenv("BTGYM_ARTIFACT_CACHE", str(tmp_path / "cache"))
    reg = Registry(url=f"sqlite:///{(tmp_path / 'r.sqlite').as_posix()}", artifact_root=mem_url)
    run = reg.create_run("exp", {"seed": 2}, kind="supervised", status="running", worker="t")
    gone = tmp_path / "elsewhere" / run.id
    outcome = RunOutcome(
        run_id=run.id, status="finished", artifacts={"run.json": "run.json"}, run_dir=str(gone)
    )
    assert record_outcome(reg, run, outcome) == "failed"
    err = reg.get(run.id).error
    assert "not visible to this process" in err and mem_url in err
