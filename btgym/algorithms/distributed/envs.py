"""The envs of Ray worker actors, and where their data comes from.

**Data across nodes: one data server per worker actor.** With ``env_kwargs`` each
worker actor starts its own :class:`~btgym.dataserver.DataServerProcess` (a child of
the actor, on the actor's node, over ``ipc://`` / loopback only) and its envs connect
to it. Why not one CURVE-protected server for the whole cluster: nothing crosses the
network but Ray's own traffic (no key to generate, hand out and rotate, no port to
open), a reset never waits on another machine, and a worker that dies takes only its
own server with it and gets a fresh one when Ray restarts it. The servers are seeded
from one ``SeedSequence(run seed).spawn(n)`` (a branch of its own, so the model and
worker streams are unchanged), so a run is reproducible and no two workers replay the
same trials.

What still holds across nodes: **train/test separation**, because every server builds
the same domain from the same data and keywords, and the split is a pure function of
them (``test_period`` etc.), so a train trial on any node never touches test bars;
**global time**, per server a watermark of the latest bar it has handed out, and for
the run the maximum over the workers' servers (:meth:`RolloutWorker.data_info`);
**broadcast**: :meth:`RolloutWorker.set_broadcast` sets it on a worker's server, and the
trainers' ``broadcast()`` fans it out to all of them before returning.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from btgym.algorithms.common.envs import EnvFn, make_env, resolve_env_class
from btgym.errors import ConfigError

#: spawn key of the data servers' branch of the run seed (apart from the model and
#: worker streams of :func:`~btgym.algorithms.common.seeding.spawn_streams`)
DATA_SPAWN_KEY = 0xDA7A


def data_seeds(seed: int | None, n: int) -> list[int]:
    """Seeds of ``n`` workers' data servers from the run seed (fresh entropy for ``None``)."""
    root = np.random.SeedSequence(seed, spawn_key=(DATA_SPAWN_KEY,))
    return [int(c.generate_state(1, np.uint32)[0]) for c in root.spawn(n)]


class RayEnvGroup:
    """Stands in for :class:`~btgym.algorithms.common.envs.EnvGroup` with the Ray backend:
    nothing starts on the driver; each worker actor builds its share of the envs.

    Args:
        n_workers: worker actors; envs_per_worker: envs each steps.
        env_fns: one factory, or one per env (``n_workers * envs_per_worker``); they are
            pickled (cloudpickle) to the worker actors, so what they reference must be
            importable on every node.
        env_kwargs: ``BTgymEnv`` keywords (``env_class`` picks the class); each worker
            runs its own data server (see the module docstring).
        seed: the run seed (data servers' seeds are spawned from it).
    """

    def __init__(
        self,
        n_workers: int,
        envs_per_worker: int,
        env_fns: Sequence[EnvFn] | EnvFn | None = None,
        env_kwargs: dict[str, Any] | None = None,
        seed: int | None = None,
    ) -> None:
        if (env_fns is None) == (env_kwargs is None):
            raise ConfigError("a trainer needs env_fns or env_kwargs (exactly one)")
        self.n_workers, self.envs_per_worker = n_workers, envs_per_worker
        self.env_kwargs = dict(env_kwargs) if env_kwargs is not None else None
        if self.env_kwargs and self.env_kwargs.get("encoders"):  # JSON dicts in checkpoints
            from btgym.models.env_encoders import encoder_dicts

            self.env_kwargs["encoders"] = list(encoder_dicts(self.env_kwargs["encoders"]))
        n = n_workers * envs_per_worker
        self.fns: list[EnvFn] | None = None
        if env_fns is not None:
            fns = [env_fns] * n if callable(env_fns) else list(env_fns)
            if len(fns) == 1:
                fns = fns * n
            if len(fns) != n:
                raise ConfigError(
                    f"got {len(fns)} env_fns for {n_workers} workers x {envs_per_worker} envs"
                )
            self.fns = fns
        self.seeds = data_seeds((self.env_kwargs or {}).get("seed", seed), n_workers)
        #: ``data="shared"``: the driver's CURVE data server while training
        self.shared_server: Any = None
        self.shared_address: str | None = None

    def start_shared(self, host_ip: str, seed: int | None) -> str:
        """``data="shared"``: start one data server here for every worker, over TCP on all
        interfaces with CURVE (this run's keys; see :mod:`btgym.dataserver.process`).

        Returns:
            The address workers connect to (``host_ip``, session token, client keys: a
            credential; it travels to the workers inside Ray only).
        """
        if self.env_kwargs is None:
            raise ConfigError("RayConfig(data='shared') needs env_kwargs, not env_fns")
        from btgym.comm.session import Address
        from btgym.dataserver import DataServerConfig, DataServerProcess
        from btgym.envs.wiring import EnvSetup

        kw = dict(self.env_kwargs)
        kw.pop("env_class", None)
        seed = kw.pop("seed", seed)
        setup = EnvSetup.build(kw)
        source = setup.domain if setup.domain is not None else setup.configs["data"]
        config = DataServerConfig(transport="tcp", host="0.0.0.0", allow_remote=True)
        self.shared_server = DataServerProcess(source, config, seed=seed)
        bound = Address.parse(self.shared_server.start())
        port = bound.endpoint.rsplit(":", 1)[1]
        self.shared_address = str(Address(f"tcp://{host_ip}:{port}", bound.token, bound.curve))
        return self.shared_address

    def worker_spec(self, i: int) -> dict[str, Any]:
        """What worker ``i`` needs to build its envs (travels to the actor)."""
        k = self.envs_per_worker
        if self.fns is not None:
            return {"fns": self.fns[i * k : (i + 1) * k]}
        if self.shared_address is not None:
            return {"kwargs": self.env_kwargs, "data_address": self.shared_address, "n": k}
        return {"kwargs": self.env_kwargs, "data_seed": self.seeds[i], "n": k}

    def spaces(self) -> tuple[gym.Space, gym.Space]:
        """Observation and action space, from a short-lived env on the driver."""
        env = self.fns[0]() if self.fns is not None else make_env(self.env_kwargs or {})
        try:
            return env.observation_space, env.action_space
        finally:
            env.close()

    def close(self) -> None:
        """Stop the shared data server (``data="shared"``; idempotent)."""
        server, self.shared_server, self.shared_address = self.shared_server, None, None
        if server is not None:
            server.stop()


class WorkerEnvs:
    """A worker actor's envs and the data server it owns (built inside the actor)."""

    def __init__(self, spec: dict[str, Any], seed_offset: int = 0) -> None:
        self._owner: Any = None
        if "fns" in spec:
            self.fns = list(spec["fns"])
            return
        from btgym.envs.vector import make_env_fns

        kw = dict(spec["kwargs"])
        kw.pop("seed", None)
        cls = resolve_env_class(kw.pop("env_class", None))
        if "data_address" in spec:  # the driver's shared (CURVE) data server
            kw = {k: v for k, v in kw.items() if k != "dataset"}
            addr = spec["data_address"]
            self.fns = [
                functools.partial(cls, data_master=False, data_address=addr, **kw)
                for _ in range(int(spec["n"]))
            ]
            return
        seed = (int(spec["data_seed"]) + seed_offset) % 2**32
        self._owner = make_env_fns(int(spec["n"]), env_class=cls, seed=seed, **kw)
        self.fns = list(self._owner)

    @property
    def data_address(self) -> str | None:
        return getattr(self._owner, "data_address", None)

    def data_client(self) -> Any:
        """The owner's client of this worker's data server (every command, broadcast
        included; ``None`` with ``env_fns``)."""
        server = getattr(self._owner, "data_server", None)
        return None if server is None else server.client()

    def close(self) -> None:
        owner, self._owner = self._owner, None
        if owner is not None:
            with contextlib.suppress(Exception):
                owner.close()
