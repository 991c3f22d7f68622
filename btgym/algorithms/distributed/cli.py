"""``btgym train --backend ray [--address ADDR]``: the CLI's hook into the Ray backend.

:func:`add_backend_args` adds the options to the ``train`` parser; :func:`trainer_for`
picks the trainer class and its extra keywords. Nothing here imports Ray or torch
until a Ray run is asked for, so ``btgym --help`` stays instant.
"""

from __future__ import annotations

import argparse
from typing import Any

from btgym.errors import ConfigError

BACKENDS = ("local", "ray")


def add_backend_args(parser: argparse.ArgumentParser) -> None:
    """``--backend``, ``--address`` and ``--max-restarts`` of ``btgym train``."""
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default="local",
        help="local: worker processes on this machine (default); ray: worker actors on a "
        "Ray cluster (pip install 'btgym[ray]')",
    )
    parser.add_argument(
        "--address",
        default=None,
        metavar="ADDR",
        help="with --backend ray: the cluster ('auto', 'HOST:6379', 'ray://HOST:10001'); "
        "default: a local Ray",
    )
    parser.add_argument(
        "--max-restarts",
        type=int,
        default=3,
        metavar="N",
        help="with --backend ray: how often Ray restarts a worker that died (default 3)",
    )


def get_ray_algo(name: str) -> type:
    """:class:`RayA3C` for ``"a3c"``, :class:`RayPPO` for ``"ppo"``."""
    key = name.lower()
    if key == "a3c":
        from btgym.algorithms.distributed.a3c import RayA3C

        return RayA3C
    if key == "ppo":
        from btgym.algorithms.distributed.ppo import RayPPO

        return RayPPO
    raise ConfigError(f"algorithm {name!r} is not one of ['a3c', 'ppo']")


def trainer_for(args: argparse.Namespace) -> tuple[type, dict[str, Any]]:
    """The trainer class of ``args.algo`` on ``args.backend`` and its extra keywords.

    Raises:
        ConfigError: ``--address`` without ``--backend ray``.
        MissingExtraError: ``--backend ray`` without Ray installed.
    """
    backend = getattr(args, "backend", "local") or "local"
    if backend == "local":
        if getattr(args, "address", None):
            raise ConfigError("--address needs --backend ray")
        from btgym.algorithms import get_algo

        return get_algo(args.algo), {}
    from btgym.algorithms.distributed.runtime import import_ray

    import_ray()  # a clear MissingExtraError before anything starts
    ray_config = {"address": args.address, "max_restarts": args.max_restarts}
    return get_ray_algo(args.algo), {"ray_config": ray_config}
