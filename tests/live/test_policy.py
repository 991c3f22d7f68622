"""PolicyTarget: the training strategy run bar by bar with the paper broker (item 4)."""

from __future__ import annotations

import numpy as np
import pytest

from btgym.datafeed import Episode, SampleMeta
from btgym.errors import CheckpointError
from btgym.live.policy import PolicyTarget, configs_from_env_kwargs
from btgym.live.publisher import RedisPublisher
from btgym.live.reader import SignalReader
from btgym.live.runner import LiveRunner
from btgym.live.sources import ReplaySource
from btgym.strategy import BTgymBaseStrategy

from .policies import ENV_KWARGS, make_checkpoint


class OneEpisode:
    """A trial source handing out one fixed episode (what an env samples)."""

    def __init__(self, episode: Episode) -> None:
        self.episode = episode

    def sample(self, **_):
        return self.episode


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Like the live target does: tiny forward passes, no intra-op thread contention."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("policy") / "checkpoint.pt")


@pytest.fixture(scope="module")
def slice600(eurusd):
    i = int(np.searchsorted(eurusd.index, np.datetime64("2017-01-18T12:00", "ns").astype(np.int64)))
    return eurusd.slice(i, i + 600)


def env_episode(bars, checkpoint, env_kwargs=ENV_KWARGS):
    """An in-process env episode on ``bars`` driven by the checkpoint's greedy policy."""
    from btgym.algorithms.evaluation import load_policy
    from btgym.server.handle import InProcessHandle

    strategy, broker, cls, _, _ = configs_from_env_kwargs(env_kwargs)
    meta = SampleMeta(
        type=0,
        trial_num=0,
        trial_type=0,
        sample_num=0,
        first_row=0,
        source_row=0,
        num_rows=len(bars),
        timestamp=0.0,
        last_timestamp=0.0,
    )
    handle = InProcessHandle(OneEpisode(Episode(bars, meta)), strategy, broker, strategy_class=cls)
    policy = load_policy(checkpoint)
    obs, info = handle.reset()
    observations, actions, state, start = [obs], [], None, True
    while True:
        action, state = policy.predict(obs, state, start, True)
        start = False
        actions.append(int(action["EURUSD"]))
        obs, _, terminated, truncated, info = handle.step(action)
        if terminated or truncated:
            break
        observations.append(obs)
    handle.close()
    actions.append(int(policy.predict(obs, state, False, True)[0]["EURUSD"]))  # the last bar's
    observations.append(obs)
    return observations, actions, info


def test_live_session_equals_an_env_episode(shared_redis, live_name, checkpoint, slice600):
    env_obs, env_actions, env_info = env_episode(slice600, checkpoint)
    assert env_info["done_reason"] == "end_of_data" and len(env_obs) == 571
    assert len(set(env_actions)) >= 3  # the policy trades: buys, sells / closes and holds
    target = PolicyTarget.from_checkpoint(checkpoint, session_bars=600)
    live_obs: list = []
    pub = RedisPublisher(shared_redis.url, name=live_name)
    runner = LiveRunner(
        target,
        ReplaySource(bars=slice600.slice(29, 600), speed=None),
        pub,
        timezone="Etc/GMT+5",
        history=slice600.slice(0, 29),
        on_signal=lambda s: live_obs.append(target.last_obs),
    )
    stats = runner.run()
    assert stats.exit_code == 0 and stats.signals == stats.ok == 571
    signals = [s for _, s in SignalReader(shared_redis.url, name=live_name).read(count=1000)]
    assert [s.policy.action["EURUSD"] for s in signals] == env_actions
    for e, lv in zip(env_obs, live_obs):
        for key in ("raw", "internal"):  # metadata describes the sample, not the market
            assert e[key].dtype == lv[key].dtype == np.float32
            np.testing.assert_array_equal(e[key], lv[key])
    last = signals[-1].policy
    assert last.done_reason == "end_of_data" and last.session == 1 and last.step == 570
    assert abs(last.broker_value - env_info["broker_value"]) <= 1e-9
    assert signals[0].policy.step == 0 and signals[0].kind == "policy"
    assert set(signals[0].policy.action_probs) == {"EURUSD"}
    assert abs(sum(signals[0].policy.action_probs["EURUSD"]) - 1) < 1e-6


def test_sessions_roll_over_without_a_bar_left_out(checkpoint, slice600):
    from btgym.live.sources import ClosedBar

    target = PolicyTarget.from_checkpoint(checkpoint, session_bars=60)
    target.bind(1, ("EURUSD",))
    target.prime(slice600.slice(0, 29))
    outs = []
    for i in range(29, 200):
        bar = ClosedBar(int(slice600.index[i]), {"EURUSD": slice600.values["EURUSD"][i]}, 1, 0)
        outs.append(target.update(bar))
    assert all(o is not None and o.status == "ok" for o in outs)  # a decision at every bar
    sessions = [o.policy.session for o in outs]
    assert sessions == sorted(sessions) and sessions[-1] == 6  # 31 decisions per session
    firsts = [o for i, o in enumerate(outs) if i == 0 or sessions[i - 1] != o.policy.session]
    assert all(o.policy.step == 0 and o.policy.broker_value == 100.0 for o in firsts)
    ends = [o for i, o in enumerate(outs[:-1]) if sessions[i + 1] != o.policy.session]
    assert len(ends) == 5 and all(o.policy.done_reason == "end_of_data" for o in ends)
    target.close()


def test_checkpoint_without_env_kwargs_is_refused(tmp_path):
    import torch

    from btgym.algorithms.common.checkpoint import save_checkpoint

    good = make_checkpoint(tmp_path / "a.pt")
    data = torch.load(good, weights_only=True)
    data.pop("env_kwargs")
    save_checkpoint(
        tmp_path / "b.pt", {k: v for k, v in data.items() if k not in ("format", "version")}
    )
    with pytest.raises(CheckpointError, match="env_kwargs"):
        PolicyTarget.from_checkpoint(tmp_path / "b.pt")


class TrustedStrategy(BTgymBaseStrategy):
    """A user's strategy: resolvable only when the user names it."""


def test_a_checkpoint_never_chooses_the_strategy_code(tmp_path):
    """Issue 9's rule holds for live policies: a ``module:Class`` stored in a checkpoint is
    never imported unless the user trusts it; ``logging:FileHandler`` must stay unbuilt."""
    import torch

    from btgym.algorithms.common.checkpoint import save_checkpoint

    good = make_checkpoint(tmp_path / "a.pt")
    data = torch.load(good, weights_only=True)
    payload = {k: v for k, v in data.items() if k not in ("format", "version")}
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    payload["env_kwargs"] = {**payload["env_kwargs"], "strategy": "logging:FileHandler"}
    save_checkpoint(tmp_path / "foreign.pt", payload)
    with pytest.raises(CheckpointError, match=r"logging:FileHandler.*--trust|trust"):
        PolicyTarget.from_checkpoint(tmp_path / "foreign.pt")
    assert victim.read_text() == "keep me"

    name = f"{__name__}:TrustedStrategy"
    payload["env_kwargs"] = {**payload["env_kwargs"], "strategy": name}
    save_checkpoint(tmp_path / "custom.pt", payload)
    with pytest.raises(CheckpointError, match="TrustedStrategy"):
        PolicyTarget.from_checkpoint(tmp_path / "custom.pt")
    target = PolicyTarget.from_checkpoint(tmp_path / "custom.pt", trusted_classes=[name])
    assert issubclass(target.strategy_class, TrustedStrategy)


def test_encoder_leaves_stream_like_the_env_binds_them(
    shared_redis, live_name, eurusd, slice600, tmp_path
):
    from .policies import feature_encoder_dict

    kw = dict(ENV_KWARGS, encoders=[feature_encoder_dict(eurusd)])
    checkpoint = make_checkpoint(tmp_path / "enc.pt", kw)
    bars = slice600.slice(0, 180)
    env_obs, env_actions, env_info = env_episode(bars, checkpoint, kw)
    target = PolicyTarget.from_checkpoint(checkpoint, session_bars=180)
    target.bind(1, ("EURUSD",))
    assert target.time_dim == 30  # the raw window (the encoder needs 17 bars)
    live_obs: list = []
    runner = LiveRunner(
        target,
        ReplaySource(bars=bars.slice(29, 180), speed=None),
        RedisPublisher(shared_redis.url, name=live_name),
        timezone="UTC",
        history=bars.slice(0, 29),
        on_signal=lambda s: live_obs.append((s, target.last_obs)),
    )
    assert runner.run().exit_code == 0
    assert len(live_obs) == len(env_obs) == 151
    assert [s.policy.action["EURUSD"] for s, _ in live_obs] == env_actions
    for e, (_, lv) in zip(env_obs, live_obs):
        for key in ("raw", "internal", "features", "features_valid"):
            np.testing.assert_allclose(lv[key], e[key], rtol=1e-6, atol=1e-7)
    assert abs(live_obs[-1][0].policy.broker_value - env_info["broker_value"]) <= 1e-9


def test_portfolio_policy_over_two_assets_equals_the_env(
    shared_redis, live_name, shared_data, tmp_path
):
    """PortfolioEnv weights over BTC and ETH (two backtrader feeds fed bar by bar)."""
    from btgym.datafeed import load_bars

    from .test_multi_asset import BTC_PARAMS

    files = {a: str(shared_data / f"{a}_USD_hour_data.csv") for a in ("BTC", "ETH")}
    bars = load_bars(files, parsing_params=BTC_PARAMS).slice(0, 130)
    shape = {
        "raw": {"shape": [30, 8], "low": 0.0, "high": 1e12, "dtype": "float32"},
        "internal": {"shape": [7], "low": -100.0, "high": 100.0, "dtype": "float32"},
    }
    kw = {
        "env_class": "PortfolioEnv",
        "data_names": ["BTC", "ETH"],
        "state_shape": shape,
        "start_cash": 1e6,
        "broker_commission": 0.001,
        "drawdown_call": 90.0,
        "target_call": 1000.0,
        "timeframe": 60,
    }
    checkpoint = make_checkpoint(tmp_path / "pf.pt", kw)
    from btgym.algorithms.evaluation import load_policy
    from btgym.server.handle import InProcessHandle

    strategy, broker, cls, _, _ = configs_from_env_kwargs(kw)
    assert strategy.portfolio_actions
    meta = SampleMeta(
        type=0,
        trial_num=0,
        trial_type=0,
        sample_num=0,
        first_row=0,
        source_row=0,
        num_rows=len(bars),
        timestamp=0.0,
        last_timestamp=0.0,
    )
    handle = InProcessHandle(OneEpisode(Episode(bars, meta)), strategy, broker, strategy_class=cls)
    policy = load_policy(checkpoint)
    obs, info = handle.reset()
    env_obs, env_w, state, start = [obs], [], None, True
    while True:
        action, state = policy.predict(obs, state, start, True)
        start = False
        env_w.append(handle.codec.encode(action))
        obs, _, terminated, truncated, info = handle.step(action)
        if terminated or truncated:
            break
        env_obs.append(obs)
    env_obs.append(obs)  # the final observation (no action follows it)
    handle.close()
    target = PolicyTarget.from_checkpoint(checkpoint, session_bars=130)
    seen: list = []
    runner = LiveRunner(
        target,
        ReplaySource(bars=bars.slice(29, 130), speed=None),
        RedisPublisher(shared_redis.url, name=live_name),
        timezone="UTC",
        history=bars.slice(0, 29),
        on_signal=lambda s: seen.append((s, target.last_obs)),
    )
    assert runner.run().exit_code == 0 and len(seen) == len(env_obs) == len(env_w) + 1
    for e, (_, lv) in zip(env_obs, seen):
        for key in ("raw", "internal"):
            np.testing.assert_array_equal(e[key], lv[key])
    live_w = [
        np.array([s.policy.action[k] for k in ("default_cash", "BTC", "ETH")]) for s, _ in seen
    ]
    np.testing.assert_allclose(np.stack(live_w[:-1]), np.stack(env_w), rtol=0, atol=1e-12)
    assert seen[-1][0].policy.done_reason == "end_of_data"
    assert abs(seen[-1][0].policy.broker_value - info["broker_value"]) <= 1e-9
    assert len({round(float(w[1]), 3) for w in env_w}) > 1  # the weights move
