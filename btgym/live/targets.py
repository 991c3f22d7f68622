"""Targets: the training code computing live signals (``live.md`` §3).

A target turns closed base bars into outputs of its own resolution:

- :class:`ModelTarget` reads a saved model dir (``model.json``'s ``dataset`` block:
  featureset, scaler, bucketizer, fill, clock) and its weights, runs a
  ``FeatureStream`` over the featureset, applies the stored train ``Scaler`` exactly as
  training did, keeps the last ``window`` rows for sequence models, then
  ``predict_proba`` / ``predict``. A model of resolution R on base bars of tf minutes
  publishes once per closed R-bar: at the base bar t where the as-of bin
  ``b*(t) = floor((t + tf) / R)·R − R`` advances (``features.md`` §3);
- :class:`~btgym.live.policy.PolicyTarget` (in :mod:`btgym.live.policy`) runs a
  trained A3C/PPO policy inside backtrader's own strategy and broker.

Common protocol (what :class:`~btgym.live.runner.LiveRunner` uses): ``kind``,
``asset``, ``resolution`` (token), ``minutes``, ``horizon_bars``, ``source`` (dict),
``clock`` (timezone recorded with the weights or ``None``), ``class_names``,
``boundaries``, ``warmup_bars``; ``bind(timeframe, asset_names)``, ``prime(bars)``,
``due(stamp) -> bin | None``, ``update(bar) -> TargetOutput | None``.
"""

from __future__ import annotations

import collections
import itertools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from btgym.datafeed.timeutil import NS_PER_MINUTE
from btgym.errors import CheckpointError, ConfigError
from btgym.live.schema import PolicyInfo
from btgym.log import get_logger

log = get_logger(__name__)

#: realised statistics are resolved in batches of this many predictions
RESOLVE_EVERY = 10


@dataclass(frozen=True)
class TargetOutput:
    """What a target says about one bar of its resolution.

    Attributes:
        bar_open: open stamp of the target's bar (int ns, source clock).
        minutes: its length.
        status: ``"ok"`` or ``"stale"`` (an input was NaN).
        prediction, probabilities: model outputs (``None`` when stale).
        policy: the policy block (policies).
        features: the scaled input vector (models; for parity checks).
    """

    bar_open: int
    minutes: int
    status: str
    prediction: int | float | None = None
    probabilities: list[float] | None = None
    policy: PolicyInfo | None = None
    features: np.ndarray | None = None


def as_of_bin(stamp: int, timeframe: int, minutes: int) -> int:
    """``b*(t)``: the newest complete bin of ``minutes`` at base bar ``stamp``."""
    r = minutes * NS_PER_MINUTE
    return (stamp + timeframe * NS_PER_MINUTE) // r * r - r


class ModelTarget:
    """A saved supervised model serving live (see the module doc).

    Build with :meth:`from_dir` or :meth:`from_run`.
    """

    kind = "model"

    def __init__(self, model: Any, block: dict[str, Any], *, source: dict[str, Any]) -> None:
        from btgym.features import Bucketizer, Feature, FeatureLabelSet, Scaler

        self.model = model
        self.source = source
        fls = FeatureLabelSet.from_dict(block["featureset"])
        self.featureset = fls
        self.features = tuple(fls.features)
        self.scaler = Scaler.from_dict(block["scaler"]) if block.get("scaler") else None
        if self.scaler is not None and list(self.scaler.columns) != fls.feature_names:
            raise CheckpointError(
                f"{source}: the stored scaler's columns {list(self.scaler.columns)} are not "
                f"the featureset's {fls.feature_names}"
            )
        bucket = block.get("bucketizer")
        self.bucketizer = Bucketizer.from_dict(bucket) if bucket else None
        self.fill = fls.fill
        self.resolution = fls.resolution
        self.minutes = fls.minutes
        self.window = max(1, int(getattr(model, "window", 1) or 1))
        self.timeframe: int | None = block.get("timeframe")
        self.clock: str | None = block.get("timezone")
        label_name = block.get("label_name") or (fls.label_names[0] if fls.label_names else None)
        self.label = Feature.parse(label_name) if label_name else None
        self.horizon_bars = int(self.label.horizon) if self.label is not None else 1
        self.class_names = list(getattr(model, "class_names", None) or []) or None
        fitted = getattr(self.bucketizer, "fitted_boundaries", None)
        self.boundaries = None if fitted is None else [float(b) for b in fitted]
        self.classifier = getattr(model, "task", "") == "classification"
        named = sorted({a for f in self.features for a in f.assets("") if a})
        self.asset = named[0] if named else ""
        self._mean = np.asarray(self.scaler.mean) if self.scaler is not None else None
        self._std = np.asarray(self.scaler.std) if self.scaler is not None else None
        self.stream: Any = None
        self.seen = 0
        self.last_bin: int | None = None
        self.last_features: np.ndarray | None = None
        self._rows: collections.deque = collections.deque(maxlen=self.window)
        self._pending: collections.deque = collections.deque()  # (bin, prediction)
        self._recent: collections.deque | None = None  # base bars for realised labels

    # ------------------------------------------------------------------ building

    @classmethod
    def from_dir(cls, model_dir: str | os.PathLike, *, device: str = "cpu") -> ModelTarget:
        """Load a model dir saved with ``model.save(path, dataset=ds)``.

        Raises:
            CheckpointError: unreadable dir, failed checks, or no ``dataset`` block.
        """
        from btgym.models import load_model
        from btgym.models.persistence import read_model_json

        path = Path(model_dir)
        meta = read_model_json(path)
        block = meta.get("dataset")
        if not block or not block.get("featureset"):
            raise CheckpointError(
                f"model dir {path} has no dataset block: save it with model.save(path, "
                "dataset=ds) so serving can rebuild its inputs"
            )
        model = load_model(path, device=device)
        sha = (meta.get("weights") or {}).get("sha256")
        return cls(model, block, source={"model_dir": str(path), "sha256": sha})

    @classmethod
    def from_run(cls, run_id: str, registry: Any = None, *, device: str = "cpu") -> ModelTarget:
        """The model of a finished supervised run of the experiment registry."""
        from btgym.experiments.registry import Registry

        reg = registry if isinstance(registry, Registry) else Registry(registry)
        rec = reg.get(run_id)
        if rec.run_dir is None:
            raise CheckpointError(f"run {run_id} has no run directory (status {rec.status})")
        target = cls.from_dir(Path(rec.run_dir) / "model", device=device)
        target.source = {"run_id": run_id, "sha256": target.source.get("sha256")}
        return target

    def bind(self, timeframe: int, asset_names: tuple[str, ...]) -> None:
        """Build the feature stream for base bars of ``timeframe`` minutes."""
        from btgym.features import FeatureStream

        if self.timeframe is not None and int(self.timeframe) != int(timeframe):
            raise ConfigError(
                f"the model was trained on {self.timeframe}-minute bars; the source "
                f"delivers {timeframe}-minute bars"
            )
        self.timeframe = int(timeframe)
        assets = None if len(asset_names) == 1 else asset_names
        if assets is None and self.asset and self.asset != asset_names[0]:
            assets = asset_names  # the features name their asset: rows go by name
        self.stream = FeatureStream(self.features, self.timeframe, assets=assets, fill=self.fill)
        if self.label is not None:
            k = self.minutes // self.timeframe
            self._recent = collections.deque(maxlen=(self.horizon_bars + RESOLVE_EVERY + 3) * k)
        if not self.asset:
            self.asset = asset_names[0]

    @property
    def warmup_bars(self) -> int:
        """Base bars before the first signal: the features' warm-up plus the window."""
        k = self.minutes // int(self.timeframe or self.minutes)
        return self.stream.warmup_bars + (self.window - 1) * k

    # ------------------------------------------------------------------ serving

    def _row(self, values: Any) -> Any:
        if self.stream is not None and not self.stream._single:  # several assets
            return dict(values)
        return next(iter(values.values())) if isinstance(values, dict) else values

    def prime(self, bars: Any) -> None:
        """Feed history bars (no outputs). The last bins of a window model go through
        :meth:`update` so its window is full at the first live bar."""
        if not len(bars):
            return
        k = self.minutes // self.timeframe
        tail = min(len(bars), (self.window + 1) * k) if self.window > 1 else 0
        self.stream.prime(bars.slice(0, len(bars) - tail))
        self.seen += len(bars) - tail
        self.last_bin = (
            as_of_bin(int(bars.index[len(bars) - tail - 1]), self.timeframe, self.minutes)
            if tail < len(bars)
            else None
        )
        names = list(bars.names)
        for i in range(len(bars) - tail, len(bars)):
            values = {n: bars.values[n][i] for n in names}
            self._advance(int(bars.index[i]), values)

    def due(self, stamp: int) -> int | None:
        """The bin a signal is due for at base bar ``stamp`` (``None``: none)."""
        b = as_of_bin(stamp, self.timeframe, self.minutes)
        return b if self.last_bin is None or b > self.last_bin else None

    def _advance(self, stamp: int, values: Any) -> tuple[int, np.ndarray] | None:
        x = self.stream.update(stamp, self._row(values))
        if self._recent is not None:
            self._recent.append((stamp, values))
        self.seen += 1
        b = self.due(stamp)
        if b is None:
            return None
        self.last_bin = b
        if self._mean is not None:
            x = (x - self._mean) / self._std
        self.last_features = x
        self._rows.append((b, x))
        return b, x

    def update(self, bar: Any) -> TargetOutput | None:
        """Take one closed base bar; an output when a bin of the model's resolution closed
        (``None`` while warming up or inside a bin)."""
        got = self._advance(bar.stamp, bar.values)
        if got is None or self.seen < self.warmup_bars:
            return None
        b, x = got
        r = self.minutes * NS_PER_MINUTE
        rows = list(self._rows)
        consecutive = len(rows) == self.window and all(
            b2 - b1 == r for (b1, _), (b2, _) in itertools.pairwise(rows)
        )
        if not consecutive or not all(np.isfinite(v).all() for _, v in rows):
            return TargetOutput(b, self.minutes, "stale", features=x)
        inp = x[None, :] if self.window == 1 else np.stack([v for _, v in rows])[None]
        if self.classifier:
            proba = np.asarray(self.model.predict_proba(inp), dtype=np.float64)[0]
            pred: int | float = int(np.argmax(proba))
            probs = [float(p) for p in proba]
        else:
            pred, probs = float(np.asarray(self.model.predict(inp))[0]), None
        if self._recent is not None:
            self._pending.append((b, pred))
        return TargetOutput(b, self.minutes, "ok", pred, probs, features=x)

    def resolve(self) -> list[bool]:
        """Hits (prediction right?) of ok predictions whose horizon has passed since the
        last call, batched every few bins: the realised label is computed with the
        training label's own kernel over the recent bars (``{p}:{name}:stats``)."""
        if self._recent is None or not self._pending or self.last_bin is None:
            return []
        r = self.minutes * NS_PER_MINUTE
        newest = self.last_bin
        ready = [p for p in self._pending if p[0] + self.horizon_bars * r <= newest]
        if len(ready) < RESOLVE_EVERY:
            return []
        from btgym.datafeed import Bars
        from btgym.features import compute_features

        recent = list(self._recent)
        names = list(recent[0][1]) if isinstance(recent[0][1], dict) else [self.asset]
        index = np.array([t for t, _ in recent], np.int64)
        values = {n: np.stack([np.asarray(v[n]) for _, v in recent]) for n in names}
        labels = compute_features(
            [self.label], Bars(tuple(names), index, values, self.timeframe), at="grid"
        ).iloc[:, 0]
        found = dict(zip(labels.index.asi8.tolist(), labels.to_numpy().tolist()))
        done = [self._pending.popleft() for _ in ready]
        truths = np.array([found.get(b, np.nan) for b, _ in done], dtype=np.float64)
        keep = np.isfinite(truths)
        preds = np.array([p for _, p in done], dtype=np.float64)[keep]
        truths = truths[keep]
        if self.classifier and self.bucketizer is not None:
            classes = self.bucketizer.transform(pd.Series(truths)).to_numpy(
                dtype="float64", na_value=np.nan
            )
            ok = ~np.isnan(classes)
            hits = (classes[ok] == preds[ok]).tolist()
        else:
            ok = (truths != 0) & (preds != 0)
            hits = ((truths[ok] > 0) == (preds[ok] > 0)).tolist()
        return hits

    def close(self) -> None:
        pass


def __getattr__(name: str) -> Any:  # PolicyTarget (btgym.live.policy) imports backtrader
    if name == "PolicyTarget":
        from btgym.live.policy import PolicyTarget

        return PolicyTarget
    raise AttributeError(f"module 'btgym.live.targets' has no attribute {name!r}")
