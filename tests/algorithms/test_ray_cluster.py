"""The Ray backend on a simulated multi-node cluster (``ray.cluster_utils.Cluster``:
a head without CPUs and two one-CPU nodes, so each worker actor lands on its own node).

Distributed A3C on the sine data reaches at least half of the oracle's test return;
a CURVE-protected data server on the driver serves a worker on another node that holds
the run's keys over TCP, and refuses one without them.
"""

from __future__ import annotations

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from ray.cluster_utils import Cluster  # noqa: E402
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy  # noqa: E402

from benchmarks.learning_sine import run_baseline, score_agent  # noqa: E402
from btgym.algorithms.distributed import RayA3C  # noqa: E402
from tests.algorithms.ray_support import ray_env_kwargs  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster():
    c = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 0, "include_dashboard": False},
    )
    try:
        nodes = [c.add_node(num_cpus=1) for _ in range(2)]
        ray.init(address=c.address, log_to_driver=False)
        c.wait_for_nodes()
        yield c, nodes
    finally:
        ray.shutdown()
        c.shutdown()


def test_distributed_a3c_on_two_nodes_reaches_half_the_oracle(cluster, tmp_path):
    kw = ray_env_kwargs()
    nodes: set[str] = set()

    def callback(_progress):
        if algo.pool is not None:
            nodes.update(i["node_id"] for i in algo.pool.info)

    algo = RayA3C(
        env_kwargs=kw,
        logdir=tmp_path,
        num_workers=2,
        total_steps=12_000,
        seed=0,
        ray_config={"ordered": True},  # gradients in a fixed order: the same run every time
    )
    with algo:
        result = algo.train(callback=callback)
    assert len(nodes) == 2, "the two workers should run on the two worker nodes"
    oracle = float(np.mean(run_baseline("oracle", kw, 4, 0)))
    agent = float(np.mean(score_agent(result.checkpoint, kw, 4, 0)))
    print(
        f"A3C on Ray, 2 nodes, {result.steps} steps: test return {agent:.3g} = "
        f"{agent / oracle:.0%} of the oracle's {oracle:.3g}"
    )
    assert oracle > 0
    assert agent >= 0.5 * oracle, f"A3C on Ray: {agent:.3g} vs oracle {oracle:.3g}"


def test_ordered_runs_of_a_seed_are_identical(cluster, tmp_path):
    """``RayConfig(ordered=True)``: the workers' gradients land in round-robin order,
    so two runs of one seed end with the same weights (async arrival order would not)."""
    import torch

    from btgym.algorithms.common.checkpoint import load_checkpoint

    weights = []
    for run in ("a", "b"):
        with RayA3C(
            env_kwargs=ray_env_kwargs(),
            logdir=tmp_path / run,
            num_workers=2,
            total_steps=1_500,
            seed=3,
            ray_config={"ordered": True},
        ) as algo:
            result = algo.train()
        weights.append(load_checkpoint(result.checkpoint)["model"])
    assert weights[0].keys() == weights[1].keys()
    for key in weights[0]:
        assert torch.equal(weights[0][key], weights[1][key]), key


def test_shared_curve_data_server_feeds_workers_on_two_nodes(cluster, tmp_path):
    """``data="shared"``: one data server on the driver, over TCP with CURVE, serves the
    workers of both nodes: one global time and one broadcast for the run."""
    seen: dict[str, object] = {}

    def callback(progress):
        if algo.pool is not None and "infos" not in seen:  # the first report, mid-run
            seen["nodes"] = {i["node_id"] for i in algo.pool.info}
            seen["address"] = algo.envs.shared_address
            seen["infos"] = algo._data_infos()
            seen["broadcast"] = algo.broadcast({"regime": "calm"})

    algo = RayA3C(
        env_kwargs=ray_env_kwargs(),
        logdir=tmp_path,
        num_workers=2,
        total_steps=600,
        seed=0,
        ray_config={"data": "shared"},
    )
    with algo:
        result = algo.train(callback=callback)
    assert result.steps >= 600 and "infos" in seen
    assert len(seen["nodes"]) == 2
    assert seen["address"].startswith("tcp://") and "curve=" in seen["address"]
    (info,) = seen["infos"]
    assert info["served_by_type"].get("0", 0) >= 2  # both workers' first trials, at least
    assert info["global_time"] is not None
    assert [b["message"] for b in seen["broadcast"]] == [{"regime": "calm"}]
    assert algo.envs.shared_server is None  # stopped with the run


def _sample_len(address: str, timeout: float) -> int | str:
    """On a worker node: one trial's length through ``address``, or the error's class."""
    from btgym.dataserver import DataClient

    try:
        with DataClient(address, timeout=timeout) as client:
            return len(client.sample(sample_type=0))
    except Exception as exc:
        return type(exc).__name__


def test_curve_data_server_serves_a_keyed_worker_node_and_refuses_a_keyless_one(cluster):
    from btgym.comm.session import Address, CurveKeys
    from btgym.dataserver import DataServerProcess

    _, nodes = cluster
    kw = ray_env_kwargs()
    keys = ("filename", "parsing_params", "episode_duration", "start_00", "start_weekdays")
    source = {k: kw[k] for k in keys}
    server = DataServerProcess(source, transport="tcp", host="0.0.0.0", allow_remote=True)
    try:
        address = Address.parse(server.start())
        port = address.endpoint.rsplit(":", 1)[1]
        keyed = Address(f"tcp://127.0.0.1:{port}", address.token, address.curve)
        keyless = Address(f"tcp://127.0.0.1:{port}", address.token, None)
        wrong = CurveKeys.generate().for_client()
        wrong_keys = Address(
            f"tcp://127.0.0.1:{port}",
            address.token,
            CurveKeys(
                server_public=address.curve.server_public,
                client_public=wrong.client_public,
                client_secret=wrong.client_secret,
            ),
        )
        on_node = ray.remote(_sample_len).options(
            num_cpus=1,
            scheduling_strategy=NodeAffinitySchedulingStrategy(nodes[1].node_id, soft=False),
        )
        refs = [on_node.remote(str(a), 3.0) for a in (keyed, keyless, wrong_keys)]
        served, no_key, bad_key = ray.get(refs, timeout=120)
    finally:
        server.stop()
    assert isinstance(served, int) and served > 0
    assert isinstance(no_key, str) and "Error" in no_key
    assert isinstance(bad_key, str) and "Error" in bad_key


WORKSPEC = """name: ws
description: one unit on EURUSD Jan 2017, two model specs
units:
  - name: unit1
    featureset:
        name: fs_unit1
        features:
          - "LogReturns(1min,basis=close,lookback=1)"
          - "LogReturns(1min,basis=close,lookback=5)"
        labels: ["LogReturns(1min,basis=close,lookforward=1)"]
    data: {{filename: "{data}"}}
    split:
        train: ["2017-01-02", "2017-01-07"]
        val: ["2017-01-09", "2017-01-10"]
        test: ["2017-01-10", "2017-01-12"]
    dataset_params: {{task: classification}}
    model_specs:
      - {{name: logistic, model: LogisticClassifier, epochs: 3, seed: 1}}
      - {{name: prior, model: PriorBaseline}}
"""


def test_experiments_ray_executor_runs_on_the_cluster_nodes(cluster, tmp_path, shared_data):
    """The experiments' RayExecutor joins the multi-node cluster; the head has no CPUs,
    so its dataset and run tasks all ran on the worker nodes."""
    pytest.importorskip("btgym.experiments.executors.ray")
    from btgym.experiments.executors import RayExecutor
    from btgym.experiments.registry import Registry
    from btgym.experiments.spec import load_spec

    head = [n for n in ray.nodes() if n["Alive"] and n["Resources"].get("CPU", 0) == 0]
    assert len(head) == 1  # tasks need a CPU: none can run on the head
    data = shared_data / "DAT_ASCII_EURUSD_M1_201701.csv"
    path = tmp_path / "work.yaml"
    path.write_text(WORKSPEC.format(data=data.as_posix()), encoding="utf-8")
    registry = Registry(url=f"sqlite:///{tmp_path}/db/ray.sqlite", artifact_root=tmp_path / "a")
    summary = RayExecutor().run(load_spec(path), registry, progress=False)
    assert (summary.finished, summary.failed) == (2, 0)
    assert {r.status for r in registry.runs(experiment="ws")} == {"finished"}
