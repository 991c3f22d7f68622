"""Several envs sharing one data server: AsyncVectorEnv, SB3's SubprocVecEnv, slaves."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.vec_env import SubprocVecEnv

import btgym
from btgym.dataserver import DataClient
from btgym.errors import ConfigError
from tests.envs.conftest import env_kwargs
from tests.envs.procs import server_processes, wait_gone


def _served(fns) -> int:
    with DataClient(fns.data_address, timeout=5.0) as client:
        return int(client.info()["trials_served"])


def test_async_vector_env_shares_one_data_server():
    before = {p.pid for p in server_processes()}
    fns = btgym.make_env_fns(2, seed=0, server="inprocess", **env_kwargs())
    venv = gym.vector.AsyncVectorEnv(list(fns), context="forkserver")
    try:
        obs, _ = venv.reset(seed=[1, 2])
        assert obs["raw"].shape == (2, 30, 4)
        for _ in range(5):
            actions = {"default_asset": np.array([1, 0])}
            obs, rewards, _term, _trunc, _infos = venv.step(actions)
            assert rewards.shape == (2,) and np.isfinite(rewards).all()
        assert _served(fns) >= 2  # both envs drew their episodes from the one server
    finally:
        venv.close()
        fns.close()
    left = [p.pid for p in server_processes() if p.pid not in before]
    assert wait_gone(left) == []


def test_sb3_subproc_vec_env_with_multidiscrete_env():
    fns = btgym.make_env_fns(
        2, env_class=btgym.MultiDiscreteEnv, seed=0, server="process", **env_kwargs()
    )
    venv = SubprocVecEnv(list(fns), start_method="forkserver")
    try:
        obs = venv.reset()
        assert obs["raw"].shape == (2, 30, 4)
        obs, rewards, _dones, infos = venv.step(np.array([[1], [2]]))
        assert rewards.shape == (2,) and len(infos) == 2
        assert infos[0]["action"] == {"default_asset": 1}
        assert infos[1]["action"] == {"default_asset": 2}
    finally:
        venv.close()
        fns.close()


def test_slave_env_connects_to_a_master_env(make_env):
    master = make_env(server="process")
    slave = make_env(server="inprocess", data_master=False, data_address=master.data_address)
    master.reset(seed=0)
    obs, _info = slave.reset(seed=0)
    assert slave.observation_space.contains(obs)
    assert slave.data_address == master.data_address
    assert slave._setup.data_server is None  # the slave owns no data server


def test_slave_without_address_is_config_error():
    with pytest.raises(ConfigError, match="data_address"):
        btgym.BTgymEnv(data_master=False, **env_kwargs())


def readme_block(heading: str) -> str:
    """The first ```python block after ``heading`` in the README, as written."""
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    rest = text[text.index(heading) :]
    start = rest.index("```python\n") + len("```python\n")
    return rest[start : rest.index("```", start)]


def test_readme_many_envs_snippet_runs_verbatim(tmp_path):
    """gymnasium's AsyncVectorEnv with its default context (fork on Linux)."""
    script = tmp_path / "many_envs.py"
    script.write_text(readme_block("### Many envs on one data server"))
    assert "context=" not in script.read_text()
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=180,
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr


def test_env_fns_in_async_vector_env_default_context():
    fns = btgym.make_env_fns(2, **env_kwargs())
    venv = gym.vector.AsyncVectorEnv(list(fns))  # no context=: fork on Linux
    try:
        venv.reset(seed=[1, 2])
        for _ in range(3):
            _, rewards, *_ = venv.step(venv.action_space.sample())
        assert np.isfinite(rewards).all()
    finally:
        venv.close()
        fns.close()
