"""Settings of the Ray backend (where the rollout workers run, how they restart)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from btgym.errors import ConfigError, check_keywords

#: how workers get their data (see :mod:`.envs`): each worker actor owns a data server,
#: or all share the driver's, over TCP with CURVE
DATA_MODES = ("per_worker", "shared")


@dataclass(frozen=True, kw_only=True)
class RayConfig:
    """Where and how the rollout workers of :class:`RayA3C` / :class:`RayPPO` run.

    Attributes:
        address: an existing cluster (``"auto"``, ``"ray://host:10001"``, ``"host:6379"``);
            ``None`` starts a local Ray unless one is already initialised in this process.
        num_cpus: CPUs of the local Ray started for ``address=None`` (``None``: all).
        worker_cpus: CPUs each worker actor reserves (Ray's ``num_cpus``; fractions allowed).
        learner_device: the learner's torch device on the driver (``None``: the trainer's
            ``device``); workers always run their model copy on CPU.
        envs_per_worker: envs each worker actor steps (PPO; A3C workers step one env).
        max_restarts: how often Ray restarts a worker actor that died; training goes on
            meanwhile without it (its rollout in flight is lost) and fails with
            :class:`~btgym.errors.WorkerLostError` once a worker is gone for good.
        restart_timeout: seconds to wait for a restarting worker before giving up on it.
        data: ``"per_worker"`` (default): each worker actor runs its own data server,
            seeded from the run seed's ``SeedSequence.spawn``; ``"shared"``: one data
            server on the driver serves every worker over TCP, authenticated and
            encrypted with CURVE (keys made per run): one global time and broadcast for
            the whole run (see ``docs/scaling.md``).
        worker_timeout: seconds for a worker to build its envs (first call).
        ordered: A3C applies the workers' gradients in a fixed round-robin order
            instead of as they arrive: a run is reproducible from its seed (a slow worker
            holds the others back; PPO is synchronous anyway).
    """

    address: str | None = None
    num_cpus: int | None = None
    worker_cpus: float = 1.0
    learner_device: str | None = None
    envs_per_worker: int = 1
    max_restarts: int = 3
    restart_timeout: float = 120.0
    data: str = "per_worker"
    worker_timeout: float = 180.0
    ordered: bool = False

    def __post_init__(self) -> None:
        if self.data not in DATA_MODES:
            raise ConfigError(f"RayConfig.data {self.data!r} is not one of {DATA_MODES}")
        if self.worker_cpus < 0 or self.envs_per_worker < 1 or self.max_restarts < 0:
            raise ConfigError(
                "RayConfig needs worker_cpus >= 0, envs_per_worker >= 1 and max_restarts >= 0, "
                f"got {self.worker_cpus}, {self.envs_per_worker}, {self.max_restarts}"
            )

    @classmethod
    def from_keywords(cls, **keywords: Any) -> RayConfig:
        """Build from keywords; an unknown key raises naming the close matches."""
        check_keywords(keywords, [f.name for f in dataclasses.fields(cls)], cls.__name__)
        return cls(**keywords)

    @classmethod
    def coerce(cls, value: RayConfig | dict[str, Any] | None) -> RayConfig:
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        return cls.from_keywords(**dict(value))
