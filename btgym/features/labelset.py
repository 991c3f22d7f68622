"""FeatureLabelSet: features plus labels of one resolution, and leak-proof splits.

``split()`` computes each split's data separately (labels are truncated at each split's
end: the embargo), drops NaN rows, fits the Scaler and the Bucketizer on train only,
rebalances train only, and names the split and the step of any empty result.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from btgym.datafeed.bars import Bars
from btgym.errors import ConfigError, FeatureSpecError, LookaheadError
from btgym.features.base import Feature, parse_resolution
from btgym.features.compute import as_features, compute_features, validate_features
from btgym.features.dataset import Dataset, DatasetInfo, make_windows
from btgym.features.grid import MINUTE_NS
from btgym.features.splitting import run_split
from btgym.log import get_logger

log = get_logger(__name__)

__all__ = ["Dataset", "DatasetInfo", "FeatureLabelSet", "make_windows", "to_ns"]


def to_ns(t: Any) -> int | None:
    """A stamp (str, Timestamp, datetime64, int ns) as int ns; ``None`` stays ``None``."""
    if t is None:
        return None
    if isinstance(t, (int, np.integer)) and not isinstance(t, bool):
        return int(t)
    ts = pd.Timestamp(t)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return int(ts.as_unit("ns").value)


class FeatureLabelSet:
    """Features and labels of one resolution.

    Args:
        features: Feature objects, names or dicts (no lookforward: ``LookaheadError``).
        labels: label features (each with a lookforward, unless
            ``allow_contemporaneous_label``).
        name: a display name (default: derived from the digest).
        fill: bounded fill of missing grid rows (``None``: no fill).
        allow_contemporaneous_label: accept labels without a lookforward.

    Raises:
        FeatureSpecError: mixed resolutions, duplicate names, a label without lookforward.
        LookaheadError: a feature with a lookforward.
    """

    def __init__(
        self,
        features: Iterable[Feature | str | Mapping[str, Any]],
        labels: Iterable[Feature | str | Mapping[str, Any]] | Feature | str,
        name: str | None = None,
        *,
        fill: int | None = None,
        allow_contemporaneous_label: bool = False,
    ) -> None:
        feats = as_features(list(features))
        labs = as_features(labels if not isinstance(labels, (Feature, str)) else [labels])
        members = feats + labs
        if not feats:
            raise FeatureSpecError("a FeatureLabelSet needs at least one feature")
        if not labs:
            raise FeatureSpecError("a FeatureLabelSet needs at least one label")
        res = sorted({f.res for f in members})
        if len(res) > 1:
            by = {r: [f.name for f in members if f.res == r] for r in res}
            raise FeatureSpecError(f"a FeatureLabelSet needs one resolution, got {by}")
        names = [f.name for f in members]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise FeatureSpecError(f"FeatureLabelSet: a name appears twice: {dup}")
        for f in feats:
            if f.is_label:
                raise LookaheadError(
                    f"feature {f.name} has a lookforward: it reads the future; "
                    f"put it in labels instead"
                )
        if not allow_contemporaneous_label:
            for f in labs:
                if not f.is_label:
                    raise FeatureSpecError(
                        f"label {f.name} has no lookforward (set "
                        f"allow_contemporaneous_label=True to accept it)"
                    )
        if fill is not None and (int(fill) != fill or fill < 0):
            raise ConfigError(f"FeatureLabelSet: fill must be an int ≥ 0 or None, got {fill!r}")
        self.features: tuple[Feature, ...] = tuple(feats)
        self.labels: tuple[Feature, ...] = tuple(labs)
        self.fill = None if fill is None else int(fill)
        self.allow_contemporaneous_label = bool(allow_contemporaneous_label)
        self.name: str = ""
        self.name = name or f"featureset-{self.digest[:12]}"

    # ------------------------------------------------------------------ properties

    @property
    def resolution(self) -> str:
        """The shared resolution token."""
        return self.features[0].res

    @property
    def minutes(self) -> int:
        """The resolution in minutes."""
        return parse_resolution(self.resolution)[1]

    @property
    def members(self) -> tuple[Feature, ...]:
        """Features then labels."""
        return self.features + self.labels

    @property
    def feature_names(self) -> list[str]:
        """Canonical feature names, in order."""
        return [f.name for f in self.features]

    @property
    def label_names(self) -> list[str]:
        """Canonical label names, in order."""
        return [f.name for f in self.labels]

    @property
    def extent(self) -> int:
        """Grid rows of history the features need."""
        return max(f.extent for f in self.features)

    @property
    def horizon(self) -> int:
        """Grid rows the labels look forward."""
        return max(f.horizon for f in self.labels)

    def warmup_bars(self, timeframe: int) -> int:
        """Base bars of history needed: ``(extent + 2) * k − 1`` with ``k = R / timeframe``."""
        k = self.minutes // int(timeframe)
        return (self.extent + 2) * k - 1

    @property
    def digest(self) -> str:
        """sha256 hex of the canonical JSON of :meth:`to_dict` (without the name)."""
        d = self.to_dict()
        d.pop("name", None)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()

    def __repr__(self) -> str:
        return (
            f"FeatureLabelSet({self.name!r}, {self.resolution}, features={self.feature_names}, "
            f"labels={self.label_names}, fill={self.fill})"
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FeatureLabelSet) and other.to_dict() == self.to_dict()

    def __hash__(self) -> int:
        return hash(self.digest)

    # ------------------------------------------------------------------ serialization

    def to_dict(self) -> dict[str, Any]:
        """``name, resolution, features, labels`` (canonical names), ``fill``, and the
        contemporaneous-label override."""
        return {
            "name": self.name,
            "resolution": self.resolution,
            "features": self.feature_names,
            "labels": self.label_names,
            "fill": self.fill,
            "allow_contemporaneous_label": self.allow_contemporaneous_label,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FeatureLabelSet:
        """Rebuild from :meth:`to_dict` (names are parsed; only registered classes)."""
        known = {"name", "resolution", "features", "labels", "fill", "allow_contemporaneous_label"}
        extra = set(d) - known
        if extra:
            raise FeatureSpecError(f"FeatureLabelSet.from_dict: unknown keys {sorted(extra)}")
        out = cls(
            d["features"],
            d["labels"],
            d.get("name"),
            fill=d.get("fill"),
            allow_contemporaneous_label=bool(d.get("allow_contemporaneous_label", False)),
        )
        if "resolution" in d and parse_resolution(d["resolution"])[0] != out.resolution:
            raise FeatureSpecError(
                f"FeatureLabelSet.from_dict: resolution {d['resolution']!r} differs from the "
                f"members' {out.resolution!r}"
            )
        return out

    # ------------------------------------------------------------------ data

    def validate(self, bars: Bars) -> None:
        """Raise ``FeatureUnavailableError`` for order-book members, unknown assets or a
        resolution finer than the data (computes nothing)."""
        validate_features(self.members, bars)

    def _slice(self, bars: Bars, start: int | None, end: int | None) -> Bars:
        """Bars with stamps in ``[warm-up before start, end)``."""
        idx = bars.index
        hi = len(idx) if end is None else int(np.searchsorted(idx, end, side="left"))
        lo = 0
        if start is not None:
            step = self.minutes * MINUTE_NS
            back = self.extent + (self.fill or 0) + 2
            warm = (start // step) * step - back * step
            lo = int(np.searchsorted(idx, warm, side="left"))
        return bars.slice(lo, hi)

    def get_data(self, bars: Bars, start: Any = None, end: Any = None) -> pd.DataFrame:
        """Raw (unscaled) features then labels on the present bins with
        ``start ≤ stamp < end``; labels never read a bar stamped ≥ ``end``."""
        self.validate(bars)
        s, e = to_ns(start), to_ns(end)
        if s is not None and e is not None and s >= e:
            raise ConfigError(f"get_data: empty range start={start!r} ≥ end={end!r}")
        sub = self._slice(bars, s, e)
        if len(sub):
            df = compute_features(self.members, sub, at="grid", fill=self.fill)
        else:
            df = pd.DataFrame(columns=[f.name for f in self.members], dtype=np.float64)
            df.index = pd.DatetimeIndex([], name="timestamp")
        if s is not None and len(df):
            df = df.loc[df.index.as_unit("ns").asi8 >= s]
        df.attrs.update(
            {
                "feature_columns": self.feature_names,
                "label_columns": self.label_names,
                "resolution": self.resolution,
                "data_fingerprint": bars.fingerprint(),
            }
        )
        return df

    def split(
        self,
        bars: Bars,
        *,
        train: Sequence[Any],
        test: Sequence[Any],
        val: Sequence[Any] | None = None,
        task: str = "regression",
        label: str | Feature | None = None,
        boundaries: Sequence[float] | None = None,
        percentiles: Sequence[float] | None = None,
        up_flat_down: float | None = None,
        handle_boundary: str = "drop",
        rebalance: str | None = None,
        seed: int = 0,
        embargo: str | int = "auto",
    ) -> Dataset:
        """Leak-proof train / val / test datasets (see ``features.md`` §7).

        Raises:
            ConfigError: bad or overlapping ranges, a bad embargo, task or label.
            EmptySplitError: a split with no rows after a step (names both).
            DegenerateFeatureError, DegenerateBucketsError: from fitting on train.
        """
        return run_split(
            self,
            bars,
            train=train,
            val=val,
            test=test,
            task=task,
            label=label,
            boundaries=boundaries,
            percentiles=percentiles,
            up_flat_down=up_flat_down,
            handle_boundary=handle_boundary,
            rebalance=rebalance,
            seed=seed,
            embargo=embargo,
        )

    #: Atlas's name for :meth:`split`.
    get_data_for_train_test_run = split

    def coverage_report(self, bars: Bars, start: Any = None, end: Any = None) -> pd.DataFrame:
        """Per member: ``name, first_valid, last_valid, coverage`` (valid rows / grid
        slots of the range) and ``coverage_valid_range`` (valid rows / slots between
        the first and last valid stamps)."""
        df = self.get_data(bars, start, end)
        step = self.minutes * MINUTE_NS
        stamps = df.index.as_unit("ns").asi8
        lo = to_ns(start) if start is not None else (int(stamps[0]) if len(stamps) else 0)
        hi = to_ns(end) if end is not None else (int(stamps[-1]) + step if len(stamps) else 0)
        slots = max(0, -(-(hi - ((lo + step - 1) // step) * step) // step))
        rows = []
        for col in df.columns:
            ok = df[col].notna().to_numpy()
            n = int(ok.sum())
            if n:
                first, last = stamps[ok][0], stamps[ok][-1]
                span = (last - first) // step + 1
                fv, lv = pd.Timestamp(first), pd.Timestamp(last)
            else:
                span, fv, lv = 0, pd.NaT, pd.NaT
            rows.append(
                {
                    "name": col,
                    "first_valid": fv,
                    "last_valid": lv,
                    "coverage": n / slots if slots else np.nan,
                    "coverage_valid_range": n / span if span else np.nan,
                }
            )
        return pd.DataFrame(rows)

    def plot_data(
        self,
        bars: Bars,
        start: Any = None,
        end: Any = None,
        *,
        subplots: bool = True,
        scaler: Any = None,
    ):
        """A matplotlib Figure (Agg, no pyplot): a panel per feature and one for the
        first label (``subplots=False``: features in one panel, label in another).
        ``scaler`` (a fitted :class:`Scaler`) scales the features first."""
        from matplotlib.figure import Figure

        df = self.get_data(bars, start, end)
        X = df[self.feature_names]
        if scaler is not None:
            X = scaler.transform(X)
        y = df[self.label_names[0]]
        n = (len(self.features) if subplots else 1) + 1
        fig = Figure(figsize=(11, 1.6 * n + 0.8))
        axes = fig.subplots(n, 1, sharex=True, squeeze=False)[:, 0]
        if subplots:
            for ax, col in zip(axes[:-1], X.columns):
                ax.plot(X.index, X[col].to_numpy(), lw=0.7)
                ax.set_title(col, fontsize=8, loc="left")
        else:
            for col in X.columns:
                axes[0].plot(X.index, X[col].to_numpy(), lw=0.7, label=col)
            axes[0].legend(fontsize=6, loc="upper left")
        axes[-1].plot(y.index, y.to_numpy(), lw=0.7, color="tab:red")
        axes[-1].set_title(f"label: {y.name}", fontsize=8, loc="left")
        fig.suptitle(f"{self.name} ({self.resolution})", fontsize=9)
        fig.tight_layout()
        return fig
