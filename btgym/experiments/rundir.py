"""Run directories: atomic file writes and the readers of a finished run.

```
<artifact_root>/<experiment>/<run_id>/
    run.json  results.json  predictions.parquet  history.csv  model/  [equity.parquet  tb/]
```
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from btgym.errors import RegistryError

RUN_JSON = "run.json"
RESULTS_JSON = "results.json"
PREDICTIONS = "predictions.parquet"
HISTORY = "history.csv"
HISTORY_HEADER = "step,split,key,value,wall_time\n"
MODEL_DIR = "model"
EQUITY = "equity.parquet"


def atomic_write(path: str | os.PathLike, write: Callable[[Path], Any]) -> Path:
    """Call ``write(tmp_path)`` then rename the temp file onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(path: str | os.PathLike, data: Any) -> Path:
    """Atomic, pretty JSON (no NaN: non-finite floats become ``null``)."""
    text = json.dumps(_finite(data), indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)
    return atomic_write(path, lambda p: p.write_text(text + "\n", encoding="utf-8"))


def write_parquet(path: str | os.PathLike, frame: Any) -> Path:
    """Atomic parquet of a DataFrame (index kept)."""
    return atomic_write(path, lambda p: frame.to_parquet(p, engine="pyarrow"))


def replace_dir(tmp: Path, final: Path) -> Path:
    """Move a finished temp directory onto ``final`` (replacing an older one)."""
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    return final


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if obj == obj and obj not in (float("inf"), float("-inf")) else None
    if isinstance(obj, Mapping):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):
        return _finite(obj.item())
    return obj


def read_json(path: str | os.PathLike) -> Any:
    p = Path(path)
    if not p.is_file():
        raise RegistryError(f"run file {p} does not exist")
    return json.loads(p.read_text(encoding="utf-8"))


class HistoryWriter:
    """Streams ``(step, split, key, value, wall_time)`` rows into ``history.csv``
    (a temp file renamed into place by :meth:`close`)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".history.", dir=self.path.parent)
        self._tmp = Path(tmp)
        self._fh = os.fdopen(fd, "w", encoding="utf-8", newline="")
        self._fh.write(HISTORY_HEADER)
        self.rows: list[tuple[int, str, str, float, float]] = []

    def __call__(self, row: Mapping[str, Any]) -> None:
        rec = (
            int(row["step"]),
            str(row["split"]),
            str(row["key"]),
            float(row["value"]),
            float(row.get("wall_time", 0.0)),
        )
        self.rows.append(rec)
        self._fh.write(f"{rec[0]},{rec[1]},{rec[2]},{rec[3]!r},{rec[4]!r}\n")
        self._fh.flush()

    def close(self) -> Path:
        if not self._fh.closed:
            self._fh.close()
            os.replace(self._tmp, self.path)
        return self.path

    def discard(self) -> None:
        if not self._fh.closed:
            self._fh.close()
        self._tmp.unlink(missing_ok=True)


# --------------------------------------------------------------------------- readers


def load_run_json(run_dir: str | os.PathLike) -> dict[str, Any]:
    """``run.json`` of a run directory."""
    return read_json(Path(run_dir) / RUN_JSON)


def load_predictions(run_dir: str | os.PathLike) -> Any:
    """``predictions.parquet`` as a DataFrame indexed by ``timestamp``."""
    import pandas as pd

    path = Path(run_dir) / PREDICTIONS
    if not path.is_file():
        raise RegistryError(f"run file {path} does not exist")
    return pd.read_parquet(path, engine="pyarrow")


def load_result(run_dir: str | os.PathLike) -> Any:
    """The run's :class:`btgym.models.ModelResult`, rebuilt from its files (no pickle)."""
    from btgym.models import ModelResult

    info = load_run_json(run_dir)
    results = read_json(Path(run_dir) / RESULTS_JSON)
    summary = {k: v for k, v in results.items() if isinstance(v, Mapping)}
    meta = info.get("result") or {}
    return ModelResult(
        name=meta.get("name") or info.get("name") or info["run_id"],
        task=meta.get("task", "classification"),
        n_classes=meta.get("n_classes"),
        class_names=tuple(meta.get("class_names") or ()),
        predictions=load_predictions(run_dir),
        summary={
            k: {kk: (float("nan") if vv is None else vv) for kk, vv in v.items()}
            for k, v in summary.items()
        },
        spec_info=info.get("spec_info") or {},
    )


def load_atlas_results(run_dir: str | os.PathLike) -> dict[str, Any]:
    """The Atlas shape: ``{split: {"summary", "series": {"predictions", "probabilities",
    "reality"}}, "spec_info"}`` with time-indexed series."""
    frame = load_predictions(run_dir)
    results = read_json(Path(run_dir) / RESULTS_JSON)
    out: dict[str, Any] = {"spec_info": load_run_json(run_dir).get("spec_info") or {}}
    proba_cols = [c for c in frame.columns if c.startswith("proba_")]
    for split in ("train", "val", "test"):
        part = frame[frame["split"] == split]
        if part.empty and split not in results:
            continue
        out[split] = {
            "summary": results.get(split, {}),
            "series": {
                "predictions": part["y_pred"],
                "probabilities": part[proba_cols] if proba_cols else None,
                "reality": part["y_true"],
            },
        }
    return out
