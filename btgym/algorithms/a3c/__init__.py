"""A3C: asynchronous worker processes, Hogwild updates of a shared model.

:class:`A3C` (the chief, :mod:`.a3c`), :class:`A3CConfig` (:mod:`.config`), the worker
body (:mod:`.worker`), shared optimizers (:mod:`.shared_optim`). Imported lazily so
worker processes skip the chief's TensorBoard imports.
"""

from __future__ import annotations

from typing import Any

__all__ = ["A3C", "A3CConfig"]


def __getattr__(name: str) -> Any:
    if name == "A3C":
        from btgym.algorithms.a3c.a3c import A3C

        return A3C
    if name == "A3CConfig":
        from btgym.algorithms.a3c.config import A3CConfig

        return A3CConfig
    raise AttributeError(f"module 'btgym.algorithms.a3c' has no attribute {name!r}")
