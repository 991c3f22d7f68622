"""Episodes to render in tests and benchmarks: synthetic, and from a real backtrader run.

``Bars`` here is a minimal stand-in with the attributes of ``btgym.datafeed.Bars``
(``names``, ``index`` int64 ns, ``values[name]`` float64 (n, 5) OHLCV); the
renderers accept any such object. :func:`backtrader_episode` runs a real
``bt.Strategy`` with random actions on EURUSD minute bars and records the same
keys the env's server records (``docs/internals.md``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parents[1] / "data"
EURUSD = DATA / "DAT_ASCII_EURUSD_M1_201701.csv"
MINUTE = 60 * 10**9


@dataclass(frozen=True)
class Bars:
    """Stand-in for ``btgym.datafeed.Bars``."""

    names: tuple[str, ...]
    index: np.ndarray
    values: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.index)


def load_eurusd(n_bars: int, skip: int = 0) -> tuple[pd.DataFrame, Bars]:
    """The first ``n_bars`` (after ``skip``) EURUSD minute bars as a frame and Bars."""
    df = pd.read_csv(
        EURUSD,
        sep=";",
        header=None,
        names=["dt", "open", "high", "low", "close", "volume"],
        nrows=skip + n_bars,
    ).iloc[skip:]
    df.index = pd.to_datetime(df.pop("dt"), format="%Y%m%d %H%M%S")
    index = df.index.values.astype("datetime64[ns]").view(np.int64).copy()
    values = df[["open", "high", "low", "close", "volume"]].to_numpy(np.float64).copy()
    return df, Bars(("EURUSD",), index, {"EURUSD": values})


def synthetic_bars(
    n: int,
    rng: np.random.Generator,
    names: tuple[str, ...] = ("ASSET",),
    flat: bool = False,
    start: str = "2017-01-02 00:00",
    gap_every: int = 0,
) -> Bars:
    """Random-walk minute bars (``flat``: every price 1.1); ``gap_every`` adds 2-day gaps."""
    t = np.datetime64(start, "ns").astype(np.int64) + MINUTE * np.arange(n, dtype=np.int64)
    if gap_every:
        t = t + (np.arange(n) // gap_every) * 2 * 24 * 60 * MINUTE
    values = {}
    for name in names:
        if flat:
            c = np.full(n, 1.1)
            o, h, lo = c.copy(), c.copy(), c.copy()
        else:
            c = 1.1 * np.exp(np.cumsum(rng.normal(0, 3e-4, n)))
            o = np.concatenate([[c[0]], c[:-1]])
            h = np.maximum(o, c) * (1 + np.abs(rng.normal(0, 1e-4, n)))
            lo = np.minimum(o, c) * (1 - np.abs(rng.normal(0, 1e-4, n)))
        values[name] = np.column_stack([o, h, lo, c, np.zeros(n)])
    return Bars(tuple(names), t, values)


def synthetic_records(
    bars: Bars,
    rng: np.random.Generator,
    warmup: int = 30,
    trade_prob: float = 0.02,
    stake: float = 1000.0,
) -> dict[str, np.ndarray]:
    """Records of a random policy over ``bars`` after ``warmup`` bars (all assets).

    Fills are at the bar after the action, at that bar's open, as in the env.
    """
    n = len(bars) - warmup
    steps = np.arange(n)
    rec: dict[str, np.ndarray] = {
        "time": bars.index[warmup:].copy(),
        "step": steps.astype(np.int64),
    }
    value = np.full(n, 100_000.0)
    fills: list[tuple[int, int, int, float, float]] = []
    for a, name in enumerate(bars.names):
        px = bars.values[name]
        pos, cur, actions, positions = 0.0, 0.0, np.zeros(n, np.int64), np.zeros(n)
        for i in range(n):
            bar = warmup + i
            positions[i] = pos
            if bar + 1 >= len(bars) or rng.random() > trade_prob * 3:
                continue
            kind = int(rng.integers(1, 4))
            if kind == 3 and pos == 0:
                continue
            new = {1: pos + stake, 2: pos - stake, 3: 0.0}[kind]
            actions[i] = kind
            fills.append((bars.index[bar + 1], a, kind, px[bar + 1, 0], new - pos))
            pos = new
        close = px[warmup:, 3]
        cur = np.concatenate([[0.0], np.diff(close)]) * positions
        value = value + np.cumsum(cur)
        rec[f"position/{name}"] = positions
        rec[f"action/{name}"] = actions
    peak = np.maximum.accumulate(value)
    rec.update(
        reward=np.concatenate([[0.0], np.diff(value)]) / 100.0,
        broker_value=value,
        broker_cash=value.copy(),
        drawdown=1.0 - value / peak,
        realized_pnl=np.zeros(n),
        unrealized_pnl=value - 100_000.0,
    )
    fills.sort()
    cols = list(zip(*fills)) if fills else [[], [], [], [], []]
    rec.update(
        fill_time=np.array(cols[0], np.int64),
        fill_asset=np.array(cols[1], np.int64),
        fill_kind=np.array(cols[2], np.int64),
        fill_price=np.array(cols[3], np.float64),
        fill_size=np.array(cols[4], np.float64),
    )
    return rec


def backtrader_episode(
    n_bars: int = 1500,
    seed: int = 7,
    trade_prob: float = 0.02,
    skip: int = 0,
    stake: float = 20_000.0,
) -> tuple[dict[str, np.ndarray], Bars]:
    """Run a random-action ``bt.Strategy`` on EURUSD bars; return (records, bars)."""
    import backtrader as bt

    df, bars = load_eurusd(n_bars, skip)
    rng = np.random.default_rng(seed)
    recorder = _Recorder()

    class RandomTrader(bt.Strategy):
        def __init__(self) -> None:
            self.kinds: dict[int, int] = {}

        def notify_order(self, order: bt.Order) -> None:
            if order.status == order.Completed:
                recorder.fill(
                    bt.num2date(order.executed.dt),
                    self.kinds[order.ref],
                    order.executed.price,
                    order.executed.size,
                )

        def notify_trade(self, trade: bt.Trade) -> None:
            if trade.isclosed:
                recorder.realized += trade.pnlcomm

        def next(self) -> None:
            pos = self.position.size
            u, kind = rng.random(), 0
            if u < trade_prob and pos <= 0:
                kind, order = 1, self.buy(size=stake)
            elif u < 2 * trade_prob and pos >= 0:
                kind, order = 2, self.sell(size=stake)
            elif u < 3 * trade_prob and pos != 0:
                kind, order = 3, self.close()
            if kind:
                self.kinds[order.ref] = kind
            recorder.step(self, kind)

    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bt.feeds.PandasData(dataname=df, openinterest=None))
    cerebro.addstrategy(RandomTrader)
    cerebro.broker.setcash(100_000.0)
    cerebro.broker.setcommission(commission=0.00002)
    cerebro.run()
    return recorder.arrays(), bars


class _Recorder:
    """Collects the env's record keys from inside a backtrader strategy."""

    def __init__(self) -> None:
        self.rows: dict[str, list] = {}
        self.fills: dict[str, list] = {
            k: [] for k in ("fill_time", "fill_asset", "fill_kind", "fill_price", "fill_size")
        }
        self.realized, self.peak, self.prev = 0.0, -np.inf, None

    def step(self, strat, kind: int) -> None:
        value = strat.broker.getvalue()
        self.peak = max(self.peak, value)
        pos = strat.position
        row = {
            "time": _ns(strat.data.datetime.datetime(0)),
            "step": len(self.rows.get("time", [])),
            "reward": 0.0 if self.prev is None else (value - self.prev) / 100.0,
            "broker_value": value,
            "broker_cash": strat.broker.getcash(),
            "drawdown": 1.0 - value / self.peak,
            "realized_pnl": self.realized,
            "unrealized_pnl": pos.size * (strat.data.close[0] - pos.price) if pos.size else 0.0,
            "position/EURUSD": float(pos.size),
            "action/EURUSD": kind,
        }
        self.prev = value
        for k, v in row.items():
            self.rows.setdefault(k, []).append(v)

    def fill(self, when: dt.datetime, kind: int, price: float, size: float) -> None:
        for k, v in zip(self.fills, (_ns(when), 0, kind, price, size)):
            self.fills[k].append(v)

    def arrays(self) -> dict[str, np.ndarray]:
        out = {}
        for k, v in {**self.rows, **self.fills}.items():
            dtype = (
                np.int64
                if k in ("time", "step", "fill_time", "fill_asset", "fill_kind")
                or k.startswith("action/")
                else np.float64
            )
            out[k] = np.array(v, dtype=dtype)
        return out


def _ns(d: dt.datetime) -> int:
    return int(np.datetime64(d.replace(tzinfo=None), "ns").astype(np.int64))
