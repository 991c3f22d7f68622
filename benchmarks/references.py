"""The two references every env-speed benchmark prints beside btgym (DESIGN §5).

1. **floor**: an empty backtrader strategy in a child process sends a 30×4 float32
   OHLC window per bar over ZeroMQ ``ipc`` and waits for one byte back. Nothing with
   this architecture (env process ↔ backtrader process) can step faster.
2. **backtrader alone**: the same strategy doing the same window work in-process,
   with no env and no IPC.

Both use plain backtrader on the same bars; the feed is btgym's array-backed feed
(``btgym.datafeed.make_feed``), as in the envs.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from pathlib import Path

import backtrader as bt
import numpy as np
import pandas as pd
import zmq

WINDOW = 30
#: the bundled market data (a copy of the project's shared data); ``--data-dir`` overrides
DATA_DIR = Path(__file__).resolve().parents[1] / "tests" / "data"
#: seconds the floor waits for its child's next bar before calling it dead
FLOOR_TIMEOUT = 60.0


def load_bars(n: int, data_dir: Path = DATA_DIR) -> pd.DataFrame:
    """The first ``n`` EURUSD 1-minute bars (Jan 2017) as an OHLCV frame."""
    df = pd.read_csv(
        data_dir / "DAT_ASCII_EURUSD_M1_201701.csv",
        sep=";",
        header=None,
        names=["dt", "open", "high", "low", "close", "volume"],
        nrows=n,
    )
    df.index = pd.to_datetime(df.pop("dt"), format="%Y%m%d %H%M%S")
    return df.astype("float64")


def make_feed(df: pd.DataFrame) -> bt.feed.DataBase:
    """The same array-backed feed btgym's envs use (a fair comparison)."""
    from btgym.datafeed import Bars
    from btgym.datafeed import make_feed as btgym_feed

    return btgym_feed(Bars.from_frames({"asset": df}), "asset")


class _WindowStrategy(bt.Strategy):
    """Builds the last-30-bars OHLC window each bar from preconverted arrays and hands
    it to ``sink`` (``None``: drop it). With ``trade=True`` it also places the random
    agent's market orders (seeded: hold, buy, sell, close with a fixed stake), so a
    random env agent can be compared with the same backtrader order work."""

    params = (("ohlc", None), ("sink", None), ("trade", False), ("stake", 10.0))

    def start(self) -> None:
        self.count = 0
        self.actions = np.random.default_rng(0).integers(4, size=len(self.p.ohlc) + 1)

    def next(self) -> None:
        i = len(self)
        lo = max(0, i - WINDOW)
        window = np.zeros((WINDOW, 4), np.float32)
        window[WINDOW - (i - lo) :] = self.p.ohlc[lo:i]
        self.count += 1
        if self.p.trade:
            action = self.actions[i]
            if action == 1:
                self.buy(size=self.p.stake)
            elif action == 2:
                self.sell(size=self.p.stake)
            elif action == 3:
                self.close()
        if self.p.sink is not None:
            self.p.sink(window)


def _cerebro(df: pd.DataFrame, **strategy: object) -> bt.Cerebro:
    """Plain backtrader with the env's default broker settings."""
    from btgym.strategy import BrokerConfig

    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(make_feed(df))
    BrokerConfig().apply(cerebro)
    ohlc = df[["open", "high", "low", "close"]].to_numpy(np.float32)
    cerebro.addstrategy(_WindowStrategy, ohlc=ohlc, **strategy)
    return cerebro


def backtrader_alone(df: pd.DataFrame, trade: bool = False) -> float:
    """Bars per second of plain backtrader doing the window work (and, with ``trade``,
    the random orders), no env, no IPC."""
    return backtrader_alone_split(df, trade)["steps_s"]


def backtrader_alone_split(df: pd.DataFrame, trade: bool = False) -> dict[str, float]:
    """:func:`backtrader_alone` with its CPU time: ``{"steps_s", "parent_us"}`` (µs of
    CPU per bar, ``time.process_time``: what a loaded machine does not inflate)."""
    cerebro = _cerebro(df, trade=trade)
    t0, c0 = time.perf_counter(), time.process_time()
    strat = cerebro.run()[0]
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"steps_s": strat.count / wall, "parent_us": cpu / strat.count * 1e6, "child_us": 0.0}


def _floor_child(endpoint: str, n: int, trade: bool, data_dir: Path) -> None:
    df = load_bars(n, data_dir)
    sock = zmq.Context.instance().socket(zmq.REQ)
    sock.connect(endpoint)

    def sink(window: np.ndarray) -> None:
        sock.send(window, copy=False)
        sock.recv()

    _cerebro(df, trade=trade, sink=sink).run()
    sock.send(b"")  # end marker
    sock.recv()
    sock.close(linger=0)


def floor(n: int, trade: bool = False, data_dir: Path = DATA_DIR) -> float:
    """Steps per second of the floor (child backtrader ↔ parent, one round trip per
    bar); with ``trade`` the child also places the random orders.

    Raises:
        RuntimeError: the child died or went silent (e.g. no data in ``data_dir``).
    """
    return floor_split(n, trade, data_dir)["steps_s"]


def floor_split(n: int, trade: bool = False, data_dir: Path = DATA_DIR) -> dict[str, float]:
    """:func:`floor` with the CPU split: ``{"steps_s", "parent_us", "child_us"}`` (µs of
    CPU per step in this process and in the backtrader child)."""
    import shutil
    import tempfile

    import psutil

    tmp = tempfile.mkdtemp(prefix="btgym-bench-")
    sock = zmq.Context.instance().socket(zmq.REP)
    try:
        endpoint = f"ipc://{tmp}/floor.sock"
        sock.bind(endpoint)
        child = mp.get_context("spawn").Process(
            target=_floor_child, args=(endpoint, n, trade, Path(data_dir))
        )
        child.start()

        def receive(copy: bool = True) -> object:
            while not sock.poll(1000):  # never hang on a child that died
                if not child.is_alive() or time.perf_counter() - t_wait > FLOOR_TIMEOUT:
                    child.kill()
                    sock.close(linger=0)
                    raise RuntimeError(
                        f"the floor's child died or went silent (exit code {child.exitcode}); "
                        f"is DAT_ASCII_EURUSD_M1_201701.csv in {data_dir}?"
                    )
            return sock.recv(copy=copy)

        def child_cpu() -> float:
            times = psutil.Process(child.pid).cpu_times()
            return times.user + times.system

        reply = b"\x00"
        steps = 0
        t_wait = time.perf_counter()
        receive()  # first bar: start timing after the child is up
        cc0, c0, t0 = child_cpu(), time.process_time(), time.perf_counter()
        while True:
            sock.send(reply)
            t_wait = time.perf_counter()
            msg = receive(copy=False)
            if len(msg) == 0:
                elapsed, cpu, cc = time.perf_counter() - t0, time.process_time() - c0, child_cpu()
                sock.send(reply)
                break
            steps += 1
        child.join(10)
    finally:  # also when the child died: no socket file or folder left behind
        sock.close(linger=0)
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "steps_s": steps / elapsed,
        "parent_us": cpu / steps * 1e6,
        "child_us": (cc - cc0) / steps * 1e6,
    }


if __name__ == "__main__":
    bars = load_bars(20_000)
    for trade in (False, True):
        print(
            f"trade={trade}: backtrader alone {backtrader_alone(bars, trade):,.0f} bars/s, "
            f"floor {floor(20_000, trade, DATA_DIR):,.0f} steps/s"
        )
