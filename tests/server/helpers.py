"""Module-level sources and strategies for the server tests (importable by children)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from btgym.datafeed import Bars, BTgymRandomDataDomain, Episode, RandomWalkSource, SampleMeta
from btgym.strategy import BTgymBaseStrategy


def make_domain(num_bars: int = 6000, seed: int = 0, hours: int = 4, name: str = "asset"):
    """A random-walk domain: 1-day trials, ``hours``-long episodes, no gaps."""
    return BTgymRandomDataDomain(
        filename=RandomWalkSource(num_bars=num_bars, seed=seed, name=name),
        data_names=(name,),
        trial_params={"sample_duration": {"days": 1}, "time_gap": {"hours": 1}},
        episode_params={"sample_duration": {"hours": hours}, "time_gap": {"hours": 1}},
        seed=seed,
    )


def frame(n: int, seed: int = 0, start: str = "2017-01-02 00:00") -> pd.DataFrame:
    """A positive random-walk OHLCV frame of ``n`` one-minute bars."""
    rng = np.random.default_rng(seed)
    close = 100.0 + np.cumsum(rng.normal(0.0, 0.1, n))
    open_ = np.concatenate(([100.0], close[:-1]))
    high = np.maximum(open_, close) + rng.uniform(0, 0.05, n)
    low = np.minimum(open_, close) - rng.uniform(0, 0.05, n)
    index = pd.date_range(start, periods=n, freq="1min")
    return pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": 0.0}, index=index
    )


class FixedTrial:
    """A trial that always hands out the same episode (bars we control)."""

    def __init__(self, bars: Bars) -> None:
        self.bars = bars

    def reset(self, seed=None) -> None:
        pass

    def sample(self, **kwargs) -> Episode:
        n = len(self.bars)
        meta = SampleMeta(
            type=0, trial_num=0, trial_type=0, sample_num=0, first_row=0, source_row=0,
            num_rows=n, timestamp=int(self.bars.index[0]) / 1e9,
            last_timestamp=int(self.bars.index[-1]) / 1e9, name="fixed",
        )  # fmt: skip
        return Episode(self.bars, meta)


class FixedSource:
    """A trial source over one fixed set of bars (``Bars.from_frames``)."""

    def __init__(self, frames: dict[str, pd.DataFrame]) -> None:
        self.bars = Bars.from_frames(frames)

    def sample(self, **kwargs) -> FixedTrial:
        return FixedTrial(self.bars)


class RaisingRewardStrategy(BTgymBaseStrategy):
    """Raises in ``get_reward`` at the third step."""

    def get_reward(self) -> float:
        if self.step_count == 3:
            raise ValueError("boom in get_reward")
        return super().get_reward()


class DoneAtStepStrategy(BTgymBaseStrategy):
    """``get_done`` ends the episode at step 5; ``get_info`` adds a key."""

    def get_done(self) -> bool:
        return self.step_count >= 5

    def get_info(self) -> dict:
        info = super().get_info()
        info["custom"] = self.step_count * 2
        return info


class CloseStateStrategy(BTgymBaseStrategy):
    """A custom observation key: the last close, shape (1,)."""

    def get_close_state(self):
        return np.array([self.bars.values[self.asset_names[0]][self.bar_index, 3]])


class SlowStepStrategy(BTgymBaseStrategy):
    """Sleeps 3 s in ``get_done`` at step 2 (a stuck server)."""

    def get_done(self) -> bool:
        if self.step_count == 2:
            import time

            time.sleep(3.0)
        return False
