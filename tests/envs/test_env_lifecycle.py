"""Processes and faults: killed servers, forgotten envs, many create/close cycles."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import btgym
from btgym.errors import CommError
from tests.envs.conftest import env_kwargs
from tests.envs.procs import server_processes, wait_gone

ROOT = Path(__file__).resolve().parents[2]


def test_killed_server_mid_episode_is_named_error_then_reset_restarts(make_env):
    env = make_env(server="process")
    env.reset(seed=0)
    env.step(0)
    pid = env._setup.handle.pid
    os.kill(pid, signal.SIGKILL)
    t0 = time.monotonic()
    with pytest.raises(CommError) as err:
        env.step(0)
    assert time.monotonic() - t0 <= 5.0
    assert str(pid) in str(err.value) or "died" in str(err.value)
    obs, _ = env.reset(seed=1)  # a fresh server
    assert env.observation_space.contains(obs)
    assert env._setup.handle.pid != pid
    env.step(0)


def test_killed_data_server_is_restarted_by_its_owner(make_env):
    env = make_env(server="process")
    env.reset(seed=0)
    pid = env._setup.data_server.pid
    os.kill(pid, signal.SIGKILL)
    assert wait_gone([pid]) == []
    env.reset(options={"trial_config": {"get_new": True}})  # restarted at the next reset
    assert env._setup.data_server.pid != pid and env._setup.data_server.restarts == 1
    env.step(0)  # (slaves: tests/reliability/test_dataserver_faults.py)


def test_close_leaves_no_process(mode):
    before = {p.pid for p in server_processes()}
    env = btgym.BTgymEnv(server=mode, **env_kwargs())
    env.reset(seed=0)
    env.step(0)
    made = [p.pid for p in server_processes() if p.pid not in before]
    assert (len(made) == 2) if mode == "process" else (made == [])
    env.close()
    assert wait_gone(made) == []


@pytest.mark.slow
def test_200_create_close_cycles_leave_no_process():
    before = {p.pid for p in server_processes()}
    for i in range(200):
        mode = "process" if i % 4 == 0 else "inprocess"
        env = btgym.BTgymEnv(server=mode, **env_kwargs())
        if i % 10 == 0:
            env.reset(seed=i)
            env.step(0)
        env.close()
    left = [p.pid for p in server_processes() if p.pid not in before]
    assert wait_gone(left) == []


FORGET_SCRIPT = """
import btgym
from tests.envs.conftest import env_kwargs
envs = [btgym.BTgymEnv(server="process", **env_kwargs()) for _ in range(20)]
envs[0].reset(seed=0); envs[0].step(0)
pids = [e._setup.handle.pid for e in envs] + [e._setup.data_server.pid for e in envs]
print(" ".join(map(str, pids)), flush=True)
# no close(): the interpreter must still exit promptly and take the servers with it
"""


@pytest.mark.slow
def test_20_forgotten_envs_no_hang_no_orphans(tmp_path):
    log = tmp_path / "forget.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.monotonic()
    with open(log, "w") as fh:
        rc = subprocess.run(
            [sys.executable, "-c", FORGET_SCRIPT],
            stdout=fh,
            stderr=fh,
            env=env,
            cwd=tmp_path,
            timeout=240,
        ).returncode
    assert rc == 0, log.read_text()[-3000:]
    pids = [int(p) for p in log.read_text().split("\n")[0].split()]
    assert len(pids) == 40
    assert wait_gone(pids, timeout=10.0) == []
    assert time.monotonic() - t0 < 240


UNGUARDED_SCRIPT = """
import btgym
from tests.envs.conftest import env_kwargs
env = btgym.BTgymEnv(server="process", **env_kwargs())  # no __main__ guard on purpose
env.reset(seed=0)
env.step(1)
env.close()
print("done", flush=True)
"""


def test_script_without_main_guard_runs(tmp_path):
    script = tmp_path / "plain_script.py"  # a file: children would re-run it under spawn
    script.write_text(UNGUARDED_SCRIPT)
    log = tmp_path / "plain.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with open(log, "w") as fh:
        rc = subprocess.run(
            [sys.executable, str(script)], stdout=fh, stderr=fh, env=env, cwd=tmp_path, timeout=120
        ).returncode
    out = log.read_text()
    assert rc == 0 and out.count("done") == 1, out[-3000:]
