"""Sampling rules, computed once per reset so that every draw is O(log n).

A sample (trial or episode) is ``N = sample_duration // timeframe`` consecutive bars
(BTGym's fixed number of records). A start row ``i`` is **valid** when

- the window ``[i, i + N)`` fits in the data part it is drawn from;
- the data missing inside it is at most ``time_gap``:
  ``(t[i+N-1] - t[i]) - (N-1) * timeframe <= time_gap`` (so no single gap inside an
  episode is longer than ``time_gap + timeframe``: weekends are excluded unless
  ``time_gap`` allows them);
- the start's weekday is in ``start_weekdays`` (Monday = 0);
- with ``start_00``, the start is the first bar of its calendar day (usually 00:00).

Data parts (periods are wall-clock time measured back from the end, bars kept by
their open time): ``[train | test | target]``, where ``target_period`` is held out
(``BTgymDataset``) and ``test_period`` is the test part. Train samples lie wholly in
the train part and test samples wholly in the test part, so every train sample
precedes every test sample.

Drawing: the valid starts of a part are sorted; a train draw takes the start at rank
``floor(x * count)`` with ``x ~ Beta(b_alpha, b_beta)`` (1, 1: uniform over the valid
starts, which is exactly what BTGym's rejection loop converged to; a large
``b_alpha`` favours recent data). Test draws are uniform.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from btgym.datafeed.timeutil import (
    NS_PER_MINUTE,
    day_starts,
    duration_dict,
    duration_ns,
    posix_to_ns,
    weekday,
)
from btgym.errors import ConfigError, SamplingError, check_keywords

ALL_WEEKDAYS = (0, 1, 2, 3, 4, 5, 6)
ZERO = {"days": 0, "hours": 0, "minutes": 0}


@dataclass(frozen=True, kw_only=True)
class SampleParams:
    """How samples are cut from a dataset (the BTGym sampling keywords).

    Attributes:
        sample_duration: duration of a sample (dict of days/hours/minutes); the sample
            holds ``sample_duration // timeframe`` bars.
        time_gap: most data that may be missing inside a sample.
        start_00: start samples at the first bar of a day.
        start_weekdays: weekdays a sample may start on (Monday = 0).
        test_period: the test part at the end of the data (0: no test samples).
        target_period: a held-out part after the test part, never sampled.
        expanding: sequential domains: expanding instead of sliding trial windows.
    """

    sample_duration: Mapping[str, int] = field(
        default_factory=lambda: {"days": 1, "hours": 23, "minutes": 55}
    )
    time_gap: Mapping[str, int] = field(default_factory=lambda: {"days": 0, "hours": 5})
    start_00: bool = False
    start_weekdays: tuple[int, ...] = ALL_WEEKDAYS
    test_period: Mapping[str, int] = field(default_factory=lambda: dict(ZERO))
    target_period: Mapping[str, int] = field(default_factory=lambda: dict(ZERO))
    expanding: bool = False

    def __post_init__(self) -> None:
        for f in ("sample_duration", "time_gap", "test_period", "target_period"):
            object.__setattr__(self, f, duration_dict(getattr(self, f), f))
        days = tuple(sorted({int(d) for d in (self.start_weekdays or ALL_WEEKDAYS)}))
        if any(d < 0 or d > 6 for d in days):
            raise ConfigError(f"start_weekdays must be in 0..6 (Monday=0), got {days}")
        object.__setattr__(self, "start_weekdays", days)
        object.__setattr__(self, "start_00", bool(self.start_00))
        object.__setattr__(self, "expanding", bool(self.expanding))

    @classmethod
    def from_dict(
        cls,
        params: Mapping[str, Any] | None,
        where: str = "sampling params",
        allowed: tuple[str, ...] | None = None,
        base: SampleParams | None = None,
    ) -> SampleParams:
        """Build from a BTGym params dict (``episode_duration`` is an alias of
        ``sample_duration``), on top of ``base``; keys outside ``allowed`` raise
        ``UnknownKeywordError``."""
        params = dict(params or {})
        if "episode_duration" in params:
            params["sample_duration"] = params.pop("episode_duration")
        names = allowed or tuple(f.name for f in dataclasses.fields(cls))
        check_keywords(params.keys(), names, where)
        params = {k: v for k, v in params.items() if v is not None}
        return dataclasses.replace(base or cls(), **params)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict."""
        d = dataclasses.asdict(self)
        d["start_weekdays"] = list(self.start_weekdays)
        return d

    def num_rows(self, timeframe: int) -> int:
        """Bars in one sample."""
        n = duration_ns(self.sample_duration) // (timeframe * NS_PER_MINUTE)
        if n < 1:
            raise ConfigError(
                f"sample_duration {self.sample_duration} is shorter than one {timeframe}-minute bar"
            )
        return int(n)


def valid_start_mask(
    index: np.ndarray, n: int, tf_ns: int, params: SampleParams, prev_stamp: int | None = None
) -> np.ndarray:
    """Boolean mask over all rows: a window of ``n`` bars may start there (ignoring
    which data part it must lie in)."""
    size = len(index)
    mask = np.zeros(size, dtype=bool)
    m = size - n + 1
    if m <= 0:
        return mask
    head = index[:m]
    missing = (index[n - 1 :] - head) - (n - 1) * tf_ns
    ok = missing <= duration_ns(params.time_gap)
    if params.start_weekdays != ALL_WEEKDAYS:
        ok &= np.isin(weekday(head), params.start_weekdays)
    if params.start_00:
        ok &= day_starts(index, prev_stamp)[:m]
    mask[:m] = ok
    return mask


def split_rows(index: np.ndarray, tf_ns: int, test_ns: int, holdout_ns: int = 0) -> tuple[int, int]:
    """``(train_end, test_end)`` rows: train ``[0, train_end)``, test
    ``[train_end, test_end)``, held out ``[test_end, n)``."""
    n = len(index)
    if not n:
        return 0, 0
    test_end = int(np.searchsorted(index, index[-1] + tf_ns - holdout_ns)) if holdout_ns else n
    if not test_ns or not test_end:
        return test_end, test_end
    train_end = int(np.searchsorted(index, index[test_end - 1] + tf_ns - test_ns))
    return train_end, test_end


def starts_in(mask_rows: np.ndarray, lo: int, hi: int, n: int) -> np.ndarray:
    """Valid start rows (sorted) whose window ``[i, i+n)`` lies in ``[lo, hi)``."""
    a = np.searchsorted(mask_rows, lo)
    b = np.searchsorted(mask_rows, hi - n, side="right")
    return mask_rows[a:b]


def pick_start(
    starts: np.ndarray,
    rng: np.random.Generator,
    n: int,
    b_alpha: float = 1.0,
    b_beta: float = 1.0,
    limit_row: int | None = None,
    what: str = "sample",
) -> int:
    """Draw one start row (see module docs); O(log n).

    Args:
        limit_row: the window must end before this row (``timestamp`` bound).
    """
    count = len(starts)
    if limit_row is not None:
        count = int(np.searchsorted(starts, limit_row - n, side="right"))
    if count <= 0:
        raise SamplingError(f"no valid {what} start before the given timestamp")
    x = rng.random() if b_alpha == 1.0 and b_beta == 1.0 else rng.beta(b_alpha, b_beta)
    return int(starts[min(int(x * count), count - 1)])


def limit_row_of(index: np.ndarray, timestamp: float | None) -> int | None:
    """First row whose bar opens at or after ``timestamp`` (POSIX seconds)."""
    if timestamp is None:
        return None
    return int(np.searchsorted(index, posix_to_ns(timestamp)))


def explain_no_start(
    index: np.ndarray,
    lo: int,
    hi: int,
    n: int,
    tf_ns: int,
    params: SampleParams,
    prev_stamp: int | None,
    what: str,
) -> str:
    """Why a data part holds no valid start (for SamplingError messages)."""
    rows = hi - lo
    if rows < n:
        return (
            f"the {what} part holds {rows} bars but one sample needs {n} bars "
            f"(sample_duration={dict(params.sample_duration)}, "
            f"timeframe {tf_ns // NS_PER_MINUTE} min)"
        )
    part = index[lo:hi]
    prev = prev_stamp if lo == 0 else int(index[lo - 1])
    m = rows - n + 1
    gap_ok = int(
        ((part[n - 1 :] - part[:m]) - (n - 1) * tf_ns <= duration_ns(params.time_gap)).sum()
    )
    day_ok = int(np.isin(weekday(part[:m]), params.start_weekdays).sum())
    s00 = int(day_starts(part, prev)[:m].sum()) if params.start_00 else m
    return (
        f"no start in the {what} part ({rows} bars, {m} windows of {n} bars) meets every rule: "
        f"{gap_ok} within time_gap={dict(params.time_gap)}, {day_ok} on start_weekdays="
        f"{list(params.start_weekdays)}, {s00} at a day start (start_00={params.start_00})"
    )
