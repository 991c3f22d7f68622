"""``ModelEncoder``: a saved supervised model's outputs as an observation leaf.

The model directory's ``dataset`` block (written by ``model.save(path, dataset=ds)``)
holds the featureset, the train scaler and the fit ranges; the encoder reads only that
block and the weights. Features are computed on the model's grid (``at="grid"``),
scaled with the stored scaler (not clipped: the model was trained on unclipped rows;
``clip`` bounds the outputs); the model sees valid rows only (a window model: windows
over consecutive complete grid rows); the output of grid bin b is served at every base
bar t whose as-of bin ``floor((t + tf) / R)·R − R`` is b, as ``compute_features(at="bars")``
does. Models are loaded once per process and cached by their weights' sha256.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from btgym.errors import CheckpointError, ConfigError, check_keywords
from btgym.models.encoders import (
    NS_PER_MIN,
    Encoder,
    EncoderStream,
    _features,
    _run_artifact,
    register_encoder,
    scale_rows,
    to_ns,
)

OUTPUTS = ("proba", "value", "embedding")
_CACHE: dict[tuple[str, str], Any] = {}


def _weights_sha(meta: Mapping[str, Any]) -> str:
    w = meta.get("weights") or {}
    if w.get("sha256"):
        return str(w["sha256"])
    return ",".join(str(m.get("sha256")) for m in meta.get("members") or [])


def cached_model(path: str | Path, sha256: str | None = None) -> tuple[Any, dict[str, Any]]:
    """Load a saved model once per process (keyed by its weights' sha256)."""
    from btgym.models.persistence import load_model, read_model_json

    meta = read_model_json(path)
    sha = _weights_sha(meta)
    if sha256 is not None and sha256 != sha:
        raise CheckpointError(
            f"model {path}: weights sha256 {sha[:16]}… differ from the encoder's {sha256[:16]}…"
        )
    key = (str(Path(path).resolve()), sha)
    if key not in _CACHE:
        _CACHE[key] = load_model(path, device="cpu")
    return _CACHE[key], meta


@register_encoder
class ModelEncoder(Encoder):
    """Outputs of a saved model as an observation leaf.

    Args:
        model_dir: a directory written by ``model.save(path, dataset=ds)``.
        output: ``"proba"`` (classifier default, ``Box(0, 1, (K,))``), ``"value"``
            (regressor default, ``Box(−clip, clip, (1,))``) or ``"embedding"``
            (``Box(−clip, clip, (H,))``); outputs are clipped to the bounds.
        key, window, valid_key, allow_overlap: as :class:`FeatureEncoder`.
        clip: bound of ``value`` / ``embedding`` outputs (the model's inputs are not clipped).
        sha256: expected weights sha256 (set by :meth:`to_dict`; a changed model raises).
    """

    options = ("output", "key", "window", "clip", "valid_key", "allow_overlap", "sha256")

    def __init__(
        self,
        model_dir: str | Path,
        *,
        output: str | None = None,
        key: str = "model",
        window: int = 1,
        clip: float = 10.0,
        valid_key: bool = True,
        allow_overlap: bool = False,
        sha256: str | None = None,
    ) -> None:
        from btgym.features import Scaler

        self.model_dir = str(Path(model_dir).resolve())
        self.model, meta = cached_model(self.model_dir, sha256)
        self.sha256 = _weights_sha(meta)
        block = meta.get("dataset")
        if not block or not block.get("featureset") or not block.get("scaler"):
            raise ConfigError(
                f"ModelEncoder {key!r}: {model_dir} was saved without its dataset; "
                "save with model.save(path, dataset=ds) so the encoder knows the features "
                "and the scaler"
            )
        self.features, self.fill = _features(block["featureset"])
        self.scaler = Scaler.from_dict(block["scaler"])
        names = [f.name for f in self.features]
        if list(self.scaler.columns) != names or tuple(self.model.feature_names) != tuple(names):
            raise ConfigError(
                f"ModelEncoder {key!r}: model features {list(self.model.feature_names)}, scaler "
                f"columns {list(self.scaler.columns)} and featureset {names} differ"
            )
        task = self.model.task
        self.output = output or ("proba" if task == "classification" else "value")
        if self.output not in OUTPUTS:
            raise ConfigError(
                f"ModelEncoder {key!r}: output must be one of {OUTPUTS}, got {output!r}"
            )
        if self.output == "proba" and task != "classification":
            raise ConfigError(f"ModelEncoder {key!r}: a regressor has no 'proba' output")
        if self.output == "embedding" and not self.model.embedding_size:
            raise ConfigError(f"ModelEncoder {key!r}: {type(self.model).__name__} has no embedding")
        self.key, self.window, self.clip = key, int(window), float(clip)
        self.valid_key, self.allow_overlap = bool(valid_key), bool(allow_overlap)
        self._check_common()
        self._mean = np.asarray(self.scaler.mean, np.float64)
        self._std = np.asarray(self.scaler.std, np.float64)
        self.fit_ranges = [
            (to_ns(r[0]), to_ns(r[1]))
            for r in (block.get("fit_ranges") or {}).values()
            if r and r[0] is not None and r[1] is not None
        ]
        self._R = int(self.features[0].minutes)

    @classmethod
    def from_run(cls, run_id: str, registry: Any = None, **kwargs: Any) -> ModelEncoder:
        """The ``supervised`` run's saved model (``experiments.md`` §8)."""
        d = _run_artifact(run_id, registry, "supervised")
        return cls(d["model_dir"], **{**{k: v for k, v in d.items() if k in cls.options}, **kwargs})

    @property
    def width(self) -> int:
        if self.output == "proba":
            return int(self.model.n_classes)
        if self.output == "value":
            return 1
        return int(self.model.embedding_size)

    @property
    def leaf_bounds(self) -> tuple[float, float]:
        return (0.0, 1.0) if self.output == "proba" else (-self.clip, self.clip)

    @property
    def _resolution_minutes(self) -> int:
        return self._R

    @property
    def _extent(self) -> int:
        return max(int(f.extent) for f in self.features) + self.model.window - 1

    def _apply(self, X: np.ndarray) -> np.ndarray:
        """Model outputs ``(n, width)`` float64, clipped to the leaf bounds."""
        if not len(X):
            return np.zeros((0, self.width))
        if self.output == "proba":
            out = self.model.predict_proba(X)
        elif self.output == "value":
            out = self.model.predict(X)[:, None]
        else:
            out = self.model.embed(X)
        lo, hi = self.leaf_bounds
        return np.clip(out, lo, hi)

    def bind_rows(self, bars: Any) -> tuple[np.ndarray, np.ndarray]:
        """Per-bar outputs ``(n, width)`` float64 and validity, before windowing."""
        from btgym.features import compute_features, make_windows

        grid = compute_features(self.features, bars, at="grid", fill=self.fill)
        z, ok = scale_rows(grid.to_numpy(np.float64), self._mean, self._std, np.inf)
        stamps = grid.index.as_unit("ns").asi8
        m = self.model.window
        if m == 1:
            X, out_stamps = z[ok], stamps[ok]
        else:
            import pandas as pd

            frame = pd.DataFrame(z[ok], index=grid.index[ok])
            X, idx = make_windows(frame, m, minutes=self._R)
            out_stamps = idx.as_unit("ns").asi8
        out = self._apply(X)
        n = len(bars)
        values = np.zeros((n, self.width))
        valid = np.zeros(n, bool)
        if len(out_stamps):
            R, tf = self._R * NS_PER_MIN, int(bars.timeframe) * NS_PER_MIN
            t = np.asarray(bars.index, np.int64)
            asof = (t + tf) // R * R - R
            pos = np.searchsorted(out_stamps, asof)
            pos_c = np.minimum(pos, len(out_stamps) - 1)
            hit = out_stamps[pos_c] == asof
            values[hit] = out[pos_c[hit]]
            valid[hit] = True
        return values, valid

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
        R, tf = self._R * NS_PER_MIN, int(timeframe) * NS_PER_MIN
        m = self.model.window
        bins: deque[tuple[int, np.ndarray, bool]] = deque(maxlen=m)
        state: dict[str, Any] = {"bin": None, "out": np.zeros(self.width), "ok": False}

        def step(stamp: int, row: Any) -> tuple[np.ndarray, bool]:
            raw = fs.update(stamp, row)
            b = (stamp + tf) // R * R - R
            if b != state["bin"]:
                z, ok = scale_rows(raw[None, :], self._mean, self._std, np.inf)
                bins.append((b, z[0], bool(ok[0])))
                state["bin"] = b
                good = (
                    len(bins) == m
                    and all(o for _, _, o in bins)
                    and all(bins[i + 1][0] - bins[i][0] == R for i in range(m - 1))
                )
                if good:
                    X = np.stack([r for _, r, _ in bins])[None] if m > 1 else bins[-1][1][None]
                    state["out"], state["ok"] = self._apply(X)[0], True
                else:
                    state["out"], state["ok"] = np.zeros(self.width), False
            return state["out"], state["ok"]

        return EncoderStream(self, step, dtype)

    def to_dict(self) -> dict[str, Any]:
        """JSON-only description: the model dir, its weights sha256 and the options."""
        return {
            **self._base_dict(),
            "model_dir": self.model_dir,
            "sha256": self.sha256,
            "output": self.output,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModelEncoder:
        check_keywords(d, {"class", "model_dir", *cls.options}, "ModelEncoder dict")
        return cls(d["model_dir"], **{k: d[k] for k in cls.options if k in d})
