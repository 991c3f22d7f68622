"""Executors: :class:`LocalExecutor` (process pool) and :class:`RayExecutor` (``btgym[ray]``)."""

from __future__ import annotations

from typing import Any

from btgym.experiments.executors.base import RunSummary
from btgym.experiments.executors.local import LocalExecutor

__all__ = ["LocalExecutor", "RayExecutor", "RunSummary", "make_executor"]


def __getattr__(name: str) -> Any:
    if name == "RayExecutor":
        from btgym.experiments.executors.ray import RayExecutor

        return RayExecutor
    raise AttributeError(f"module 'btgym.experiments.executors' has no attribute {name!r}")


def make_executor(
    kind: str, *, workers: int | None = None, device: str = "cpu", allow_data_change: bool = False
) -> Any:
    """``"local"`` or ``"ray"`` executor from CLI-style settings."""
    from btgym.errors import ConfigError

    if kind == "local":
        return LocalExecutor(n_workers=workers, device=device, allow_data_change=allow_data_change)
    if kind == "ray":
        from btgym.experiments.executors.ray import RayExecutor

        return RayExecutor(num_cpus=workers, allow_data_change=allow_data_change)
    raise ConfigError(f"executor {kind!r} is not one of ['local', 'ray']")
