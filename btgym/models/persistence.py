"""Saving and loading models without pickle (``models.md`` §4).

A saved model is a directory::

    model.json       format "btgym-model", version 1, class, task, params, n_features,
                     feature_names, n_classes, class_names, window, seed, libraries,
                     weights {file, sha256, bytes}, dataset {...} | null
    weights.pt       torch state dict; read with torch.load(weights_only=True)
    arrays.npz       numpy baselines; read with np.load(allow_pickle=False)
    estimator.skops  scikit-learn; skops.io.load with an explicit allow-list
    member_00/ ...   ensemble members, each a saved model

The directory is written next to its final place and renamed over it, so a reader
sees the old model or the new one, never half of one. Loading checks the format,
the version, that the class is registered and the weights' sha256 before reading
them; any mismatch raises :class:`~btgym.errors.CheckpointError` naming the file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from btgym.errors import CheckpointError, ModelNotFittedError, UnknownComponentError
from btgym.log import get_logger
from btgym.models.base import SupervisedModel, _jsonable, model_class

log = get_logger(__name__)

FORMAT = "btgym-model"
VERSION = 1
MODEL_JSON = "model.json"
WEIGHT_FILES = {"torch": "weights.pt", "numpy": "arrays.npz", "skops": "estimator.skops"}


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "numpy": np.__version__}
    for name in ("torch", "sklearn", "skops"):
        mod = __import__("sys").modules.get(name)
        if mod is not None:
            out[name] = getattr(mod, "__version__", "?")
    import btgym

    out["btgym"] = getattr(btgym, "__version__", "?")
    return out


def _iso(stamp: Any) -> str | None:
    import pandas as pd

    return None if stamp is None else pd.Timestamp(stamp).isoformat()


def dataset_block(dataset: Any) -> dict[str, Any]:
    """What a model keeps of its training :class:`~btgym.features.Dataset` (JSON only)."""
    ranges = getattr(dataset, "ranges", {}) or {}
    fit_ranges = {
        split: [_iso(r[0]), _iso(r[1])]
        for split, r in ranges.items()
        if split in ("train", "val") and r is not None
    }
    params = dict(getattr(dataset, "params", {}) or {})
    bucketizer = getattr(dataset, "bucketizer", None)
    scaler = getattr(dataset, "scaler", None)
    return _jsonable(
        {
            "featureset": getattr(dataset, "featureset", None),
            "scaler": scaler.to_dict() if scaler is not None else None,
            "bucketizer": bucketizer.to_dict() if bucketizer is not None else None,
            "fit_ranges": fit_ranges,
            "data_fingerprint": getattr(dataset, "data_fingerprint", None),
            "timeframe": params.get("timeframe"),
            "timezone": params.get("timezone"),
            "task": getattr(dataset, "task", None),
            "label_name": getattr(dataset, "label_name", None),
            "feature_names": list(getattr(dataset, "feature_names", []) or []),
        }
    )


def _write_weights(model: SupervisedModel, folder: Path) -> dict[str, Any] | None:
    kind = model.storage
    if kind == "members":
        return None
    path = folder / WEIGHT_FILES[kind]
    if kind == "torch":
        import torch

        torch.save(model.state_dict(), path)
    elif kind == "numpy":
        with open(path, "wb") as fh:
            np.savez(fh, **model._state())
    else:
        import skops.io as sio

        sio.dump(model.estimator, path)
    return {"file": path.name, "sha256": sha256_file(path), "bytes": path.stat().st_size}


def _write_dir(model: SupervisedModel, folder: Path, dataset_info: dict | None) -> None:
    folder.mkdir(parents=True)
    cfg = model.get_config()
    members = []
    if model.storage == "members":
        cfg["params"].pop("members", None)
        for i, m in enumerate(model.members):
            sub = f"member_{i:02d}"
            _write_dir(m, folder / sub, None)
            members.append({"dir": sub, "sha256": sha256_file(folder / sub / MODEL_JSON)})
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "class": cfg["class"],
        "task": model.task,
        "params": cfg["params"],
        "n_features": model.n_features,
        "feature_names": list(model.feature_names),
        "n_classes": model.n_classes,
        "class_names": list(model.class_names) if model.class_names is not None else None,
        "window": model.window,
        "seed": model.seed,
        "embedding_size": model.embedding_size,
        "libraries": _versions(),
        "weights": _write_weights(model, folder),
        "members": members,
        "dataset": dataset_info,
    }
    (folder / MODEL_JSON).write_text(json.dumps(meta, indent=1, allow_nan=True))


def _fsync_tree(folder: Path) -> None:
    for p in [*sorted(folder.rglob("*")), folder]:
        with contextlib.suppress(OSError):
            fd = os.open(p, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def save_model(model: SupervisedModel, path: str | os.PathLike, *, dataset: Any = None) -> Path:
    """Write ``model`` (fitted) to directory ``path`` atomically; see the module doc.

    Args:
        model: a fitted model.
        path: the directory; replaced when it exists and holds a saved model.
        dataset: the training ``Dataset`` (or an already built dataset block dict).

    Raises:
        ModelNotFittedError: the model is not fitted.
        CheckpointError: the directory cannot be written, or ``path`` is a
            non-empty directory that is not a saved model.
    """
    if not model.is_fitted:
        raise ModelNotFittedError(f"{type(model).__name__}.save() called before fit()")
    path = Path(path)
    if path.exists() and (
        not path.is_dir() or (any(path.iterdir()) and not (path / MODEL_JSON).exists())
    ):
        raise CheckpointError(f"cannot save a model to {path}: it exists and is not a saved model")
    block = dataset if isinstance(dataset, Mapping) or dataset is None else dataset_block(dataset)
    names = list((block or {}).get("feature_names") or [])
    if names and not model._names_given and len(names) == model.n_features:
        # fitted on arrays (e.g. make_windows): the dataset names its columns
        model.feature_names, model._names_given = tuple(names), True
    tag = f"{os.getpid()}.{uuid.uuid4().hex[:8]}"
    tmp = path.with_name(f".{path.name}.{tag}.tmp")
    old = path.with_name(f".{path.name}.{tag}.old")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_dir(model, tmp, None if block is None else dict(block))
        _fsync_tree(tmp)
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not path.exists():
            os.replace(old, path)
        raise CheckpointError(f"cannot write model {path}: {exc}") from exc
    shutil.rmtree(old, ignore_errors=True)
    log.debug(f"model saved: {path}")
    return path


def read_model_json(path: str | os.PathLike) -> dict[str, Any]:
    """The checked ``model.json`` of a saved model directory."""
    file = Path(path) / MODEL_JSON
    if not file.is_file():
        raise CheckpointError(f"{file} does not exist: {path} is not a saved btgym model")
    try:
        meta = json.loads(file.read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{file} cannot be read: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{file}: not a btgym model (format {meta.get('format')!r})")
    if meta.get("version") != VERSION:
        raise CheckpointError(
            f"{file}: version {meta.get('version')!r}, this btgym reads {VERSION}"
        )
    return meta


def _check_sha(file: Path, expected: str | None) -> None:
    if not file.is_file():
        raise CheckpointError(f"{file} is missing")
    if expected is None or sha256_file(file) != expected:
        raise CheckpointError(f"{file}: sha256 does not match model.json (file changed or corrupt)")


def _read_weights(folder: Path, kind: str, info: Mapping[str, Any]) -> dict[str, Any]:
    file = folder / str(info.get("file", WEIGHT_FILES[kind]))
    if file.name != WEIGHT_FILES[kind]:
        raise CheckpointError(
            f"{folder / MODEL_JSON}: weights file {file.name!r} is not {WEIGHT_FILES[kind]!r}"
        )
    _check_sha(file, info.get("sha256"))
    try:
        if kind == "torch":
            import torch

            state = torch.load(file, map_location="cpu", weights_only=True)
            if not isinstance(state, dict):
                raise CheckpointError(f"{file}: not a state dict")
            return state
        if kind == "numpy":
            with np.load(file, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        from btgym.models.sk import SKOPS_ALLOWED, require_sklearn

        require_sklearn()
        import skops.io as sio

        untrusted = [t for t in sio.get_untrusted_types(file=file) if t not in SKOPS_ALLOWED]
        if untrusted:
            raise CheckpointError(f"{file}: holds types outside the allow-list: {untrusted}")
        return {"estimator": sio.load(file, trusted=list(SKOPS_ALLOWED))}
    except CheckpointError:
        raise
    except Exception as exc:  # torch.load's UnpicklingError, zip errors, skops errors
        raise CheckpointError(f"{file} cannot be read safely: {type(exc).__name__}: {exc}") from exc


def load_model(path: str | os.PathLike, device: str = "cpu") -> SupervisedModel:
    """Read a model saved by :func:`save_model` (dispatching on ``model.json``).

    Raises:
        CheckpointError: missing files, wrong format/version, unregistered class,
            weights whose sha256 differs, or weights that cannot be read safely.
    """
    folder = Path(path)
    meta = read_model_json(folder)
    name = meta.get("class")
    try:
        cls = model_class(str(name))
    except UnknownComponentError as exc:
        raise CheckpointError(f"{folder / MODEL_JSON}: {exc}") from exc
    params = dict(meta.get("params") or {})
    if cls.storage == "members":
        members = []
        for entry in meta.get("members") or []:
            sub = folder / str(entry["dir"])
            _check_sha(sub / MODEL_JSON, entry.get("sha256"))
            members.append(load_model(sub, device=device))
        params["members"] = members
    elif cls.storage == "torch":
        params["device"] = device
    try:
        model = cls(**params)
    except Exception as exc:
        raise CheckpointError(f"{folder / MODEL_JSON}: params do not build {name}: {exc}") from exc
    if cls.storage == "members":
        return model
    state = _read_weights(folder, cls.storage, meta.get("weights") or {})
    if cls.storage == "torch":
        model.load_state(state, device=device)
    else:
        model._set_state(state)
    model.saved_meta = meta
    return model


def model_dataset_info(path: str | os.PathLike) -> dict[str, Any] | None:
    """The ``dataset`` block of a saved model (``None`` when saved without one)."""
    return read_model_json(path).get("dataset")
