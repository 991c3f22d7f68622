"""The steps of ``FeatureLabelSet.split`` (``features.md`` §7), in order:

1. check the ranges (non-empty, train ≤ val ≤ test, no overlap);
2. ``get_data`` per split (labels truncated at each split's end: the embargo), plus an
   optional longer embargo of k grid rows;
3. drop rows with any NaN; record coverage;
4. fit the Scaler on train features, apply it to every split;
5. classification: fit the Bucketizer on train labels, apply it to every split, drop
   labels on a boundary under ``drop``;
6. rebalance train only (seeded);
7. an empty split after any step raises ``EmptySplitError`` naming split and step.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from btgym.datafeed.bars import Bars
from btgym.errors import ConfigError, EmptySplitError
from btgym.features.base import Feature, as_feature
from btgym.features.dataset import SPLITS, Dataset
from btgym.features.grid import MINUTE_NS
from btgym.features.rebalance import rebalance as do_rebalance
from btgym.features.transforms import Bucketizer, Scaler

if TYPE_CHECKING:  # pragma: no cover
    from btgym.features.labelset import FeatureLabelSet

TASKS = ("regression", "classification")


def check_ranges(ranges: dict[str, Sequence[Any] | None]) -> dict[str, tuple[int, int]]:
    """Ranges as ``(start_ns, end_ns)``; non-empty, in order train ≤ val ≤ test, disjoint."""
    from btgym.features.labelset import to_ns

    out: dict[str, tuple[int, int]] = {}
    for name in SPLITS:
        r = ranges.get(name)
        if r is None:
            if name != "val":
                raise ConfigError(f"split: the {name} range is required")
            continue
        try:
            start, end = r
            s, e = to_ns(start), to_ns(end)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"split: {name}={r!r} is not a (start, end) pair: {exc}") from None
        if s is None or e is None or s >= e:
            raise ConfigError(f"split: the {name} range {tuple(r)!r} is empty (start ≥ end)")
        out[name] = (s, e)
    names = list(out)
    for a, b in itertools.pairwise(names):
        if out[a][1] > out[b][0]:
            raise ConfigError(
                f"split: the {a} range {_fmt(out[a])} overlaps or follows the {b} range "
                f"{_fmt(out[b])}; ranges must be in order train ≤ val ≤ test without overlap"
            )
    return out


def _fmt(r: tuple[int, int]) -> str:
    return f"[{pd.Timestamp(r[0])}, {pd.Timestamp(r[1])})"


def _slots(s: int, e: int, step: int) -> int:
    first = -(-s // step) * step  # first bin stamp ≥ s
    return max(0, -(-(e - first) // step))


def _empty(split: str, step: str, r: tuple[int, int]) -> EmptySplitError:
    return EmptySplitError(f"split {split!r} {_fmt(r)} has no rows left after step {step!r}")


def run_split(
    fls: FeatureLabelSet,
    bars: Bars,
    *,
    train: Sequence[Any],
    val: Sequence[Any] | None,
    test: Sequence[Any],
    task: str,
    label: str | Feature | None,
    boundaries: Sequence[float] | None,
    percentiles: Sequence[float] | None,
    up_flat_down: float | None,
    handle_boundary: str,
    rebalance: str | None,
    seed: int,
    embargo: str | int,
) -> Dataset:
    """See :meth:`FeatureLabelSet.split`."""
    if task not in TASKS:
        raise ConfigError(f"split: task must be one of {TASKS}, got {task!r}")
    ranges = check_ranges({"train": train, "val": val, "test": test})
    label_name = fls.label_names[0] if label is None else as_feature(label).name
    if label_name not in fls.label_names:
        raise ConfigError(f"split: label {label_name!r} is not one of {fls.label_names}")
    horizon = as_feature(label_name).horizon
    if embargo == "auto":
        k = horizon
    elif isinstance(embargo, (int, np.integer)) and not isinstance(embargo, bool):
        k = int(embargo)
        if k < horizon:
            raise ConfigError(f"split: embargo={k} is shorter than the label horizon {horizon}")
    else:
        raise ConfigError(f"split: embargo must be 'auto' or an int, got {embargo!r}")
    if task == "regression" and rebalance is not None:
        raise ConfigError("split: rebalance needs task='classification'")
    bucket = None
    if task == "classification":
        mode = "sign"
        if boundaries is not None:
            mode = "boundaries"
        elif percentiles is not None:
            mode = "percentiles"
        elif up_flat_down is not None:
            mode = "up_flat_down"
        bucket = Bucketizer(
            mode=mode,
            boundaries=boundaries,
            percentiles=percentiles,
            up_flat_down=up_flat_down,
            handle_boundary=handle_boundary,
            seed=seed,
        )
    step = fls.minutes * MINUTE_NS
    feats = fls.feature_names
    raw: dict[str, pd.DataFrame] = {}
    cov: dict[str, dict[str, Any]] = {}
    for name, (s, e) in ranges.items():
        df = fls.get_data(bars, s, e)[[*feats, label_name]]
        present = len(df)
        if k > horizon:
            df = df.loc[df.index.as_unit("ns").asi8 < e - k * step]
        if not len(df):
            raise _empty(name, "get_data", (s, e))
        df = df.dropna(how="any")
        if not len(df):
            raise _empty(name, "dropna", (s, e))
        raw[name] = df
        cov[name] = {
            "start": pd.Timestamp(s),
            "end": pd.Timestamp(e),
            "grid_slots": _slots(s, e, step),
            "rows_present": present,
            "rows_valid": len(df),
        }
    scaler = Scaler.fit(raw["train"][feats])
    X = {n: scaler.transform(d[feats]) for n, d in raw.items()}
    yv = {n: d[label_name].rename(label_name) for n, d in raw.items()}
    y: dict[str, pd.Series] = dict(yv)
    if bucket is not None:
        bucket = bucket.fit(yv["train"].to_numpy())
        for n in list(X):
            classes = bucket.transform(yv[n])
            keep = classes.notna().to_numpy()
            if not keep.any():
                raise _empty(n, "bucketize", ranges[n])
            X[n], yv[n], y[n] = X[n][keep], yv[n][keep], classes[keep]
    for n in X:
        cov[n]["rows_kept"] = len(X[n])
        cov[n]["coverage"] = len(X[n]) / cov[n]["grid_slots"]
    origin = pd.Series("orig", index=X["train"].index, name="origin")
    if rebalance is not None:
        joined = X["train"].assign(__value__=yv["train"].to_numpy())
        Xr, yr, origin = do_rebalance(joined, y["train"].astype(np.int64), rebalance, seed)
        yv["train"] = Xr.pop("__value__").rename(label_name)
        X["train"], y["train"] = Xr, yr.astype("Int64")
        if not len(Xr):
            raise _empty("train", "rebalance", ranges["train"])
    cov["train"]["rows_train_final"] = len(X["train"])
    coverage = pd.DataFrame.from_dict(cov, orient="index")
    coverage.index.name = "split"
    params = {
        "task": task,
        "label": label_name,
        "boundaries": None if boundaries is None else [float(b) for b in boundaries],
        "percentiles": None if percentiles is None else [float(p) for p in percentiles],
        "up_flat_down": up_flat_down,
        "handle_boundary": handle_boundary,
        "rebalance": rebalance,
        "seed": int(seed),
        "embargo": embargo if embargo == "auto" else int(embargo),
        "timeframe": bars.timeframe,  # base bar minutes: what a live runner feeds
        "resolution": fls.resolution,
    }
    return Dataset(
        X_train=X["train"],
        y_train=y["train"],
        X_val=X.get("val"),
        y_val=y.get("val"),
        X_test=X["test"],
        y_test=y["test"],
        y_value=yv,
        scaler=scaler,
        bucketizer=bucket,
        task=task,
        n_classes=None if bucket is None else bucket.n_classes,
        class_names=None if bucket is None else bucket.class_names,
        feature_names=tuple(feats),
        label_name=label_name,
        ranges={n: (str(pd.Timestamp(s)), str(pd.Timestamp(e))) for n, (s, e) in ranges.items()},
        coverage=coverage,
        train_origin=origin,
        data_fingerprint=bars.fingerprint(),
        featureset=fls.to_dict(),
        params=params,
    )
