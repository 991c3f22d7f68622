"""Resolved run configs: canonical JSON, config hashes, dotted paths, fingerprints, ids.

A run config is plain JSON (dicts, lists, str, int, float, bool, None). Its
:func:`config_hash` is the sha256 of the canonical JSON without the label fields
(:data:`LABEL_FIELDS`), so the same work under another name or code version hashes the
same. The data fingerprint is kept beside the hash, never in it.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import math
import os
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

from btgym.errors import ConfigError

#: config keys that name or label a run but do not change its work (``resources``, where
#: a run may execute, is one too: moving a run to a GPU does not make it other work)
LABEL_FIELDS = (
    "experiment",
    "workspec",
    "unit",
    "model_spec",
    "name",
    "tags",
    "btgym",
    "resources",
)

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


# --------------------------------------------------------------------------- JSON


def to_jsonable(obj: Any, where: str = "config") -> Any:
    """A plain-JSON copy of ``obj``: tuples become lists, paths POSIX strings, numpy
    scalars Python numbers, objects with ``to_dict()`` their dict.

    Raises:
        ConfigError: a value that has no JSON form (named by its dotted path) or a
            non-finite float.
    """
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        if not math.isfinite(obj):
            raise ConfigError(f"{where}: {obj!r} is not a finite number (JSON has none)")
        return float(obj)
    if isinstance(obj, PurePath):
        return obj.as_posix()
    if isinstance(obj, Mapping):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, str):
                k = str(k)
            out[k] = to_jsonable(v, f"{where}.{k}")
        return out
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v, f"{where}.{i}") for i, v in enumerate(obj)]
    if hasattr(obj, "to_dict") and callable(obj.to_dict):
        return to_jsonable(obj.to_dict(), where)
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalar
        return to_jsonable(obj.item(), where)
    raise ConfigError(f"{where}: {type(obj).__name__} value {obj!r} has no JSON form")


def canonical_json(cfg: Any) -> str:
    """The one JSON text of a config: sorted keys, compact separators, UTF-8, no NaN."""
    return json.dumps(
        to_jsonable(cfg),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )


def strip_labels(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """``cfg`` without the top-level :data:`LABEL_FIELDS`."""
    return {k: v for k, v in cfg.items() if k not in LABEL_FIELDS}


def config_hash(cfg: Mapping[str, Any]) -> str:
    """sha256 hex of the canonical JSON of ``cfg`` minus its label fields."""
    return hashlib.sha256(canonical_json(strip_labels(cfg)).encode("utf-8")).hexdigest()


def sha256_text(*parts: Any) -> str:
    """sha256 hex of the canonical JSON of ``parts`` (a stable key for caches)."""
    return hashlib.sha256(canonical_json(list(parts)).encode("utf-8")).hexdigest()


def sha256_file(path: str | os.PathLike) -> tuple[str, int]:
    """``(sha256 hex, size in bytes)`` of a file, read in 1 MiB chunks."""
    h, n = hashlib.sha256(), 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
            n += len(chunk)
    return h.hexdigest(), n


# --------------------------------------------------------------------------- dotted paths


def _split(path: str) -> list[str]:
    if not path or any(not p for p in path.split(".")):
        raise ConfigError(f"bad dotted path {path!r}")
    return path.split(".")


def _step(node: Any, seg: str, path: str) -> Any:
    if isinstance(node, Mapping):
        if seg not in node:
            raise KeyError(path)
        return node[seg]
    if isinstance(node, list):
        try:
            return node[int(seg)]
        except (ValueError, IndexError):
            raise KeyError(path) from None
    raise KeyError(path)


def get_path(cfg: Any, path: str) -> Any:
    """The value at a dotted path (integer segments index lists).

    Raises:
        ConfigError: the path does not exist in ``cfg``.
    """
    node = cfg
    for seg in _split(path):
        try:
            node = _step(node, seg, path)
        except KeyError:
            raise ConfigError(f"config has no path {path!r} (missing at {seg!r})") from None
    return node


def has_path(cfg: Any, path: str) -> bool:
    """Whether ``get_path(cfg, path)`` would succeed."""
    try:
        get_path(cfg, path)
    except ConfigError:
        return False
    return True


def set_path(cfg: Mapping[str, Any], path: str, value: Any, *, allow_new: bool = False) -> dict:
    """A deep copy of ``cfg`` with ``value`` at ``path``.

    Raises:
        ConfigError: the path is missing from ``cfg`` (a typo guard) unless
            ``allow_new``, in which case missing mapping levels are created.
    """
    if not allow_new and not has_path(cfg, path):
        raise ConfigError(
            f"sweep path {path!r} is not in the base config (typo?); pass allow_new=True to add it"
        )
    out = copy.deepcopy(dict(cfg))
    segs = _split(path)
    node: Any = out
    for seg in segs[:-1]:
        if isinstance(node, list):
            node = node[int(seg)]
        else:
            node = node.setdefault(seg, {})
    last = segs[-1]
    if isinstance(node, list):
        node[int(last)] = copy.deepcopy(value)
    elif isinstance(node, dict):
        node[last] = copy.deepcopy(value)
    else:
        raise ConfigError(f"cannot set {path!r}: its parent is a {type(node).__name__}")
    return out


def iter_leaves(cfg: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``(dotted path, leaf)`` pairs; list items by index, empty containers as leaves."""
    if isinstance(cfg, Mapping) and cfg:
        for k in sorted(cfg):
            yield from iter_leaves(cfg[k], f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(cfg, list) and cfg:
        for i, v in enumerate(cfg):
            yield from iter_leaves(v, f"{prefix}.{i}" if prefix else str(i))
    else:
        yield prefix, cfg


_MISSING = "<missing>"


@dataclass(frozen=True)
class ConfigChange:
    """One differing leaf of two configs (``<missing>`` where one side lacks it)."""

    path: str
    a: Any
    b: Any


def diff_configs(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[ConfigChange]:
    """The leaves that differ between two configs, sorted by path."""
    la, lb = dict(iter_leaves(a)), dict(iter_leaves(b))
    out = []
    for path in sorted(set(la) | set(lb)):
        va, vb = la.get(path, _MISSING), lb.get(path, _MISSING)
        if canonical_json([va]) != canonical_json([vb]):
            out.append(ConfigChange(path, va, vb))
    return out


# --------------------------------------------------------------------------- ids, versions


class _Ulid:
    """Monotonic ULID source: 48-bit milliseconds + 80 random bits, Crockford base32."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = -1
        self._last_rand = 0

    def __call__(self) -> str:
        with self._lock:
            ms = int(time.time() * 1000)
            if ms <= self._last_ms:
                ms = self._last_ms
                rand = (self._last_rand + 1) & ((1 << 80) - 1)
            else:
                rand = int.from_bytes(os.urandom(10), "big")
            self._last_ms, self._last_rand = ms, rand
        value = (ms << 80) | rand
        return "".join(_CROCKFORD[(value >> (5 * i)) & 31] for i in range(25, -1, -1))


new_ulid = _Ulid()
new_ulid.__doc__ = "A new ULID: 26 Crockford base32 characters, sortable by creation time."


def ulid_time(ulid: str) -> float:
    """The creation time (epoch seconds) encoded in a ULID."""
    value = 0
    for ch in ulid.upper():
        value = value * 32 + _CROCKFORD.index(ch)
    return (value >> 80) / 1000.0


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """``btgym.__version__`` plus ``+g<sha>[.dirty]`` when btgym sits in a git checkout."""
    import btgym

    version = btgym.__version__
    root = Path(btgym.__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return version
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            [
                "git",
                "-C",
                str(root),
                "status",
                "--porcelain",
                "--untracked-files=no",
                "--",
                "btgym",
            ],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return version
    return f"{version}+g{sha}{'.dirty' if dirty else ''}" if sha else version


def data_fingerprint(bars: Any) -> str:
    """``Bars.fingerprint()``: ``"sha256:<hex>"`` over names, timeframe, index and values."""
    fp = getattr(bars, "fingerprint", None)
    if callable(fp):
        return str(fp())
    h = hashlib.sha256()  # same recipe as features.md §1, for Bars without the method
    h.update(json.dumps(list(bars.names)).encode())
    h.update(str(int(bars.timeframe)).encode())
    h.update(bars.index.tobytes())
    for name in bars.names:
        h.update(bars.values[name].tobytes())
    return "sha256:" + h.hexdigest()
