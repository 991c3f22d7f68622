"""What the Ray tests share: tiny sine envs and a Ray session that always shuts down."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from tests.algorithms.conftest import sine_env_kwargs

#: two-hour episodes (120 bars) on the sine, in-process backtrader (one process per worker)
SINE_2H = {"days": 0, "hours": 2, "minutes": 0}


def ray_env_kwargs(**extra: Any) -> dict[str, Any]:
    """The sine envs of the Ray tests (as benchmarks/learning_sine.py, shorter episodes)."""
    kw = sine_env_kwargs(
        episode_duration=SINE_2H,
        broker_commission=0.0,
        shortcash=False,
        server="inprocess",
    )
    kw.update(extra)
    return kw


@contextlib.contextmanager
def local_ray(ray: Any, num_cpus: int = 2) -> Iterator[Any]:
    """A new Ray on this machine (no dashboard), always shut down. ``address="local"``:
    never join a cluster that ``ray start`` or a ``Cluster`` left on the machine."""
    ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()
