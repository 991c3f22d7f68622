"""The single env's fast per-step path (btgym/engine/lane.py, layout.py) gives exactly
what the generic readers give (``lane_step`` + ``observe_lane``), fresh each step."""

from __future__ import annotations

import math

import numpy as np
import pytest

from btgym.engine import EngineEnv
from btgym.engine.info import asset_message, lane_step
from btgym.engine.layout import PackedState
from tests.engine.conftest import kw as base_kw


def kw(eurusd, **over):
    """The engine env tests' keywords with commission, tighter calls and a bigger stake."""
    tight = dict(drawdown_call=3, target_call=3, fixed_stake=200, broker_commission=0.0002)
    return base_kw(eurusd, **{**tight, **over})


def reference(env: EngineEnv) -> tuple:
    """The generic readers' view of the env's lane after a step."""
    core = env.core
    reward, info = lane_step(core, 0, env.action_keys)
    done = (bool(core.terminated[0]), bool(core.truncated[0]))
    return core.observe_lane(0), reward, *done, info


def assert_identical(out: tuple, ref: tuple, where: str) -> None:
    obs, ref_obs = out[0], ref[0]
    assert list(obs) == list(ref_obs), where
    for key in obs:
        a, b = obs[key], ref_obs[key]
        assert a.dtype == b.dtype and a.shape == b.shape, (where, key)
        assert a.tobytes() == b.tobytes(), (where, key)
    assert type(out[1]) is float and out[1] == ref[1], (where, out[1], ref[1])
    assert out[2:4] == ref[2:4], where
    info, ref_info = out[4], ref[4]
    assert list(info) == list(ref_info), where
    for key, value in ref_info.items():
        assert info[key] == value and type(info[key]) is type(value), (where, key)


@pytest.mark.parametrize(
    "over",
    [
        {},
        {"skip_frame": 5, "leverage": 1, "fixed_stake": 80},  # margin rejections
        {"state_shape": {"raw": ((10, 4), 0.0, 10.0)}},  # not the inline plan
    ],
)
def test_fast_step_equals_the_generic_readers(eurusd, over):
    env = EngineEnv(**kw(eurusd, **over))
    assert env._stepper is not None  # one asset, discrete, numba: the closure path
    rng = np.random.default_rng(0)
    kept = []
    messages = set()
    for ep in range(3):
        out = env.reset(seed=ep)
        for i in range(400):
            action = int(rng.integers(0, 4))
            out = env.step(action if i % 2 else np.int64(action))
            assert_identical(out, reference(env), f"ep {ep} step {i}")
            kept.append((out, {k: v.copy() for k, v in out[0].items()}, dict(out[4])))
            messages.add(out[4]["broker_message"].split(":")[-1][:6])
            if out[2] or out[3]:
                assert "done_reason" in out[4] and "bars_stepped" in out[4]
                break
    assert len(messages) > 2  # executions, holds and (with leverage 1) margin
    infos = [k[0][4] for k in kept]
    assert len({id(i) for i in infos}) == len(infos)  # a fresh dict every step
    for out, obs_copy, info_copy in kept:  # later steps changed nothing already returned
        assert out[4] == info_copy
        for key, arr in out[0].items():
            assert arr.flags.owndata, key  # a fresh array, no view of the engine
            np.testing.assert_array_equal(arr, obs_copy[key])


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_generic_result_path_equals_the_generic_readers(two_frames, backend):
    """Multi-asset dict actions and the numpy backend go through LaneStep.result()."""
    env = EngineEnv(
        backend=backend,
        dataframe=two_frames,
        data_names=("eur", "alt"),
        episode_duration={"hours": 1},
        start_cash=100.0,
        fixed_stake=300,
        leverage=10,
        drawdown_call=3,
        target_call=3,
        state_shape={"raw": ((20, 8), 0.0, 10.0)},
    )
    assert env._stepper is None
    rng = np.random.default_rng(1)
    env.reset(seed=0)
    for i in range(120):
        out = env.step({a: int(rng.integers(0, 4)) for a in env.asset_names})
        assert_identical(out, reference(env), f"step {i}")
        if out[2] or out[3]:
            env.reset()


def test_asset_message_formats_like_the_strategy():
    values = [0.0, -0.0, math.nan, math.inf, -math.inf, 5e-324, 1e300, 1.07279, 123456789.5]
    for price in values:
        for comm in values:
            for size in (10.0, -10.0, 3.5, 0.0, -0.0, math.nan, 1e-7, 123456789.0):
                for kind in (1.0, 2.0, 3.0):
                    what = "CLOSE" if kind == 3 else ("BUY" if size > 0 else "SELL")
                    want = f"a: {what} executed, size {size:g}, price {price:.6g}, comm {comm:.6g}"
                    for _ in range(2):  # the second one from the cache
                        assert asset_message("a", 1.0, size, price, comm, kind) == want
    assert asset_message("a", 0.0, 1.0, 1.0, 0.0, 1.0) == ""
    assert asset_message("a", 2.0, 1.0, 1.0, 0.0, 1.0) == "a: order Margin (not enough cash/margin)"


def test_packed_views_share_the_tables():
    pk = PackedState(3, 2, 3)
    for name in ("F", "size", "fills", "pprice", "touch", "internal", "last_action"):
        view = getattr(pk, name)
        assert np.shares_memory(view, pk.lanes), name
        view[...] = 7.0
        assert pk.lanes.sum() > 0
        pk.lanes[:] = 0.0
    assert pk.fills.shape == (3, 2, 5) and pk.last_action.shape == (3, 3)
    assert np.shares_memory(pk.I, pk.ints) and np.shares_memory(pk.oorder, pk.ints)
    assert pk.active.all() and not pk.terminated.any()


def assert_same_tree(a, b, where: str) -> None:
    if isinstance(b, dict):
        assert isinstance(a, dict) and list(a) == list(b), where
        for key in b:
            assert_same_tree(a[key], b[key], f"{where}.{key}")
        return
    assert a.dtype == b.dtype and a.shape == b.shape, (where, a.dtype, b.dtype)
    if a.dtype == object:
        assert a.tolist() == b.tolist(), where
    else:
        assert a.tobytes() == b.tobytes(), where


@pytest.mark.parametrize("n", [1, 3])
def test_vector_fast_readers_equal_the_generic_ones(eurusd, n):
    """observe() of every lane and the one-lane batched info (the N=1 path) against
    the per-lane-index readers (the generic path)."""
    from btgym.engine import VectorBTgymEnv
    from btgym.engine.info import batch_info

    env = VectorBTgymEnv(num_envs=n, messages=True, **kw(eurusd, drawdown_call=1, target_call=1))
    env.reset(seed=0)
    core, lanes = env.core, np.arange(n)
    rng = np.random.default_rng(2)
    ended = 0
    for i in range(300):
        out = env.step({"default_asset": rng.integers(0, 4, n)})
        ended += int(out[2].sum() + out[3].sum())
        assert_same_tree(core.observe(), core.observe(lanes), f"obs {i}")
        fast = batch_info(core, None, env.action_keys, True)
        assert_same_tree(fast, batch_info(core, lanes, env.action_keys, True), f"info {i}")
        assert_same_tree(out[4], fast, f"step info {i}")
    assert ended  # done_reason / bars_stepped were compared too


@pytest.mark.parametrize("mode", ["NextStep", "SameStep"])
def test_one_lane_vector_path_equals_the_generic_one(eurusd, mode):
    """VectorBTgymEnv(num_envs=1) steps through one_lane_reader; the same env with it
    switched off (the generic batched path) returns the same arrays, step for step,
    autoresets included."""
    from btgym.engine import VectorBTgymEnv

    def make(fast: bool):
        env = VectorBTgymEnv(
            num_envs=1,
            messages=True,
            autoreset_mode=mode,
            **kw(eurusd, drawdown_call=1, target_call=1),
        )
        assert env._one is not None
        if not fast:
            env._one = None
        return env

    fast, slow = make(True), make(False)
    assert_same_tree(fast.reset(seed=4)[0], slow.reset(seed=4)[0], "reset")
    rng = np.random.default_rng(5)
    ended = 0
    for i in range(400):
        action = {"default_asset": rng.integers(0, 4, 1)}
        a, b = fast.step(action), slow.step(action)
        for j, name in enumerate(("obs", "reward", "terminated", "truncated")):
            assert_same_tree(a[j], b[j], f"step {i} {name}")
        assert list(a[4]) == list(b[4]), i
        for key, value in b[4].items():
            if key == "final_obs":  # an object array of one observation dict
                assert_same_tree(a[4][key][0], value[0], f"step {i} final_obs")
            else:
                assert_same_tree(a[4][key], value, f"step {i} info {key}")
        ended += int(b[2][0] or b[3][0])
    assert ended >= 2


def test_lane_times_word_stamps_as_iso_times():
    """LaneTimes (the engine's info times) against btgym.strategy.info.IsoTimes on
    minute, second, sub-second, pre-epoch and random stamps, read in random order."""
    from btgym.engine.times import LaneTimes
    from btgym.strategy.info import IsoTimes

    rng = np.random.default_rng(0)
    minutes = np.datetime64("2017-01-09T00:00") + np.arange(3000).astype("timedelta64[m]")
    stamps = np.concatenate(
        [
            minutes.astype("datetime64[ns]").view(np.int64),
            rng.integers(0, 2**62, 2000) // 10**9 * 10**9,
            rng.integers(-(2**61), 2**62, 2000),
            rng.integers(-(10**12), 10**12, 1000) * 10**9,
            np.array([0, 1, 999, 10**9 - 1, 10**9, -1, -(10**9), 86_399 * 10**9]),
        ]
    ).astype(np.int64)
    ref, new = IsoTimes(stamps), LaneTimes(stamps)
    for i in rng.permutation(len(stamps)).tolist():
        assert new[i] == ref[i], (i, int(stamps[i]))
    assert None not in new.strings and new[-1] == ref[len(stamps) - 1]


def test_fast_step_follows_buffer_growth(eurusd):
    """The bar buffers grow (a longer episode): the closure's kernel arguments and raw
    view are rebuilt, results still equal the generic readers'."""
    env = EngineEnv(**kw(eurusd, drawdown_call=50, target_call=50))
    env.reset(seed=0)
    for _ in range(5):
        env.step(1)
    core = env.core
    old_raw, capacity = core.raw, core.capacity
    core._alloc(capacity * 2)  # what load() does for a longer episode
    assert core.raw is not old_raw and core._args is None
    for i in range(400):
        out = env.step(i % 4)
        assert_identical(out, reference(env), f"step {i} after growth")
        if out[2] or out[3]:
            break
    assert out[4]["done_reason"] == "end_of_data"
