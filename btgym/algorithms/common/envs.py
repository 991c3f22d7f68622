"""Building the envs a trainer runs.

A trainer takes ``env_fns`` (one zero-argument callable per worker / vector
env slot, picklable so it can travel to a spawned process), ``env_kwargs`` (the
keywords of :class:`btgym.BTgymEnv`; the trainer then calls
``btgym.envs.make_env_fns(n, **env_kwargs)``, so all its envs share one data
server, and it stores the keywords in its checkpoints for ``btgym eval``; with
``engine="vector"`` there is no data server: each env is an ``EngineEnv``) or
``vector_env`` (a zero-argument callable returning a gymnasium ``VectorEnv``, e.g.
``functools.partial(btgym.VectorBTgymEnv, num_envs=64, **kw)``).

With ``env_kwargs`` (or ``vector_env``) the trainers can step btgym's native vector
envs (:mod:`~btgym.algorithms.common.vecenv`): :meth:`EnvGroup.vector` builds their
factories.

:class:`GuardedEnvFn` wraps a callable so that, when it runs in a process other
than the one that made it (a gymnasium ``AsyncVectorEnv`` or SB3 ``SubprocVecEnv``
worker), that process ends when its parent dies (no orphan survives a SIGKILLed
trainer). The env may start its own server there although those vec envs make their
workers daemonic: :class:`btgym.comm.process.ChildProcess` allows it.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym

from btgym.algorithms.common.vecenv import (
    VectorFn,
    is_vector_engine,
    native_possible,
    vector_fn,
)
from btgym.comm.process import watch_owner
from btgym.errors import ConfigError
from btgym.log import get_logger

log = get_logger(__name__)

EnvFn = Callable[[], gym.Env]


#: short names accepted for ``env_class``
ENV_CLASSES = {
    "BTgymEnv": "btgym.envs:BTgymEnv",
    "MultiDiscreteEnv": "btgym.envs:MultiDiscreteEnv",
    "PortfolioEnv": "btgym.envs:PortfolioEnv",
}


def resolve_env_class(name: str | type | None) -> type:
    """``None`` -> ``BTgymEnv``; a short name (:data:`ENV_CLASSES`) or ``"module:Class"``.

    The name (not the class) is what checkpoints store under ``env_kwargs["env_class"]``.

    Raises:
        ConfigError: the name does not resolve to a class.
    """
    if isinstance(name, type):
        return name
    target = ENV_CLASSES.get(name or "BTgymEnv", name)
    module, _, attr = str(target).partition(":")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigError(
            f"env_class {name!r} is not one of {sorted(ENV_CLASSES)} nor an importable "
            "'module:Class'"
        ) from exc
    if not isinstance(cls, type):
        raise ConfigError(f"env_class {name!r} is not a class")
    return cls


def make_env(env_kwargs: dict[str, Any]) -> gym.Env:
    """One standalone env (its own data server) from stored ``env_kwargs``."""
    kw = dict(env_kwargs)
    cls = resolve_env_class(kw.pop("env_class", None))
    return cls(**kw)


class GuardedEnvFn:
    """``fn`` plus a parent-death watch when called in a child process.

    Args:
        fn: zero-argument env factory.
        wrap: optional ``wrap(env) -> env`` applied to the new env.
    """

    def __init__(self, fn: EnvFn, wrap: Callable[[gym.Env], gym.Env] | None = None) -> None:
        self.fn, self.wrap = fn, wrap
        self.parent_pid = os.getpid()

    def __call__(self) -> gym.Env:
        if os.getpid() != self.parent_pid:
            # the env's own server may start from this daemonic worker:
            # btgym.comm.process.ChildProcess allows it (its children watch their owner)
            watch_owner(self.parent_pid)
        env = self.fn()
        return self.wrap(env) if self.wrap is not None else env


class EnvGroup:
    """The env factories of one trainer and whatever they share (a data server).

    Args:
        n: number of envs.
        env_fns: explicit factories (one, repeated, or exactly ``n``).
        env_kwargs: keywords for ``btgym.envs.make_env_fns``.
        seed: the shared data server's seed (with ``env_kwargs``): it draws the trials
            of data-slave envs, so one worker and one seed give the same episodes.
        vector_env: a factory of a ready gymnasium ``VectorEnv`` (instead of the others).
    """

    def __init__(
        self,
        n: int,
        env_fns: Sequence[EnvFn] | EnvFn | None = None,
        env_kwargs: dict[str, Any] | None = None,
        seed: int | None = None,
        vector_env: VectorFn | None = None,
    ) -> None:
        self.seed = seed
        self.env_kwargs = dict(env_kwargs) if env_kwargs is not None else None
        if self.env_kwargs and self.env_kwargs.get("encoders"):  # JSON dicts in checkpoints
            from btgym.models.env_encoders import encoder_dicts

            self.env_kwargs["encoders"] = list(encoder_dicts(self.env_kwargs["encoders"]))
        self._owner: Any = None
        self.vector_env = vector_env
        self.env_class: type | None = None
        given = sum(x is not None for x in (env_fns, env_kwargs, vector_env))
        if given > 1:
            raise ConfigError("pass one of env_fns, env_kwargs or vector_env, not several")
        if given == 0:
            raise ConfigError("a trainer needs env_fns, env_kwargs or vector_env")
        if vector_env is not None:
            if not callable(vector_env):
                raise ConfigError("vector_env must be a zero-argument callable (a factory)")
            self.fns: list[EnvFn] = []
        elif env_fns is not None:
            fns = [env_fns] * n if callable(env_fns) else list(env_fns)
            if len(fns) == 1 and n > 1:
                fns = fns * n
            if len(fns) != n:
                raise ConfigError(f"got {len(fns)} env_fns for {n} workers")
            self.fns = fns
        else:
            self.fns = self._from_kwargs(n, self.env_kwargs)

    def _from_kwargs(self, n: int, kwargs: dict[str, Any]) -> list[EnvFn]:
        from btgym.envs.vector import make_env_fns

        kw = dict(kwargs)
        cls = self.env_class = resolve_env_class(kw.pop("env_class", None))
        if is_vector_engine(kw):  # numpy engine: no data server to share
            return [functools.partial(cls, **kw) for _ in range(n)]
        result = make_env_fns(n, env_class=cls, seed=kw.pop("seed", self.seed), **kw)
        self._owner = result
        return list(result)

    @property
    def native(self) -> bool:
        """Whether :meth:`vector` can build a native vector env."""
        return self.vector_env is not None or native_possible(self.env_kwargs)

    def vector(self, lo: int = 0, hi: int | None = None) -> VectorFn:
        """A factory of the native vector env over envs ``lo:hi`` (the given
        ``vector_env`` as it is).

        Raises:
            ConfigError: the envs came as ``env_fns`` or run in-process.
        """
        if self.vector_env is not None:
            return self.vector_env
        if not self.native:
            raise ConfigError(
                "a native vector env needs env_kwargs with server='process' (the default) "
                "or engine='vector', or a vector_env factory; got env_fns or in-process servers"
            )
        return vector_fn(self.fns[lo:hi], self.env_class, self.env_kwargs)

    def close(self) -> None:
        """Stop what the envs share (idempotent)."""
        owner, self._owner = self._owner, None
        close = getattr(owner, "close", None)
        if callable(close):
            with contextlib.suppress(Exception):
                close()

    def spaces(self) -> tuple[gym.Space, gym.Space]:
        """Observation and action space, from a short-lived env of the first factory
        (or the single spaces of a short-lived ``vector_env``)."""
        if self.vector_env is not None:
            venv = self.vector_env()
            try:
                return venv.single_observation_space, venv.single_action_space
            finally:
                venv.close()
        env = self.fns[0]()
        try:
            return env.observation_space, env.action_space
        finally:
            env.close()
