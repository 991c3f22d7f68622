"""Encoders inside the env: parity with compute_features, both modes, leakage guard,
key clashes, warm-up, check_env (§11 items 13-16)."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
from gymnasium.utils.env_checker import check_env

import btgym
from btgym.errors import ConfigError, EncoderLeakageError, RemoteError
from btgym.features import compute_features
from btgym.models import MLPClassifier
from btgym.models.encoders import FeatureEncoder, ModelEncoder
from tests.models.conftest import small_featureset

RAW = {"raw": gym.spaces.Box(0, 10, (30, 4))}


def env_kwargs(shared_data, **over):
    kw = dict(
        filename=str(shared_data / "DAT_ASCII_EURUSD_M1_201701.csv"),
        episode_duration={"days": 0, "hours": 2, "minutes": 0},
        state_shape=RAW,
        drawdown_call=90,
        target_call=90,
        test_period={"days": 5, "hours": 0, "minutes": 0},
        render_enabled=False,
    )
    kw.update(over)
    return kw


@pytest.fixture
def envs():
    made = []

    def factory(**kw):
        env = btgym.BTgymEnv(**kw)
        made.append(env)
        return env

    yield factory
    for env in made:
        env.close()


def test_observations_equal_compute_features_of_the_full_data(
    shared_data, eurusd, eurusd_dataset, envs
):
    m = 4
    enc = FeatureEncoder.from_dataset(eurusd_dataset, window=m, key="feat")
    env = envs(**env_kwargs(shared_data, server="inprocess", encoders=[enc]))
    space = env.observation_space
    assert space["feat"].shape == (m, 5) and space["feat_valid"].shape == (m,)
    raw = compute_features(enc.features, eurusd, at="bars").to_numpy()
    z = (raw - np.asarray(enc.scaler.mean)) / np.asarray(enc.scaler.std)
    nan = ~np.isfinite(z).all(axis=1)
    full = np.clip(np.where(nan[:, None], 0.0, z), -10, 10).astype(np.float32)
    index = np.asarray(eurusd.index)
    checked = 0
    for episode in range(20):
        obs, info = env.reset(seed=episode)
        done = False
        while True:
            t = int(np.searchsorted(index, pd.Timestamp(info["time"]).value))
            np.testing.assert_allclose(obs["feat"], full[t - m + 1 : t + 1], rtol=1e-6)
            np.testing.assert_array_equal(
                obs["feat_valid"], (~nan[t - m + 1 : t + 1]).astype(np.float32)
            )
            checked += 1
            if done:
                break
            obs, _, term, trunc, info = env.step(0)
            done = term or trunc
    assert checked > 20 * 50


@pytest.mark.slow  # spawns env servers
def test_process_and_inprocess_observations_are_identical(
    shared_data, eurusd_dataset, mlp_dir, envs
):
    encoders = [
        FeatureEncoder.from_dataset(eurusd_dataset, window=3),
        ModelEncoder(mlp_dir, key="mlp"),
    ]
    runs = {}
    for mode in ("process", "inprocess"):
        env = envs(**env_kwargs(shared_data, server=mode, encoders=encoders))
        seen = []
        for ep in range(2):
            obs, _ = env.reset(seed=10 + ep)
            seen.append(obs)
            for _ in range(30):
                obs, *_ = env.step(1 if len(seen) % 7 == 0 else 0)
                seen.append(obs)
        runs[mode] = seen
    for a, b in zip(runs["process"], runs["inprocess"], strict=True):
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert any(o["mlp_valid"][0] == 1 for o in runs["process"])


@pytest.fixture(scope="module")
def leaky_dir(eurusd, tmp_path_factory):
    """A model whose val range covers the env's 5-day test period (Jan 27-31)."""
    ds = small_featureset().split(
        eurusd,
        train=("2017-01-02", "2017-01-20"),
        val=("2017-01-20", "2017-01-31 20:00"),
        test=("2017-01-31 20:00", "2017-02-01"),
        task="classification",
    )
    m = MLPClassifier(n_features=5, n_classes=2, hidden_layers=[4])
    m.fit(ds.X_train, ds.y_train, epochs=2)
    return m.save(tmp_path_factory.mktemp("leaky") / "mlp", dataset=ds)


TEST = {"episode_config": {"sample_type": 1}}


def test_leakage_guard_in_process(shared_data, leaky_dir, mlp_dir, envs):
    env = envs(
        **env_kwargs(shared_data, server="inprocess", encoders=[ModelEncoder(leaky_dir, key="m")])
    )
    for seed in range(3):
        env.reset(seed=seed)  # train episodes never raise
    with pytest.raises(EncoderLeakageError, match=r"'m'.*allow_overlap=True"):
        env.reset(seed=1, options=TEST)
    ok = envs(
        **env_kwargs(
            shared_data,
            server="inprocess",
            encoders=[ModelEncoder(leaky_dir, key="m", allow_overlap=True)],
        )
    )
    obs, _ = ok.reset(seed=0, options=TEST)
    assert obs["m"].shape == (2,)
    clean = envs(
        **env_kwargs(shared_data, server="inprocess", encoders=[ModelEncoder(mlp_dir, key="m")])
    )
    clean.reset(seed=0, options=TEST)  # trained on Jan 2-16: no overlap


@pytest.mark.slow  # spawns an env server
def test_leakage_guard_in_process_mode_arrives_as_the_same_error(shared_data, leaky_dir, envs):
    """The comm layer re-raises a child's btgym error as the same class (DESIGN §1), with
    ``remote_type`` and the child's traceback attached (the spec's RemoteError form)."""
    env = envs(
        **env_kwargs(shared_data, server="process", encoders=[ModelEncoder(leaky_dir, key="m")])
    )
    env.reset(seed=0)
    with pytest.raises((EncoderLeakageError, RemoteError)) as err:
        env.reset(seed=1, options=TEST)
    assert err.value.remote_type == "EncoderLeakageError"
    assert "env_encoders.py" in err.value.remote_traceback


def test_key_clash_and_short_episodes_raise_config_errors(shared_data, eurusd_dataset, envs):
    with pytest.raises(ConfigError, match="'raw'"):
        envs(
            **env_kwargs(
                shared_data,
                server="inprocess",
                encoders=[FeatureEncoder.from_dataset(eurusd_dataset, key="raw")],
            )
        )
    big = FeatureEncoder.from_dataset(eurusd_dataset, window=200)
    env = envs(**env_kwargs(shared_data, server="inprocess", encoders=[big]))
    with pytest.raises(
        ConfigError, match=rf"has 1[12]\d bars; the state needs {big.warmup_bars(1)} bars"
    ):
        env.reset(seed=0)


def test_check_env_is_clean_with_encoders(shared_data, eurusd_dataset, mlp_dir, envs):
    env = envs(
        **env_kwargs(
            shared_data,
            server="inprocess",
            encoders=[
                FeatureEncoder.from_dataset(eurusd_dataset, window=5),
                ModelEncoder(mlp_dir, key="mlp"),
                ModelEncoder(mlp_dir, key="emb", output="embedding", clip=2.0),
            ],
        )
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env, skip_render_check=True)
    for key, space in env.observation_space.spaces.items():
        assert np.isfinite(space.low).all() and np.isfinite(space.high).all(), key


def test_a_long_encoder_warmup_leaves_the_raw_window_alone(
    shared_data, eurusd, eurusd_dataset, envs
):
    enc = FeatureEncoder.from_dataset(eurusd_dataset, window=40, key="feat")
    assert enc.warmup_bars(1) > 30
    env = envs(**env_kwargs(shared_data, server="inprocess", encoders=[enc]))
    obs, info = env.reset(seed=3)
    ohlc = eurusd.values[eurusd.names[0]][:, :4]
    for _ in range(3):
        t = int(np.searchsorted(np.asarray(eurusd.index), pd.Timestamp(info["time"]).value))
        assert obs["raw"].shape == (30, 4) and obs["feat"].shape == (40, 5)
        np.testing.assert_allclose(obs["raw"], ohlc[t - 29 : t + 1].astype(np.float32))
        assert obs["feat_valid"].all()  # the first decision comes after the encoder's warm-up
        obs, _, _, _, info = env.step(0)


def test_sb3_form_with_encoders_checks_clean(shared_data, eurusd_dataset, mlp_dir):
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    kw = env_kwargs(
        shared_data,
        server="inprocess",
        encoders=[
            FeatureEncoder.from_dataset(eurusd_dataset, window=5),
            ModelEncoder(mlp_dir, key="mlp"),
        ],
    )
    kw.pop("state_shape")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env = gym.make("btgym/Backtrader-v0", sb3=True, **kw)
        try:
            assert env.observation_space["features"].shape == (25,)  # flattened by the wrapper
            sb3_check_env(env, warn=True)
        finally:
            env.close()
