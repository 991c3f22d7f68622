"""Observation encoders (``encoders=``) on the engine: the same observations, rewards,
info and records as the backtrader engine (including a warm-up longer than ``raw``'s),
every lane of the vector env at its own bar, and the same leakage guard."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest

from btgym.engine import EngineEnv, VectorBTgymEnv
from btgym.envs import BTgymEnv
from btgym.errors import EncoderLeakageError

from .surface import assert_same_records

RANGES = {
    "train": ("2017-01-02", "2017-01-12"),
    "val": ("2017-01-12", "2017-01-16"),
    "test": ("2017-01-16", "2017-02-01"),
}


@pytest.fixture(scope="module")
def bars(eurusd):
    from btgym.datafeed import load_bars

    return load_bars(filename=eurusd)


def featureset():
    from btgym.features import FeatureLabelSet, LogReturns, Range, Volatility

    feats = [LogReturns().lookback(1), LogReturns().lookback(5), Volatility().window(15), Range()]
    return FeatureLabelSet(feats, [LogReturns().lookforward(5)], name="engine-enc")


@pytest.fixture(scope="module")
def encoder(bars):
    from btgym.models.encoders import FeatureEncoder

    ds = featureset().split(bars, **RANGES, task="classification")
    return FeatureEncoder.from_dataset(ds, window=3, key="feat")


def kw(eurusd, encoder, T, **over):
    out = dict(
        filename=eurusd,
        encoders=[encoder],
        state_shape={"raw": gym.spaces.Box(0, 10, (T, 4))},
        episode_duration={"hours": 2},
        drawdown_call=50,
        target_call=50,
        fixed_stake=30,
    )
    out.update(over)
    return out


def assert_same(a, b, where):
    (obs_a, *rest_a), (obs_b, *rest_b) = a, b
    assert set(obs_a) == set(obs_b), where
    for key in obs_b:
        assert obs_a[key].dtype == obs_b[key].dtype, (where, key)
        np.testing.assert_array_equal(obs_a[key], obs_b[key], err_msg=f"{where}: {key}")
    assert rest_a == rest_b, where  # reward, flags and the whole info dict


@pytest.mark.parametrize("T", [30, 4])  # raw's window longer / shorter than the warm-up
def test_observations_equal_the_backtrader_engines(eurusd, encoder, T):
    assert encoder.warmup_bars(1) > 4
    args = kw(eurusd, encoder, T)
    eng = EngineEnv(records=True, **args)
    ref = BTgymEnv(server="inprocess", **args)
    assert eng.observation_space == ref.observation_space
    assert {"feat", "feat_valid"} <= set(eng.observation_space.spaces)
    rng = np.random.default_rng(T)
    try:
        for seed in (0, 1):
            assert_same(eng.reset(seed=seed), ref.reset(seed=seed), f"T={T} seed={seed}")
            done, step = False, 0
            while not done:
                action = int(rng.integers(0, 4)) if rng.random() < 0.3 else 0
                out_e, out_b = eng.step(action), ref.step(action)
                step += 1
                assert_same(out_e, out_b, f"T={T} seed={seed} step {step}")
                done = out_b[2] or out_b[3]
            assert_same_records(eng.episode_records(), ref.episode_records(), f"T={T}")
            stat_e, stat_b = eng.get_stat(), ref.get_stat()
            assert (stat_e["bars"], stat_e["n_bars"]) == (stat_b["bars"], stat_b["n_bars"])
    finally:
        eng.close()
        ref.close()


def test_vector_lanes_serve_each_lanes_bar(eurusd, encoder, bars):
    from btgym.features import compute_features

    full = compute_features(encoder.features, bars, at="bars").to_numpy()
    z = (full - np.asarray(encoder.scaler.mean)) / np.asarray(encoder.scaler.std)
    nan = ~np.isfinite(z).all(axis=1)
    z = np.clip(np.where(nan[:, None], 0.0, z), -encoder.clip, encoder.clip).astype(np.float32)
    index = np.asarray(bars.index)
    env = VectorBTgymEnv(num_envs=3, **kw(eurusd, encoder, 4))
    obs, info = env.reset(seed=0)
    checked = 0
    for step in range(40):
        for lane in range(3):
            t = int(np.searchsorted(index, pd.Timestamp(info["time"][lane]).value))
            np.testing.assert_allclose(obs["feat"][lane], z[t - 2 : t + 1], rtol=1e-6)
            np.testing.assert_array_equal(obs["feat_valid"][lane], ~nan[t - 2 : t + 1])
            checked += 1
        obs, _, _, _, info = env.step(np.full((3, 1), step % 4, np.int64))
    assert checked == 120
    env.close()


def test_leakage_guard_on_both_engines(eurusd, bars):
    from btgym.models.encoders import FeatureEncoder

    ds = featureset().split(
        bars,
        train=("2017-01-02", "2017-01-31"),  # the scaler learns from the test period
        val=("2017-01-31", "2017-01-31 12:00"),
        test=("2017-01-31 12:00", "2017-02-01"),
        task="classification",
    )
    leaky = FeatureEncoder.from_dataset(ds, window=2, key="feat")
    args = kw(eurusd, leaky, 30, test_period={"days": 5, "hours": 0, "minutes": 0})
    test_episode = {"episode_config": {"sample_type": 1}}
    for env in (EngineEnv(**args), BTgymEnv(server="inprocess", **args)):
        with pytest.raises(EncoderLeakageError, match="overlaps") as err:
            env.reset(seed=0, options=test_episode)
        assert "feat" in str(err.value)
        env.reset(seed=0)  # train episodes are fine
        env.close()


def test_model_encoder_observations_equal_the_backtrader_engines(eurusd, bars, tmp_path):
    pytest.importorskip("torch")
    from btgym.models import MLPClassifier
    from btgym.models.encoders import ModelEncoder

    ds = featureset().split(bars, **RANGES, task="classification")
    model = MLPClassifier(n_features=len(ds.feature_names), n_classes=2, hidden_layers=[4])
    model.fit(ds.X_train, ds.y_train, epochs=2)
    enc = ModelEncoder(model.save(tmp_path / "mlp", dataset=ds), key="mlp")
    args = kw(eurusd, enc, 4)
    eng, ref = EngineEnv(**args), BTgymEnv(server="inprocess", **args)
    try:
        assert_same(eng.reset(seed=2), ref.reset(seed=2), "reset")
        for step in range(60):
            out_e, out_b = eng.step(step % 4), ref.step(step % 4)
            assert_same(out_e, out_b, f"step {step}")
            if out_b[2] or out_b[3]:
                break
        assert out_e[0]["mlp"].shape == (2,) and out_e[0]["mlp_valid"][0] == 1
    finally:
        eng.close()
        ref.close()


def test_a_failed_reset_leaves_the_same_stats_and_records(eurusd, bars):
    from btgym.models.encoders import FeatureEncoder

    ds = featureset().split(
        bars,
        train=("2017-01-02", "2017-01-31"),
        val=("2017-01-31", "2017-01-31 12:00"),
        test=("2017-01-31 12:00", "2017-02-01"),
        task="classification",
    )
    leaky = FeatureEncoder.from_dataset(ds, window=2, key="feat")
    args = kw(eurusd, leaky, 30, test_period={"days": 5, "hours": 0, "minutes": 0})
    eng = EngineEnv(records=True, **args)
    ref = BTgymEnv(server="inprocess", **args)
    try:
        for env in (eng, ref):
            env.reset(seed=0)
            env.step(1)
            with pytest.raises(EncoderLeakageError):
                env.reset(seed=2, options={"episode_config": {"sample_type": 1}})
        assert eng.get_stat() == ref.get_stat() == {"episode": 2, "active": False}
        assert eng.episode_records() == ref.episode_records() == {}
        np.testing.assert_array_equal(eng.episode_data().index, ref.episode_data().index)
    finally:
        eng.close()
        ref.close()
