"""FeatureStream: the ``at="bars"`` values one closed base bar at a time.

It keeps, per resolution, the trailing rows of the dense grid (bins are left-closed and
left-labelled, exactly as :func:`btgym.features.grid.resample` builds them) and runs each
feature's batch kernel on that trailing window (``Ctx(last=True)``). So the stream equals
``compute_features(..., at="bars")`` row for row: bit for bit for elementwise kernels and
within 1e-12 for rolling ones, with the same NaN positions (``features.md`` §6).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from btgym.datafeed.bars import Bars
from btgym.errors import (
    ConfigError,
    DataValidationError,
    FeatureSpecError,
    FeatureUnavailableError,
    LookaheadError,
)
from btgym.features.base import Feature
from btgym.features.compute import as_features
from btgym.features.grid import MINUTE_NS
from btgym.features.kernels import Ctx
from btgym.features.orderbook import is_order_book


class _Group:
    """Stream state of the features of one resolution."""

    def __init__(
        self,
        minutes: int,
        timeframe: int,
        feats: list[tuple[int, Feature]],
        assets: tuple[str, ...],
        fill: int,
    ) -> None:
        self.minutes = minutes
        self.k = minutes // timeframe
        self.step = minutes * MINUTE_NS
        self.tf = timeframe * MINUTE_NS
        self.feats = feats
        self.assets = assets
        self.fill = fill
        self.lens = [f.extent + 1 for _, f in feats]
        self.L = max(self.lens)
        self.cap = self.L + fill + 1
        size = 2 * self.cap
        self.vals = {a: np.full((size, 5), np.nan) for a in assets}
        self.miss = np.ones(size, bool)
        self.stamps = np.zeros(size, np.int64)
        self.ptr = self.cap  # rows [0, ptr) hold data; the first cap are "before the grid"
        self.last_row: int | None = None  # grid stamp of the last emitted bin
        self.cur_bin: int | None = None
        self.cur_partial = False
        self.cur: dict[str, np.ndarray] = {}
        self.cached_b: int | None = None
        self.cached: np.ndarray = np.full(len(feats), np.nan)

    @property
    def warmup(self) -> int:
        return (self.L - 1 + 2) * self.k - 1

    # ------------------------------------------------------------------ grid rows

    def _push(self, stamp: int, rows: Mapping[str, np.ndarray] | None, missing: bool) -> None:
        if self.ptr == len(self.miss):  # compact: keep the last cap rows
            c = self.cap
            for a in self.assets:
                self.vals[a][:c] = self.vals[a][-c:]
            self.miss[:c] = self.miss[-c:]
            self.stamps[:c] = self.stamps[-c:]
            self.ptr = c
        p = self.ptr
        for a in self.assets:
            self.vals[a][p] = np.nan if rows is None else rows[a]
        self.miss[p] = missing
        self.stamps[p] = stamp
        self.ptr += 1

    def _emit(self, b: int) -> None:
        if self.last_row is not None:
            gap = (b - self.last_row) // self.step - 1
            closes = {a: self.vals[a][self.ptr - 1, 3] for a in self.assets}
            for i in range(max(0, gap - self.cap), gap):  # ≤ cap rows, never a data loop
                s = self.last_row + (i + 1) * self.step
                if i < self.fill:
                    synth = {a: np.array([c, c, c, c, 0.0]) for a, c in closes.items()}
                    self._push(s, synth, False)
                else:
                    self._push(s, None, True)
        self._push(b, self.cur, False)
        self.last_row = b

    def ingest(self, stamp: int, row: Mapping[str, np.ndarray], first: bool) -> None:
        b = (stamp // self.step) * self.step
        if self.cur_bin is not None and b != self.cur_bin:
            if not self.cur_partial:
                self._emit(self.cur_bin)
            self.cur_bin = None
        if self.cur_bin is None:
            self.cur_bin = b
            self.cur_partial = first and stamp > b
            self.cur = {a: row[a].copy() for a in self.assets}
        else:
            for a in self.assets:
                acc, r = self.cur[a], row[a]
                acc[1] = max(acc[1], r[1])
                acc[2] = min(acc[2], r[2])
                acc[3] = r[3]
                acc[4] += r[4]
        if stamp + self.tf >= b + self.step:  # the bin's last slot: it is complete
            if not self.cur_partial:
                self._emit(b)
            self.cur_bin = None

    # ------------------------------------------------------------------ values

    def values(self, stamp: int, default: str) -> np.ndarray:
        b = ((stamp + self.tf) // self.step) * self.step - self.step
        if b == self.cached_b:
            return self.cached
        out = np.full(len(self.feats), np.nan)
        if self.last_row == b:
            p, L = self.ptr, self.L
            win = {a: self.vals[a][p - L : p] for a in self.assets}
            ctx = Ctx(win, self.stamps[p - L : p], default, last=True)
            miss = self.miss
            with np.errstate(all="ignore"):
                for j, (_, f) in enumerate(self.feats):
                    if not miss[p - self.lens[j] : p].any():
                        out[j] = f.kernel(ctx)[-1]
        self.cached_b, self.cached = b, out
        return out


class FeatureStream:
    """Incremental features: one closed base bar in, the ``(F,)`` float64 vector out.

    Args:
        features: Feature objects, names or dicts (no labels: ``LookaheadError``).
        timeframe: base bar length in minutes.
        assets: asset names of the rows (``None``: one asset; rows are ``(5,)`` OHLCV).
        fill: bounded fill of missing grid rows, as in ``compute_features``.

    Raises:
        LookaheadError: a member with a lookforward.
        FeatureUnavailableError: an order-book feature, an unknown asset, a resolution
            finer than the base bars.
        FeatureSpecError: a resolution that is not a multiple of ``timeframe``.
    """

    def __init__(
        self,
        features: Iterable[Feature | str | Mapping[str, Any]] | Feature,
        timeframe: int,
        *,
        assets: Sequence[str] | None = None,
        fill: int | None = None,
    ) -> None:
        self.features: tuple[Feature, ...] = tuple(as_features(features))
        self.timeframe = int(timeframe)
        if self.timeframe <= 0:
            raise ConfigError(f"FeatureStream: timeframe must be positive, got {timeframe!r}")
        if fill is not None and (int(fill) != fill or fill < 0):
            raise ConfigError(f"FeatureStream: fill must be an int ≥ 0 or None, got {fill!r}")
        self.fill = None if fill is None else int(fill)
        named = sorted({a for f in self.features for a in f.assets("") if a})
        if assets is None:
            if len(named) > 1:
                raise ConfigError(f"FeatureStream: features read assets {named}; pass assets=")
            self.assets: tuple[str, ...] = (named[0] if named else "default_asset",)
            self._single = True
        else:
            self.assets = tuple(str(a) for a in assets)
            self._single = False
        for f in self.features:
            if is_order_book(f):
                raise f.unavailable()
            if f.is_label:
                raise LookaheadError(f"FeatureStream: {f.name} is a label (it reads the future)")
            f.check_complete()
            for a in f.assets(self.assets[0]):
                if a not in self.assets:
                    raise FeatureUnavailableError(
                        f"{f.name}: asset {a!r} is not one of the stream's assets {self.assets}"
                    )
            if f.minutes < self.timeframe:
                raise FeatureUnavailableError(
                    f"{f.name}: resolution finer than the {self.timeframe} min base bars"
                )
            if f.minutes % self.timeframe:
                raise FeatureSpecError(
                    f"{f.name}: resolution not a multiple of the {self.timeframe} min base bars"
                )
        by: dict[int, list[tuple[int, Feature]]] = {}
        for i, f in enumerate(self.features):
            by.setdefault(f.minutes, []).append((i, f))
        self._groups = [
            _Group(m, self.timeframe, fs, self.assets, self.fill or 0) for m, fs in by.items()
        ]
        self._cols = [np.array([i for i, _ in g.feats]) for g in self._groups]
        self._last: int | None = None

    @property
    def names(self) -> list[str]:
        """Canonical feature names (the order of the output vector)."""
        return [f.name for f in self.features]

    @property
    def warmup_bars(self) -> int:
        """Base bars of history needed: ``(extent + 2) * k − 1``, the most over resolutions."""
        return max(g.warmup for g in self._groups) if self._groups else 0

    @property
    def last_stamp(self) -> int | None:
        """The stamp of the last bar taken (int ns), or ``None``."""
        return self._last

    def _rows(self, row: Any) -> dict[str, np.ndarray]:
        if isinstance(row, Mapping):
            missing = [a for a in self.assets if a not in row]
            if missing:
                raise DataValidationError(f"FeatureStream.update: no row for asset(s) {missing}")
            out = {a: np.asarray(row[a], dtype=np.float64) for a in self.assets}
        elif self._single:
            out = {self.assets[0]: np.asarray(row, dtype=np.float64)}
        else:
            raise DataValidationError(
                f"FeatureStream.update: several assets {self.assets}: pass a mapping asset → row"
            )
        for a, r in out.items():
            if r.shape != (5,):
                raise DataValidationError(
                    f"FeatureStream.update: row of {a!r} has shape {r.shape}, expected (5,) OHLCV"
                )
        return out

    def _take(self, stamp_ns: int, row: Any) -> dict[str, np.ndarray]:
        stamp = int(stamp_ns)
        if self._last is not None and stamp <= self._last:
            raise DataValidationError(
                f"FeatureStream: stamp {np.datetime64(stamp, 'ns')} is not after the previous "
                f"bar's {np.datetime64(self._last, 'ns')} (state unchanged)",
                column="timestamp",
            )
        rows = self._rows(row)  # validated before any state changes
        first = self._last is None
        for g in self._groups:
            g.ingest(stamp, rows, first)
        self._last = stamp
        return rows

    def update(self, stamp_ns: int, row: Any) -> np.ndarray:
        """Take one closed base bar; return the ``(F,)`` ``at="bars"`` values at it.

        Raises:
            DataValidationError: a stamp not after the previous one (state unchanged), or
                a malformed row.
        """
        self._take(stamp_ns, row)
        out = np.empty(len(self.features))
        stamp = int(stamp_ns)
        for g, cols in zip(self._groups, self._cols):
            out[cols] = g.values(stamp, self.assets[0])
        return out

    def prime(self, bars: Bars) -> None:
        """Feed history without computing values (only the tail that can still matter
        when the stream is fresh)."""
        names = tuple(bars.names)
        if bars.timeframe != self.timeframe:
            raise ConfigError(
                f"FeatureStream.prime: bars of {bars.timeframe} min, stream of {self.timeframe}"
            )
        if self._single and len(names) != 1 and self.assets[0] not in names:
            raise ConfigError(f"FeatureStream.prime: which asset of {names}? pass assets=")
        keys = (
            self.assets
            if not self._single
            else ((self.assets[0],) if self.assets[0] in names else (names[0],))
        )
        for a in keys:
            if a not in names:
                raise FeatureUnavailableError(f"FeatureStream.prime: bars lack asset {a!r}")
        start = 0
        if self._last is None:
            k = max((g.k for g in self._groups), default=1)
            keep = self.warmup_bars + ((self.fill or 0) + 4) * k
            start = max(0, len(bars) - keep)
        idx = bars.index
        vals = [bars.values[a] for a in keys]
        for i in range(start, len(idx)):  # a stream takes bars one at a time
            row = {a: v[i] for a, v in zip(self.assets, vals)} if not self._single else vals[0][i]
            self._take(int(idx[i]), row)
