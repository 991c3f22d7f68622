"""One run, end to end: data → dataset (cached) → model.fit → evaluate → run directory.

:func:`run_config` never writes the registry: it returns a :class:`RunOutcome` (plain
JSON) and the driver (executor or worker) records it. Any exception fails the run with
its traceback; the outcome says so.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import time
import traceback
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from btgym.errors import FingerprintMismatchError
from btgym.experiments import rundir as R
from btgym.experiments.config import code_version, config_hash
from btgym.log import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class RunOutcome:
    """What a run task returns to the driver (JSON-safe).

    Attributes:
        metrics: summaries ``{split: {key: value}}``.
        curves: ``[split, key, value, step]`` rows (training history, RL progress).
        artifacts: ``{name: path relative to the run dir}``.
        timings: ``{"dataset_s", "fit_s", "eval_s"}``.
        dataset_cache: ``"built"``, ``"hit"`` or ``None`` (no dataset).
    """

    run_id: str
    status: str
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    curves: list[list[Any]] = field(default_factory=list)
    artifacts: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    dataset_cache: str | None = None
    dataset_key: str | None = None
    data_fingerprint: str | None = None
    run_dir: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return R._finite(asdict(self))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RunOutcome:
        return cls(**d)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat()


def run_json(
    cfg: Mapping[str, Any],
    run_id: str,
    status: str,
    *,
    started: str,
    fingerprint: str | None,
    error: str | None = None,
    **extra: Any,
) -> dict:
    """The ``run.json`` document of a run."""
    return {
        "run_id": run_id,
        "name": cfg.get("name")
        or "/".join(str(cfg.get(k)) for k in ("unit", "model_spec") if cfg.get(k)),
        "experiment": cfg.get("experiment"),
        "kind": cfg.get("kind"),
        "status": status,
        "config": cfg,
        "config_hash": config_hash(cfg),
        "seed": cfg.get("seed"),
        "data_fingerprint": fingerprint,
        "code_version": code_version(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started_at": started,
        "finished_at": _now(),
        "error": error,
        "spec_info": {k: cfg.get(k) for k in ("workspec", "unit", "model_spec")},
        **extra,
    }


def check_fingerprint(
    run_id: str, fingerprint: str, expected: str | None, data: Mapping[str, Any], allow_change: bool
) -> None:
    """Raise :class:`FingerprintMismatchError` when a rerun's data changed."""
    from btgym.experiments.datasets import data_files

    if expected is None or fingerprint == expected or allow_change:
        return
    raise FingerprintMismatchError(
        f"run {run_id}: the data changed since the parent run: fingerprint {fingerprint} "
        f"now, {expected} then (files: {', '.join(data_files(data))}); "
        "pass --allow-data-change to run on the new data"
    )


def run_config(
    cfg: Mapping[str, Any],
    run_dir: str | os.PathLike,
    *,
    artifact_root: str | os.PathLike,
    device: str = "cpu",
    run_id: str | None = None,
    expected_fingerprint: str | None = None,
    allow_data_change: bool = False,
) -> RunOutcome:
    """Run one config into ``run_dir`` and return its outcome (failures included)."""
    run_dir = Path(run_dir)
    run_id = run_id or run_dir.name
    run_dir.mkdir(parents=True, exist_ok=True)
    started = _now()
    kind = cfg.get("kind", "supervised")
    state: dict[str, Any] = {"fingerprint": None}
    try:
        if kind == "supervised":
            out = _run_supervised(
                cfg,
                run_dir,
                run_id,
                artifact_root,
                device,
                expected_fingerprint,
                allow_data_change,
                state,
                started,
            )
        elif kind == "rl":
            from btgym.experiments.rl import run_rl_config

            out = run_rl_config(
                cfg,
                run_dir,
                run_id=run_id,
                device=device,
                expected_fingerprint=expected_fingerprint,
                allow_data_change=allow_data_change,
            )
        elif kind == "encoder":
            from btgym.experiments.encoders import run_encoder_config

            out = run_encoder_config(
                cfg,
                run_dir,
                run_id=run_id,
                expected_fingerprint=expected_fingerprint,
                allow_data_change=allow_data_change,
            )
        else:
            raise ValueError(f"run {run_id}: unknown run kind {kind!r}")
        return out
    except Exception:
        error = traceback.format_exc()
        log.warning(f"run {run_id} failed: {error.strip().splitlines()[-1]}")
        R.write_json(
            run_dir / R.RUN_JSON,
            run_json(
                cfg,
                run_id,
                "failed",
                started=started,
                fingerprint=state["fingerprint"],
                error=error,
            ),
        )
        return RunOutcome(
            run_id=run_id,
            status="failed",
            error=error,
            data_fingerprint=state["fingerprint"],
            run_dir=run_dir.as_posix(),
            artifacts={R.RUN_JSON: R.RUN_JSON},
        )


def write_tensorboard(logdir: Path, rows: Any, summary: Mapping[str, Any]) -> None:
    """The training curves and summaries as TensorBoard events in ``tb/`` when
    TensorBoard is importable (the registry and ``history.csv`` never depend on it)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return
    try:
        writer = SummaryWriter(log_dir=str(logdir))
        try:
            for step, split, key, value, _ in rows:
                writer.add_scalar(f"{split}/{key}", value, step)
            for split, vals in summary.items():
                for key, value in vals.items():
                    if isinstance(value, (int, float)) and value == value:
                        writer.add_scalar(f"summary_{split}/{key}", value, 0)
        finally:
            writer.close()
    except Exception as exc:  # events are a convenience: never fail a run for them
        log.warning(f"TensorBoard events not written to {logdir}: {exc}")


def _fit_inputs(model: Any, ds: Any) -> tuple[Any, Any, Any, Any]:
    """Train and val inputs of a model (windows for window models)."""
    if getattr(model, "window", 1) <= 1:
        return ds.X_train, ds.y_train, ds.X_val, ds.y_val
    from btgym.features import make_windows

    def win(X: Any, y: Any) -> tuple[Any, Any]:
        if X is None:
            return None, None
        arr, idx = make_windows(X, model.window)
        return arr, y.loc[idx]

    Xt, yt = win(ds.X_train, ds.y_train)
    Xv, yv = win(ds.X_val, ds.y_val)
    return Xt, yt, Xv, yv


def _run_supervised(
    cfg: Mapping[str, Any],
    run_dir: Path,
    run_id: str,
    artifact_root: Any,
    device: str,
    expected: str | None,
    allow_change: bool,
    state: dict[str, Any],
    started: str,
) -> RunOutcome:
    from btgym.experiments.datasets import ensure_dataset, load_data
    from btgym.models import build_model, evaluate

    t0 = time.perf_counter()
    bars, fingerprint = load_data(cfg["data"])
    state["fingerprint"] = fingerprint
    check_fingerprint(run_id, fingerprint, expected, cfg["data"], allow_change)
    ds, key, cache, _ = ensure_dataset(cfg, artifact_root, bars=bars, fingerprint=fingerprint)
    t1 = time.perf_counter()

    params = dict(cfg["model"]["params"])
    window = int(params.pop("window", 1))
    model = build_model(
        cfg["model"]["class"],
        n_features=len(ds.feature_names),
        n_classes=ds.n_classes if ds.task == "classification" else None,
        window=window,
        seed=int(cfg.get("seed") or 0),
        device=device,
        feature_names=list(ds.feature_names),
        class_names=list(ds.class_names) if ds.class_names else None,
        **params,
    )
    history = R.HistoryWriter(run_dir / R.HISTORY)
    try:
        Xt, yt, Xv, yv = _fit_inputs(model, ds)
        model.fit(Xt, yt, X_val=Xv, y_val=yv, epochs=cfg.get("epochs"), callbacks=[history])
        history.close()
    except BaseException:
        history.discard()
        raise
    t2 = time.perf_counter()

    splits = tuple(s for s in ("train", "val", "test") if s in cfg["split"])
    result = evaluate(model, ds, splits=splits)
    model.save(run_dir / R.MODEL_DIR, dataset=ds)
    R.write_parquet(run_dir / R.PREDICTIONS, result.predictions)
    R.write_json(run_dir / R.RESULTS_JSON, result.summary)
    write_tensorboard(run_dir / "tb", history.rows, result.summary)
    t3 = time.perf_counter()
    timings = {"dataset_s": t1 - t0, "fit_s": t2 - t1, "eval_s": t3 - t2}
    R.write_json(
        run_dir / R.RUN_JSON,
        run_json(
            cfg,
            run_id,
            "finished",
            started=started,
            fingerprint=fingerprint,
            timings=timings,
            dataset={"key": key, "cache": cache},
            result={
                "name": result.name,
                "task": result.task,
                "n_classes": result.n_classes,
                "class_names": list(result.class_names or ()),
            },
        ),
    )
    artifacts = {
        p.relative_to(run_dir).as_posix(): p.relative_to(run_dir).as_posix()
        for p in sorted(run_dir.rglob("*"))
        if p.is_file()
    }
    curves = [[r[1], r[2], r[3], r[0]] for r in history.rows]
    return RunOutcome(
        run_id=run_id,
        status="finished",
        metrics={k: dict(v) for k, v in result.summary.items()},
        curves=curves,
        artifacts=artifacts,
        timings=timings,
        dataset_cache=cache,
        dataset_key=key,
        data_fingerprint=fingerprint,
        run_dir=run_dir.as_posix(),
    )
