"""Faults: killed servers, garbage on the socket, stopping, forgotten handles, bad config."""

from __future__ import annotations

import gc
import os
import signal
import time

import psutil
import pytest
import zmq

from btgym.comm import wire
from btgym.datafeed import DataConfig
from btgym.dataserver import DataClient, DataServerProcess
from btgym.errors import (
    ConfigError,
    DataServerDiedError,
    DataServerError,
    DataServerRemoteError,
    DataServerTimeoutError,
    RemoteError,
    UnknownKeywordError,
)
from tests.dataserver.conftest import assert_gone, data_config, ipc_dir


def raw_request(endpoint: str, frames: list[bytes]) -> wire.Message:
    sock = zmq.Context.instance().socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    try:
        sock.send_multipart(frames)
        assert sock.poll(5000), "no reply to a malformed request"
        return wire.decode(sock.recv_multipart())
    finally:
        sock.close()


@pytest.mark.parametrize("transport", ["ipc", "tcp"])
def test_killed_server_makes_client_raise_within_timeout(start_server, transport):
    proc = start_server(transport=transport)
    client = DataClient(proc.endpoint, timeout=1.0)  # a remote env's client: no process
    owned = proc.client()  # the data master's client: watches the process
    try:
        assert client.ping()["pid"] == proc.pid
        os.kill(proc.pid, signal.SIGKILL)
        t0 = time.monotonic()
        with pytest.raises(DataServerTimeoutError, match="did not answer 'sample' within 1 s"):
            client.sample()
        took = time.monotonic() - t0
        assert 0.9 < took < 2.0
        t0 = time.monotonic()
        with pytest.raises(DataServerDiedError, match="killed by signal 9"):
            owned.sample()
        assert time.monotonic() - t0 < 0.5
        for exc_type in (DataServerError, TimeoutError):  # both contracts hold
            with pytest.raises(exc_type):
                client.info()
    finally:
        client.close()
        owned.close()
    proc.stop()
    assert_gone(proc.pid, proc.endpoint)  # the parent removes a killed server's ipc dir


def test_garbage_on_the_socket_gets_error_replies(server):
    endpoint = server.endpoint
    reply = raw_request(endpoint, [b"\x80\x81 not json", b"junk"])
    assert reply.kind == wire.ERROR and reply.payload["type"] == "ProtocolError"
    reply = raw_request(endpoint, wire.encode("launch_missiles", {}))
    assert (
        reply.kind == wire.ERROR and "unknown command 'launch_missiles'" in reply.payload["message"]
    )
    reply = raw_request(endpoint, wire.encode("sample", {"config": [1, 2]}))
    assert reply.kind == wire.ERROR and "field 'config'" in reply.payload["message"]
    reply = raw_request(endpoint, wire.encode("reset", {"seed": "x", "params": {}}))
    assert reply.kind == wire.ERROR and "field 'seed'" in reply.payload["message"]
    reply = raw_request(endpoint, wire.encode("set_broadcast", {"message": 1}))
    assert reply.kind == wire.ERROR and "field 'timestamp' is missing" in reply.payload["message"]
    with server.client() as client:  # the server kept serving
        assert len(client.sample()) == 10 * 24 * 60
        assert client.info()["trials_served"] == 1


def test_refused_request_is_a_named_error_with_traceback(start_server):
    proc = start_server(data_config("sequential"))
    with proc.client() as client:
        with pytest.raises(ConfigError, match="b_alpha"):  # checked locally, as the domain does
            client.sample(b_alpha=-1.0)
        with pytest.raises(DataServerRemoteError, match="no test trials") as err:
            client.sample(sample_type=1)  # a sequential domain has no test trials
        assert err.value.remote_type == "SamplingError"
        assert "sequential.py" in err.value.remote_traceback
        assert isinstance(err.value, RemoteError) and isinstance(err.value, DataServerError)
        assert len(client.sample()) == 8 * 24 * 60  # still serving


def test_stop_leaves_no_process_and_removes_ipc_dir():
    proc = DataServerProcess(data_config())
    endpoint = proc.start()
    pid, folder = proc.pid, ipc_dir(endpoint)
    assert psutil.pid_exists(pid) and os.path.isdir(folder)
    proc.stop()
    proc.stop()  # idempotent
    assert_gone(pid, endpoint)
    assert not proc.is_alive()
    with DataClient(endpoint, timeout=0.5) as client, pytest.raises(DataServerTimeoutError):
        client.ping()


def test_stop_command_ends_the_server(start_server):
    proc = start_server()
    pid, endpoint = proc.pid, proc.endpoint
    with DataClient(endpoint) as client:
        client.stop()
    psutil.Process(pid).wait(timeout=5)  # it exits on its own, cleanly
    assert not os.path.exists(ipc_dir(endpoint))  # and removed its own ipc dir


def test_forgotten_handle_is_stopped_by_its_finalizer():
    proc = DataServerProcess(data_config())
    endpoint = proc.start()
    pid = proc.pid
    del proc
    gc.collect()
    assert_gone(pid, endpoint)


def test_start_failure_is_reported_with_the_childs_error(tmp_path):
    proc = DataServerProcess(DataConfig(domain="random", filename=str(tmp_path / "nope.csv")))
    with pytest.raises(RemoteError) as err:
        proc.start()
    assert err.value.remote_type == "DataFileNotFoundError" and "nope.csv" in str(err.value)
    assert not proc.is_alive()
    impossible = data_config(episode_params={"sample_duration": {"days": 20}})
    with pytest.raises(RemoteError, match="longer than a trial") as err:
        DataServerProcess(impossible).start()
    assert err.value.remote_type == "SamplingError"


def test_config_errors_are_raised_before_spawning():
    with pytest.raises(ConfigError, match="allow_remote=True"):
        DataServerProcess(data_config(), transport="tcp", host="0.0.0.0")
    with pytest.raises(ConfigError, match="transport"):
        DataServerProcess(data_config(), transport="udp")
    with pytest.raises(UnknownKeywordError, match="did you mean 'timeout'"):
        DataServerProcess(data_config(), timeot=3)
    with pytest.raises(DataServerError, match="not started"):
        DataServerProcess(data_config()).client()
    with pytest.raises(ConfigError, match="timeout"):
        DataClient("ipc:///nowhere.sock", timeout=0)


def test_closed_client_raises(server):
    client = server.client()
    client.close()
    client.close()
    with pytest.raises(DataServerError, match="closed"):
        client.ping()
