"""Serving: the data server hands out exactly the domain's own samples, to many clients."""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

import numpy as np
import psutil
import pytest

from btgym.comm.session import Address
from btgym.datafeed import Episode, Trial, make_domain
from btgym.dataserver import DataClient
from btgym.errors import DataServerRemoteError, SamplingError, UnknownKeywordError
from tests.dataserver.conftest import data_config, eurusd, local_domain


def assert_same_sample(got: Any, want: Any) -> None:
    assert type(got) is type(want)
    assert got.metadata == want.metadata
    assert got.bars.names == want.bars.names
    np.testing.assert_array_equal(got.bars.index, want.bars.index)
    for name in want.bars.names:
        np.testing.assert_array_equal(got.bars.values[name], want.bars.values[name])


@pytest.mark.parametrize(
    ("kind", "transport", "types"),
    [
        ("random", "ipc", (0, 1, 0, 0, 1)),
        ("random", "tcp", (0, 1)),
        ("sequential", "ipc", (0, 0, 0, 0)),
        ("dataset", "ipc", (0, 1, 0)),
    ],
)
def test_served_samples_equal_the_domains_own(start_server, kind, transport, types):
    config = data_config(kind, seed=11)
    proc = start_server(config, transport=transport)
    assert proc.endpoint.startswith(f"{transport}://")
    if transport == "tcp":  # a port the OS picked, listening on loopback only
        listening = [
            c.laddr
            for c in psutil.Process(proc.pid).net_connections(kind="tcp")
            if c.status == psutil.CONN_LISTEN
        ]
        assert [(a.ip, f"tcp://127.0.0.1:{a.port}") for a in listening] == [
            ("127.0.0.1", Address.parse(proc.endpoint).endpoint)
        ]
    local = local_domain(config)
    with DataClient(proc.endpoint) as client:
        for sample_type in types:
            got, want = (
                client.sample(sample_type=sample_type),
                local.sample(sample_type=sample_type),
            )
            assert_same_sample(got, want)
            if isinstance(want, Trial):  # its episodes are drawn locally, identically
                assert got.seed == want.seed
                got.reset()
                want.reset()
                for ep_type in (0, 1, 0):
                    assert_same_sample(
                        got.sample(sample_type=ep_type), want.sample(sample_type=ep_type)
                    )
            else:
                assert isinstance(got, Episode)


def test_sample_keywords_behave_as_the_domains(server):
    with server.client() as client:
        first = client.sample()
        again = client.sample(get_new=False)
        assert again.metadata == first.metadata
        with pytest.raises(UnknownKeywordError, match="sample_tipe"):
            client.sample(sample_tipe=1)
        cutoff = np.datetime64("2017-01-20T00:00")
        for _ in range(5):
            trial = client.sample(timestamp=cutoff)  # a datetime travels as POSIX seconds
            assert trial.bars.index[-1] < cutoff.astype("datetime64[ns]").astype(np.int64)
        with pytest.raises(SamplingError) as err:  # the domain's class, as in-process
            client.sample(timestamp=np.datetime64("2016-01-01"))  # nothing fits
        assert isinstance(err.value.__cause__, DataServerRemoteError)
        assert len(client.sample()) > 0  # still serving


def test_eight_concurrent_clients_get_valid_trials(server):
    n_clients, per_client = 8, 6
    results: dict[int, list[Trial]] = {}
    errors: list[BaseException] = []
    go = threading.Barrier(n_clients)

    def work(i: int) -> None:
        try:
            with DataClient(server.endpoint, timeout=20.0) as client:  # its own socket
                go.wait(timeout=10)
                results[i] = [client.sample(sample_type=j % 2) for j in range(per_client)]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n_clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert sorted(results) == list(range(n_clients))
    trial_rows = 10 * 24 * 60
    names = set()
    for trials in results.values():
        for j, trial in enumerate(trials):
            assert isinstance(trial, Trial) and len(trial) == trial_rows
            assert trial.metadata.type == j % 2
            assert np.all(np.diff(trial.bars.index) > 0)
            assert np.isfinite(trial.bars.values["default_asset"]).all()
            trial.reset()
            assert len(trial.sample()) == 1435
            names.add(trial.metadata.trial_num)
    assert names == set(range(n_clients * per_client))  # every request served once
    with server.client() as client:
        info = client.info()
    assert info["trials_served"] == n_clients * per_client
    assert info["served_by_type"] == {"0": 24, "1": 24}


def test_reset_with_new_params_and_seed(server):
    with server.client() as client:
        info = client.reset(seed=5, trial_params={"sample_duration": {"days": 5}})
        assert info["resets"] == 2 and info["global_time"] is None
        first = [client.sample() for _ in range(3)]
        assert all(len(t) == 5 * 24 * 60 for t in first)
        client.reset(seed=5)
        again = [client.sample() for _ in range(3)]
        for a, b in zip(first, again):
            assert_same_sample(a, b)
        with pytest.raises(SamplingError) as err:  # episode longer than trial
            client.reset(episode_params={"sample_duration": {"days": 7}})
        assert err.value.remote_type == "SamplingError"
        with pytest.raises(UnknownKeywordError) as err:
            client.reset(trial_paramz={})
        assert err.value.remote_type == "UnknownKeywordError"
        client.reset(seed=1, episode_params={"sample_duration": {"hours": 6}})
        trial = client.sample()
        trial.reset()
        assert len(trial.sample()) == 6 * 60


def test_global_time_and_broadcast(server):
    with server.client() as a, DataClient(server.endpoint) as b:
        assert a.global_time() is None and a.global_timestamp() is None
        assert b.get_broadcast() == {"message": None, "set_at": None, "global_time": None}
        latest = None
        for sample_type in (0, 0, 1, 0):
            trial = a.sample(sample_type=sample_type)
            end = int(trial.bars.index[-1])
            latest = end if latest is None else max(latest, end)
            assert b.global_time() == latest  # the latest bar served, never going back
        assert b.global_timestamp() == latest / 1e9
        later = latest + 3600 * 10**9
        reply = a.set_broadcast({"stage": "test", "step": 3}, timestamp=later)
        assert reply["message"] == {"stage": "test", "step": 3} and reply["global_time"] == later
        seen = b.get_broadcast()
        assert seen["message"] == {"stage": "test", "step": 3} and seen["set_at"] > 0
        a.set_broadcast("rewind?", timestamp=np.datetime64("2017-01-02"))
        assert b.global_time() == later  # a client may advance it, never rewind it
        assert b.get_broadcast()["message"] == "rewind?"
        a.reset()
        assert b.global_time() is None


def test_info_describes_the_server(server):
    with server.client() as client:
        client.sample()
        client.sample(sample_type=1)
        info = client.info()
        pong = client.ping()
    assert info["domain"] == "BTgymRandomDataDomain"
    assert set(info["describe"]) == {"open", "high", "low", "close", "volume"}
    assert info["describe"]["close"]["count"] == len(local_domain(data_config()).bars)
    assert info["trials_served"] == 2 and info["served_by_type"] == {"0": 1, "1": 1}
    assert info["resets"] == 1 and info["pid"] == server.pid == pong["pid"]
    assert info["endpoint"] == Address.parse(server.endpoint).endpoint  # no credentials
    assert info["uptime_s"] > 0
    assert 0 < info["rss_mb"] < 1024


def test_server_process_stays_light(server):
    """No torch and no matplotlib in the data server (their native libraries would be
    mapped into the process)."""
    with server.client() as client:
        client.sample()
    mapped = [m.path for m in psutil.Process(server.pid).memory_maps()]
    assert any("numpy" in p for p in mapped)  # the check sees extension modules
    heavy = [p for p in mapped if "/torch/" in p or "/matplotlib/" in p]
    assert not heavy, heavy


def test_serving_never_rereads_files(start_server, tmp_path):
    import shutil

    files = []
    for src in eurusd(1, 2):
        dst = tmp_path / src.rsplit("/", 1)[1]
        shutil.copy(src, dst)
        files.append(str(dst))
    proc = start_server(data_config(filename=files))
    for f in files:  # the data live in the server's memory from now on
        (tmp_path / f).unlink()
    with proc.client() as client:
        assert len(client.sample()) == 10 * 24 * 60
        client.reset(seed=3, trial_params={"sample_duration": {"days": 4}})
        assert len(client.sample(sample_type=1)) == 4 * 24 * 60


@pytest.mark.parametrize("form", ["domain object", "dict of DataConfig keys"])
def test_server_takes_a_domain_object_or_a_config_dict(start_server, form):
    config = data_config(seed=23)
    if form == "domain object":
        source = make_domain(config)  # pickled to the child at spawn, loaded there
    else:
        source = dataclasses.asdict(config)
    proc = start_server(source)
    local = local_domain(config)
    with proc.client() as client:
        assert client.info()["domain"] == "BTgymRandomDataDomain"
        for sample_type in (0, 1):
            assert_same_sample(
                client.sample(sample_type=sample_type), local.sample(sample_type=sample_type)
            )


def test_binding_beyond_loopback_only_when_asked(start_server):
    proc = start_server(transport="tcp", host="0.0.0.0", allow_remote=True)
    (addr,) = [
        c.laddr
        for c in psutil.Process(proc.pid).net_connections(kind="tcp")
        if c.status == psutil.CONN_LISTEN
    ]
    address = Address.parse(proc.endpoint)
    assert addr.ip == "0.0.0.0" and address.endpoint == f"tcp://0.0.0.0:{addr.port}"
    assert address.curve is not None and address.curve.server_secret is None  # CURVE, always
    local = Address(f"tcp://127.0.0.1:{addr.port}", address.token, address.curve)
    with DataClient(str(local)) as client:
        assert len(client.sample()) == 10 * 24 * 60
