"""Observation encoders: scaled features and supervised-model outputs as env leaves.

``models.md`` §7. Two encoders share one protocol:

- ``key``; ``spaces() -> {key: LeafSpec, key + "_valid": LeafSpec}``;
- ``warmup_bars(timeframe)`` = ``(E + 2)·k − 1 + (window − 1)`` base bars, E = the
  features' extent + model window − 1 (grid steps), k = resolution / timeframe;
- ``fit_range``: the stamp ranges the encoder learned from (the scaler's train range;
  a model's train and val ranges), checked by the env's leakage guard;
- ``bind(bars) -> (values, valid)``: every bar of an episode in one vectorised pass;
- ``stream() -> EncoderStream`` with ``update(stamp_ns, row) -> (value, valid)`` for
  live use, equal to ``bind`` bar by bar;
- ``to_dict()`` / :func:`encoder_from_dict` (JSON only).

Values at bar t use bars ≤ t only: features come from ``compute_features(at="bars")``
(or ``FeatureStream``) and are scaled with the **stored train scaler**; a row with any
NaN input is invalid: its values are 0 and its ``_valid`` entry 0. Values are clipped
to the declared bounds, so the observation always lies in its space.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from btgym.errors import ConfigError, UnknownComponentError, check_keywords
from btgym.log import get_logger
from btgym.strategy.config import LeafSpec

log = get_logger(__name__)

NS_PER_MIN = 60_000_000_000
#: name → class of the encoders :func:`encoder_from_dict` may build.
ENCODER_REGISTRY: dict[str, type[Encoder]] = {}


def register_encoder(cls: type[Encoder]) -> type[Encoder]:
    """Class decorator: make ``cls`` buildable by :func:`encoder_from_dict`."""
    ENCODER_REGISTRY[cls.__name__] = cls
    return cls


def to_ns(t: Any) -> int:
    """A stamp (str, Timestamp, datetime64, int ns) as int ns."""
    if isinstance(t, (int, np.integer)):
        return int(t)
    return int(pd.Timestamp(t).value)


def _iso(ns: int) -> str:
    return pd.Timestamp(int(ns)).isoformat()


def _features(featureset: Any) -> tuple[list[Any], int | None]:
    """Feature objects (labels excluded) and fill of a FeatureLabelSet, its dict or a list."""
    from btgym.features import Feature, FeatureLabelSet
    from btgym.features.compute import as_features

    if isinstance(featureset, FeatureLabelSet):
        return list(featureset.features), featureset.fill
    if isinstance(featureset, Mapping):
        return as_features(list(featureset["features"])), featureset.get("fill")
    if isinstance(featureset, (Feature, str)):
        featureset = [featureset]
    return as_features(list(featureset)), None


def scale_rows(
    raw: np.ndarray, mean: np.ndarray, std: np.ndarray, clip: float
) -> tuple[np.ndarray, np.ndarray]:
    """``(raw − mean) / std``, invalid (any non-finite) rows zeroed, clipped; and the mask."""
    z = (raw - mean) / std
    valid = np.isfinite(z).all(axis=-1)
    z[~valid] = 0.0
    np.clip(z, -clip, clip, out=z)
    return z, valid


def windows(values: np.ndarray, valid: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Time-first windows of the last ``m`` rows at every row (rows before 0: zeros, invalid)."""
    if m == 1:
        return values, valid[:, None]
    pad_v = np.zeros((m - 1, *values.shape[1:]), values.dtype)
    v = np.concatenate([pad_v, values])
    ok = np.concatenate([np.zeros(m - 1, bool), valid])
    wv = np.lib.stride_tricks.sliding_window_view(v, m, axis=0)  # (n, ..., m)
    wv = np.moveaxis(wv, -1, 1)
    return np.ascontiguousarray(wv), np.lib.stride_tricks.sliding_window_view(ok, m)


class Encoder:
    """Common protocol of the observation encoders (see the module doc)."""

    key: str
    window: int
    clip: float
    valid_key: bool
    allow_overlap: bool
    options: ClassVar[tuple[str, ...]] = ()

    def _check_common(self) -> None:
        where = type(self).__name__
        if not (isinstance(self.key, str) and self.key.isidentifier()):
            raise ConfigError(f"{where}: key {self.key!r} must be an identifier")
        if not (isinstance(self.window, (int, np.integer)) and self.window >= 1):
            raise ConfigError(f"{where}: window must be an int ≥ 1, got {self.window!r}")
        if not (isinstance(self.clip, (int, float)) and self.clip > 0 and math.isfinite(self.clip)):
            raise ConfigError(f"{where}: clip must be a finite number > 0, got {self.clip!r}")

    # subclasses: width, leaf_bounds, _resolution_minutes, _extent, fit_ranges, bind_rows

    def spaces(self) -> dict[str, LeafSpec]:
        """The leaves this encoder adds to the observation."""
        low, high = self.leaf_bounds
        shape = (self.width,) if self.window == 1 else (self.window, self.width)
        out = {self.key: LeafSpec(shape=shape, low=low, high=high, dtype="float32")}
        if self.valid_key:
            out[f"{self.key}_valid"] = LeafSpec(
                shape=(self.window,), low=0.0, high=1.0, dtype="float32"
            )
        return out

    def warmup_bars(self, timeframe: int) -> int:
        """Base bars of history before the first fully valid value."""
        k = self._resolution_minutes // int(timeframe)
        return (self._extent + 2) * k - 1 + (self.window - 1)

    @property
    def fit_range(self) -> list[tuple[int, int]]:
        """Stamp ranges ``[(start_ns, end_ns), ...]`` (``start ≤ t < end``) learnt from."""
        return list(self.fit_ranges)

    def overlap(self, start_ns: int, end_ns: int) -> tuple[int, int] | None:
        """The first fit range meeting ``[start_ns, end_ns]`` (an episode), else ``None``."""
        for s, e in self.fit_ranges:
            if s <= end_ns and start_ns < e:
                return (s, e)
        return None

    def bind(self, bars: Any, dtype: Any = np.float32) -> tuple[np.ndarray, np.ndarray]:
        """Values ``(n, *shape)`` and validity ``(n, window)`` for every bar of ``bars``."""
        values, valid = self.bind_rows(bars)
        values = values.astype(dtype, copy=False)  # cast before windowing: m× fewer bytes
        values, valid = windows(values, valid, self.window)
        return values, valid.astype(np.float32)

    def leaves(self, bars: Any) -> dict[str, tuple[np.ndarray, ...]]:
        """``{leaf key: per-bar array}`` for the env (valid key included when enabled)."""
        values, valid = self.bind(bars)
        out = {self.key: values}
        if self.valid_key:
            out[f"{self.key}_valid"] = valid
        return out

    def _base_dict(self) -> dict[str, Any]:
        return {
            "class": type(self).__name__,
            "key": self.key,
            "window": int(self.window),
            "clip": float(self.clip),
            "valid_key": bool(self.valid_key),
            "allow_overlap": bool(self.allow_overlap),
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}(key={self.key!r}, window={self.window})"


@register_encoder
class FeatureEncoder(Encoder):
    """A window of scaled, clipped features (see the module doc).

    Args:
        featureset: a FeatureLabelSet (its features; labels are ignored), its dict, or
            a list of features / canonical names.
        scaler: the fitted train ``Scaler`` (or its dict) over exactly these features.
        window: rows per observation (``(F,)`` for 1, else ``(m, F)`` oldest first).
        key: the observation key.
        clip: values are clipped to ``±clip`` (the leaf's bounds).
        fill: bounded fill of missing grid rows (default: the featureset's).
        valid_key: add the ``<key>_valid`` leaf.
        allow_overlap: let test episodes overlap the scaler's train range.
        fit_range: ``(start, end)`` the scaler was fitted on (default: the scaler's own
            first and last row stamps).
    """

    options = ("window", "key", "clip", "fill", "valid_key", "allow_overlap", "fit_range")

    def __init__(
        self,
        featureset: Any,
        scaler: Any,
        *,
        window: int = 1,
        key: str = "features",
        clip: float = 10.0,
        fill: int | None = None,
        valid_key: bool = True,
        allow_overlap: bool = False,
        fit_range: Sequence[Any] | None = None,
    ) -> None:
        from btgym.features import Scaler

        self.features, fs_fill = _features(featureset)
        self.fill = fs_fill if fill is None else int(fill)
        self.scaler = scaler if isinstance(scaler, Scaler) else Scaler.from_dict(scaler)
        names = [f.name for f in self.features]
        if list(self.scaler.columns) != names:
            raise ConfigError(
                f"FeatureEncoder {key!r}: scaler columns {list(self.scaler.columns)} differ from "
                f"the features {names}"
            )
        if len({f.minutes for f in self.features}) != 1:
            raise ConfigError(f"FeatureEncoder {key!r}: features must share one resolution")
        self.key, self.window, self.clip = key, int(window), float(clip)
        self.valid_key, self.allow_overlap = bool(valid_key), bool(allow_overlap)
        self._check_common()
        self._mean = np.asarray(self.scaler.mean, np.float64)
        self._std = np.asarray(self.scaler.std, np.float64)
        if fit_range is not None:
            self.fit_ranges = [(to_ns(fit_range[0]), to_ns(fit_range[1]))]
        else:  # the scaler's range holds its first and last row stamps (inclusive)
            s, e = self.scaler.fit_range
            self.fit_ranges = [(to_ns(s), to_ns(e) + 1)] if s is not None and e is not None else []

    @classmethod
    def fit(
        cls, featureset: Any, bars: Any, *, train: Sequence[Any], **kwargs: Any
    ) -> FeatureEncoder:
        """Fit the scaler on the features' grid rows in ``train = (start, end)``."""
        from btgym.features import Scaler, compute_features

        feats, fill = _features(featureset)
        s, e = to_ns(train[0]), to_ns(train[1])
        frame = compute_features(feats, bars, at="grid", fill=kwargs.get("fill", fill))
        stamps = frame.index.as_unit("ns").asi8
        rows = frame[(stamps >= s) & (stamps < e)].dropna()
        if not len(rows):
            raise ConfigError(f"FeatureEncoder.fit: no complete feature rows in train {train}")
        scaler = Scaler.fit(rows)
        kwargs.setdefault("fit_range", (_iso(s), _iso(e)))
        return cls(
            feats if fill is None else {"features": [f.name for f in feats], "fill": fill},
            scaler,
            **kwargs,
        )

    @classmethod
    def from_dataset(cls, dataset: Any, **kwargs: Any) -> FeatureEncoder:
        """The dataset's featureset with its train scaler (fit range: the train range)."""
        kwargs.setdefault("fit_range", tuple(dataset.ranges["train"]))
        return cls(dataset.featureset, dataset.scaler, **kwargs)

    @property
    def width(self) -> int:
        return len(self.features)

    @property
    def leaf_bounds(self) -> tuple[float, float]:
        return (-self.clip, self.clip)

    @property
    def _resolution_minutes(self) -> int:
        return int(self.features[0].minutes)

    @property
    def _extent(self) -> int:
        return max(int(f.extent) for f in self.features)

    def bind_rows(self, bars: Any, dtype: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Scaled rows ``(n, F)`` float64 and per-row validity, before windowing."""
        from btgym.features import compute_features

        raw = compute_features(self.features, bars, at="bars", fill=self.fill).to_numpy(np.float64)
        return scale_rows(raw, self._mean, self._std, self.clip)

    def stream(
        self,
        timeframe: int | None = None,
        *,
        assets: Sequence[str] | None = None,
        dtype: Any = np.float32,
    ) -> EncoderStream:
        """An incremental encoder equal to :meth:`bind` bar by bar.

        Args:
            timeframe: base bar length in minutes (default: the features' resolution).
            assets: asset names when rows are mappings (several assets).
            dtype: dtype of the returned values.
        """
        timeframe = int(timeframe or self._resolution_minutes)
        from btgym.features import FeatureStream

        fs = FeatureStream(self.features, timeframe, assets=assets, fill=self.fill)

        def step(stamp: int, row: Any) -> tuple[np.ndarray, bool]:
            z, ok = scale_rows(fs.update(stamp, row)[None, :], self._mean, self._std, self.clip)
            return z[0], bool(ok[0])

        return EncoderStream(self, step, dtype)

    def to_dict(self) -> dict[str, Any]:
        """JSON-only description (rebuilt by :func:`encoder_from_dict`)."""
        return {
            **self._base_dict(),
            "featureset": {"features": [f.name for f in self.features], "fill": self.fill},
            "scaler": self.scaler.to_dict(),
            "fit_range": [_iso(s) for s in self.fit_ranges[0]] if self.fit_ranges else None,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FeatureEncoder:
        check_keywords(d, {"class", "featureset", "scaler", *cls.options}, "FeatureEncoder dict")
        opts = {k: d[k] for k in cls.options if k in d}
        return cls(d["featureset"], d["scaler"], **opts)

    @classmethod
    def from_run(cls, run_id: str, registry: Any = None, **kwargs: Any) -> FeatureEncoder:
        """Load the ``encoder`` artifact of a registry run (``experiments.md`` §8)."""
        d = _run_artifact(run_id, registry, "encoder")
        return cls.from_dict({**d, **kwargs})


class EncoderStream:
    """Incremental encoder: ``update(stamp_ns, row) -> (value, valid)`` per closed bar."""

    def __init__(self, encoder: Encoder, step: Any, dtype: Any) -> None:
        self.encoder, self._step, self.dtype = encoder, step, np.dtype(dtype)
        m = encoder.window
        self._rows: deque[np.ndarray] = deque([np.zeros(encoder.width) for _ in range(m)], maxlen=m)
        self._ok: deque[bool] = deque([False] * m, maxlen=m)
        self.last_row: np.ndarray | None = None  # float64 row before the window and cast

    def update(self, stamp_ns: int, row: Any) -> tuple[np.ndarray, np.ndarray]:
        """Take one closed base bar; return the leaf value and its ``_valid`` entries."""
        value, ok = self._step(int(stamp_ns), row)
        self.last_row = value
        self._rows.append(value)
        self._ok.append(ok)
        if self.encoder.window == 1:
            return value.astype(self.dtype), np.array([ok], np.float32)
        return np.stack(self._rows).astype(self.dtype), np.array(self._ok, np.float32)


def _run_artifact(run_id: str, registry: Any, kind: str) -> dict[str, Any]:
    """What a registry run holds for an encoder: ``encoder.json`` (kind ``encoder``) or
    ``{"model_dir": <run dir>/model}`` (kind ``supervised``)."""
    import json

    try:
        from btgym.experiments.registry.store import Registry
    except ImportError as exc:
        raise ConfigError(f"from_run needs btgym.experiments (run {run_id!r}): {exc}") from exc
    reg = registry if isinstance(registry, Registry) else Registry(registry)
    rec = reg.get(run_id)
    if rec.kind != kind:
        raise ConfigError(f"run {run_id!r} is a {rec.kind!r} run, not {kind!r}")
    if not rec.run_dir:
        raise ConfigError(f"run {run_id!r} has no run directory")
    run_dir = Path(rec.run_dir)
    if kind == "supervised":
        return {"model_dir": str(run_dir / "model")}
    file = run_dir / "encoder.json"
    try:
        return json.loads(file.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"run {run_id!r}: cannot read {file}: {exc}") from exc


def encoder_from_dict(d: Mapping[str, Any] | Encoder) -> Encoder:
    """Rebuild an encoder from its :meth:`to_dict` (only registered classes)."""
    if isinstance(d, Encoder):
        return d
    if not isinstance(d, Mapping) or "class" not in d:
        raise ConfigError(f"an encoder dict needs a 'class' key, got {d!r}")
    import btgym.models.model_encoder  # noqa: F401  (registers ModelEncoder)

    try:
        cls = ENCODER_REGISTRY[str(d["class"])]
    except KeyError:
        raise UnknownComponentError(str(d["class"]), ENCODER_REGISTRY, "encoder") from None
    return cls.from_dict(d)


if TYPE_CHECKING:  # at run time: __getattr__ below
    from btgym.models.model_encoder import ModelEncoder


def __getattr__(name: str) -> Any:
    """``ModelEncoder`` lives in :mod:`btgym.models.model_encoder`, which imports this
    module: it is looked up lazily, so either module may be imported first."""
    if name == "ModelEncoder":
        from btgym.models.model_encoder import ModelEncoder

        return ModelEncoder
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ENCODER_REGISTRY",
    "Encoder",
    "EncoderStream",
    "FeatureEncoder",
    "ModelEncoder",
    "encoder_from_dict",
    "register_encoder",
]
