"""The dataset cache: each distinct (featureset, split, dataset_params, data) is built
once into ``<artifact_root>/_datasets/<key>/`` under an exclusive lock file."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from btgym.errors import ConfigError
from btgym.experiments.config import data_fingerprint, sha256_text
from btgym.log import get_logger

log = get_logger(__name__)

DATASETS_DIR = "_datasets"
LOCK_STALE_S = 600.0
_SPLIT_KEYWORDS = ("train", "val", "test")


_CACHE: dict[str, tuple[Any, Any, str]] = {}
_DATASETS: dict[tuple[str, str], Any] = {}
_CACHE_SIZE = 4


def _stat_key(data: Mapping[str, Any]) -> Any:
    out = []
    for f in data_files(data):
        try:
            st = os.stat(f)
        except OSError:
            return None
        out.append((f, st.st_mtime_ns, st.st_size))
    return out


def load_data(data: Mapping[str, Any]) -> tuple[Any, str]:
    """``(bars, fingerprint)`` of a resolved DataRef dict.

    A process keeps the last few loads, keyed by the DataRef and each file's
    modification time and size, so a worker running many runs on one file parses it
    once (a changed file is loaded and fingerprinted again).
    """
    from btgym.datafeed import load_bars
    from btgym.experiments.config import canonical_json

    key = canonical_json(data)
    stat = _stat_key(data)
    hit = _CACHE.get(key)
    if hit is not None and stat is not None and hit[0] == stat:
        return hit[1], hit[2]
    bars = load_bars(**{k: v for k, v in data.items() if v is not None})
    fp = data_fingerprint(bars)
    if stat is not None:
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = (stat, bars, fp)
    return bars, fp


def data_files(data: Mapping[str, Any]) -> list[str]:
    """The file paths a DataRef dict names (for messages)."""
    fn = data.get("filename")
    if isinstance(fn, Mapping):
        return [str(v) for v in fn.values()]
    if isinstance(fn, (list, tuple)):
        return [str(v) for v in fn]
    return [str(fn)]


def dataset_key(cfg: Mapping[str, Any], fingerprint: str) -> str:
    """sha256 of (featureset, split, dataset_params, fingerprint)."""
    return sha256_text(cfg["featureset"], cfg["split"], cfg["dataset_params"], fingerprint)


def build_dataset(cfg: Mapping[str, Any], bars: Any) -> Any:
    """``FeatureLabelSet.split`` of a run config on loaded bars."""
    from btgym.experiments.resolve import featureset_object

    params = dict(cfg["dataset_params"])
    fill = params.pop("fill", None)
    fs_dict = dict(cfg["featureset"])
    if fill is not None:
        fs_dict["fill"] = fill
    fs = featureset_object(fs_dict)
    split = {k: tuple(v) for k, v in cfg["split"].items() if k in _SPLIT_KEYWORDS}
    return fs.split(bars, **split, **params)


def _try_lock(path: Path) -> bool:
    """Create ``path`` exclusively (``O_CREAT | O_EXCL``); a lock older than 10 min is
    stale and taken over. ``False`` while someone else holds it."""
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                age = time.time() - path.stat().st_mtime
            except FileNotFoundError:
                continue
            if age <= LOCK_STALE_S:
                return False
            log.warning(f"dataset lock {path} is {age:.0f} s old: treating it as stale")
            path.unlink(missing_ok=True)
            continue
        os.write(fd, f"{os.getpid()}\n".encode())
        os.close(fd)
        return True
    return False


def ensure_dataset(
    cfg: Mapping[str, Any],
    artifact_root: str | os.PathLike,
    *,
    bars: Any = None,
    fingerprint: str | None = None,
    timeout: float = LOCK_STALE_S + 60,
) -> tuple[Any, str, str, str]:
    """Build (or read) the run's dataset.

    Returns:
        ``(dataset, key, "built" | "hit", fingerprint)``.
    """

    if bars is None:
        bars, fingerprint = load_data(cfg["data"])
    elif fingerprint is None:
        fingerprint = data_fingerprint(bars)
    key = dataset_key(cfg, fingerprint)
    # Datasets are frozen: a worker shares one across its runs (while its dir exists)
    mem = (Path(artifact_root).resolve().as_posix(), key)
    if mem in _DATASETS and (Path(mem[0]) / DATASETS_DIR / key).is_dir():
        return _DATASETS[mem], key, "hit", fingerprint
    ds, key, cache = _ensure(cfg, artifact_root, bars, key, timeout)
    if len(_DATASETS) >= _CACHE_SIZE:
        _DATASETS.pop(next(iter(_DATASETS)))
    _DATASETS[mem] = ds
    return ds, key, cache, fingerprint


def _ensure(
    cfg: Mapping[str, Any], artifact_root: Any, bars: Any, key: str, timeout: float
) -> tuple[Any, str, str]:
    from btgym.features import Dataset

    root = Path(artifact_root) / DATASETS_DIR
    root.mkdir(parents=True, exist_ok=True)
    final, lock = root / key, root / f"{key}.lock"
    t0 = time.monotonic()
    while True:
        if final.is_dir():
            return Dataset.from_dir(final), key, "hit"
        if _try_lock(lock):
            break
        if time.monotonic() - t0 > timeout:
            raise ConfigError(f"dataset {key} in {root}: waited {timeout:.0f} s for its builder")
        time.sleep(0.2)
    try:
        if final.is_dir():  # built between our check and our lock
            return Dataset.from_dir(final), key, "hit"
        ds = build_dataset(cfg, bars)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=root))
        try:
            ds.to_dir(tmp)
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return ds, key, "built"
    finally:
        lock.unlink(missing_ok=True)
