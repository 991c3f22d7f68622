"""The fault matrix: kill (SIGKILL) or stop (SIGSTOP) the env server or the data
server at construction, reset, step and render; each row names its error class and
how fast it must come (a dead process within 3 s, a hung one within its configured
timeout plus slack), and the env is usable again after the next reset."""

from __future__ import annotations

import contextlib
import os
import signal
import time

import pytest

from btgym.errors import (
    DataServerDiedError,
    DataServerTimeoutError,
    ServerDiedError,
    ServerTimeoutError,
)
from tests.reliability.conftest import pid_gone, timed, wait_for

#: short timeouts so stop rows finish fast (seconds)
FAST = dict(timeout=6.0, reset_timeout=6.0, data_timeout=2.0)  # render loads matplotlib
DEAD_S = 3.0
SLACK_S = 3.0


def _fault(pid: int, how: str) -> None:
    os.kill(pid, signal.SIGKILL if how == "kill" else signal.SIGSTOP)
    if how == "kill":
        wait_for(lambda: pid_gone(pid), what=f"pid {pid} gone")


def _resume(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGCONT)


CALLS = {
    "reset": lambda env: env.reset(),
    "step": lambda env: env.step(0),
    "render": lambda env: env.render_image("episode"),
}


@pytest.mark.parametrize("how", ["kill", "stop"])
@pytest.mark.parametrize("at", ["reset", "step", "render"])
def test_env_server_faults(make_env, how, at):
    env = make_env(**FAST)
    env.reset(seed=0)
    env.step(0)
    pid = env._handle.pid
    _fault(pid, how)
    try:
        if how == "kill" and at == "reset":  # a dead server is replaced by reset itself
            env.reset()
            assert env._handle.pid != pid
            return
        if how == "kill":
            err, took = timed(lambda: CALLS[at](env), ServerDiedError)
            assert took < DEAD_S, f"{at}: named after {took:.2f} s"
        else:
            limit = FAST["reset_timeout"] if at == "reset" else FAST["timeout"]
            err, took = timed(lambda: CALLS[at](env), ServerTimeoutError)
            assert limit - 0.2 < took < limit + SLACK_S
        assert str(pid) in str(err) or "did not answer" in str(err)
    finally:
        _resume(pid)
    env.reset()  # a fresh server
    assert env._handle.pid != pid and env.step(0)[0] is not None


def test_env_server_killed_right_after_construction(make_env):
    env = make_env(**FAST)
    pid = env._handle.pid
    _fault(pid, "kill")
    t0 = time.monotonic()
    env.reset(seed=0)  # restarts it: nothing to name
    assert time.monotonic() - t0 < 30 and env._handle.pid != pid


@pytest.mark.parametrize("mode", ["process", "inprocess"])
@pytest.mark.parametrize("how", ["kill", "stop"])
def test_data_server_faults_seen_by_a_slave(make_env, mode, how):
    master = make_env(**FAST)
    master.reset(seed=0)
    data_pid = master._setup.data_server.pid
    slave = make_env(server=mode, data_master=False, data_address=master.data_address, **FAST)
    slave.reset()
    slave.step(0)
    _fault(data_pid, how)
    try:
        if how == "kill":
            err, took = timed(slave.reset, DataServerDiedError)
            assert took < DEAD_S
        else:
            err, took = timed(slave.reset, DataServerTimeoutError)
            assert took < FAST["data_timeout"] + SLACK_S
        assert slave.step is not None and err is not None
    finally:
        _resume(data_pid)
    if how == "kill":
        master.reset()  # the owner restarts it; the slave finds it again
        slave.reset()
        assert slave.step(0)[0] is not None


@pytest.mark.parametrize("how", ["kill", "stop"])
def test_data_server_faults_seen_by_its_owner(make_env, how):
    env = make_env(**FAST)
    env.reset(seed=0)
    pid = env._setup.data_server.pid
    env.step(0)
    _fault(pid, how)
    try:
        assert env.step(0)[0] is not None  # a running episode needs no data server
        assert env.render_image("episode").ndim == 3
        if how == "kill":
            env.reset(seed=1)  # restarted at the next reset
            assert env._setup.data_server.pid != pid
        else:
            # the owner reseeds it (DataServerConfig.reset_timeout, default 10 s)
            _err, took = timed(lambda: env.reset(seed=1), DataServerTimeoutError)
            assert took < 10 + SLACK_S
    finally:
        _resume(pid)


@pytest.mark.parametrize("mode", ["process", "inprocess"])
def test_slave_constructed_against_a_dead_data_server(make_env, mode):
    master = make_env(**FAST)
    master.reset(seed=0)
    address = master.data_address
    _fault(master._setup.data_server.pid, "kill")
    slave = make_env(server=mode, data_master=False, data_address=address, **FAST)
    _err, took = timed(slave.reset, DataServerDiedError)
    assert took < DEAD_S
