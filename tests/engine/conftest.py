"""Fixtures of the vector-engine tests: real data (tests/data), real backtrader envs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from btgym.datafeed import Bars, BTgymDataset, Episode

EURUSD = "DAT_ASCII_EURUSD_M1_201701.csv"

#: bounded observation leaves of the engine env tests (every leaf finite)
BOUNDED = {
    "raw": ((30, 4), 0.0, 10.0),
    "internal": ((7,), -100.0, 100.0),
    "metadata": ((5,), -1e12, 1e12, "float64"),
}


def kw(eurusd, **over):
    """Keywords of a short bounded engine env on ``eurusd``; ``over`` replaces any."""
    out = dict(
        filename=eurusd,
        episode_duration={"hours": 1},
        start_cash=100.0,
        drawdown_call=5,
        target_call=5,
        fixed_stake=100,
        leverage=10,
        state_shape=BOUNDED,
    )
    out.update(over)
    return out


def eurusd_frame(path: Path, rows: int = 12_000) -> pd.DataFrame:
    """The first ``rows`` bars of the bundled EURUSD January file as a frame."""
    df = pd.read_csv(
        path / EURUSD,
        sep=";",
        header=None,
        nrows=rows,
        names=["dt", "open", "high", "low", "close", "volume"],
    )
    df.index = pd.to_datetime(df.pop("dt"), format="%Y%m%d %H%M%S")
    return df.astype(float)


def second_asset(df: pd.DataFrame, seed: int = 3) -> pd.DataFrame:
    """Another asset on *different stamps*: every 7th bar missing, another price level
    (so the data layer aligns the two on the intersection of their stamps)."""
    rng = np.random.default_rng(seed)
    keep = np.ones(len(df), bool)
    keep[::7] = False
    out = df.loc[keep].copy()
    scale = 1.3 + 0.01 * np.cumsum(rng.normal(0, 0.01, len(out)))
    for c in ("open", "high", "low", "close"):
        out[c] = out[c] * scale
    return out


@pytest.fixture(scope="session")
def eurusd(shared_data) -> str:
    return str(shared_data / EURUSD)


@pytest.fixture(scope="session")
def two_frames(shared_data) -> dict[str, pd.DataFrame]:
    df = eurusd_frame(shared_data)
    return {"eur": df, "alt": second_asset(df)}


class ListSource:
    """A data source handing out given episodes in turn (cycling): the same episodes
    for the backtrader env and for each lane of the vector env."""

    is_ready = True

    def __init__(self, episodes: list[Episode]) -> None:
        self.episodes = list(episodes)
        self.data_names = tuple(episodes[0].bars.names)
        self.i = 0

    def reset(self, seed=None, **_) -> None:
        self.i = 0

    def sample(self, **_) -> Episode:
        ep = self.episodes[self.i % len(self.episodes)]
        self.i += 1
        return ep


def sample_episodes(n: int, seed: int, **data_kw) -> list[Episode]:
    """``n`` episodes from a real ``BTgymDataset`` (train and test samples)."""
    ds = BTgymDataset(**data_kw)
    ds.reset(seed=seed)
    return [
        ds.sample(sample_type=i % 2 if ds.test_interval[1] > ds.test_interval[0] else 0)
        for i in range(n)
    ]


def bars_of(frames: dict[str, pd.DataFrame]) -> Bars:
    return Bars.from_frames(frames)


BACKENDS = ["numpy", "numba"]


@pytest.fixture(params=BACKENDS)
def backend(request):
    """Both engine backends (numba skipped where it is not installed)."""
    if request.param == "numba":
        from btgym.engine.kernel import HAVE_NUMBA

        if not HAVE_NUMBA:
            pytest.skip("numba is not installed (pip install 'btgym[fast]')")
    return request.param
