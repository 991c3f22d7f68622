"""Real child processes and real ZeroMQ sockets for the shared comm layer."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
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
    proc.stop(lambda: client.request("stop", timeout=1.0), timeout=2.0)
    client.close()
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
    proc, client = echo
    with pytest.raises(ServerDiedError, match="exit code 7"):
        client.request("die")
    if client.endpoint.startswith("ipc://"):
        folder = Path(client.endpoint[len("ipc://") :]).parent
        assert folder.is_dir()
        proc.stop()
        assert not folder.exists()  # the dead child could not remove it; stop() did


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


def test_child_serves_from_its_own_process(echo):
    proc, client = echo
    assert client.request("pid").payload["pid"] == proc.pid != os.getpid()


OWNER_SCRIPT = """
import os, signal
from btgym.comm.process import ChildProcess
from tests.comm.servers import echo_server
proc = ChildProcess(echo_server, {}, name="orphan-check")
proc.start(timeout=30)
print(proc.pid, flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # the owner dies without closing anything
"""


@pytest.mark.parametrize("method", ["forkserver", "spawn"])
def test_child_exits_when_its_owner_is_killed(method, tmp_path):
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "BTGYM_START_METHOD": method, "PYTHONPATH": str(root)}
    log = tmp_path / "owner.log"
    with open(log, "w") as fh:  # a file, not a pipe: a pipe would wait for every holder
        rc = subprocess.run(
            [sys.executable, "-c", OWNER_SCRIPT],
            stdout=fh,
            stderr=fh,
            timeout=60,
            env=env,
            cwd=tmp_path,
        ).returncode
    assert rc == -9, log.read_text()
    child = int(log.read_text().split()[0])
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        if not psutil.pid_exists(child) or psutil.Process(child).status() == "zombie":
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"child {child} outlived its owner by 5 s")


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


def test_stop_request_is_answered_and_child_exits_cleanly():
    proc = ChildProcess(echo_server, {}, name="echo")
    client = ReqClient(proc.start(), timeout=3.0, process=proc, name="echo")
    replies = []
    t0 = time.monotonic()
    proc.stop(lambda: replies.append(client.request("stop", timeout=2.0).kind), timeout=3.0)
    client.close()
    assert replies == ["stopped"]  # the last reply was flushed before the child exited
    assert proc.exitcode == 0 and time.monotonic() - t0 < 2.5


def test_child_dying_silently_while_starting_is_reported_at_once():
    from tests.comm.servers import dies_silently_at_start

    proc = ChildProcess(dies_silently_at_start, {}, name="silent")
    t0 = time.monotonic()
    with pytest.raises(ServerDiedError, match="code 5"):
        proc.start(timeout=30)
    assert time.monotonic() - t0 < 5.0
