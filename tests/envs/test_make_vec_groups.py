"""``btgym.make_vec(n, servers=k)``: n envs on k group servers, stepped in batches."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

import btgym
from btgym.errors import ConfigError, ProtocolError, RemoteError, ServerDiedError
from btgym.server import protocol as P
from btgym.strategy import BTgymBaseStrategy
from tests.envs.conftest import env_kwargs
from tests.envs.procs import server_processes, wait_gone

N_STEPS = 150  # a 2-hour episode is ~90 decisions: every env ends at least once


class RaisingInPosition(BTgymBaseStrategy):
    """Raises in ``get_reward`` once it holds a position (only the env told to buy)."""

    def get_reward(self) -> float:
        if self.getposition(self.datas[0]).size != 0:
            raise ValueError("boom in a position")
        return super().get_reward()


def _run(n, servers, mode, seed, local=0, steps=N_STEPS):
    """Trajectory of make_vec(n, servers=) under random actions (the same per seed)."""
    actions = np.random.default_rng(7).integers(4, size=(steps, n))
    venv = btgym.make_vec(
        n, seed=seed, servers=servers, local_envs=local, autoreset_mode=mode, **env_kwargs()
    )
    try:
        obs, info = venv.reset(seed=seed)
        out = [(obs, None, None, None, info)]
        for a in actions:
            out.append(venv.step({"default_asset": a}))
    finally:
        venv.close()
    return out


def _assert_same(a, b):
    ends = 0
    for t, (x, y) in enumerate(zip(a, b)):
        for key in y[0]:
            np.testing.assert_array_equal(x[0][key], y[0][key], err_msg=f"step {t} {key}")
        for key in ("step", "broker_value", "position", "time"):
            np.testing.assert_array_equal(x[-1][key], y[-1][key], err_msg=f"step {t} {key}")
        if t:
            for k in (1, 2, 3):
                np.testing.assert_array_equal(x[k], y[k], err_msg=f"step {t} item {k}")
            ends += int((x[2] | x[3]).sum())
    assert ends >= 2  # autoreset was exercised


@pytest.mark.parametrize(
    ("n", "servers", "local", "mode"),
    [
        (4, 2, 0, "NextStep"),
        (3, 2, 0, "SameStep"),
        (2, 1, 0, "NextStep"),
        (4, 1, 2, "NextStep"),
        (2, 0, 2, "SameStep"),
    ],
    ids=["4-on-2-next", "3-on-2-same", "2-on-1-next", "4-on-1+2-here", "2-here-same"],
)
def test_trajectories_equal_one_server_per_env(n, servers, local, mode):
    """Grouped or not, the same seed and actions give the same trajectories."""
    grouped = _run(n, servers, mode, seed=11, local=local)
    plain = _run(n, None, mode, seed=11)
    _assert_same(grouped, plain)
    if mode == "SameStep":
        for x, y in zip(grouped[1:], plain[1:]):
            if "final_obs" in y[-1]:
                np.testing.assert_array_equal(x[-1]["_final_obs"], y[-1]["_final_obs"])
                for i in np.flatnonzero(y[-1]["_final_obs"]):
                    np.testing.assert_array_equal(
                        x[-1]["final_obs"][i]["raw"], y[-1]["final_obs"][i]["raw"]
                    )


def test_groups_share_processes_and_reset_by_mask():
    venv = btgym.make_vec(4, seed=5, servers=2, autoreset_mode="Disabled", **env_kwargs())
    try:
        pids = [env._handle.pid for env in venv.envs]
        assert pids[0] == pids[1] != pids[2] == pids[3]
        venv.reset()
        done = np.zeros(4, bool)
        for _ in range(N_STEPS):
            _, _, term, trunc, _ = venv.step({"default_asset": np.zeros(4, np.int64)})
            done = term | trunc
            if done.any():
                break
        assert done.any()
        _obs, info = venv.reset(options={"reset_mask": done})
        assert (info["step"][done] == 0).all()
        _obs, reward, *_ = venv.step({"default_asset": np.zeros(4, np.int64)})
        assert reward.shape == (4,)
        assert venv.call("get_stat")[3]["steps"] >= 1  # per-env requests reach env 3
    finally:
        venv.close()


@pytest.mark.parametrize("local", [0, 1], ids=["server", "here"])
def test_strategy_error_names_its_env_in_the_group(local):
    kw = env_kwargs(strategy=RaisingInPosition)
    venv = btgym.make_vec(4, seed=0, servers=2 - local, local_envs=local, **kw)
    try:
        venv.reset(seed=0)
        with pytest.raises(RemoteError, match="boom in a position") as caught:
            for _ in range(6):
                venv.step({"default_asset": np.array([0, 0, 0, 1])})  # env 3 buys
        assert caught.value.env_index == 3 and "env 3" in str(caught.value)
        assert caught.value.remote_type == "ValueError"
        assert "get_reward" in caught.value.remote_traceback
        venv.reset()  # every env usable again
        _obs, reward, *_ = venv.step({"default_asset": np.zeros(4, np.int64)})
        assert np.isfinite(reward).all()
    finally:
        venv.close()


def test_killed_group_names_its_envs_reset_recovers_and_close_leaves_nothing():
    before = {p.pid for p in server_processes()}
    venv = btgym.make_vec(5, seed=0, servers=2, local_envs=1, **env_kwargs())
    try:
        venv.reset(seed=0)
        venv.step({"default_asset": np.zeros(5, np.int64)})
        assert venv.envs[4]._handle.pid is None  # hosted here
        pid = venv.envs[2]._handle.pid
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(ServerDiedError) as caught:
            venv.step({"default_asset": np.zeros(5, np.int64)})
        assert caught.value.env_index == 2 and caught.value.env_indices == [2, 3]
        assert "[2, 3]" in str(caught.value)
        obs, info = venv.reset()  # a fresh group server for envs 2 and 3
        assert venv.envs[3]._handle.pid not in (None, pid)
        assert (info["step"] == 0).all()
        obs, reward, *_ = venv.step({"default_asset": np.ones(5, np.int64)})
        assert obs["raw"].shape == (5, 30, 4) and np.isfinite(reward).all()
    finally:
        venv.close()
    left = [p.pid for p in server_processes() if p.pid not in before]
    assert wait_gone(left) == []  # no group server, no data server left after close


def test_group_requests_need_a_valid_env_index():
    venv = btgym.make_vec(2, seed=0, servers=1, **env_kwargs())
    try:
        client = venv.envs[0]._handle.group.client
        with pytest.raises(ProtocolError, match="valid 'env' index"):
            client.request("ping", {"env": 2})
        with pytest.raises(ProtocolError, match="valid 'env' index"):
            client.request("ping", {})
        assert venv.envs[1]._handle.ping() == {"active": False}
    finally:
        venv.close()


def test_render_and_bad_server_counts():
    venv = btgym.make_vec(2, seed=0, servers=1, render_mode="rgb_array", **env_kwargs())
    try:
        venv.reset(seed=0)
        frames = venv.render()
        assert len(frames) == 2 and frames[1].ndim == 3 and frames[1].dtype == np.uint8
    finally:
        venv.close()
    for bad in (0, 3, 1.5):
        with pytest.raises(ConfigError, match="servers"):
            btgym.make_vec(2, servers=bad, **env_kwargs())
    with pytest.raises(ConfigError, match="local_envs"):
        btgym.make_vec(2, local_envs=3, **env_kwargs())
    with pytest.raises(ConfigError, match="servers"):
        btgym.make_vec(2, servers=1, local_envs=2, **env_kwargs())


def test_batch_frames_round_trip_and_refuse_malformed():
    items = [(1, b'{"kind":"step"}'), (0, b"x")]
    assert P.unpack_batch(P.pack_batch(items), 2) == items
    replies = P.pack_batch_reply([(0, [b"a", b"b"]), (1, [b"c"])])
    assert P.unpack_batch_reply(replies, 2) == [(0, [b"a", b"b"]), (1, [b"c"])]
    with pytest.raises(ProtocolError):
        P.unpack_batch(P.pack_batch(items), 1)  # env 1 of a group of one
    with pytest.raises(ProtocolError):
        P.unpack_batch(P.pack_batch([(0, b"a"), (0, b"b")]), 2)  # an env twice
    with pytest.raises(ProtocolError):
        P.unpack_batch(P.pack_batch(items) + b"extra", 2)
    with pytest.raises(ProtocolError):
        P.unpack_batch_reply(replies[:-1], 2)  # a frame missing


def test_sb3_adapter_on_groups():
    venv = btgym.make_vec(3, seed=0, servers=2, sb3=True, **env_kwargs())
    try:
        obs = venv.reset()
        assert obs["raw"].shape == (3, 30, 4)
        for _ in range(5):
            obs, reward, done, infos = venv.step(np.ones(3, np.int64))
        assert reward.shape == (3,) and len(infos) == 3 and not done.any()
    finally:
        venv.close()
