"""Encoders, heads, the LSTM core, and the numpy rollout actor against the torch model."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from btgym.algorithms.common.actors import NumpyActor, TorchActor, state_to_torch
from btgym.algorithms.common.encoders import VectorEncoder, WindowEncoder
from btgym.algorithms.common.policies import ActorCritic, PolicyConfig
from tests.algorithms.toy_env import ToyTradingEnv


def _batch(env: gym.Env, n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    obs = [env.observation_space.sample() for _ in range(n)]
    out = {k: np.stack([o[k] for o in obs]) for k in obs[0]}
    out["raw"] = (1.1 + 0.002 * rng.standard_normal(out["raw"].shape)).astype(np.float32)
    out["internal"] = rng.standard_normal(out["internal"].shape).astype(np.float32)
    return out


def test_encoder_per_key_is_chosen_by_shape():
    env = ToyTradingEnv()
    model = ActorCritic(env.observation_space, env.action_space)
    kinds = dict(zip(model.keys, (type(e) for e in model.encoder.encoders)))
    assert kinds == {"internal": VectorEncoder, "raw": WindowEncoder}  # metadata skipped
    short = gym.spaces.Dict({"w": gym.spaces.Box(0, 1, (2, 3)), "v": gym.spaces.Box(0, 1, (4,))})
    model2 = ActorCritic(short, gym.spaces.Discrete(2))
    assert all(isinstance(e, VectorEncoder) for e in model2.encoder.encoders)  # T < 4: MLP


def test_window_normalisation_ignores_price_level():
    enc = WindowEncoder((30, 4))
    x = torch.rand(2, 30, 4)
    assert torch.allclose(enc(x), enc(x * 3.0 + 100.0), atol=1e-4)


@pytest.mark.parametrize("lstm", [False, True])
def test_sequence_forward_shapes_and_episode_starts_reset_the_lstm(lstm):
    env = ToyTradingEnv()
    model = ActorCritic(
        env.observation_space, env.action_space, PolicyConfig(lstm=lstm, lstm_size=16)
    )
    obs = {k: torch.as_tensor(v).view(3, 2, *v.shape[1:]) for k, v in _batch(env, 6).items()}
    state = model.initial_state(2)
    starts = torch.zeros(3, 2)
    out, values, _new_state = model(obs, state, starts)
    assert out.shape == (3, 2, 4) and values.shape == (3, 2)
    if not lstm:
        return
    # a start at t=1 for env 0 makes steps 1.. independent of what came before
    starts[1, 0] = 1.0
    noisy = tuple(torch.randn_like(s) for s in state)
    out_a, _, _ = model(obs, noisy, starts)
    fresh = {k: v[1:, :1] for k, v in obs.items()}
    out_b, _, _ = model(fresh, model.initial_state(1), torch.zeros(2, 1))
    assert torch.allclose(out_a[1:, :1], out_b, atol=1e-5)


@pytest.mark.parametrize(
    "portfolio,lstm",
    [(False, False), (False, True), (True, False)],
    ids=["discrete", "lstm", "dirichlet"],
)
def test_numpy_actor_matches_the_torch_model(portfolio, lstm):
    env = ToyTradingEnv(portfolio=portfolio)
    torch.manual_seed(0)
    model = ActorCritic(
        env.observation_space, env.action_space, PolicyConfig(lstm=lstm, lstm_size=32)
    )
    actor = NumpyActor(model, np.random.default_rng(0))
    obs = _batch(env, 3)
    state = actor.initial_state(3)
    if lstm:
        state = tuple(
            np.random.default_rng(1).standard_normal((3, 32)).astype(np.float32) for _ in range(2)
        )
    starts = np.array([0.0, 1.0, 0.0])
    actions, logp, values, new_state = actor.act(obs, state, starts)
    tobs = {k: torch.as_tensor(obs[k]).unsqueeze(0) for k in model.keys}
    with torch.no_grad():
        out, tvalues, tstate = model(
            tobs, state_to_torch(state), torch.as_tensor(starts).float().unsqueeze(0)
        )
        tlogp = model.distribution(out[0]).log_prob(torch.as_tensor(actions))
    assert np.allclose(values, tvalues[0].numpy(), atol=1e-4)
    assert np.allclose(logp, tlogp.numpy(), atol=1e-4)
    if lstm:
        assert np.allclose(new_state[0], tstate[0][0].numpy(), atol=1e-5)
    if portfolio:
        assert np.allclose(actions.sum(axis=1), 1.0) and (actions > 0).all()
    # after a weight change the actor follows only once refreshed
    with torch.no_grad():
        model.v.bias += 1.0
    stale = actor.value(obs, state, starts)
    actor.refresh()
    assert np.allclose(actor.value(obs, state, starts), stale + 1.0, atol=1e-4)


def test_numpy_actor_samples_from_the_policy_distribution():
    env = ToyTradingEnv()
    model = ActorCritic(env.observation_space, env.action_space)
    with torch.no_grad():
        model.pi.bias.copy_(torch.tensor([2.0, 0.0, 0.0, -1.0]))
        model.pi.weight.zero_()
    actor = NumpyActor(model, np.random.default_rng(0))
    obs = _batch(env, 4000)
    actions, _, _, _ = actor.act(obs, (), np.zeros(4000))
    freq = np.bincount(actions[:, 0], minlength=4) / 4000
    expected = torch.softmax(torch.tensor([2.0, 0.0, 0.0, -1.0]), 0).numpy()
    assert np.allclose(freq, expected, atol=0.03)
    greedy, _, _, _ = actor.act(obs, (), np.zeros(4000), deterministic=True)
    assert (greedy == 0).all()


def test_torch_actor_and_predict_give_env_actions():
    env = ToyTradingEnv()
    model = ActorCritic(
        env.observation_space, env.action_space, PolicyConfig(lstm=True, lstm_size=8)
    )
    obs, _ = env.reset(seed=0)
    action, state = model.predict(obs, episode_start=True)
    assert env.action_space.contains(action) and len(state) == 2
    actor = TorchActor(model, np.random.default_rng(0))
    acts, logp, values, _st = actor.act(_batch(env, 2), actor.initial_state(2), np.ones(2))
    assert acts.shape == (2, 1) and logp.shape == (2,) and values.shape == (2,)


def test_spec_rebuilds_the_same_network():
    env = ToyTradingEnv(portfolio=True)
    model = ActorCritic(env.observation_space, env.action_space, PolicyConfig(hidden=(32,)))
    clone = ActorCritic.from_spec(model.spec())
    clone.load_state_dict(model.state_dict())
    obs = {k: torch.as_tensor(v).unsqueeze(0) for k, v in _batch(env, 2).items()}
    with torch.no_grad():
        a = model(obs, (), torch.zeros(1, 2))
        b = clone(obs, (), torch.zeros(1, 2))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
