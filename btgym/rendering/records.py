"""Read the server's per-step records and an episode's bars into plain arrays.

The renderers never touch the raw dicts: :func:`parse_records` checks them once
(equal lengths, known fill kinds) and returns an :class:`EpisodeRecords`;
:class:`TimeAxis` maps bar timestamps (int64 ns) to x positions. Records are
defined in ``docs/internals.md``: per-step ``time``, ``step``, ``reward``,
``broker_value``, ``broker_cash``, ``drawdown``, ``realized_pnl``,
``unrealized_pnl``, ``position/<asset>``, ``action/<asset>``; one row per fill in
``fill_time``, ``fill_asset``, ``fill_kind`` (1 buy, 2 sell, 3 close),
``fill_price``, ``fill_size``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from btgym.errors import RenderError
from btgym.records import FILL_KEYS, STEP_FLOAT_KEYS

#: ``fill_kind`` codes and their names (the same in every mode).
FILL_KINDS = {1: "buy", 2: "sell", 3: "close"}


@dataclass(frozen=True)
class Fills:
    """Executed orders, one row each (see ``FILL_KEYS``)."""

    time: np.ndarray
    asset: np.ndarray
    kind: np.ndarray
    price: np.ndarray
    size: np.ndarray

    def __len__(self) -> int:
        return len(self.time)

    def select(self, kind: int, asset: int | None = None) -> np.ndarray:
        """Boolean mask of the fills of ``kind`` (and ``asset`` when given)."""
        mask = self.kind == kind
        if asset is not None:
            mask &= self.asset == asset
        return mask

    def counts(self) -> dict[str, int]:
        """Number of fills per kind name."""
        return {name: int(np.count_nonzero(self.kind == k)) for k, name in FILL_KINDS.items()}


@dataclass(frozen=True)
class EpisodeRecords:
    """Checked per-step columns and fills of one episode."""

    time: np.ndarray  # int64 ns, one per step
    columns: dict[str, np.ndarray]  # float64 per-step columns present in the records
    positions: dict[str, np.ndarray]  # asset -> float64 position per step
    fills: Fills
    step: np.ndarray | None = None  # int64 env step numbers (0 at reset), when recorded

    def __len__(self) -> int:
        return len(self.time)

    @property
    def last_step(self) -> int:
        """The env step of the latest row (row 0 is the reset: step 0); rows without
        a ``step`` column count from 1."""
        if self.step is not None and len(self.step):
            return int(self.step[-1])
        return len(self.time)

    def column(self, key: str) -> np.ndarray | None:
        """A float64 per-step column, or ``None`` when the records lack it."""
        return self.columns.get(key)


def parse_records(records: Mapping[str, Any] | None) -> EpisodeRecords:
    """Check and convert a records dict (``None`` or ``{}`` give an empty episode).

    Raises:
        RenderError: records are not a mapping, columns differ in length, a step
            column exists without ``time``, or a fill kind is unknown.
    """
    if records is None:
        records = {}
    if not isinstance(records, Mapping):
        raise RenderError(f"records: expected a dict of arrays, got {type(records).__name__}")
    arrays = {str(k): np.asarray(v) for k, v in records.items()}
    step_keys = [k for k in arrays if not k.startswith("fill_")]
    n = _common_length(arrays, step_keys, "per-step")
    if n and "time" not in arrays:
        raise RenderError("records: per-step columns are present but 'time' is missing")
    time = _as_ns(arrays["time"], "time") if "time" in arrays else np.zeros(0, np.int64)
    columns = {k: _as_float(arrays[k], k) for k in STEP_FLOAT_KEYS if k in arrays}
    positions = {
        k.split("/", 1)[1]: _as_float(arrays[k], k) for k in step_keys if k.startswith("position/")
    }
    step = arrays["step"].astype(np.int64) if "step" in arrays else None
    return EpisodeRecords(time, columns, positions, _fills(arrays), step)


def _common_length(arrays: dict[str, np.ndarray], keys: list[str], what: str) -> int:
    lengths = {}
    for key in keys:
        if arrays[key].ndim != 1:
            raise RenderError(f"records[{key!r}]: expected a 1-d array, got {arrays[key].shape}")
        lengths[key] = len(arrays[key])
    if len(set(lengths.values())) > 1:
        raise RenderError(f"records: {what} columns differ in length: {lengths}")
    return next(iter(lengths.values()), 0)


def _fills(arrays: dict[str, np.ndarray]) -> Fills:
    present = [k for k in FILL_KEYS if k in arrays]
    m = _common_length(arrays, present, "fill")
    if m and len(present) != len(FILL_KEYS):
        missing = sorted(set(FILL_KEYS) - set(present))
        raise RenderError(f"records: fills are present but {missing} are missing")
    if not m:
        empty_i, empty_f = np.zeros(0, np.int64), np.zeros(0, np.float64)
        return Fills(empty_i, empty_i, empty_i, empty_f, empty_f)
    kind = arrays["fill_kind"].astype(np.int64)
    bad = sorted(set(np.unique(kind).tolist()) - set(FILL_KINDS))
    if bad:
        raise RenderError(
            f"records['fill_kind']: unknown kinds {bad}; expected 1 buy, 2 sell, 3 close"
        )
    return Fills(
        time=_as_ns(arrays["fill_time"], "fill_time"),
        asset=arrays["fill_asset"].astype(np.int64),
        kind=kind,
        price=_as_float(arrays["fill_price"], "fill_price"),
        size=_as_float(arrays["fill_size"], "fill_size"),
    )


def _as_ns(a: np.ndarray, key: str) -> np.ndarray:
    if np.issubdtype(a.dtype, np.datetime64):
        return a.astype("datetime64[ns]").view(np.int64)
    if not np.issubdtype(a.dtype, np.integer):
        raise RenderError(f"records[{key!r}]: expected int64 nanoseconds, got dtype {a.dtype}")
    return a.astype(np.int64, copy=False)


def _as_float(a: np.ndarray, key: str) -> np.ndarray:
    try:
        return a.astype(np.float64, copy=False)
    except (TypeError, ValueError):
        raise RenderError(f"records[{key!r}]: expected numbers, got dtype {a.dtype}") from None


# --------------------------------------------------------------------------- bars


def check_bars(bars: Any) -> None:
    """Raise :class:`RenderError` unless ``bars`` looks like ``btgym.datafeed.Bars``."""
    for attr in ("names", "index", "values"):
        if not hasattr(bars, attr):
            raise RenderError(f"bars: {type(bars).__name__} has no attribute {attr!r}")
    n = len(bars.index)
    for name in bars.names:
        shape = np.shape(bars.values[name])
        if len(shape) != 2 or shape[0] != n or shape[1] < 4:
            raise RenderError(f"bars.values[{name!r}]: expected ({n}, 5) OHLCV, got {shape}")


def bar_times(bars: Any) -> np.ndarray:
    """The bars' open times as int64 ns."""
    return _as_ns(np.asarray(bars.index), "bars.index")


def asset_names(rec: EpisodeRecords, bars: Any | None) -> tuple[str, ...]:
    """Traded asset names in ``fill_asset`` order.

    The records' ``position/<asset>`` columns name the traded assets in the
    strategy's order (bars may hold more data lines than are traded); without
    them the bars' names, else ``"asset <i>"``.
    """
    if rec.positions:
        return tuple(rec.positions)
    if bars is not None:
        return tuple(str(n) for n in bars.names)
    if len(rec.fills):
        return tuple(f"asset {i}" for i in range(int(rec.fills.asset.max()) + 1))
    return ()


def has_prices(bars: Any | None, name: str) -> bool:
    """Whether ``bars`` hold the prices of asset ``name``."""
    return bars is not None and len(bars.index) > 0 and name in bars.names


# --------------------------------------------------------------------------- time axis


class TimeAxis:
    """Maps int64 ns timestamps to x = bar number on a gap-free axis.

    Market data has nights and weekends; plotting against bar number instead of
    wall time keeps those gaps out of the chart, and :mod:`.timeaxis` puts the
    dates back on the ticks.

    Args:
        times: strictly increasing int64 ns (a bar index), at least one.
    """

    def __init__(self, times: np.ndarray) -> None:
        self.times = np.asarray(times, np.int64)
        self._t0 = int(self.times[0])
        self._offsets = (self.times - self._t0).astype(np.float64)
        self._steps = np.arange(len(self.times), dtype=np.float64)

    @classmethod
    def of(cls, rec: EpisodeRecords, bars: Any | None) -> TimeAxis:
        """The bars' index when there are bars, else the records' and fills' times."""
        if bars is not None and len(bars.index):
            return cls(bar_times(bars))
        times = np.unique(np.concatenate([rec.time, rec.fills.time]))
        return cls(times if len(times) else np.zeros(1, np.int64))

    def __len__(self) -> int:
        return len(self.times)

    def x(self, t: np.ndarray) -> np.ndarray:
        """x positions of ``t`` (interpolated between bars, clamped at the ends)."""
        if len(self.times) == 1:
            return np.zeros(len(t))
        return np.interp(
            (np.asarray(t, np.int64) - self._t0).astype(np.float64), self._offsets, self._steps
        )


# --------------------------------------------------------------------------- statistics


def summary(rec: EpisodeRecords) -> dict[str, Any]:
    """Final statistics of an episode (keys absent when the records lack the column)."""
    out: dict[str, Any] = {"steps": rec.last_step if len(rec) else 0}
    if len(rec):
        out["start"], out["end"] = int(rec.time[0]), int(rec.time[-1])
    value = _finite(rec.column("broker_value"))
    if value is not None and len(value):
        out["start_value"], out["final_value"] = float(value[0]), float(value[-1])
        if value[0] != 0:
            out["return_pct"] = 100.0 * (value[-1] / value[0] - 1.0)
    dd = _finite(rec.column("drawdown"))
    if dd is not None and len(dd):
        out["max_drawdown_pct"] = 100.0 * float(dd.max())
    reward = _finite(rec.column("reward"))
    if reward is not None:
        out["total_reward"] = float(reward.sum())
    pnl = _finite(rec.column("realized_pnl"))
    if pnl is not None and len(pnl):
        out["realized_pnl"] = float(pnl[-1])
    out["fills"] = rec.fills.counts()
    return out


def _finite(a: np.ndarray | None) -> np.ndarray | None:
    return None if a is None else a[np.isfinite(a)]
