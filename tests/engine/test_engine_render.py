"""Rendering of the engine env against the backtrader engine's: the same images
(shape and pixels) for every mode at reset, mid-episode and after the end; the same
``render_*`` keywords, refusals and errors; ``check_env`` clean with a render_mode."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from gymnasium.utils.passive_env_checker import env_render_passive_checker

from btgym.engine import EngineEnv, VectorBTgymEnv
from btgym.envs import BTgymEnv
from btgym.errors import ConfigError, EnvClosedError, RenderError, UnknownKeywordError

KW = dict(
    episode_duration={"hours": 1, "minutes": 40},
    fixed_stake=40,
    drawdown_call=1,
    target_call=1,
    state_shape={"raw": ((20, 4), 0.0, 10.0), "internal": ((7,), -100.0, 100.0)},
)
SMALL = dict(
    render_size_human=(4.0, 2.5),
    render_size_episode=(5.0, 4.0),
    render_size_state=(4.0, 2.0),
    render_dpi=40,
)
MODES = ("human", "episode", "state", "raw", "internal")


def pair(eurusd, **over):
    kw = dict(KW, filename=eurusd, **SMALL, **over)
    return EngineEnv(render_mode="rgb_array", **kw), BTgymEnv(
        render_mode="rgb_array", server="inprocess", **kw
    )


def assert_same_images(eng, ref, where):
    for mode in MODES:
        a, b = eng.render_image(mode), ref.render_image(mode)
        assert a.dtype == np.uint8 and a.shape == b.shape, (where, mode, a.shape, b.shape)
        assert np.array_equal(a, b), (where, mode, int((a != b).any(axis=2).sum()))
    a, b = eng.render(), ref.render()
    assert np.array_equal(a, b) and np.array_equal(a, eng.render_image("human")), where


def test_images_equal_the_backtrader_engines(eurusd):
    eng, ref = pair(eurusd)
    rng = np.random.default_rng(11)
    try:
        a, b = eng.render_image("episode"), ref.render_image("episode")  # before any reset
        assert a.shape == b.shape == (160, 200, 3) and np.array_equal(a, b)
        for seed in (3, 4):
            eng.reset(seed=seed)
            ref.reset(seed=seed)
            assert_same_images(eng, ref, f"seed {seed} reset")
            done, step = False, 0
            while not done:
                action = int(rng.integers(0, 4)) if rng.random() < 0.5 else 0
                *_, te, tr, _ = eng.step(action)
                *_, tb, ub, _ = ref.step(action)
                assert (te, tr) == (tb, ub)
                done, step = tb or ub, step + 1
                if step == 5:
                    assert_same_images(eng, ref, f"seed {seed} step 5")
            assert_same_images(eng, ref, f"seed {seed} end")
        assert eng.render_image("human").shape == (100, 160, 3)  # render_* keywords apply
        with pytest.raises(RenderError, match="unknown render mode 'nope'") as err_e:
            eng.render_image("nope")
        with pytest.raises(RenderError) as err_b:
            ref.render_image("nope")
        assert str(err_e.value) == str(err_b.value)
    finally:
        eng.close()
        ref.close()
    with pytest.raises(EnvClosedError):
        eng.render()


def test_render_enabled_false_gives_the_same_placeholder(eurusd):
    eng, ref = pair(eurusd, render_enabled=False)
    try:
        eng.reset(seed=0)
        ref.reset(seed=0)
        for mode in ("human", "episode"):
            assert np.array_equal(eng.render_image(mode), ref.render_image(mode))
    finally:
        eng.close()
        ref.close()


def test_check_env_is_clean_with_a_render_mode(eurusd):
    env = EngineEnv(render_mode="rgb_array", filename=eurusd, episode_duration={"hours": 1})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # without a spec gymnasium says it cannot make the env in its other modes
        warnings.filterwarnings("ignore", message=".*not having a spec")
        check_env(env)
    env.reset(seed=0)
    env_render_passive_checker(env)
    made = gym.make(
        "btgym/Backtrader-v0",
        engine="vector",
        render_mode="rgb_array",
        filename=eurusd,
        episode_duration={"hours": 1},
    )
    assert isinstance(made.unwrapped, EngineEnv) and made.render_mode == "rgb_array"
    made.reset(seed=0)
    assert made.render().shape == (500, 900, 3)
    made.close()
    env.close()


def test_render_without_mode_warns_and_human_needs_a_display(eurusd, monkeypatch):
    env = EngineEnv(records=True, filename=eurusd, episode_duration={"hours": 1})
    env.reset(seed=0)
    with pytest.warns(UserWarning, match="render\\(\\) called without a render_mode"):
        assert env.render() is None
    assert env.render_image("human").shape == (500, 900, 3)  # records=True is enough
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("MPLBACKEND", raising=False)
    eng, ref = (
        EngineEnv(render_mode="human", filename=eurusd, episode_duration={"hours": 1}),
        BTgymEnv(
            render_mode="human", server="inprocess", filename=eurusd, episode_duration={"hours": 1}
        ),
    )
    try:
        eng.reset(seed=0)
        ref.reset(seed=0)
        with pytest.raises(RenderError) as err_e:
            eng.render()
        with pytest.raises(RenderError) as err_b:
            ref.render()
        assert str(err_e.value) == str(err_b.value) and "DISPLAY" in str(err_e.value)
    finally:
        eng.close()
        ref.close()
        env.close()


def test_render_keywords_refusals_and_errors(eurusd):
    with pytest.raises(UnknownKeywordError, match=r"render_dpii.*render_dpi"):
        EngineEnv(filename=eurusd, render_dpii=40)
    with pytest.raises(RenderError, match="render_mode 'ansi'"):
        EngineEnv(filename=eurusd, render_mode="ansi")
    with pytest.raises(UnknownKeywordError, match="render_dpii"):
        VectorBTgymEnv(num_envs=2, filename=eurusd, render_dpii=40)
    with pytest.raises(ConfigError, match="VectorBTgymEnv does not render"):
        VectorBTgymEnv(num_envs=2, filename=eurusd, render_mode="rgb_array")
    env = EngineEnv(filename=eurusd, render_ylabel="price", render_dpi=40)  # obsolete: ignored
    assert env.config["render"].render_dpi == 40
    env.close()
