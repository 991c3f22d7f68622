"""Sessions, limits and CURVE on a plain comm server (the envs' and data server's
use is tested in tests/reliability)."""

from __future__ import annotations

import pytest
import zmq

from btgym.comm import wire
from btgym.comm.client import ReqClient
from btgym.comm.process import ChildProcess
from btgym.comm.server import serve
from btgym.comm.session import (
    Address,
    CurveKeys,
    Limits,
    RateLimitedLog,
    Session,
    find_session,
    new_token,
)
from btgym.errors import ConfigError, ProtocolError, ServerTimeoutError, SessionError
from tests.comm.servers import FAST_TAG, fast_server, session_server


@pytest.fixture
def served():
    made = []

    def start(curve=None, host="127.0.0.1"):
        token = new_token()
        child = ChildProcess(
            session_server, {"token": token, "curve": curve, "host": host}, name="sess"
        )
        endpoint = child.start(timeout=30)
        made.append(child)
        return child, endpoint, token

    yield start
    for child in made:
        child.stop(timeout=1.0)


def test_only_the_session_is_served(served):
    child, endpoint, token = served()
    with pytest.raises(SessionError, match="without a valid session token"):
        ReqClient(endpoint, timeout=5).request("echo", {"x": 1})
    with pytest.raises(SessionError):
        ReqClient(endpoint, timeout=5, token=new_token()).request("echo", {"x": 1})
    owner = ReqClient(str(Address(endpoint, token)), timeout=5, process=child)
    assert owner.request("echo", {"x": 1}).payload == {"x": 1}
    with pytest.raises(SessionError, match="'admin' is not allowed"):
        owner.request("admin")
    assert owner.request("echo", {"x": 2}).payload == {"x": 2}  # still serving
    owner.close()


def test_curve_is_mandatory_beyond_loopback():
    with pytest.raises(ConfigError, match="CURVE"):
        serve(lambda m: None, lambda e: None, transport="tcp", host="0.0.0.0", allow_remote=True)


def test_curve_encrypts_and_admits_only_the_runs_client_key(served):
    keys = CurveKeys.generate()
    _child, endpoint, token = served(curve=keys, host="0.0.0.0")
    port = endpoint.rsplit(":", 1)[1]
    local = f"tcp://127.0.0.1:{port}"
    good = ReqClient(str(Address(local, token, keys.for_client())), timeout=5)
    assert good.request("echo", {"x": 1}).payload == {"x": 1}
    good.close()
    stranger = CurveKeys.generate()  # knows the server key, not the run's client key
    forged = CurveKeys(
        server_public=keys.server_public,
        client_public=stranger.client_public,
        client_secret=stranger.client_secret,
    )
    for address in (Address(local, token, forged), Address(local, token)):  # no CURVE at all
        with pytest.raises(ServerTimeoutError):
            ReqClient(str(address), timeout=1.5).request("echo", {"x": 1})
    assert keys.for_client().server_secret is None
    assert CurveKeys.from_text(keys.to_text()) == keys.for_client()


def test_address_round_trip_and_errors():
    keys = CurveKeys.generate().for_client()
    a = Address("tcp://10.0.0.1:5000", new_token(), keys, 42)
    assert Address.parse(str(a)) == a and a.masked() == "tcp://10.0.0.1:5000"
    assert Address.parse("ipc:///tmp/x.sock") == Address("ipc:///tmp/x.sock")
    moved = a.with_host("192.168.1.7")
    assert moved.endpoint == "tcp://192.168.1.7:5000" and moved.pid is None
    assert moved.token == a.token and moved.curve == keys
    with pytest.raises(ConfigError):
        Address("ipc:///tmp/x.sock").with_host("h")
    with pytest.raises(ConfigError, match="unknown part"):
        Address.parse("ipc:///tmp/x.sock#admin=1")
    with pytest.raises(ConfigError):
        Session(b"short")
    s = Session(new_token(), {"a"})
    assert find_session((s,), s.token) is s and find_session((s,), new_token()) is None


def test_header_limit_and_bounded_caches():
    big = wire.encode("x", {"pad": "p" * 100_000})
    with pytest.raises(ProtocolError, match="exceeds"):
        wire.decode(big, {}, max_header=Limits().max_header)
    cache: dict = {}
    for i in range(1000):  # distinct cacheable headers: at most 64 kept
        wire.decode(wire.encode(f"k{i}", {"pad": "p" * 1500}), cache)
        assert len(cache) <= 64
    cache.clear()
    wire.decode(wire.encode("k", {"pad": "p" * 3000}), cache)
    assert cache == {}  # too big to keep
    with pytest.raises(ConfigError):
        Limits(max_message=0)


def test_refusals_are_logged_at_a_bounded_rate():
    lines: list[str] = []

    class Sink:
        def warning(self, text):
            lines.append(text)

    limited = RateLimitedLog(Sink(), interval=60)
    for _ in range(10_000):
        limited.warning("refused")
    assert lines == ["refused"]
    limited._last -= 61
    limited.warning("refused")
    assert lines[-1] == "refused (9999 more since the last report)"


def test_maxmsgsize_disconnects_an_oversized_sender(served):
    _child, endpoint, token = served()
    sock = zmq.Context.instance().socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    sock.send_multipart([token, b"x" * (Limits().max_message + 1)])
    assert sock.poll(1500) == 0  # dropped by libzmq, no reply
    sock.close()
    owner = ReqClient(str(Address(endpoint, token)), timeout=5)
    assert owner.request("echo", {"ok": 1}).payload == {"ok": 1}
    owner.close()


@pytest.mark.parametrize("fast_allowed", [True, False])
def test_a_fast_path_takes_the_token_joined_to_a_one_frame_request(fast_allowed):
    """``serve(fast=)`` with one session: a request of one frame whose first bytes are
    the token reaches the fast path (only for a session allowed its kind); a wrong
    token is refused as a session error; what the fast path declines is decoded."""
    token = new_token()
    child = ChildProcess(fast_server, {"token": token, "fast_allowed": fast_allowed}, name="fast")
    endpoint = child.start(timeout=30)
    owner = ReqClient(str(Address(endpoint, token)), 5, child, copy_replies=True)
    stranger = ReqClient(endpoint, timeout=5, token=new_token(), copy_replies=True)
    try:
        got = owner.request_one(b"F:ping", "fast", FAST_TAG)
        if fast_allowed:
            assert got == [FAST_TAG + b"F:ping"]
        else:  # not the session's command: the fast path is not asked, the decoder refuses
            with pytest.raises(ProtocolError):
                owner.decode_reply(got)
        with pytest.raises(SessionError, match="without a valid session token"):
            stranger.decode_reply(stranger.request_one(b"F:ping", "fast", FAST_TAG))
        declined = owner.request_one(wire.encode("echo", {"x": 3})[0], "echo", FAST_TAG)
        assert owner.decode_reply(declined).payload == {"x": 3}
        assert owner.request("echo", {"x": 4}).payload == {"x": 4}  # two frames still work
    finally:
        owner.close()
        stranger.close()
        child.stop(timeout=1.0)


def test_a_server_without_a_fast_path_refuses_a_joined_request(served):
    _child, endpoint, token = served()
    client = ReqClient(endpoint, timeout=5, token=token)
    with pytest.raises(SessionError, match="without a valid session token"):
        client.decode_reply(client.request_one(wire.encode("echo", {})[0], "echo", b"\x00"))
    client.close()
