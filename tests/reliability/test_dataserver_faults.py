"""Data-server faults seen from envs: a dead server named within 1 s by every env, an
owning env restarting it at the next reset (slaves reconnect), a hung one timing out
in the configured time."""

from __future__ import annotations

import os
import signal

import pytest

from btgym.dataserver import DataServerConfig, DataServerProcess
from btgym.errors import DataServerDiedError, DataServerTimeoutError
from tests.dataserver.conftest import data_config
from tests.reliability.conftest import pid_gone, timed, wait_for


def test_owner_restarts_a_killed_data_server_and_slaves_reconnect(make_env):
    master = make_env()
    master.reset(seed=1)
    slave = make_env(data_master=False, data_address=master.data_address)
    slave.reset()
    old = master._setup.data_server.pid
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: pid_gone(old), what="data server gone")
    err, took = timed(slave.reset, DataServerDiedError)
    assert took < 3.0 and "gone" in str(err)  # named, not a 20 s timeout
    master.reset()  # the owner restarts it, at the same address
    assert master._setup.data_server.pid != old and master._setup.data_server.restarts == 1
    assert master.data_address.split("#")[0] == slave._setup.data_address.split("#")[0]
    _obs, _ = slave.reset()  # the slave finds the restarted server
    assert slave.step(slave.action_space.sample())[0] is not None
    master.step(master.action_space.sample())


def test_hung_data_server_times_out_in_the_configured_time():
    proc = DataServerProcess(data_config(), timeout=1.5, reset_timeout=2.0)
    proc.start()
    client = proc.client()
    try:
        client.sample()
        os.kill(proc.pid, signal.SIGSTOP)
        err, took = timed(client.sample, DataServerTimeoutError)
        assert 1.4 < took < 4.0 and "1.5 s" in str(err)
        err, took = timed(lambda: client.reset(seed=1), DataServerTimeoutError)
        assert 1.9 < took < 5.0
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        client.close()
        proc.stop()


def test_default_timeouts_are_bounded():
    cfg = DataServerConfig()
    assert cfg.timeout <= 10 and cfg.reset_timeout <= 10


@pytest.mark.parametrize("transport", ["ipc", "tcp"])
def test_restart_keeps_the_address(transport):
    proc = DataServerProcess(data_config(), transport=transport)
    address = proc.start()
    try:
        from btgym.dataserver import DataClient

        with DataClient(address) as other:
            other.sample()
            old = proc.pid
            os.kill(old, signal.SIGKILL)
            _err, took = timed(other.sample, DataServerDiedError)
            # ~0.7 s; 3 s as the fault matrix allows a loaded machine (the timeout is 10 s)
            assert took < 3.0
            proc.restart()
            assert proc.endpoint.split("#")[0] == address.split("#")[0]
            assert len(other.sample()) > 0  # same session, same address, new pid
    finally:
        proc.stop()
