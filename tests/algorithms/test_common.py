"""Device selection, seeding, spaces, return estimators, configs, checkpoints."""

from __future__ import annotations

import os
import stat

import gymnasium as gym
import numpy as np
import pytest
import torch

from btgym.algorithms.a3c.config import A3CConfig
from btgym.algorithms.common.buffers import RolloutBuffer, compute_gae, n_step_returns
from btgym.algorithms.common.checkpoint import load_checkpoint, save_checkpoint
from btgym.algorithms.common.device import resolve_device
from btgym.algorithms.common.normalize import RewardNormalizer
from btgym.algorithms.common.seeding import rng_state, set_rng_state, spawn_streams
from btgym.algorithms.common.spaces import ActionAdapter, obs_keys, space_to_spec, spec_to_space
from btgym.algorithms.ppo.config import PPOConfig
from btgym.errors import CheckpointError, ConfigError, UnknownKeywordError

# --------------------------------------------------------------------------- device


def test_auto_device_picks_cuda_when_available_else_cpu():
    assert resolve_device("auto", cuda_available=True) == torch.device("cuda")
    assert resolve_device(None, cuda_available=True) == torch.device("cuda")
    assert resolve_device("auto", cuda_available=False) == torch.device("cpu")
    assert resolve_device("cuda:1", cuda_available=True) == torch.device("cuda:1")
    assert resolve_device("cpu", cuda_available=True) == torch.device("cpu")


def test_cuda_without_cuda_and_bad_names_are_config_errors():
    with pytest.raises(ConfigError, match="CUDA is not available"):
        resolve_device("cuda", cuda_available=False)
    with pytest.raises(ConfigError, match="'gpu0'"):
        resolve_device("gpu0")
    with pytest.raises(ConfigError, match="only 'cpu' and 'cuda'"):
        resolve_device("meta")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_auto_device_is_the_real_gpu():
    dev = resolve_device("auto")
    assert dev.type == "cuda"
    assert torch.zeros(1, device=dev).device.type == "cuda"


# --------------------------------------------------------------------------- seeding


def test_one_seed_spawns_reproducible_independent_streams():
    m1, w1 = spawn_streams(7, 3)
    m2, w2 = spawn_streams(7, 3)
    assert m1.torch_seed == m2.torch_seed
    assert [s.env_seed for s in w1] == [s.env_seed for s in w2]
    assert np.array_equal(w1[0].rng.random(4), w2[0].rng.random(4))
    assert len({s.env_seed for s in w1}) == 3  # workers differ
    assert w1[1].rng.random() != w1[2].rng.random()
    _, other = spawn_streams(8, 3)
    assert other[0].env_seed != w1[0].env_seed


def test_rng_state_round_trip_restores_torch_and_numpy():
    rng = np.random.default_rng(3)
    state = rng_state(rng)
    a, b = torch.rand(3), rng.random(3)
    set_rng_state(state, rng)
    assert torch.equal(torch.rand(3), a)
    assert np.array_equal(rng.random(3), b)


# --------------------------------------------------------------------------- spaces


def _obs_space() -> gym.spaces.Dict:
    return gym.spaces.Dict(
        {
            "raw": gym.spaces.Box(0, 10, (30, 4), np.float32),
            "internal": gym.spaces.Box(-np.inf, np.inf, (5,), np.float32),
            "metadata": gym.spaces.Box(0, np.inf, (3,), np.float32),
        }
    )


def test_space_spec_round_trip():
    space = gym.spaces.Dict(
        {
            "a": _obs_space(),
            "d": gym.spaces.Discrete(4, start=1),
            "m": gym.spaces.MultiDiscrete([2, 3]),
        }
    )
    back = spec_to_space(space_to_spec(space))
    assert back == space


def test_obs_keys_skip_metadata_and_check_requests():
    assert set(obs_keys(_obs_space())) == {"raw", "internal"}
    assert obs_keys(_obs_space(), ("raw",)) == ("raw",)
    assert obs_keys(gym.spaces.Box(0, 1, (3,))) == ("",)
    with pytest.raises(ConfigError, match="nope"):
        obs_keys(_obs_space(), ("nope",))


def test_action_adapter_dict_of_discrete_and_batches():
    space = gym.spaces.Dict({"eur": gym.spaces.Discrete(4), "usd": gym.spaces.Discrete(4)})
    a = ActionAdapter(space)
    assert a.kind == "categorical" and a.nvec == (4, 4) and a.dim == 2
    assert a.to_env(np.array([1, 3])) == {"eur": 1, "usd": 3}
    assert np.array_equal(a.from_env({"eur": 2, "usd": 0}), [2, 0])
    batch = a.to_env_batch(np.array([[1, 2], [3, 0]]))
    assert np.array_equal(batch["eur"], [1, 3]) and np.array_equal(batch["usd"], [2, 0])
    assert space.contains(a.to_env(np.array([0, 1])))


def test_action_adapter_discrete_multidiscrete_and_boxes():
    d = ActionAdapter(gym.spaces.Discrete(3, start=-1))
    assert d.to_env(np.array([0])) == -1 and d.from_env(1).tolist() == [2]
    md = ActionAdapter(gym.spaces.MultiDiscrete([2, 5]))
    assert md.to_env(np.array([1, 4])).tolist() == [1, 4]
    w = ActionAdapter(gym.spaces.Box(0.0, 1.0, (3,), np.float32))
    assert w.kind == "dirichlet" and w.dim == 3
    g = ActionAdapter(gym.spaces.Box(-1.0, 1.0, (2,), np.float32))
    assert g.kind == "gaussian"
    assert g.to_env(np.array([5.0, -0.5])).tolist() == [1.0, -0.5]  # clipped to the box
    dict_box = ActionAdapter(
        gym.spaces.Dict({"a": gym.spaces.Box(0, 1, (1,)), "cash": gym.spaces.Box(0, 1, (1,))})
    )
    assert dict_box.kind == "dirichlet"
    out = dict_box.to_env(np.array([0.25, 0.75]))
    assert out["a"].shape == (1,) and float(out["cash"][0]) == 0.75
    with pytest.raises(ConfigError, match="not supported"):
        ActionAdapter(gym.spaces.MultiBinary(3))


# --------------------------------------------------------------------------- returns


def test_n_step_returns_by_hand():
    r = torch.tensor([[1.0], [2.0], [3.0]])
    d = torch.tensor([[0.0], [1.0], [0.0]])
    out = n_step_returns(r, d, torch.tensor([10.0]), gamma=0.5)
    # t=2: 3 + .5*10 = 8; t=1 ends an episode: 2; t=0: 1 + .5*2 = 2
    assert out[:, 0].tolist() == [2.0, 2.0, 8.0]


def test_gae_matches_a_direct_computation_and_lambda_one_gives_mc_advantages():
    g, lam = 0.9, 0.8
    rng = np.random.default_rng(0)
    r = torch.tensor(rng.normal(size=(6, 2)), dtype=torch.float32)
    v = torch.tensor(rng.normal(size=(6, 2)), dtype=torch.float32)
    d = torch.zeros(6, 2)
    d[2, 0] = 1.0
    last = torch.tensor([0.5, -0.5])
    adv, ret = compute_gae(r, v, d, last, g, lam)
    for b in range(2):
        expect, nxt_adv = [0.0] * 6, 0.0
        for t in reversed(range(6)):
            nv = float(last[b]) if t == 5 else float(v[t + 1, b])
            live = 1.0 - float(d[t, b])
            delta = float(r[t, b]) + g * nv * live - float(v[t, b])
            nxt_adv = delta + g * lam * live * nxt_adv
            expect[t] = nxt_adv
        assert np.allclose(adv[:, b].numpy(), expect, atol=1e-5)
    assert torch.allclose(ret, adv + v)
    adv1, _ = compute_gae(r, v, d, last, g, 1.0)
    assert torch.allclose(adv1 + v, n_step_returns(r, d, last, g), atol=1e-5)


def test_rollout_buffer_minibatches_cover_every_step_once():
    buf = RolloutBuffer(4, 3, {"x": (2,)}, action_dim=1)
    buf.reset()
    for t in range(4):
        z = torch.full((3,), float(t))
        buf.add(
            {"x": torch.arange(3.0)[:, None].repeat(1, 2) + 10 * t},
            z[:, None].long(),
            z,
            z,
            z,
            z * 0,
            z * 0,
        )
    assert buf.full
    buf.compute(torch.zeros(3), 0.99, 0.95)
    seen = torch.cat([b.obs["x"][0, :, 0] for b in buf.minibatches(3, np.random.default_rng(0))])
    assert sorted(seen.tolist()) == sorted(
        (torch.arange(3.0)[None] + 10 * torch.arange(4.0)[:, None]).flatten().tolist()
    )
    seqs = list(buf.minibatches(2, np.random.default_rng(0), recurrent=True))
    assert sum(b.obs["x"].shape[1] for b in seqs) == 3 and all(
        b.obs["x"].shape[0] == 4 for b in seqs
    )


def test_reward_normalizer_makes_tiny_rewards_unit_scale_and_round_trips():
    rng = np.random.default_rng(0)
    batch, single, single_ref = (
        RewardNormalizer(2, 0.99),
        RewardNormalizer(1, 0.99),
        RewardNormalizer(1, 0.99),
    )
    out = []
    for i in range(3000):
        r = rng.normal(size=2) * 1e-5
        done = np.array([i % 97 == 96, i % 50 == 49])
        out.append(batch(r, done))
        fast = single.one(float(r[0]), bool(done[0]))  # float path == numpy path
        assert fast == pytest.approx(float(single_ref(r[:1], done[:1])[0]), rel=1e-6)
    scaled = np.concatenate(out[1000:])
    assert 0.01 < scaled.std() < 1.0  # rewards of 1e-5 now of order 0.1
    assert RewardNormalizer(1, 0.99, clip=2.0)(np.array([1e6]), np.array([False]))[0] <= 2.0
    clone = RewardNormalizer(2, 0.99)
    clone.load(batch.state())
    assert all(type(v) is float for k, v in single.state().items() if k != "returns")
    r, d = rng.normal(size=2) * 1e-5, np.array([False, False])
    assert np.allclose(clone(r, d), batch(r, d))


# --------------------------------------------------------------------------- configs


def test_config_rejects_unknown_keywords_with_close_matches():
    with pytest.raises(UnknownKeywordError, match=r"num_worker.*did you mean 'num_workers'"):
        A3CConfig.from_keywords(num_worker=2)
    with pytest.raises(TypeError):
        PPOConfig.from_keywords(n_step=3)


def test_config_btgym_aliases_policy_dict_and_checks():
    cfg = A3CConfig.from_keywords(
        opt_learn_rate=1e-3, model_gamma=0.9, rollout_length=5, policy={"lstm": True}
    )
    assert (cfg.lr, cfg.gamma, cfg.rollout_steps, cfg.policy.lstm) == (1e-3, 0.9, 5, True)
    assert cfg.replace(seed=3).seed == 3 and cfg.replace(seed=3).policy.lstm
    with pytest.raises(ConfigError):
        PPOConfig.from_keywords(vec_env="threads")
    with pytest.raises(ConfigError):
        A3CConfig.from_keywords(num_workers=0)
    with pytest.raises(UnknownKeywordError):
        A3CConfig.from_keywords(policy={"lstmm": True})


def test_linear_learning_rate_schedule():
    cfg = PPOConfig.from_keywords(lr=1e-3, lr_final=1e-4)
    assert cfg.learning_rate(0.0) == pytest.approx(1e-3)
    assert cfg.learning_rate(0.5) == pytest.approx(5.5e-4)
    assert cfg.learning_rate(2.0) == pytest.approx(1e-4)
    assert A3CConfig.from_keywords(lr=1e-3).learning_rate(0.7) == pytest.approx(1e-3)


# --------------------------------------------------------------------------- checkpoints


def test_checkpoint_round_trip_is_weights_only_loadable(tmp_path):
    rng = np.random.default_rng(1)
    state = rng_state(rng)
    expected = rng.random(3)
    path = save_checkpoint(tmp_path / "c.pt", {"algo": "x", "w": torch.ones(2), "rng": state})
    data = torch.load(path, weights_only=True)  # plain data and tensors only
    assert data["format"] == "btgym-checkpoint" and torch.equal(data["w"], torch.ones(2))
    fresh = np.random.default_rng(99)
    set_rng_state(load_checkpoint(path)["rng"], fresh)
    assert np.array_equal(fresh.random(3), expected)


def test_checkpoint_write_is_atomic_and_errors_are_named(tmp_path):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, {"algo": "x", "step": 1})
    assert load_checkpoint(tmp_path)["step"] == 1  # a logdir resolves to its checkpoint.pt
    save_checkpoint(path, {"algo": "x", "step": 2})
    assert load_checkpoint(path)["step"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]  # no temp file left
    if os.geteuid() != 0:  # root ignores directory permissions
        tmp_path.chmod(stat.S_IRUSR | stat.S_IXUSR)
        try:
            with pytest.raises(CheckpointError, match="cannot write"):
                save_checkpoint(path, {"algo": "x", "step": 3})
        finally:
            tmp_path.chmod(stat.S_IRWXU)
        assert load_checkpoint(path)["step"] == 2  # the old one survives
    with pytest.raises(CheckpointError, match="cannot write"):
        save_checkpoint(path / "under_a_file" / "c.pt", {"algo": "x"})
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_checkpoint(tmp_path / "junk.pt")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
    torch.save({"some": "dict"}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a btgym checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
