"""RLlib on btgym's envs, unchanged.

>>> from btgym.integrations.rllib import register_envs, ppo_config
>>> register_envs()                                   # tune.register_env for every id
>>> algo = ppo_config("btgym/Backtrader-v0", env_config={"filename": "sine.csv"}).build()
>>> algo.train()

:func:`register_envs` makes every btgym Gymnasium id (``btgym/Backtrader-v0``,
``btgym/MultiDiscrete-v0``, ``btgym/Portfolio-v0``) an RLlib env name through
``ray.tune.register_env``; ``env_config`` carries the env's keywords as they are.

**Which server mode for RLlib's EnvRunners.** An EnvRunner is a Ray actor that steps
its ``num_envs_per_env_runner`` envs one after the other from one thread, always the
same. ``server="inprocess"`` (the default here unless ``env_config`` says otherwise) runs
each env's backtrader loop inside the EnvRunner's process: one process per EnvRunner
plus each env's small data server, no IPC per step, and the "step from the thread that
called reset" rule of in-process mode holds. ``server="process"`` also works (one
backtrader child per env, a ZeroMQ round trip per step) and is the choice when an env
must survive a crash of its backtrader strategy in isolation, or RLlib runs envs in
their own actors (``remote_worker_envs=True``). Each env is its own data master, seeded
by RLlib's per-env ``reset(seed=...)``, so EnvRunners on other nodes need nothing from
the driver's machine: the data file must exist on every node (same path).

Needs the extra: ``pip install "btgym[ray]"``.
"""

from __future__ import annotations

from typing import Any

from btgym.algorithms.common.envs import resolve_env_class
from btgym.errors import MissingExtraError
from btgym.registration import IDS

#: RLlib env name -> btgym env class name (the Gymnasium ids)
ENV_NAMES = dict(IDS)
#: the server mode the envs get unless ``env_config`` names one (see the module docstring)
DEFAULT_SERVER = "inprocess"


def make_env(class_name: str, env_config: Any = None) -> Any:
    """A btgym env of ``class_name`` from an RLlib ``env_config`` (an ``EnvContext``
    or a dict of the env's keywords)."""
    kw = dict(env_config or {})
    kw.setdefault("server", DEFAULT_SERVER)
    return resolve_env_class(class_name)(**kw)


class EnvCreator:
    """``env_config -> env`` for one btgym env class (a picklable callable)."""

    def __init__(self, class_name: str) -> None:
        self.class_name = class_name

    def __call__(self, env_config: Any = None) -> Any:
        return make_env(self.class_name, env_config)


def register_envs(names: dict[str, str] | None = None) -> list[str]:
    """Register btgym's envs with Ray Tune / RLlib (``tune.register_env``); idempotent.

    Args:
        names: RLlib env name -> btgym env class name (default :data:`ENV_NAMES`).

    Returns:
        The registered names.

    Raises:
        MissingExtraError: Ray (with RLlib) is not installed.
    """
    try:
        from ray.tune.registry import register_env
    except ImportError as exc:
        raise MissingExtraError("ray[rllib]", "ray", "btgym.integrations.rllib") from exc
    names = dict(ENV_NAMES if names is None else names)
    for name, class_name in names.items():
        register_env(name, EnvCreator(class_name))
    return list(names)


def ppo_config(env: str, env_config: dict[str, Any] | None = None, **training: Any) -> Any:
    """An RLlib ``PPOConfig`` for a btgym env (registers the envs first).

    btgym's observations are ``Dict`` spaces; RLlib's default models take flat vectors,
    so the env-to-module pipeline flattens them (``FlattenObservations``): the env
    itself is unchanged.

    Args:
        env: a name of :data:`ENV_NAMES`; env_config: the env's keywords.
        **training: ``PPOConfig.training`` keywords (``train_batch_size_per_learner``, ...).
    """
    register_envs()
    from ray.rllib.algorithms.ppo import PPOConfig

    config = (
        PPOConfig()
        .environment(env=env, env_config=dict(env_config or {}))
        .env_runners(env_to_module_connector=_flatten_connector)
    )
    if training:
        config = config.training(**training)
    return config


def _flatten_connector(env: Any = None, spaces: Any = None, device: Any = None) -> Any:
    from ray.rllib.connectors.env_to_module import FlattenObservations

    return FlattenObservations()
