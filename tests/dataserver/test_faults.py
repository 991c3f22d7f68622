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
from btgym.comm.session import Address
from btgym.datafeed import DataConfig
from btgym.dataserver import DataClient, DataServerProcess
from btgym.errors import (
    ConfigError,
    DataFileNotFoundError,
    DataServerDiedError,
    DataServerError,
    DataServerRemoteError,
    DataServerTimeoutError,
    RemoteError,
    SamplingError,
    SessionError,
    UnknownKeywordError,
)
from tests.dataserver.conftest import assert_gone, data_config, ipc_dir


def raw_request(endpoint: str, frames: list[bytes], token: bool = True) -> wire.Message:
    """Send ``frames`` as they are (after the address's session token, if ``token``)."""
    address = Address.parse(endpoint)
    sock = zmq.Context.instance().socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(address.endpoint)
    try:
        sock.send_multipart([address.token, *frames] if token else frames)
        assert sock.poll(5000), "no reply to a malformed request"
        return wire.decode(sock.recv_multipart())
    finally:
        sock.close()


@pytest.mark.parametrize("transport", ["ipc", "tcp"])
def test_killed_server_makes_client_raise_within_timeout(start_server, transport):
    proc = start_server(transport=transport)
    client = DataClient(proc.endpoint, timeout=5.0)  # another env's client: watches the pid
    owned = proc.client()  # the data master's client: watches the process
    bare = Address.parse(proc.endpoint)
    remote = DataClient(str(Address(bare.endpoint, bare.token)), timeout=1.0)  # no pid known
    try:
        assert client.ping()["pid"] == proc.pid == remote.ping()["pid"]
        os.kill(proc.pid, signal.SIGKILL)
        t0 = time.monotonic()
        with pytest.raises(DataServerDiedError, match="is gone"):
            client.sample()
        assert time.monotonic() - t0 < 1.5  # ~0.7 s (1 s target + slack for a loaded machine)
        t0 = time.monotonic()
        with pytest.raises(DataServerDiedError, match="nothing answers"):
            client.info()  # still gone: named again within about a second
        assert time.monotonic() - t0 < 2.0
        t0 = time.monotonic()
        with pytest.raises(DataServerDiedError, match="killed by signal 9"):
            owned.sample()
        assert time.monotonic() - t0 < 0.5
        t0 = time.monotonic()
        with pytest.raises(DataServerTimeoutError, match="did not answer 'sample' within 1 s"):
            remote.sample()  # a server elsewhere: its silence is all a client sees
        assert 0.9 < time.monotonic() - t0 < 2.0
        for exc_type in (DataServerError, TimeoutError):  # both contracts hold
            with pytest.raises(exc_type):
                remote.info()
    finally:
        client.close()
        owned.close()
        remote.close()
    proc.stop()
    assert_gone(proc.pid, proc.endpoint)  # the parent removes a killed server's ipc dir


def test_garbage_on_the_socket_gets_error_replies(server):
    endpoint = str(server._owner)  # the owner's session: garbage reaches the parser
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
        with pytest.raises(SamplingError, match="no test trials") as err:
            client.sample(sample_type=1)  # a sequential domain has no test trials
        assert err.value.remote_type == "SamplingError"  # the domain's own class, as in-process
        assert "sequential.py" in err.value.remote_traceback
        cause = err.value.__cause__
        assert isinstance(cause, DataServerRemoteError) and isinstance(cause, RemoteError)
        assert "sequential.py" in str(cause)  # the child's traceback prints with the error
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
    with DataClient(endpoint, timeout=0.5) as client, pytest.raises(DataServerDiedError):
        client.ping()  # the address names a pid on this machine: gone, said at once


def test_stop_command_ends_the_server(start_server):
    proc = start_server()
    pid, endpoint = proc.pid, proc.endpoint
    with proc.client() as client:  # stop is the owner's command
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
    with pytest.raises(FileNotFoundError) as err:  # the same class as in-process
        proc.start()
    assert isinstance(err.value, DataFileNotFoundError) and "nope.csv" in str(err.value)
    assert "Traceback" in err.value.remote_traceback and err.value.__cause__ is not None
    assert not proc.is_alive()
    impossible = data_config(episode_params={"sample_duration": {"days": 20}})
    with pytest.raises(SamplingError, match="longer than a trial") as err:
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


def test_sessions_refuse_foreign_and_control_requests(server):
    """No token, a wrong token, or a control command from the clients' session:
    a SessionError reply, and nothing changes on the server."""
    with server.client() as owner:
        before = owner.info()
        owner.set_broadcast({"hello": 1})
    address = server.endpoint
    bare = Address.parse(address).endpoint
    attempts = [
        (bare, wire.encode("reset", {"seed": 1, "params": {}}), False),
        (bare, wire.encode("set_broadcast", {"message": 9, "timestamp": 2**63 - 1}), False),
        (bare, [b"0" * 32, *wire.encode("stop")], False),
        (address, wire.encode("reset", {"seed": 1, "params": {}}), True),
        (address, wire.encode("set_broadcast", {"message": 9, "timestamp": 2**63 - 1}), True),
        (address, wire.encode("stop"), True),
    ]
    for endpoint, frames, token in attempts:
        reply = raw_request(endpoint, frames, token=token)
        assert reply.kind == wire.ERROR and reply.payload["type"] == "SessionError"
    with DataClient(address) as client:
        for call in (lambda: client.reset(seed=3), lambda: client.set_broadcast(1), client.stop):
            with pytest.raises(SessionError) as err:
                call()
            assert isinstance(err.value, PermissionError)
        assert len(client.sample()) > 0  # sampling is what the clients' session is for
        assert client.get_broadcast()["message"] == {"hello": 1}
    with server.client() as owner:
        after = owner.info()
    assert after["resets"] == before["resets"] and after["global_time"] is not None
    assert after["global_time"] < 2**62 and server.is_alive()
