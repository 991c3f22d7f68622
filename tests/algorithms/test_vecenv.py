"""The trainers on btgym's native vector envs: ``VectorBTgymEnv`` (numpy engine) and
``BTgymVectorEnv`` (``btgym.make_vec``'s, process-mode backtrader servers).

The sine sample's 60-bar episodes end (by the data) after 30 decisions, so every
count below follows from the step budget: a lane runs 30 steps, one NEXT_STEP
autoreset step, 30 steps, ...
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from btgym.algorithms import A3C, PPO, Tags
from btgym.algorithms.common.buffers import RolloutBuffer
from btgym.algorithms.common.checkpoint import load_checkpoint
from btgym.algorithms.common.logger import worker_tag
from btgym.algorithms.common.vecenv import VecEpisodeMonitor
from btgym.algorithms.evaluation import evaluate, load_policy
from btgym.algorithms.ppo.ppo import _PPORun
from btgym.cli import main as cli_main
from btgym.engine import EngineEnv, VectorBTgymEnv
from btgym.errors import ConfigError
from tests.algorithms.conftest import sine_env_kwargs

DECISIONS = 30  # steps of one sine episode (see module doc)


def vector_kwargs() -> dict:
    return sine_env_kwargs(engine="vector")


def _rng() -> np.random.Generator:
    return np.random.default_rng(0)  # not the run's: capturing must not change training


class _Capturing(_PPORun):
    """Keeps each rollout's buffer contents (what the update trains on)."""

    seen: list[dict[str, torch.Tensor]] = []

    def _update(self, buf: RolloutBuffer):
        _Capturing.seen.append(
            {k: getattr(buf, k).clone() for k in ("valid", "dones", "rewards", "starts")}
            | {
                "batch": sum(b.actions.shape[1] for b in buf.minibatches(4, _rng())),
                "sequences": list(buf.minibatches(2, _rng(), recurrent=True)),
            }
        )
        return super()._update(buf)


class CapturingPPO(PPO):
    def _run_class(self):
        return _Capturing


# --------------------------------------------------------------------------- monitor


def test_monitor_counts_each_lane_episode_and_marks_autoreset_steps():
    """Per-lane statistics are the sums over the episode's own steps (the autoreset
    step is in neither episode); the step after each episode's end is invalid."""
    venv = VectorBTgymEnv(num_envs=2, **sine_env_kwargs())
    _, info = venv.reset(seed=3)
    monitor = VecEpisodeMonitor(venv)
    monitor.reset(info)
    actions = np.array([1, 2])  # lane 0 buys, lane 1 sells, every step
    stats, invalid_at = {0: [], 1: []}, []
    own = {0: [0.0, 0, 0.0], 1: [0.0, 0, 0.0]}  # return, length, value at the end
    expected = {0: [], 1: []}
    for t in range(2 * DECISIONS + 2):
        _, reward, term, trunc, info = venv.step(actions)
        valid, ended = monitor.step(reward, term, trunc, info)
        invalid_at += [(t, int(i)) for i in np.flatnonzero(~valid)]
        for lane in (0, 1):
            if valid[lane]:
                own[lane][0] += float(reward[lane])
                own[lane][1] += 1
            if term[lane] or trunc[lane]:
                expected[lane].append((own[lane][0], own[lane][1], info["broker_value"][lane]))
                own[lane] = [0.0, 0, 0.0]
        for lane, s in ended:
            stats[lane].append(s)
    last = 2 * DECISIONS + 1
    assert invalid_at == [(DECISIONS, 0), (DECISIONS, 1), (last, 0), (last, 1)]
    for lane in (0, 1):
        assert len(stats[lane]) == len(expected[lane]) == 2
        for s, (ret, n, value) in zip(stats[lane], expected[lane]):
            assert s["length"] == n == DECISIONS
            assert s["return"] == pytest.approx(ret, abs=1e-12)
            assert s["broker_value"] == pytest.approx(value)
            assert s["trades"] >= 1 and s["max_drawdown"] >= 0.0


def _episodes(mode: str, steps: int) -> tuple[list, int]:
    venv = VectorBTgymEnv(num_envs=2, autoreset_mode=mode, **sine_env_kwargs())
    _, info = venv.reset(seed=5)
    monitor = VecEpisodeMonitor(venv)
    monitor.reset(info)
    out, invalid = [], 0
    for _ in range(steps):
        _, reward, term, trunc, info = venv.step(np.array([1, 3]))
        valid, ended = monitor.step(reward, term, trunc, info)
        invalid += int((~valid).sum())
        out += ended
    return out, invalid


def test_monitor_same_step_mode_gives_the_same_episodes():
    """SAME_STEP has no autoreset step (the stats come from ``final_info``): the same
    episodes as NEXT_STEP, one vector step earlier each."""
    next_step, invalid = _episodes("NextStep", 2 * DECISIONS + 1)
    same_step, none = _episodes("SameStep", 2 * DECISIONS)
    assert invalid == 2 and none == 0
    assert len(same_step) == len(next_step) == 4
    for (lane_a, a), (lane_b, b) in zip(next_step, same_step):
        assert lane_a == lane_b
        assert a == pytest.approx(b, abs=1e-12)


# --------------------------------------------------------------------------- PPO


def test_ppo_on_the_vector_engine_skips_autoreset_steps(tmp_path):
    _Capturing.seen = []
    with CapturingPPO(
        env_kwargs=vector_kwargs(),
        logdir=tmp_path,
        num_envs=4,
        n_steps=64,
        n_epochs=1,
        total_steps=512,
        seed=0,
    ) as algo:
        assert algo.native
        result = algo.train()
    # per lane: 128 steps = episodes ending at steps 30, 61, 92, 123
    assert result.steps == 512 and result.episodes == 4 * 4
    valid = torch.cat([s["valid"] for s in _Capturing.seen])  # (128, 4)
    dones = torch.cat([s["dones"] for s in _Capturing.seen])
    rewards = torch.cat([s["rewards"] for s in _Capturing.seen])
    starts = torch.cat([s["starts"] for s in _Capturing.seen])
    invalid = (valid == 0).nonzero().tolist()
    assert len(invalid) == 4 * 4  # steps 31, 62, 93, 124 of each lane
    for t, lane in invalid:
        assert dones[t - 1, lane] == 1 and dones[t, lane] == 1  # nothing crosses it
        assert rewards[t, lane] == 0
        assert starts[t + 1, lane] == 1  # the new episode starts after it
    # the update trains on the valid transitions only
    assert [s["batch"] for s in _Capturing.seen] == [int(s["valid"].sum()) for s in _Capturing.seen]
    ckpt = load_checkpoint(result.checkpoint)
    assert ckpt["env_kwargs"]["engine"] == "vector" and ckpt["config"]["vec_env"] == "auto"


def test_ppo_vector_engine_checkpoint_evaluates(tmp_path, capsys):
    with PPO(
        env_kwargs=vector_kwargs(),
        logdir=tmp_path,
        num_envs=8,
        n_steps=32,
        n_epochs=1,
        total_steps=512,
        seed=0,
    ) as algo:
        result = algo.train()
    policy = load_policy(result.checkpoint)
    scores = evaluate(policy, EngineEnv(**sine_env_kwargs()), 2, seed=0)
    assert all(r.length == DECISIONS for r in scores)
    assert cli_main(["eval", "--checkpoint", str(tmp_path), "--episodes", "1"]) == 0
    assert "btgym eval: 1 test episodes" in capsys.readouterr().out


def test_ppo_takes_a_vector_env_factory(tmp_path):
    factory = functools.partial(VectorBTgymEnv, num_envs=3, **sine_env_kwargs())
    with PPO(vector_env=factory, logdir=tmp_path, num_envs=3, n_steps=32, total_steps=96) as algo:
        result = algo.train()
    assert result.steps == 96 and result.episodes == 3  # one episode per lane
    with (
        pytest.raises(ConfigError, match="num_envs=3"),
        PPO(vector_env=factory, logdir=tmp_path / "x", num_envs=2, total_steps=64) as algo,
    ):
        algo.train()
    with pytest.raises(ConfigError, match="one of env_fns, env_kwargs or vector_env"):
        PPO(vector_env=factory, env_kwargs=vector_kwargs(), logdir=tmp_path / "y")


def test_recurrent_ppo_masks_autoreset_steps(tmp_path):
    """An LSTM policy trains on whole lane sequences: the autoreset steps stay in the
    sequence (the state runs through them) but out of the loss (masked)."""
    _Capturing.seen = []
    with CapturingPPO(
        env_kwargs=vector_kwargs(),
        logdir=tmp_path,
        num_envs=2,
        n_steps=64,
        n_epochs=1,
        n_minibatches=2,
        total_steps=128,
        seed=0,
        policy={"lstm": True, "lstm_size": 16},
    ) as algo:
        result = algo.train()
    assert result.episodes == 2 * 2 and result.updates == 1
    seen = _Capturing.seen[0]
    assert int((seen["valid"] == 0).sum()) == 2 * 2  # steps 31 and 62 of each lane
    for batch in seen["sequences"]:  # one whole lane each: masked, not cut
        assert batch.actions.shape[:2] == (64, 1) and batch.valid.shape == (64, 1)
        assert int((batch.valid == 0).sum()) == 2


@pytest.mark.slow
def test_ppo_on_make_vec_servers(tmp_path, no_children_left):
    """The backtrader engine: BTgymVectorEnv over process-mode servers sharing the
    trainer's data server; same episode accounting and tags as separate envs, lane 0's
    episode images."""
    with PPO(
        env_kwargs=sine_env_kwargs(),
        logdir=tmp_path,
        num_envs=2,
        n_steps=64,
        n_epochs=1,
        total_steps=256,
        seed=0,
        image_every=2,
    ) as algo:
        assert algo.native
        result = algo.train()
    assert result.steps == 256 and result.episodes == 2 * 4
    acc = EventAccumulator(str(tmp_path), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    scalars = set(acc.Tags()["scalars"])
    for tag in (Tags.EPISODE_RETURN, Tags.EPISODE_LENGTH, Tags.EPISODE_BROKER_VALUE):
        assert tag in scalars, tag
    for lane in (0, 1):
        returns = acc.Scalars(worker_tag(lane, Tags.EPISODE_RETURN))
        assert len(returns) == 4
    lengths = [e.value for e in acc.Scalars(Tags.EPISODE_LENGTH)]
    assert lengths == [DECISIONS] * 8
    assert len(acc.Images(Tags.EPISODE_IMAGE)) == 2  # lane 0's 2nd and 4th episodes
    assert cli_main(["eval", "--checkpoint", str(tmp_path), "--episodes", "1"]) == 0


def test_ppo_refuses_native_for_env_fns(tmp_path):
    fn = functools.partial(EngineEnv, **sine_env_kwargs())
    with (
        pytest.raises(ConfigError, match="native vector env"),
        PPO([fn], logdir=tmp_path, num_envs=1, vec_env="native", total_steps=64) as algo,
    ):
        algo.train()


# --------------------------------------------------------------------------- A3C


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["vector", "backtrader"])
def test_a3c_workers_step_vector_envs(tmp_path, engine, no_children_left, capsys):
    kw = vector_kwargs() if engine == "vector" else sine_env_kwargs()
    with A3C(
        env_kwargs=kw,
        logdir=tmp_path,
        num_workers=1,
        envs_per_worker=2,
        rollout_steps=31,
        total_steps=124,
        seed=0,
    ) as algo:
        result = algo.train()
    # 2 rollouts of 31 steps x 2 lanes: each lane ends episodes at steps 30 and 61
    assert result.steps == 124 and result.updates == 2 and result.episodes == 4
    ckpt = load_checkpoint(result.checkpoint)
    assert ckpt["config"]["envs_per_worker"] == 2
    assert cli_main(["eval", "--checkpoint", str(tmp_path), "--episodes", "1"]) == 0


def test_a3c_lanes_default_to_vector_lanes_on_the_vector_engine(tmp_path):
    with A3C(env_kwargs=vector_kwargs(), logdir=tmp_path / "v", num_workers=2) as algo:
        assert algo.lanes == 4 and algo.n_envs == 8 and len(algo.envs.fns) == 8
        assert algo.worker_vector_fn(1) is not None
    fn = functools.partial(EngineEnv, **sine_env_kwargs())
    with A3C([fn, fn], logdir=tmp_path / "f", num_workers=2) as algo:
        assert algo.lanes == 1 and algo.worker_vector_fn(0) is None
    with pytest.raises(ConfigError, match="envs_per_worker"):
        A3C([fn], logdir=tmp_path / "z", num_workers=1, envs_per_worker=0)
