"""A3C, PPO and SB3 PPO train unchanged on an env with one FeatureEncoder and one
ModelEncoder; checkpoints rebuild the same observation in ``btgym eval`` (§11 item 17)."""

from __future__ import annotations

import pytest

from btgym.algorithms.common.checkpoint import env_from_checkpoint, load_checkpoint
from btgym.features import FeatureLabelSet, LogReturns, Range
from btgym.models import MLPClassifier
from btgym.models.encoders import FeatureEncoder, ModelEncoder
from tests.algorithms.conftest import sine_env_kwargs

pytestmark = pytest.mark.slow

#: each env's episode server imports torch and loads the model at its first reset: on a
#: loaded machine (CI's 2 cores shared with other jobs) that takes well over the default
#: reset timeout, so the tests give the servers room (they assert training, not speed)
LOADED = {"connect_timeout": 120.0, "reset_timeout": 300.0, "data_timeout": 60.0}


def _env_kwargs(encoders, **extra) -> dict:
    return sine_env_kwargs(encoders=encoders, **LOADED, **extra)


@pytest.fixture(scope="module")
def encoders(shared_data, tmp_path_factory):
    """Encoders fitted on the sine's first days (the env tests on its last day)."""
    from btgym.datafeed import load_bars

    bars = load_bars(
        filename=str(shared_data / "test_sine_1min_period256_delta0002.csv"),
        parsing_params={"header": 0},
    )
    fls = FeatureLabelSet(
        [LogReturns().lookback(1), LogReturns().lookback(5), Range().window(5)],
        [LogReturns().lookforward(5)],
    )
    ds = fls.split(
        bars,
        train=("2017-01-01", "2017-01-04"),
        val=("2017-01-04", "2017-01-05"),
        test=("2017-01-05", "2017-01-06"),
        task="classification",
    )
    m = MLPClassifier(n_features=3, n_classes=2, hidden_layers=[8])
    m.fit(ds.X_train, ds.y_train, epochs=20)
    path = m.save(tmp_path_factory.mktemp("rl") / "mlp", dataset=ds)
    return [FeatureEncoder.from_dataset(ds, window=4, key="feat"), ModelEncoder(path, key="mlp")]


def _check_eval(checkpoint, space, capsys):
    from btgym.cli import main

    ckpt = load_checkpoint(checkpoint)
    stored = ckpt["env_kwargs"]["encoders"]
    assert [d["class"] for d in stored] == ["FeatureEncoder", "ModelEncoder"]
    cls, kw = env_from_checkpoint(ckpt)
    env = cls(**kw)
    try:
        assert env.observation_space == space
    finally:
        env.close()
    assert main(["eval", "--checkpoint", str(checkpoint), "--episodes", "1", "--seed", "0"]) == 0
    assert "btgym eval: 1 test episodes" in capsys.readouterr().out


def _space(encoders):
    import btgym

    env = btgym.BTgymEnv(**_env_kwargs(encoders, server="inprocess"))
    try:
        return env.observation_space
    finally:
        env.close()


def test_a3c_trains_with_encoders_and_eval_rebuilds_them(encoders, tmp_path, capsys):
    from btgym.algorithms import A3C

    space = _space(encoders)
    assert {"feat", "feat_valid", "mlp", "mlp_valid"} <= set(space.spaces)
    with A3C(
        env_kwargs=_env_kwargs(encoders),
        logdir=tmp_path,
        num_workers=2,
        total_steps=2000,
        seed=0,
    ) as algo:
        result = algo.train()
    assert result.steps >= 2000
    _check_eval(result.checkpoint, space, capsys)


def test_ppo_trains_with_encoders_and_eval_rebuilds_them(encoders, tmp_path, capsys):
    from btgym.algorithms import PPO

    with PPO(
        env_kwargs=_env_kwargs(encoders),
        logdir=tmp_path,
        total_steps=2000,
        seed=0,
        vec_env="sync",
        num_envs=2,
        n_steps=128,
        n_epochs=1,
        n_minibatches=2,
    ) as algo:
        result = algo.train()
    assert result.steps >= 2000
    _check_eval(result.checkpoint, _space(encoders), capsys)


def test_sb3_ppo_multiinput_trains_with_encoders(encoders):
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv

    from btgym.algorithms.common.sb3 import sb3_env_fns
    from btgym.envs.vector import make_env_fns

    fns = make_env_fns(1, **_env_kwargs(encoders, server="inprocess"))
    venv = DummyVecEnv(sb3_env_fns(fns))
    try:
        assert {"feat", "mlp"} <= set(venv.observation_space.spaces)
        model = PPO(
            "MultiInputPolicy", venv, n_steps=256, batch_size=128, n_epochs=1, seed=0, device="cpu"
        )
        model.learn(total_timesteps=512)
        assert model.num_timesteps >= 512
    finally:
        venv.close()
        fns.close()
