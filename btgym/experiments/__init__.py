"""Experiments: work specs, the run registry, executors, sweeps, RL run recording, reports.

>>> from btgym.experiments import load_spec, Registry, LocalExecutor
>>> spec = load_spec("work.yaml")
>>> summary = LocalExecutor(n_workers=2).run(spec, Registry())

Names load lazily so ``import btgym.experiments`` stays light (no torch, no pandas).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ModelSpec": "btgym.experiments.spec",
    "WorkUnit": "btgym.experiments.spec",
    "WorkSpec": "btgym.experiments.spec",
    "DataRef": "btgym.experiments.spec",
    "load_spec": "btgym.experiments.spec",
    "canonical_json": "btgym.experiments.config",
    "config_hash": "btgym.experiments.config",
    "code_version": "btgym.experiments.config",
    "data_fingerprint": "btgym.experiments.config",
    "diff_configs": "btgym.experiments.config",
    "new_ulid": "btgym.experiments.config",
    "ConfigChange": "btgym.experiments.config",
    "Registry": "btgym.experiments.registry",
    "RunRecord": "btgym.experiments.registry",
    "SweepResult": "btgym.experiments.registry",
    "expand_sweep": "btgym.experiments.sweeps",
    "RunOutcome": "btgym.experiments.runner",
    "run_config": "btgym.experiments.runner",
    "load_result": "btgym.experiments.rundir",
    "load_atlas_results": "btgym.experiments.rundir",
    "LocalExecutor": "btgym.experiments.executors",
    "RayExecutor": "btgym.experiments.executors",
    "RunSummary": "btgym.experiments.executors",
    "build_report": "btgym.experiments.report",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'btgym.experiments' has no attribute {name!r}")
