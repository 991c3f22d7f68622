"""Sweeps over dotted config paths: grid, one-at-a-time and seeded random.

``space`` maps dotted paths into the run config (``model.params.hidden_layers``,
``dataset_params.percentiles``, ``epochs``; integer segments index lists) to value
lists (or, for ``random``, ``{"uniform": [a, b]}``, ``{"loguniform": [a, b]}``,
``{"int": [a, b]}``). A path missing from the base raises :class:`ConfigError`
unless ``allow_new=True``: a typo never silently sweeps nothing.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from btgym.errors import ConfigError
from btgym.experiments.config import (
    canonical_json,
    config_hash,
    get_path,
    has_path,
    set_path,
    to_jsonable,
)

STRATEGIES = ("grid", "one_at_a_time", "random")
_DISTS = ("uniform", "loguniform", "int")


def _check(
    base: Mapping[str, Any], space: Mapping[str, Any], strategy: str, allow_new: bool
) -> None:
    if strategy not in STRATEGIES:
        raise ConfigError(f"sweep strategy {strategy!r} is not one of {list(STRATEGIES)}")
    if not space:
        raise ConfigError("sweep space is empty")
    for path, values in space.items():
        if not allow_new and not has_path(base, path):
            raise ConfigError(
                f"sweep path {path!r} is not in the base config (typo?); "
                "pass allow_new=True to add it"
            )
        if isinstance(values, Mapping):
            if strategy != "random" or len(values) != 1 or next(iter(values)) not in _DISTS:
                raise ConfigError(
                    f"sweep path {path!r}: {values!r} — distributions "
                    f"({', '.join(_DISTS)}) are for random sweeps only, one per path"
                )
            lo_hi = next(iter(values.values()))
            if not isinstance(lo_hi, Sequence) or len(lo_hi) != 2:
                raise ConfigError(f"sweep path {path!r}: {values!r} needs [low, high]")
        elif not isinstance(values, Sequence) or isinstance(values, str) or not values:
            raise ConfigError(f"sweep path {path!r}: expected a non-empty list of values")


def _same(a: Any, b: Any) -> bool:
    return canonical_json([a]) == canonical_json([b])


def _draw(rng: np.random.Generator, spec: Any) -> Any:
    if isinstance(spec, Mapping):
        kind, (lo, hi) = next(iter(spec.items()))
        if kind == "uniform":
            return float(rng.uniform(lo, hi))
        if kind == "loguniform":
            if lo <= 0 or hi <= 0:
                raise ConfigError(f"loguniform bounds must be positive, got [{lo}, {hi}]")
            return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
        return int(rng.integers(int(lo), int(hi), endpoint=True))
    return to_jsonable(spec[int(rng.integers(len(spec)))])


def expand_sweep(
    base: Mapping[str, Any],
    space: Mapping[str, Any],
    strategy: str,
    *,
    n: int | None = None,
    seed: int = 0,
    allow_new: bool = False,
) -> list[dict[str, Any]]:
    """The sweep's configs (before deduplication), in a deterministic order.

    - ``grid``: the Cartesian product (``∏ |vᵢ|`` points);
    - ``one_at_a_time``: the base, plus one point per value that differs from the base
      value at that path (``1 + Σ (|vᵢ| − [base value ∈ vᵢ])``);
    - ``random``: ``n`` points drawn with ``numpy.random.default_rng(seed)``.
    """
    _check(base, space, strategy, allow_new)
    base = to_jsonable(dict(base))
    paths = list(space)
    if strategy == "grid":
        out = []
        for combo in itertools.product(*(space[p] for p in paths)):
            cfg = base
            for p, v in zip(paths, combo):
                cfg = set_path(cfg, p, to_jsonable(v), allow_new=allow_new)
            out.append(cfg)
        return out
    if strategy == "one_at_a_time":
        out = [base]
        for p in paths:
            current = get_path(base, p) if has_path(base, p) else object()
            for v in space[p]:
                if not _same(v, current):
                    out.append(set_path(base, p, to_jsonable(v), allow_new=allow_new))
        return out
    if n is None or int(n) < 1:
        raise ConfigError("a random sweep needs n >= 1 points")
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(int(n)):
        cfg = base
        for p in paths:
            cfg = set_path(cfg, p, _draw(rng, space[p]), allow_new=allow_new)
        out.append(cfg)
    return out


def create_sweep(
    registry: Any,
    experiment: str,
    base: Mapping[str, Any],
    space: Mapping[str, Any],
    strategy: str,
    *,
    n: int | None = None,
    seed: int = 0,
    allow_new: bool = False,
    kind: str | None = None,
) -> Any:
    """Expand a sweep, skip points whose config hash is already in the sweep or queued /
    running / finished in the experiment, record the sweep and queue the rest.

    Returns:
        :class:`~btgym.experiments.registry.SweepResult`.
    """
    from sqlalchemy import insert

    from btgym.experiments.config import new_ulid
    from btgym.experiments.registry import schema as S
    from btgym.experiments.registry.records import SweepResult
    from btgym.experiments.registry.store import now_utc

    points = expand_sweep(base, space, strategy, n=n, seed=seed, allow_new=allow_new)
    existing = {
        r.config_hash
        for r in (
            registry.runs(experiment=experiment, status=("queued", "running", "finished"))
            if _has_experiment(registry, experiment)
            else []
        )
    }
    fresh, seen, dups = [], set(existing), 0
    for cfg in points:
        h = config_hash(cfg)
        if h in seen:
            dups += 1
            continue
        seen.add(h)
        fresh.append(cfg)
    exp = registry.experiment(experiment)
    sweep_id = new_ulid()
    with registry.tx() as conn:
        conn.execute(
            insert(S.sweeps).values(
                id=sweep_id,
                experiment_id=exp.id,
                strategy=strategy,
                base_config_json=canonical_json(base),
                space_json=json.dumps(to_jsonable(dict(space)), sort_keys=True),
                n=n,
                seed=seed,
                created_at=now_utc(),
            )
        )
    run_kind = kind or base.get("kind") or "supervised"
    runs = registry.create_runs(experiment, fresh, kind=run_kind, sweep_id=sweep_id)
    return SweepResult(sweep_id=sweep_id, runs=runs, duplicates=dups)


def _has_experiment(registry: Any, name: str) -> bool:
    return any(e.name == name for e in registry.experiments())
