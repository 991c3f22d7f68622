"""Gymnasium envs over backtrader: :class:`BTgymEnv`, :class:`MultiDiscreteEnv`,
:class:`PortfolioEnv`, and helpers to run many of them on one data server."""

from btgym.envs.base import BTgymEnv
from btgym.envs.variants import MultiDiscreteEnv, PortfolioEnv
from btgym.envs.vector import EnvFns, make_env_fns

__all__ = ["BTgymEnv", "EnvFns", "MultiDiscreteEnv", "PortfolioEnv", "make_env_fns"]
