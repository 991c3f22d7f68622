"""Faults: a killed, raising, stuck or garbage-fed server; closing; forgotten handles."""

from __future__ import annotations

import gc
import os
import signal
import time
import traceback

import psutil
import pytest
import zmq

from btgym.comm import wire
from btgym.dataserver import DataServerProcess
from btgym.errors import (
    ConfigError,
    EnvClosedError,
    RemoteError,
    ResetNeededError,
    ServerDiedError,
    ServerTimeoutError,
)
from btgym.server import ServerConfig, make_handle

from .conftest import BROKER, children_of_me, small_strategy
from .helpers import RaisingRewardStrategy, SlowStepStrategy, make_domain


def gone(pid: int, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.02)
    return False


def test_killed_server_raises_within_5s_and_reset_restarts(handles):
    h = handles("process")
    h.reset(seed=0)
    h.step({"asset": 1})
    pid = h.pid
    os.kill(pid, signal.SIGKILL)
    t0 = time.monotonic()
    with pytest.raises(ServerDiedError, match="signal 9") as err:
        for _ in range(10_000):
            h.step({"asset": 0})
    assert time.monotonic() - t0 < 5.0
    assert "reset()" in "".join(traceback.format_exception(err.value))
    with pytest.raises(ResetNeededError):  # the episode is gone with its server
        h.step({"asset": 0})
    _obs, info = h.reset(seed=0)  # transparently restarts the server
    assert h.pid != pid and info["step"] == 0
    assert h.step({"asset": 1})[4]["step"] == 1
    assert gone(pid)


def test_exception_in_a_strategy_hook_carries_the_traceback(handles, mode):
    h = handles(mode, strategy_class=RaisingRewardStrategy)
    h.reset(seed=0)
    h.step(0)
    h.step(0)
    if mode == "process":
        with pytest.raises(RemoteError, match="boom in get_reward") as err:
            h.step(0)
        assert err.value.remote_type == "ValueError"
        tb = err.value.remote_traceback
    else:
        with pytest.raises(ValueError, match="boom in get_reward") as err:
            h.step(0)
        tb = "".join(traceback.format_exception(err.value))
    assert "get_reward" in tb and "helpers.py" in tb
    with pytest.raises(ResetNeededError):
        h.step(0)
    _obs, info = h.reset()  # the server (or loop) is still usable
    assert info["step"] == 0


def test_stuck_server_times_out_and_reset_restarts(handles):
    cfg = ServerConfig(timeout=1.0)
    h = handles("process", strategy_class=SlowStepStrategy, server=cfg)
    h.reset(seed=0)
    h.step(0)
    pid = h.pid
    t0 = time.monotonic()
    with pytest.raises(ServerTimeoutError, match="did not answer"):
        h.step(0)
    assert time.monotonic() - t0 < 2.5
    _obs, info = h.reset(seed=1)
    assert h.pid != pid and info["step"] == 0
    assert gone(pid)


def test_garbage_on_the_socket_is_answered_and_the_server_goes_on(handles):
    h = handles("process")
    h.reset(seed=0)
    sock = zmq.Context.instance().socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, 5000)
    sock.connect(h.endpoint)
    token = h._state["client"].token  # the owner's session (tokenless: tests/reliability)
    try:
        for frames in (
            [b"\x00\xffgarbage"],
            [b'{"v":1,"kind":"step","payload":{},"arrays":[]}'],
            wire.encode("no-such-command"),
            wire.encode("step", {"a": [9]}),
        ):
            sock.send_multipart([token, *frames])
            reply = wire.decode(sock.recv_multipart())
            assert reply.kind == "error" and reply.payload["message"]
        sock.send_multipart([token, *wire.encode("ping")])
        assert wire.decode(sock.recv_multipart()).payload == {"active": True}
    finally:
        sock.close()
    assert h.step({"asset": 1})[4]["step"] == 1  # the episode survived


def test_close_is_idempotent_and_leaves_no_process(mode):
    before = {p.pid for p in children_of_me()}
    h = make_handle(mode, data_source=make_domain(), strategy=small_strategy(), broker=BROKER)
    h.reset(seed=0)
    h.step(1)
    pid = h.pid if mode == "process" else None
    h.close()
    h.close()
    assert h.closed
    for call in (lambda: h.step(0), lambda: h.reset(), h.records, h.get_stat):
        with pytest.raises(EnvClosedError):
            call()
    if pid is not None:
        assert gone(pid)
    assert {p.pid for p in children_of_me()} <= before


def test_forgotten_handle_is_stopped_by_its_finalizer():
    h = make_handle("process", data_source=make_domain(), strategy=small_strategy())
    h.reset(seed=0)
    pid = h.pid
    del h
    gc.collect()
    assert gone(pid)


def test_bad_strategy_class_is_a_config_error(mode):
    with pytest.raises(ConfigError, match="strategy_class"):
        h = make_handle(mode, data_source=make_domain(), strategy_class=dict)
        h.close()


def test_bad_state_key_is_a_named_error(handles, mode):
    h = handles(mode, strategy=small_strategy(state_shape={"nope": ((3,),)}))
    with pytest.raises(ConfigError, match="get_nope_state"):
        h.reset(seed=0)


def test_episode_shorter_than_the_window(handles, mode):
    h = handles(mode, strategy=small_strategy(state_shape={"raw": ((1000, 4),)}))
    with pytest.raises(ConfigError, match="sample longer episodes"):
        h.reset(seed=0)


def test_data_server_endpoint_as_source(handles, mode):
    server = DataServerProcess(make_domain(), seed=0)
    endpoint = server.start()
    try:
        h = handles(mode, data_source=endpoint)
        _obs, info = h.reset(seed=0)
        _, _, _, _, info = h.step(1)
        assert info["step"] == 1
        h.close()
    finally:
        server.stop()
