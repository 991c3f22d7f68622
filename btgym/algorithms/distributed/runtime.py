"""Ray plumbing: import with a helpful error, connect or start, make worker actors.

Ray is an optional extra (``pip install "btgym[ray]"``); nothing else in btgym
imports it, so btgym stays importable and tested without it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from btgym.algorithms.distributed.config import RayConfig
from btgym.errors import MissingExtraError
from btgym.log import get_logger

log = get_logger(__name__)


def import_ray() -> Any:
    """The ``ray`` module.

    Raises:
        MissingExtraError: Ray is not installed (the message names ``btgym[ray]``).
    """
    try:
        import ray
    except ImportError as exc:
        raise MissingExtraError("ray", "ray", "the Ray backend") from exc
    return ray


@contextlib.contextmanager
def ray_session(config: RayConfig) -> Iterator[Any]:
    """Use the Ray of this process, or connect to ``config.address``, or start a local one.

    A Ray this call started (or connected to) is shut down on exit; one that was already
    initialised (a notebook, a test fixture) is left running.
    """
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": True}
    if config.address is not None:
        kwargs["address"] = config.address
    else:  # a new local Ray, even where `ray start` left one running
        kwargs["address"] = "local"
        if config.num_cpus is not None:
            kwargs["num_cpus"] = config.num_cpus
    ray.init(**kwargs)
    log.info(f"ray: {'connected to ' + config.address if config.address else 'started locally'}")
    try:
        yield ray
    finally:
        ray.shutdown()


def remote_worker_class(config: RayConfig) -> Any:
    """:class:`~btgym.algorithms.distributed.worker.RolloutWorker` as a Ray actor class:
    restarted up to ``max_restarts`` times, calls in flight at a death are not retried
    (the learner drops that rollout and sends the worker fresh weights)."""
    ray = import_ray()
    from btgym.algorithms.distributed.worker import RolloutWorker

    return ray.remote(RolloutWorker).options(
        num_cpus=config.worker_cpus,
        max_restarts=config.max_restarts,
        max_task_retries=0,
    )


def is_unavailable(exc: BaseException) -> bool:
    """The worker is restarting (a later call may succeed)."""
    ray = import_ray()
    return isinstance(exc, ray.exceptions.ActorUnavailableError)


def is_dead(exc: BaseException) -> bool:
    """The worker died while running the call (Ray restarts it if it may)."""
    ray = import_ray()
    return isinstance(exc, ray.exceptions.RayActorError) and not is_unavailable(exc)
