"""Parity at every step (issue 8, item 11): a plain ``bt.Strategy`` replays the env's
actions on the same bars (read with backtrader's own ``PandasData``) and the same
broker settings; at every decision the env's value, cash, positions and reward equal
the replay's, and the episode ends exactly at the first bar where the replay's value
crosses ``drawdown_call`` / ``target_call`` (every bar, whatever ``skip_frame`` is),
else at the last bar.

The replay knows nothing of btgym's strategy: it reads the bars, the decision bars and
the actions from the env's records, and places plain market orders (portfolio weights
through ``order_target_percent``, the assets whose weight drops first).
"""

from __future__ import annotations

import backtrader as bt
import numpy as np
import pytest

import btgym

TOL = 1e-9


class Replay(bt.Strategy):
    """At bar ``t`` record value, cash and positions; at a decision bar place the
    action the env took there."""

    params = (("plan", None), ("weights", False), ("stakes", None))

    def __init__(self):
        self.rows = {}

    def next(self):
        t = len(self) - 1
        broker = self.broker
        sizes = [self.getposition(d).size for d in self.datas]
        self.rows[t] = (broker.getvalue(), broker.getcash(), sizes)
        todo = self.p.plan.get(t)
        if todo is None:
            return
        if self.p.weights:
            value = broker.getvalue()
            current = [self.getposition(d).size * d.close[0] / value for d in self.datas]
            for i in sorted(range(len(self.datas)), key=lambda i: todo[i + 1] - current[i]):
                self.order_target_percent(data=self.datas[i], target=todo[i + 1])
            return
        for data, code, stake in zip(self.datas, todo, self.p.stakes):
            if code == 1:
                self.buy(data=data, size=stake)
            elif code == 2:
                self.sell(data=data, size=stake)
            elif code == 3:
                self.close(data=data)


def replay(env, rec, weights=False):
    """Run the replay over the env's last episode; ``{bar: (value, cash, sizes)}``."""
    bars = env.episode_data()
    cfg, broker = env.config["strategy"], env.config["broker"]
    assets = env.asset_names
    rows = np.searchsorted(bars.index, rec["time"])
    keys = ([cfg.cash_name] if weights else []) + list(assets)
    plan = {int(rows[k - 1]): [rec[f"action/{a}"][k] for a in keys] for k in range(1, len(rows))}
    cerebro = bt.Cerebro(stdstats=False)
    for name in bars.names:
        cerebro.adddata(bt.feeds.PandasData(dataname=bars.frame(name)), name=name)
    cerebro.broker.setcash(broker.start_cash)
    cerebro.broker.setcommission(
        commission=broker.broker_commission, leverage=broker.leverage, mult=broker.mult
    )
    cerebro.broker.set_shortcash(broker.shortcash)
    stakes = [cfg.stake(a) for a in assets]
    cerebro.addstrategy(Replay, plan=plan, weights=weights, stakes=stakes)
    (strat,) = cerebro.run()
    return strat.rows, rows


def check_episode(env, weights=False):
    """Every step equal to the replay; the end at the exact bar. Returns bars_stepped."""
    rec = env.episode_records()
    cfg, start = env.config["strategy"], env.config["broker"].start_cash
    oracle, rows = replay(env, rec, weights)
    for k, t in enumerate(rows):
        value, cash, sizes = oracle[int(t)]
        assert abs(rec["broker_value"][k] - value) <= TOL, (k, t)
        assert abs(rec["broker_cash"][k] - cash) <= TOL, (k, t)
        for a, size in zip(env.asset_names, sizes):
            assert rec[f"position/{a}"][k] == size, (k, a)
        if k:
            prev = oracle[int(rows[k - 1])][0]
            want = (value - prev) / start * cfg.reward_scale
            assert abs(rec["reward"][k] - want) <= TOL, (k, t)
    # the episode ends at the first bar (from the first decision on) crossing a stop
    low = start * (1 - cfg.drawdown_call / 100)
    high = start * (1 + cfg.target_call / 100)
    first, last = int(rows[0]), len(env.episode_data()) - 1
    crossing = next((t for t in range(first, last + 1) if not low < oracle[t][0] < high), None)
    assert int(rows[-1]) == (crossing if crossing is not None else last)
    return int(rows[-1] - rows[-2]) if len(rows) > 1 else 0


def play(env, rng, seed, weights=False, p_hold=0.5):
    env.reset(seed=seed)
    n = len(env.asset_names)
    while True:
        if weights:
            r = rng.random()
            if r < 0.2:
                action = np.r_[1.0, np.zeros(n)]  # all cash
            elif r < 0.3:
                action = np.zeros(n + 1)  # all zero: flat too
            else:
                action = rng.dirichlet(np.ones(n + 1))
        else:
            action = [0 if rng.random() < p_hold else int(rng.integers(1, 4)) for _ in range(n)]
        *_, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            return info


EURUSD = dict(
    filename=str(btgym.sample_data_path("eurusd")),
    episode_duration={"days": 0, "hours": 3, "minutes": 7},
    state_shape={"raw": ((10, 4), 0.0, 1e12, "float32")},
    start_cash=1000.0,
    broker_commission=0.0002,
    leverage=10.0,
    fixed_stake=4000.0,
    reward_scale=7.5,
    drawdown_call=0.8,
    target_call=0.8,
)


@pytest.mark.parametrize("skip_frame", [1, 5, 17])
def test_step_parity_eurusd_leverage_commission_reward_scale(skip_frame, mode):
    env = btgym.BTgymEnv(server=mode, skip_frame=skip_frame, **EURUSD)
    rng = np.random.default_rng(skip_frame)
    reasons, short = set(), 0
    try:
        for episode in range(6):
            info = play(env, rng, seed=100 + episode)
            stepped = check_episode(env)
            assert stepped == info["bars_stepped"]
            reasons.add(info["done_reason"])
            short += info["bars_stepped"] < skip_frame
    finally:
        env.close()
    assert reasons & {"drawdown_call", "target_call"}  # the stops really fired
    if skip_frame > 1:
        assert short  # and some episodes ended between two decision bars


def test_step_parity_two_misaligned_assets(tmp_path, mode):
    """Two files with different bar sets (every 7th bar missing in one, prices scaled):
    the data layer aligns them on common stamps; the broker sees both."""
    lines = btgym.sample_data_path("eurusd").read_text().splitlines()
    other = tmp_path / "other.csv"
    out = []
    for i, line in enumerate(lines):
        if i % 7 == 3:
            continue
        stamp, *prices, vol = line.split(";")
        out.append(";".join([stamp, *(f"{float(p) * 1.3:.6f}" for p in prices), vol]))
    other.write_text("\n".join(out) + "\n")
    kw = dict(EURUSD, filename={"A": EURUSD["filename"], "B": str(other)})
    kw["state_shape"] = {"raw": ((10, 8), 0.0, 1e12, "float32")}
    env = btgym.MultiDiscreteEnv(server=mode, skip_frame=3, **kw)
    rng = np.random.default_rng(3)
    try:
        for episode in range(4):
            info = play(env, rng, seed=episode)
            check_episode(env)
            assert set(info["position"]) == {"A", "B"}
    finally:
        env.close()


BTC = dict(
    filename=str(btgym.sample_data_path("BTC_USD_hour_data.csv")),
    parsing_params=dict(
        sep=",", header=0, datetime="time", datetime_format="epoch_ms", open="open",
        high="high", low="low", close="close", volume="volumefrom", timeframe=60,
    ),
    episode_duration={"days": 4, "hours": 0, "minutes": 0},
    state_shape={"raw": ((10, 4), 0.0, 1e12, "float32")},
    start_cash=100_000.0,
    fixed_stake=3.0,
    drawdown_call=5,
    target_call=5,
)  # fmt: skip


def test_step_parity_btc_hourly(mode):
    env = btgym.BTgymEnv(server=mode, skip_frame=2, **BTC)
    rng = np.random.default_rng(7)
    try:
        for episode in range(4):
            play(env, rng, seed=episode)
            check_episode(env)
    finally:
        env.close()


def test_step_parity_portfolio_weights_with_all_cash(mode):
    kw = dict(BTC, filename={"BTC": BTC["filename"], "ETH": BTC["filename"].replace("BTC", "ETH")})
    kw["state_shape"] = {"raw": ((10, 8), 0.0, 1e12, "float32")}
    kw["broker_commission"] = 0.0002
    env = btgym.PortfolioEnv(server=mode, skip_frame=3, **kw)
    rng = np.random.default_rng(11)
    try:
        for episode in range(4):
            info = play(env, rng, seed=episode, weights=True)
            check_episode(env, weights=True)
            assert abs(sum(info["action"].values()) - 1.0) < 1e-12
        rec = env.episode_records()
        assert (rec["action/default_cash"][1:] == 1.0).any()  # all-cash steps were replayed
        assert len(rec["fill_time"]) > 0
    finally:
        env.close()


def test_same_seed_same_episode_in_both_modes():
    """Seeding is the same in the two server modes: same records, step by step."""
    got = []
    for mode in ("process", "inprocess"):
        env = btgym.BTgymEnv(server=mode, skip_frame=5, **EURUSD)
        try:
            rng = np.random.default_rng(0)
            play(env, rng, seed=123)
            first = env.episode_records()
            env.reset()  # a seedless reset goes on from the seeded stream
            second_obs = env.step(0)[0]["raw"]
            got.append((first, second_obs))
        finally:
            env.close()
    (a, obs_a), (b, obs_b) = got
    assert set(a) == set(b)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    np.testing.assert_array_equal(obs_a, obs_b)
