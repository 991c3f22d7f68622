"""RayExecutor on a real local Ray with 2 CPUs (acceptance 8)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from btgym.experiments.registry import Registry
from btgym.experiments.spec import load_spec

ray = pytest.importorskip("ray", reason="the ray extra: pip install 'btgym[ray]'")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _test_metrics(reg):
    m = reg.metrics(experiment="ws")
    m = m[(m["split"] == "test") & m["step"].isna()]
    runs = {r.id: r for r in reg.runs(experiment="ws")}
    return {
        (runs[rid].config_hash, key): v for rid, key, v in zip(m["run_id"], m["key"], m["value"])
    }


def test_ray_matches_local(workspec_file, tmp_path, executor, local_ray):
    from btgym.experiments.executors import RayExecutor

    spec = load_spec(workspec_file)
    local = Registry(url=f"sqlite:///{tmp_path}/local.sqlite", artifact_root=tmp_path / "a")
    executor.run(spec, local, progress=False)
    remote = Registry(url=f"sqlite:///{tmp_path}/db/ray.sqlite", artifact_root=tmp_path / "b")
    rx = RayExecutor()
    s = rx.run(spec, remote, progress=False)
    assert (s.finished, s.failed) == (6, 0) and s.dataset_builds == {"unit1": 1, "unit2": 1}

    def hashes(reg):
        return sorted((r.config_hash, r.status) for r in reg.runs(experiment="ws"))

    assert hashes(remote) == hashes(local)
    a, b = _test_metrics(local), _test_metrics(remote)
    assert a.keys() == b.keys() and len(a) > 6 * 5
    for k in a:
        if np.isnan(a[k]) or np.isnan(b[k]):
            assert np.isnan(a[k]) and np.isnan(b[k]), k
        else:
            assert abs(a[k] - b[k]) <= 1e-6, (k, a[k], b[k])
    # the tasks got configs and paths, never the registry URL
    sent = json.dumps(rx.sent)
    assert len(rx.sent) == 2 + 6 and remote.url not in sent and "ray.sqlite" not in sent
    assert all("registry" not in m for m in rx.sent)


def test_missing_ray_names_the_extra(monkeypatch):
    import sys

    from btgym.errors import MissingExtraError
    from btgym.experiments.executors import ray as rmod

    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed
    with pytest.raises(MissingExtraError, match=r"btgym\[ray\]"):
        rmod.RayExecutor()
