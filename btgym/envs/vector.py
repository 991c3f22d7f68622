"""Many envs on one data server, for ``AsyncVectorEnv``, ``SubprocVecEnv`` or A3C workers.

>>> fns = make_env_fns(4, filename="DAT_ASCII_EURUSD_M1_201701.csv")
>>> venv = gymnasium.vector.AsyncVectorEnv(fns)      # or SB3's SubprocVecEnv(fns)
>>> ...
>>> venv.close(); fns.close()                        # stops the shared data server

The data server runs in a child of the calling process; each thunk builds a
``data_master=False`` env that connects to it, wherever the thunk is called (the
thunks are plain ``functools.partial`` objects and pickle).
"""

from __future__ import annotations

import functools
import weakref
from typing import Any

from btgym.dataserver import DataServerConfig, DataServerProcess
from btgym.envs.base import BTgymEnv
from btgym.envs.wiring import SHARED_WITH_DATASERVER, EnvSetup


class EnvFns(list):
    """A list of env thunks that also owns the shared data server.

    Attributes:
        data_address: the data server's endpoint.
        data_server: its :class:`~btgym.dataserver.DataServerProcess`.
    """

    def __init__(self, fns: list, data_server: DataServerProcess) -> None:
        super().__init__(fns)
        self.data_server = data_server
        self.data_address = data_server.endpoint
        self._finalizer = weakref.finalize(self, data_server.stop)

    def close(self) -> None:
        """Stop the shared data server (idempotent). Close the envs first."""
        self._finalizer()

    def __enter__(self) -> EnvFns:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __reduce__(self) -> Any:  # a thunk list travels as a plain list
        return (list, (list(self),))


def make_env_fns(
    n: int, env_class: type[BTgymEnv] = BTgymEnv, seed: int | None = None, **kwargs: Any
) -> EnvFns:
    """Start one data server and return ``n`` thunks building envs that share it.

    Args:
        n: number of envs.
        env_class: ``BTgymEnv``, ``MultiDiscreteEnv`` or ``PortfolioEnv``.
        seed: the data domain's seed (the envs' own seeds come from ``reset(seed=)``).
        **kwargs: BTGym keywords for every env (data keywords configure the server).

    Returns:
        An :class:`EnvFns` list; call ``.close()`` when done with the envs.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    setup = EnvSetup.build(kwargs)  # validates every keyword once, here
    source = setup.domain if setup.domain is not None else setup.configs["data"]
    server_kw = {k: v for k, v in kwargs.items() if k in SHARED_WITH_DATASERVER}
    data_server = DataServerProcess(source, DataServerConfig(**server_kw), seed=seed)
    endpoint = data_server.start()
    env_kwargs = {k: v for k, v in kwargs.items() if k != "dataset"}
    fns = [
        functools.partial(env_class, data_master=False, data_address=endpoint, **env_kwargs)
        for _ in range(n)
    ]
    return EnvFns(fns, data_server)
