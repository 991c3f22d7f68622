"""A user's feed factory for ``btgym live model --source tests.live.feeds:eurusd_feed``."""

from __future__ import annotations

from pathlib import Path

from btgym.datafeed import load_bars
from btgym.live.sources import IteratorSource

DATA = Path(__file__).resolve().parents[1] / "data" / "DAT_ASCII_EURUSD_M1_201701.csv"


def eurusd_feed() -> IteratorSource:
    bars = load_bars(DATA).slice(0, 20)
    rows = zip(bars.index.tolist(), bars.values["default_asset"])
    return IteratorSource(rows, timeframe=1, asset_names=["EURUSD"])
