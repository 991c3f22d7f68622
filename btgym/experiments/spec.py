"""Work specs (Atlas names): ModelSpec, DataRef, WorkUnit, WorkSpec and :func:`load_spec`.

A :class:`WorkSpec` expands to ``units × model_specs`` resolved run configs
(:meth:`WorkSpec.configs`). Spec files are JSON, YAML (read with ``yaml.safe_load``
only) or a ``package.module:attribute`` reference to the user's own module; what the
registry stores is always the resolved JSON.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from btgym.errors import ConfigError, UnknownKeywordError
from btgym.experiments.config import to_jsonable

NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
SPLIT_KEYS = ("train", "val", "test")
LAYER_TOKENS = {"n": 1, "2n": 2, "4n": 4}

#: ``FeatureLabelSet.split`` keywords other than the ranges, plus ``fill`` (features.md §7)
DATASET_DEFAULTS: dict[str, Any] = {
    "task": "regression",
    "label": None,
    "boundaries": None,
    "percentiles": None,
    "up_flat_down": None,
    "handle_boundary": "drop",
    "rebalance": None,
    "seed": 0,
    "embargo": "auto",
    "fill": None,
}


def check_name(name: Any, where: str) -> str:
    """A valid run-part name (``[A-Za-z0-9_.-]+``), else :class:`ConfigError`."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ConfigError(f"{where}: name {name!r} must match [A-Za-z0-9_.-]+")
    return name


def _check_keys(given: Mapping[str, Any], cls: type, where: str) -> None:
    known = {f.name for f in fields(cls)}
    for key in given:
        if key not in known:
            raise UnknownKeywordError(key, known, where)


def _unique(names: Sequence[str], where: str) -> None:
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise ConfigError(f"{where}: name {n!r} is used twice")
        seen.add(n)


@dataclass(frozen=True)
class ModelSpec:
    """One model to train on each unit: a registered class name and its hyperparameters."""

    name: str
    model: str
    params: Mapping[str, Any] = field(default_factory=dict)
    epochs: int | None = None
    seed: int = 0
    resources: Mapping[str, float] = field(default_factory=lambda: {"cpus": 1, "gpus": 0})
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_name(self.name, "ModelSpec")
        if not isinstance(self.model, str):
            raise ConfigError(
                f"ModelSpec {self.name!r}: model must be a registered class name, "
                f"got {type(self.model).__name__}"
            )
        if self.epochs is not None and int(self.epochs) < 1:
            raise ConfigError(f"ModelSpec {self.name!r}: epochs must be >= 1")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "model_spec") -> ModelSpec:
        _check_keys(d, cls, where)
        return cls(**d)


@dataclass(frozen=True)
class DataRef:
    """The keywords of ``btgym.datafeed.load_bars`` that name a data source."""

    filename: Any
    parsing_params: Mapping[str, Any] | None = None
    data_names: Sequence[str] | None = None
    timeframe: int | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | DataRef, where: str = "data") -> DataRef:
        if isinstance(d, DataRef):
            return d
        if isinstance(d, str):
            return cls(filename=d)
        _check_keys(d, cls, where)
        return cls(**d)

    def resolved(self, base_dir: Path | None = None) -> dict[str, Any]:
        """JSON form with absolute POSIX paths (relative ones are taken from ``base_dir``
        when the file is there, else from the current directory)."""

        def absolute(p: Any) -> Any:
            if isinstance(p, Mapping):
                return {k: absolute(v) for k, v in p.items()}
            if isinstance(p, (list, tuple)):
                return [absolute(v) for v in p]
            if not isinstance(p, (str, Path)):
                raise ConfigError(f"data filename {p!r}: a path (or list / mapping of paths)")
            path = Path(p).expanduser()
            if not path.is_absolute():
                cand = (base_dir / path) if base_dir is not None else None
                path = cand if cand is not None and cand.exists() else Path.cwd() / path
            return path.resolve().as_posix()

        return to_jsonable(
            {
                "filename": absolute(self.filename),
                "parsing_params": dict(self.parsing_params) if self.parsing_params else None,
                "data_names": list(self.data_names) if self.data_names else None,
                "timeframe": self.timeframe,
            },
            "data",
        )


@dataclass(frozen=True)
class WorkUnit:
    """One featureset on one data source with one split, trained by several models."""

    name: str
    featureset: Any
    data: Any
    split: Mapping[str, Sequence[str]]
    dataset_params: Mapping[str, Any] = field(default_factory=dict)
    model_specs: Sequence[ModelSpec] = ()

    def __post_init__(self) -> None:
        check_name(self.name, "WorkUnit")
        where = f"unit {self.name!r}"
        object.__setattr__(self, "data", DataRef.from_dict(self.data, f"{where}.data"))
        specs = tuple(
            s if isinstance(s, ModelSpec) else ModelSpec.from_dict(s, f"{where}.model_specs.{i}")
            for i, s in enumerate(self.model_specs)
        )
        _unique([s.name for s in specs], f"{where}.model_specs")
        object.__setattr__(self, "model_specs", specs)
        for key in self.split:
            if key not in SPLIT_KEYS:
                raise UnknownKeywordError(key, SPLIT_KEYS, f"{where}.split")
        for key in ("train", "test"):
            if key not in self.split:
                raise ConfigError(f"{where}.split: the {key!r} range is required")
        for key, rng in self.split.items():
            if not isinstance(rng, Sequence) or isinstance(rng, str) or len(rng) != 2:
                raise ConfigError(f"{where}.split.{key}: expected [start, end], got {rng!r}")
        for key in self.dataset_params:
            if key not in DATASET_DEFAULTS:
                raise UnknownKeywordError(key, DATASET_DEFAULTS, f"{where}.dataset_params")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "unit") -> WorkUnit:
        _check_keys(d, cls, where)
        d = dict(d)
        name = d.get("name", "?")
        unit_where = f"{where} ({name})"
        for key in d.get("dataset_params") or {}:
            if key not in DATASET_DEFAULTS:
                raise UnknownKeywordError(key, DATASET_DEFAULTS, f"{where}.dataset_params")
        d["model_specs"] = [
            ModelSpec.from_dict(s, f"{where}.model_specs.{i}") if isinstance(s, Mapping) else s
            for i, s in enumerate(d.get("model_specs") or ())
        ]
        if isinstance(d.get("data"), Mapping):
            d["data"] = DataRef.from_dict(d["data"], f"{where}.data")
        try:
            return cls(**d)
        except TypeError as exc:
            raise ConfigError(f"{unit_where}: {exc}") from None


@dataclass(frozen=True)
class WorkSpec:
    """A batch of work units; expands to ``units × model_specs`` run configs."""

    name: str
    units: Sequence[WorkUnit]
    description: str = ""
    lanes: Mapping[int, Sequence[str]] | None = None
    base_dir: Path | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        check_name(self.name, "WorkSpec")
        units = tuple(u if isinstance(u, WorkUnit) else WorkUnit.from_dict(u) for u in self.units)
        if not units:
            raise ConfigError(f"WorkSpec {self.name!r} has no units")
        _unique([u.name for u in units], f"WorkSpec {self.name!r}.units")
        object.__setattr__(self, "units", units)
        if self.lanes:
            names = {u.name for u in units}
            lanes = {int(k): tuple(v) for k, v in self.lanes.items()}
            for lane, members in lanes.items():
                for m in members:
                    if m not in names:
                        raise ConfigError(f"WorkSpec {self.name!r}.lanes.{lane}: no unit {m!r}")
            object.__setattr__(self, "lanes", lanes)

    @classmethod
    def from_dict(
        cls, d: Mapping[str, Any], *, source: str = "workspec", base_dir: Path | None = None
    ) -> WorkSpec:
        known = {f.name for f in fields(cls)} - {"base_dir"}
        for key in d:
            if key not in known:
                raise UnknownKeywordError(key, known, source)
        units = [
            WorkUnit.from_dict(u, f"{source}: units.{i}") if isinstance(u, Mapping) else u
            for i, u in enumerate(d.get("units") or ())
        ]
        kw = {k: v for k, v in d.items() if k != "units"}
        return cls(units=units, base_dir=base_dir, **kw)

    def lane_of(self, unit: str) -> int | None:
        """The GPU lane a unit is pinned to, if any."""
        for lane, members in (self.lanes or {}).items():
            if unit in members:
                return int(lane)
        return None

    def configs(self, experiment: str | None = None) -> list[dict[str, Any]]:
        """The resolved run config of every ``unit × model_spec`` pair."""
        from btgym.experiments.resolve import resolve_run_config

        return [
            resolve_run_config(self, unit, ms, experiment=experiment or self.name)
            for unit in self.units
            for ms in unit.model_specs
        ]


# --------------------------------------------------------------------------- loading


def _yaml_load(path: Path) -> Any:
    import yaml

    text = path.read_text(encoding="utf-8")
    try:
        return yaml.safe_load(text)
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        line = f", line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(
            f"{path}{line}: {exc.problem} (spec files are read with yaml.safe_load; "
            "python tags are refused)"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None


def load_spec(path_or_ref: str | Path) -> WorkSpec:
    """Read a WorkSpec from ``.json``, ``.yaml`` / ``.yml`` or ``package.module:attribute``.

    Raises:
        ConfigError: unreadable file, python YAML tags (with file and line), bad values.
        UnknownKeywordError: an unknown key, named with the file and its dotted path.
    """
    text = str(path_or_ref)
    path = Path(text)
    suffix = path.suffix.lower()
    if suffix in (".json", ".yaml", ".yml"):
        if not path.exists():
            raise ConfigError(f"spec file {path} does not exist")
        if suffix == ".json":
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{path}, line {exc.lineno}: not valid JSON: {exc.msg}") from None
        else:
            data = _yaml_load(path)
        if not isinstance(data, Mapping):
            raise ConfigError(f"{path}: a WorkSpec must be a mapping, got {type(data).__name__}")
        return WorkSpec.from_dict(data, source=str(path), base_dir=path.resolve().parent)
    if ":" in text:
        mod_name, _, attr = text.partition(":")
        try:
            obj = getattr(importlib.import_module(mod_name), attr)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"spec reference {text!r} cannot be imported: {exc}") from None
        if callable(obj) and not isinstance(obj, (WorkSpec, type)):
            obj = obj()
        if isinstance(obj, WorkSpec):
            return obj
        if isinstance(obj, Mapping):
            return WorkSpec.from_dict(obj, source=text)
        raise ConfigError(f"spec reference {text!r} is a {type(obj).__name__}, not a WorkSpec")
    raise ConfigError(f"spec {text!r}: expected a .json / .yaml / .yml file or module:attribute")
