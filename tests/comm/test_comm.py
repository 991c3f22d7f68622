"""Real child processes and real ZeroMQ sockets for the shared comm layer."""

from __future__ import annotations

import os

import numpy as np
import pytest
import zmq

from btgym.comm import wire
from btgym.comm.client import ReqClient
from btgym.comm.process import ChildProcess
from btgym.errors import ProtocolError, RemoteError, ServerDiedError, ServerTimeoutError
from tests.comm.servers import echo_server


@pytest.fixture(params=["ipc", "tcp"])
def echo(request):
    proc = ChildProcess(echo_server, {"transport": request.param}, name="echo")
    endpoint = proc.start()
    client = ReqClient(endpoint, timeout=3.0, process=proc, name="echo")
    yield proc, client
    client.close()
    proc.stop(lambda: client.request("stop", timeout=1.0), timeout=2.0)
    assert not proc.is_alive()


def test_roundtrip_arrays_and_payload(echo):
    _, client = echo
    arr = np.arange(12, dtype=np.float32).reshape(3, 4)
    msg = client.request("x", {"a": 1, "b": [1, 2]}, {"arr": arr})
    assert msg.kind == "echo" and msg.payload == {"a": 1, "b": [1, 2]}
    np.testing.assert_array_equal(msg.arrays["arr"], arr * 2)
    assert msg.arrays["arr"].dtype == np.float32


def test_remote_exception_carries_child_traceback(echo):
    _, client = echo
    with pytest.raises(RemoteError) as err:
        client.request("raise")
    assert err.value.remote_type == "ValueError"
    assert "asked to raise" in str(err.value) and "servers.py" in err.value.remote_traceback
    assert client.request("x", {"ok": True}).payload == {"ok": True}  # still serving


def test_killed_child_is_named_error_fast(echo):
    _proc, client = echo
    with pytest.raises(ServerDiedError, match="exit code 7"):
        client.request("die")


def test_silent_server_times_out(echo):
    _, client = echo
    with pytest.raises(ServerTimeoutError, match="did not answer"):
        client.request("sleep", {"s": 2.0}, timeout=0.3)


def test_garbage_on_socket_is_answered_with_error(echo):
    _proc, client = echo
    sock = zmq.Context.instance().socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(client.endpoint)
    sock.send_multipart([b"\x80garbage", b"more"])
    assert sock.poll(3000)
    msg = wire.decode(sock.recv_multipart())
    sock.close()
    assert msg.kind == wire.ERROR and msg.payload["type"] == "ProtocolError"
    assert client.request("x", {"still": 1}).payload == {"still": 1}


def test_start_failure_raises_remote_error_with_traceback():
    proc = ChildProcess(echo_server, {"fail_at_start": True}, name="echo")
    with pytest.raises(RemoteError, match="boom at start") as err:
        proc.start(timeout=20)
    assert "echo_server" in err.value.remote_traceback
    assert not proc.is_alive()


def test_child_knows_its_parent(echo):
    _proc, client = echo
    assert client.request("pid").payload["ppid"] == os.getpid()


@pytest.mark.parametrize(
    "frames",
    [
        [],
        [b"{}"],
        [b'{"v":1,"kind":"k","payload":{},"arrays":[{"name":"a","dtype":"|O","shape":[1]}]}', b"x"],
        [
            b'{"v":1,"kind":"k","payload":{},"arrays":[{"name":"a","dtype":"<f8","shape":[2]}]}',
            b"x",
        ],
        [b'{"v":1,"kind":"k","payload":{},"arrays":[]}', b"extra"],
    ],
)
def test_decode_rejects_malformed(frames):
    with pytest.raises(ProtocolError):
        wire.decode(frames)


def test_encode_rejects_object_arrays():
    with pytest.raises(ProtocolError):
        wire.encode("k", {}, {"o": np.array([object()])})
