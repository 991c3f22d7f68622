"""Both servers under hostile local clients: malformed frames (≥ 2,000 per server in
CI, 10,000 behind ``slow``), foreign requests without or with the wrong session,
memory bombs. Every one is refused, none changes state: the env and the data
stream go on exactly as an untouched twin's."""

from __future__ import annotations

import json

import numpy as np
import pytest
import zmq

from btgym.comm import wire
from btgym.comm.session import Address
from btgym.dataserver import DataServerProcess
from tests.dataserver.conftest import data_config
from tests.reliability.conftest import rss_mb
from tests.reliability.fuzz import RawClient, malformed, refused

ACTIONS = [1, 0, 0, 2, 0, 3, 1, 0, 2, 0, 0, 3, 1, 1, 0, 2, 0, 0, 3, 0]
SESSION = ("SessionError",)
BROKEN = ("ProtocolError", "SessionError")


def _steps(env, actions):
    out = []
    for a in actions:
        obs, reward, terminated, truncated, info = env.step(a)
        out.append((obs, reward, info.get("step"), info.get("broker_value")))
        if terminated or truncated:
            break
    return out


def _same(a, b):
    assert len(a) == len(b)
    for (o1, r1, s1, v1), (o2, r2, s2, v2) in zip(a, b):
        assert (r1, s1, v1) == (r2, s2, v2)
        for k in o1:
            np.testing.assert_array_equal(o1[k], o2[k])


def _env_server(env):
    handle = env._handle
    return handle.endpoint, handle._state["client"].token, handle.pid


FOREIGN_ENV = [
    wire.encode("step", {"a": [1]}),
    wire.encode("reset", {"trial_config": {}, "episode_config": {}, "seed": 5}),
    wire.encode("done"),
    wire.encode("stop"),
    wire.encode("render", {"mode": "episode"}),
    wire.encode("records"),
]


@pytest.mark.parametrize("n", [2000, pytest.param(10_000, marks=pytest.mark.slow)])
def test_env_server_fuzzed_and_foreign_requests_change_nothing(make_env, n):
    twin, env = make_env(), make_env()
    for e in (twin, env):
        e.reset(seed=0)
    _same(_steps(twin, ACTIONS[:5]), _steps(env, ACTIONS[:5]))
    endpoint, token, _pid = _env_server(env)
    rng = np.random.default_rng(0)
    owner, foreign = RawClient(endpoint, token), RawClient(endpoint)
    wrong = RawClient(endpoint, b"f" * 32)
    try:
        for i, frames in enumerate(malformed(rng, n)):
            client = owner if i % 2 else foreign  # half reach the parser, half stop at the door
            assert refused(client.send(frames), BROKEN), frames[:1]
        for frames in FOREIGN_ENV:  # well-formed, but not the owner's session
            assert refused(foreign.send(frames), SESSION)
            assert refused(wrong.send(frames), SESSION)
    finally:
        for c in (owner, foreign, wrong):
            c.close()
    _same(_steps(twin, ACTIONS[5:]), _steps(env, ACTIONS[5:]))  # exact afterwards


@pytest.mark.parametrize("n", [2000, pytest.param(10_000, marks=pytest.mark.slow)])
def test_data_server_fuzzed_and_foreign_requests_change_nothing(n):
    twin = DataServerProcess(data_config(), seed=3)
    proc = DataServerProcess(data_config(), seed=3)
    try:
        twin.start()
        address = Address.parse(proc.start())
        with twin.client() as t, proc.client() as c:
            want = [t.sample() for _ in range(4)]
            got = [c.sample() for _ in range(2)]
            before = c.info()
            rng = np.random.default_rng(1)
            owner = RawClient(address.endpoint, proc._owner.token)
            foreign, client = (
                RawClient(address.endpoint),
                RawClient(address.endpoint, address.token),
            )
            try:
                for i, frames in enumerate(malformed(rng, n)):
                    who = (owner, foreign, client)[i % 3]
                    assert refused(who.send(frames), BROKEN)
                control = [
                    wire.encode("reset", {"seed": 9, "params": {}}),
                    wire.encode("set_broadcast", {"message": "x", "timestamp": 2**63 - 1}),
                    wire.encode("stop"),
                ]
                for frames in control:  # neither a stranger nor a mere client may do these
                    assert refused(foreign.send(frames), SESSION)
                    assert refused(client.send(frames), SESSION)
                assert refused(foreign.send(wire.encode("sample", {"config": {}})), SESSION)
            finally:
                for r in (owner, foreign, client):
                    r.close()
            got += [c.sample() for _ in range(2)]
            after = c.info()
        assert after["resets"] == before["resets"] and proc.is_alive()
        assert after["trials_served"] == 4 and c is not None
        for a, b in zip(want, got):  # the same random stream: nothing consumed it
            np.testing.assert_array_equal(a.bars.index, b.bars.index)
    finally:
        twin.stop()
        proc.stop()


def _bomb(endpoint: str, token: bytes | None, server_pid: int, ping: list) -> float:
    """64 frames of 32 MB, 64 distinct 1 MB headers and 64 distinct cacheable headers;
    returns the server's RSS growth (MiB) once it answers the owner again."""
    base = None
    owner = RawClient(endpoint, token)
    try:
        assert owner.send(ping) is not None
        base = rss_mb(server_pid)
        big = np.ones(32 * 2**20, np.uint8)
        ctx = zmq.Context.instance()
        socks = []
        for i in range(64):
            s = ctx.socket(zmq.DEALER)
            s.setsockopt(zmq.LINGER, 0)
            s.connect(endpoint)
            head = [b""] if i % 2 else [b"", token]  # tokenless and owner's: both dropped
            s.send_multipart([*head, memoryview(big)], copy=False)
            socks.append(s)
        for i in range(64):  # below the frame limit, above the header limit
            header = json.dumps({"v": 1, "kind": "x" * (2**20 + i), "payload": {}, "arrays": []})
            assert refused(owner.send([header.encode()]), ("ProtocolError",))
        for i in range(64):  # distinct small headers: the decode cache stays bounded
            assert refused(owner.send(wire.encode(f"unknown-{i}", {"pad": "p" * 1500})), BROKEN)
        assert owner.send(ping, timeout=30) is not None  # alive and serving
        for s in socks:
            s.close(linger=0)
        return rss_mb(server_pid) - base
    finally:
        owner.close()


def test_memory_bombs_are_refused_with_bounded_rss(make_env):
    env = make_env()
    env.reset(seed=0)
    endpoint, token, pid = _env_server(env)
    grew = _bomb(endpoint, token, pid, wire.encode("ping"))
    assert grew < 50, f"env server RSS grew {grew:.1f} MiB"
    assert env.step(0)[0] is not None
    data = env._setup.data_server
    grew = _bomb(data._owner.endpoint, data._owner.token, data.pid, wire.encode("ping"))
    assert grew < 50, f"data server RSS grew {grew:.1f} MiB"
    env.reset()
