"""Encoder runs (``kind="encoder"``): a fitted ``FeatureEncoder`` stored as a run.

Config ``{"kind": "encoder", "featureset", "data", "train": [start, end], "window",
"fill"}``; artifact ``encoder.json`` (what ``FeatureEncoder.from_run`` reads).
Created with ``btgym runs create --config FILE``, run by ``btgym worker``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from btgym.errors import ConfigError
from btgym.experiments import rundir as R
from btgym.experiments.runner import RunOutcome, _now, check_fingerprint, run_json

ENCODER_JSON = "encoder.json"
KEYS = (
    "kind",
    "featureset",
    "data",
    "train",
    "window",
    "fill",
    "key",
    "clip",
    "experiment",
    "name",
    "tags",
    "btgym",
)


def run_encoder_config(
    cfg: Mapping[str, Any],
    run_dir: str | os.PathLike,
    *,
    run_id: str,
    expected_fingerprint: str | None = None,
    allow_data_change: bool = False,
) -> RunOutcome:
    """Fit the encoder of an ``encoder`` config into ``run_dir``."""
    from btgym.experiments.datasets import load_data
    from btgym.models.encoders import FeatureEncoder

    for key in cfg:
        if key not in KEYS:
            from btgym.errors import UnknownKeywordError

            raise UnknownKeywordError(key, KEYS, f"encoder run {run_id} config")
    for key in ("featureset", "data", "train"):
        if key not in cfg:
            raise ConfigError(f"encoder run {run_id}: the config needs {key!r}")
    run_dir = Path(run_dir)
    started = _now()
    t0 = time.perf_counter()
    bars, fingerprint = load_data(cfg["data"])
    check_fingerprint(run_id, fingerprint, expected_fingerprint, cfg["data"], allow_data_change)
    fs = cfg["featureset"]  # a FeatureLabelSet dict or {"features": [...], "fill"}
    kwargs: dict[str, Any] = {"window": int(cfg.get("window") or 1)}
    for key in ("fill", "key", "clip"):
        if cfg.get(key) is not None:
            kwargs[key] = cfg[key]
    enc = FeatureEncoder.fit(fs, bars, train=tuple(cfg["train"]), **kwargs)
    R.write_json(run_dir / ENCODER_JSON, enc.to_dict())
    timings = {"fit_s": time.perf_counter() - t0}
    R.write_json(
        run_dir / R.RUN_JSON,
        run_json(
            cfg, run_id, "finished", started=started, fingerprint=fingerprint, timings=timings
        ),
    )
    return RunOutcome(
        run_id=run_id,
        status="finished",
        metrics={"train": {"n_features": float(len(enc.features))}},
        artifacts={ENCODER_JSON: ENCODER_JSON, R.RUN_JSON: R.RUN_JSON},
        timings=timings,
        data_fingerprint=fingerprint,
        run_dir=run_dir.as_posix(),
    )
