"""The learner's side of the worker actors: start, call, survive deaths, stop."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

from btgym.algorithms.distributed.config import RayConfig
from btgym.algorithms.distributed.runtime import is_unavailable, remote_worker_class
from btgym.errors import WorkerLostError
from btgym.log import get_logger

log = get_logger(__name__)


class WorkerPool:
    """``n`` :class:`~.worker.RolloutWorker` actors.

    A call in flight when its worker dies is lost (counted in :attr:`lost`); Ray
    restarts the worker (``max_restarts``) and the learner calls it again once it is
    back. A worker that died more than ``max_restarts`` times, or stays unavailable
    longer than ``restart_timeout``, raises :class:`~btgym.errors.WorkerLostError`.

    Args:
        ray: the ray module; config: the :class:`RayConfig`.
        n: number of workers; args: ``args(i)`` -> constructor arguments of worker ``i``.
    """

    def __init__(self, ray: Any, config: RayConfig, n: int, args: Callable[[int], tuple]) -> None:
        self.ray, self.config, self.n = ray, config, n
        self._args = args
        self.actors: list[Any] = []
        self.info: list[dict[str, Any]] = []
        self.lost = 0
        self.deaths = [0] * n
        self._down_since: dict[int, float] = {}

    def start(self) -> None:
        """Create the actors and wait until every one has built its envs."""
        cls = remote_worker_class(self.config)
        self.actors = [cls.remote(*self._args(i)) for i in range(self.n)]
        refs = [a.ready.remote() for a in self.actors]
        self.info = list(self.ray.get(refs, timeout=self.config.worker_timeout))
        nodes = len({i["node_id"] for i in self.info})
        log.info(f"ray: {self.n} workers ready on {nodes} node(s)")

    def call(self, i: int, method: str, *args: Any) -> Any:
        """An object ref of ``worker_i.method(*args)``."""
        return getattr(self.actors[i], method).remote(*args)

    def ok(self, i: int, result: dict[str, Any]) -> None:
        """Worker ``i`` answered (its pid may have changed after a restart)."""
        self._down_since.pop(i, None)
        if "pid" in result and i < len(self.info):
            self.info[i] = {**self.info[i], "pid": result["pid"], "reborn": result.get("reborn")}

    def failed(self, i: int, exc: BaseException) -> float:
        """Book a failed call of worker ``i``; returns seconds to wait before calling again.

        Raises:
            WorkerLostError: the worker is gone for good.
            BaseException: ``exc`` itself when it is not a worker death (an env error).
        """
        ray = self.ray
        if not isinstance(exc, ray.exceptions.RayActorError):
            raise exc
        now = time.monotonic()
        since = self._down_since.setdefault(i, now)
        if is_unavailable(exc):
            if now - since > self.config.restart_timeout:
                raise WorkerLostError(
                    f"ray worker {i} did not come back within {self.config.restart_timeout:.0f} s"
                ) from exc
            return 0.5
        self.deaths[i] += 1
        self.lost += 1
        if self.deaths[i] > self.config.max_restarts:
            raise WorkerLostError(
                f"ray worker {i} died {self.deaths[i]} times (max_restarts="
                f"{self.config.max_restarts}): {exc}"
            ) from exc
        log.warning(f"ray worker {i} died (its rollout is lost); Ray restarts it: {exc}")
        return 0.5

    def stop(self, rng_states: list[Any] | None = None) -> None:
        """Collect the workers' final RNG states into ``rng_states``, close and kill them."""
        ray, actors, self.actors = self.ray, self.actors, []
        if rng_states is not None and actors:
            refs = [a.final_rng.remote() for a in actors]
            for i, ref in enumerate(refs):
                with contextlib.suppress(Exception):
                    state = ray.get(ref, timeout=30)
                    if state is not None:
                        rng_states[i] = state
        closing = [a.close.remote() for a in actors]
        with contextlib.suppress(Exception):
            ray.wait(closing, num_returns=len(closing), timeout=30)
        for a in actors:
            with contextlib.suppress(Exception):
                ray.kill(a, no_restart=True)
