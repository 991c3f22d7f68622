"""``btgym.make_vec``: n process-mode servers stepped concurrently from one process."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

import btgym
from btgym.errors import ConfigError, InvalidActionError, ServerDiedError
from tests.envs.conftest import env_kwargs
from tests.envs.procs import server_processes, wait_gone

N_STEPS = 150  # a 2-hour episode is ~90 decisions: every env ends at least once


def _actions(n: int, steps: int) -> np.ndarray:
    return np.random.default_rng(7).integers(4, size=(steps, n))


def test_trajectories_equal_n_separate_envs():
    """make_vec(n) and n separate envs on one data server, same seeds, same actions,
    gymnasium's next-step autoreset done by hand: the same trajectories."""
    n, seed = 2, 11
    actions = _actions(n, N_STEPS)
    venv = btgym.make_vec(n, seed=seed, **env_kwargs())
    try:
        obs, _ = venv.reset(seed=seed)
        vec = [(obs, None, None, None)]
        for a in actions:
            obs, reward, term, trunc, _ = venv.step({"default_asset": a})
            vec.append((obs, reward, term, trunc))
    finally:
        venv.close()

    fns = btgym.make_env_fns(n, seed=seed, server="process", **env_kwargs())
    envs = [fn() for fn in fns]
    try:
        first = [env.reset(seed=seed + i)[0] for i, env in enumerate(envs)]
        sep = [({k: np.stack([o[k] for o in first]) for k in first[0]}, None, None, None)]
        ended = [False] * n
        for a in actions:
            rows = []
            for i, env in enumerate(envs):
                if ended[i]:
                    o, _ = env.reset()
                    rows.append((o, 0.0, False, False))
                    ended[i] = False
                else:
                    o, r, te, tr, _ = env.step(int(a[i]))
                    rows.append((o, r, te, tr))
                    ended[i] = te or tr
            sep.append(
                (
                    {k: np.stack([row[0][k] for row in rows]) for k in rows[0][0]},
                    np.array([row[1] for row in rows]),
                    np.array([row[2] for row in rows]),
                    np.array([row[3] for row in rows]),
                )
            )
    finally:
        for env in envs:
            env.close()
        fns.close()

    ends = 0
    for t, (v, s) in enumerate(zip(vec, sep)):
        for key in s[0]:
            np.testing.assert_array_equal(v[0][key], s[0][key], err_msg=f"step {t} {key}")
        if t:
            np.testing.assert_array_equal(v[1], s[1], err_msg=f"reward at step {t}")
            np.testing.assert_array_equal(v[2], s[2])
            np.testing.assert_array_equal(v[3], s[3])
            ends += int((v[2] | v[3]).sum())
    assert ends >= n  # autoreset was exercised


def test_same_step_autoreset_and_info():
    venv = btgym.make_vec(2, seed=3, autoreset_mode="SameStep", **env_kwargs())
    try:
        obs, info = venv.reset()
        assert obs["raw"].shape == (2, 30, 4)
        assert info["step"].tolist() == [0, 0] and info["_broker_value"].all()
        seen_end = False
        for a in _actions(2, N_STEPS):
            obs, _reward, term, trunc, info = venv.step({"default_asset": a})
            assert info["action"][:, 0].tolist() == a.tolist()
            done = term | trunc
            if done.any():
                seen_end = True
                i = int(np.flatnonzero(done)[0])
                assert info["_final_obs"][i] and info["final_obs"][i]["raw"].shape == (30, 4)
                assert info["final_info"]["done_reason"][i] in ("end_of_data", "drawdown_call")
                assert info["step"][i] == 0  # the new episode's first observation
        assert seen_end
    finally:
        venv.close()


def test_disabled_autoreset_resets_by_mask():
    venv = btgym.make_vec(2, seed=5, autoreset_mode="Disabled", **env_kwargs())
    try:
        venv.reset()
        for _ in range(N_STEPS):
            _, _, term, trunc, _ = venv.step({"default_asset": np.zeros(2, np.int64)})
            done = term | trunc
            if done.any():
                break
        _obs, info = venv.reset(options={"reset_mask": done})
        assert (info["step"][done] == 0).all()
        venv.step({"default_asset": np.zeros(2, np.int64)})
    finally:
        venv.close()


@pytest.mark.parametrize("poll", [True, False], ids=["poller", "in-order"])
def test_killed_server_names_its_index_and_reset_recovers(poll):
    before = {p.pid for p in server_processes()}
    venv = btgym.make_vec(3, seed=0, **env_kwargs())
    venv.poll = poll
    try:
        venv.reset(seed=0)
        venv.step({"default_asset": np.zeros(3, np.int64)})
        os.kill(venv.envs[1]._handle.pid, signal.SIGKILL)
        with pytest.raises(ServerDiedError) as caught:
            venv.step({"default_asset": np.zeros(3, np.int64)})
        assert caught.value.env_index == 1
        assert "env 1" in str(caught.value)
        obs, _ = venv.reset()  # a fresh server for env 1
        obs, reward, *_ = venv.step({"default_asset": np.ones(3, np.int64)})
        assert obs["raw"].shape == (3, 30, 4) and np.isfinite(reward).all()
    finally:
        venv.close()
    left = [p.pid for p in server_processes() if p.pid not in before]
    assert wait_gone(left) == []  # no server, no data server left after close


def test_invalid_action_names_its_index_before_anything_is_sent():
    venv = btgym.make_vec(2, seed=0, **env_kwargs())
    try:
        venv.reset(seed=0)
        with pytest.raises(InvalidActionError) as caught:
            venv.step({"default_asset": np.array([0, 9])})
        assert caught.value.env_index == 1
        _obs, reward, *_ = venv.step({"default_asset": np.array([1, 2])})  # goes on
        assert reward.shape == (2,)
        venv.close()
        venv.close()  # idempotent
    finally:
        venv.close()


def test_inprocess_is_refused():
    with pytest.raises(ConfigError, match="process-mode"):
        btgym.make_vec(2, server="inprocess", **env_kwargs())


def test_render_returns_one_frame_per_env():
    venv = btgym.make_vec(2, seed=0, render_mode="rgb_array", **env_kwargs())
    try:
        venv.reset(seed=0)
        frames = venv.render()
        assert len(frames) == 2 and frames[0].ndim == 3 and frames[0].dtype == np.uint8
    finally:
        venv.close()


@pytest.mark.slow
def test_sb3_ppo_trains_on_make_vec():
    from stable_baselines3 import PPO

    venv = btgym.make_vec(2, seed=0, sb3=True, **env_kwargs())
    try:
        model = PPO(
            "MultiInputPolicy", venv, n_steps=64, batch_size=64, n_epochs=1, seed=0, device="cpu"
        )
        model.learn(256)
        assert model.num_timesteps >= 256
    finally:
        venv.close()
