"""The vector engine's envs: spaces, autoreset, seeding, refusals, hooks, SB3."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest

from btgym.engine import EngineEnv, EngineHooks, VectorBTgymEnv
from btgym.errors import ConfigError, InvalidActionError, ResetNeededError, UnknownKeywordError
from btgym.strategy import BTgymBaseStrategy
from tests.engine.conftest import BOUNDED, kw


def test_single_env_passes_gymnasium_check_env(eurusd, backend):
    env = EngineEnv(backend=backend, **kw(eurusd))
    assert env.core.backend == backend  # the keyword reaches the engine
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from gymnasium.utils.env_checker import check_env

        check_env(env, skip_render_check=True)
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert info["step"] == 0 and info["broker_value"] == 100.0


def test_vector_env_spaces_and_next_step_autoreset(eurusd, backend):
    env = VectorBTgymEnv(num_envs=6, backend=backend, **kw(eurusd, drawdown_call=1, target_call=1))
    assert isinstance(env, gym.vector.VectorEnv)
    obs, info = env.reset(seed=3)
    assert env.observation_space.contains(obs)
    assert obs["raw"].shape == (6, 30, 4) and info["broker_value"].shape == (6,)
    rng = np.random.default_rng(0)
    ended = 0
    prev_done = np.zeros(6, bool)
    for _ in range(200):
        action = {"default_asset": rng.integers(0, 4, 6)}
        obs, reward, term, trunc, info = env.step(action)
        assert env.observation_space.contains(obs)
        # lanes that ended last step come back reset: step 0, no reward, not done
        assert (info["step"][prev_done] == 0).all()
        assert (reward[prev_done] == 0).all() and not (term | trunc)[prev_done].any()
        done = term | trunc
        if done.any():
            assert set(info["done_reason"][done]) <= {"drawdown_call", "target_call", "end_of_data"}
        ended += int(done.sum())
        prev_done = done
    assert ended > 6


def test_same_step_autoreset_gives_final_obs(eurusd):
    env = VectorBTgymEnv(num_envs=4, autoreset_mode="SameStep", **kw(eurusd))
    env.reset(seed=0)
    for _ in range(100):
        _obs, _, term, trunc, info = env.step(np.zeros((4, 1), np.int64))
        done = term | trunc
        if done.any():
            i = int(np.flatnonzero(done)[0])
            assert info["_final_obs"][i] and info["final_obs"][i]["raw"].shape == (30, 4)
            assert info["step"][i] == 0  # the returned observation is the new episode's
            assert info["final_info"]["done_reason"][i] == "end_of_data"
            return
    raise AssertionError("no episode ended")


def test_reset_seed_replays_and_lanes_differ(eurusd):
    a = VectorBTgymEnv(num_envs=3, **kw(eurusd))
    b = VectorBTgymEnv(num_envs=3, **kw(eurusd))
    oa, _ = a.reset(seed=11)
    ob, _ = b.reset(seed=11)
    np.testing.assert_array_equal(oa["metadata"], ob["metadata"])
    assert len({tuple(m) for m in oa["metadata"]}) == 3  # three different episodes
    acts = np.random.default_rng(1).integers(0, 4, (30, 3, 1))
    for act in acts:
        ra, rb = a.step(act), b.step(act)
        for key in ra[0]:
            np.testing.assert_array_equal(ra[0][key], rb[0][key])
        np.testing.assert_array_equal(ra[1], rb[1])
    oc, _ = a.reset(seed=12)
    assert not np.array_equal(oc["metadata"], oa["metadata"])


def test_single_env_same_seed_same_episode(eurusd):
    env = EngineEnv(**kw(eurusd))
    o1, i1 = env.reset(seed=5)
    o2, i2 = env.reset(seed=5)
    np.testing.assert_array_equal(o1["raw"], o2["raw"])
    assert i1["time"] == i2["time"]
    with pytest.raises(ResetNeededError):
        EngineEnv(**kw(eurusd)).step(0)


class MyStrategy(BTgymBaseStrategy):
    pass


@pytest.mark.parametrize(
    "over, words",
    [
        (dict(strategy=MyStrategy), "strategy='MyStrategy'"),
        (dict(margin=1.0), "margin=1.0"),
        (dict(mult=2.0), "mult=2.0"),
        (dict(slippage=0.01), "slippage=0.01"),
        (dict(checksubmit=False), "checksubmit=False"),
        (dict(data_master=False, data_address="ipc://x"), "data server"),
    ],
)
def test_unsupported_settings_name_themselves_and_the_backtrader_engine(eurusd, over, words):
    with pytest.raises(ConfigError) as err:
        VectorBTgymEnv(num_envs=2, **kw(eurusd, **over))
    assert words in str(err.value) and "backtrader engine" in str(err.value)


def test_unknown_keyword_and_bad_actions(eurusd):
    with pytest.raises(UnknownKeywordError, match="drawdown_cal"):
        VectorBTgymEnv(num_envs=2, drawdown_cal=5, **kw(eurusd))
    env = VectorBTgymEnv(num_envs=2, **kw(eurusd))
    env.reset(seed=0)
    with pytest.raises(InvalidActionError):
        env.step(np.array([[5], [0]]))
    with pytest.raises(InvalidActionError):
        env.step({"nope": np.zeros(2, int)})
    for bad in (np.array([[-1], [0]]), np.array([[0], [4]], np.uint8), np.zeros((3, 1), int)):
        with pytest.raises(InvalidActionError):  # the buffered fast path checks too
            env.step(bad)
    with pytest.raises(InvalidActionError):
        env.step({env.asset_names[0]: np.array([0, -2])})
    _, _, _, _, info = env.step({env.asset_names[0]: np.array([1, 2], np.int32)})
    assert info["action"][env.asset_names[0]].tolist() == [1, 2]
    _, _, _, _, info = env.step(np.array([3, 0], np.uint8))
    assert info["action"][env.asset_names[0]].tolist() == [3, 0]
    port = VectorBTgymEnv(num_envs=2, actions="portfolio", **kw(eurusd, start_cash=1000.0))
    port.reset(seed=0)
    with pytest.raises(InvalidActionError):
        port.step(np.array([[0.5, -0.5], [1.0, 0.0]]))
    _, _, _, _, info = port.step(np.zeros((2, 2)))  # all-zero = all cash
    assert (info["action"]["default_cash"] == 1.0).all()


class Hooks(EngineHooks):
    """A numpy reward, an extra observation and a done rule."""

    def get_trend_state(self, view):
        closes = view.closes_window(10)[..., 0]
        return closes[:, -1:] - closes

    def get_reward(self, view):
        return super().get_reward(view) * 2.0

    def get_done(self, view):
        return view.step >= 3


def test_numpy_hooks(eurusd, backend):
    shape = dict(BOUNDED, trend=((10,), -1.0, 1.0))
    env = VectorBTgymEnv(num_envs=3, hooks=Hooks, backend=backend, **kw(eurusd, state_shape=shape))
    plain = VectorBTgymEnv(num_envs=3, backend=backend, **kw(eurusd))
    obs, _ = env.reset(seed=2)
    plain.reset(seed=2)
    assert obs["trend"].shape == (3, 10) and obs["trend"][:, -1].tolist() == [0.0] * 3
    for step in range(1, 4):
        act = np.ones((3, 1), np.int64)
        _o, r, term, _trunc, info = env.step(act)
        _, r0, *_ = plain.step(act)
        np.testing.assert_allclose(r, 2.0 * r0, rtol=1e-12)
        assert term.all() == (step == 3)
    assert (info["done_reason"] == "get_done").all()


def test_sb3_vecenv_adapter_trains(eurusd):
    pytest.importorskip("stable_baselines3")
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecMonitor

    from btgym.integrations.sb3 import SB3VecEnv

    venv = VecMonitor(SB3VecEnv(num_envs=4, **kw(eurusd, episode_duration={"minutes": 50})))
    assert isinstance(venv.action_space, gym.spaces.Discrete)
    assert "metadata" not in venv.observation_space.spaces
    model = PPO("MultiInputPolicy", venv, n_steps=32, batch_size=64, n_epochs=1, seed=0)
    model.learn(256)
    obs = venv.reset()
    _, _, _dones, infos = venv.step(np.zeros(4, np.int64))
    assert set(obs) == {"raw", "internal"} and "broker_value" in infos[0]


@pytest.mark.parametrize(
    "cls_name, kind",
    [
        ("BTgymEnv", "discrete"),
        ("MultiDiscreteEnv", "multidiscrete"),
        ("PortfolioEnv", "portfolio"),
    ],
)
def test_btgym_env_engine_vector_is_check_env_clean(eurusd, cls_name, kind):
    from gymnasium.utils.env_checker import check_env

    import btgym.envs

    cls = getattr(btgym.envs, cls_name)
    env = cls(engine="vector", filename=eurusd, episode_duration={"hours": 1})  # default leaves
    assert isinstance(env, EngineEnv) and env.kind == kind
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env, skip_render_check=True)
    made = gym.make(
        "btgym/Backtrader-v0", engine="vector", filename=eurusd, episode_duration={"hours": 1}
    )
    assert made.reset(seed=0)[1]["step"] == 0


def test_observation_keys_come_in_the_space_order_as_btgym_env_gives_them(eurusd, backend):
    """Values were always equal; the dict order is the space's (sorted) as BTgymEnv's."""
    from btgym import BTgymEnv

    env = EngineEnv(backend=backend, **kw(eurusd))
    ref = BTgymEnv(server="inprocess", **kw(eurusd))
    venv = VectorBTgymEnv(num_envs=2, backend=backend, **kw(eurusd))
    try:
        want = list(ref.observation_space.spaces)
        assert want == sorted(BOUNDED)
        assert list(ref.reset(seed=3)[0]) == want
        assert list(env.observation_space.spaces) == want
        assert list(env.reset(seed=3)[0]) == want
        assert list(env.step(1)[0]) == want
        assert list(venv.reset(seed=3)[0]) == want
        assert list(venv.step({"default_asset": np.array([1, 0])})[0]) == want
    finally:
        env.close()
        ref.close()
        venv.close()
