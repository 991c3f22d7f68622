"""btgym: Gymnasium-native reinforcement-learning backtesting on backtrader.

>>> import gymnasium as gym, btgym
>>> env = btgym.BTgymEnv(filename=btgym.sample_data_path("eurusd"))
>>> env = gym.make("btgym/Backtrader-v0", filename=...)

Heavy parts (envs, backtrader, matplotlib, torch) load on first use, so worker
processes that import ``btgym`` stay light.
"""

from __future__ import annotations

import importlib
from typing import Any

from btgym.errors import BTgymError
from btgym.registration import register_envs

__version__ = "0.1.0"

_LAZY = {
    "BTgymEnv": "btgym.envs",
    "MultiDiscreteEnv": "btgym.envs",
    "PortfolioEnv": "btgym.envs",
    "make_env_fns": "btgym.envs",
    "make_vec": "btgym.envs.vec",
    "BTgymDataset": "btgym.datafeed",
    "BTgymRandomDataDomain": "btgym.datafeed",
    "BTgymSequentialDataDomain": "btgym.datafeed",
    "DataSampleConfig": "btgym.datafeed",
    "sample_data_path": "btgym.datafeed",
    "BTgymBaseStrategy": "btgym.strategy",
    "BTgymDataFeedServer": "btgym.dataserver",
    "DictSpace": "btgym.spaces",
    "ActionDictSpace": "btgym.spaces",
    "VectorBTgymEnv": "btgym.engine",
}

__all__ = ["BTgymError", "__version__", *_LAZY]

register_envs()


#: subpackages reachable as ``btgym.<name>`` after ``import btgym`` (imported on use)
_SUBMODULES = ("wrappers",)


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"btgym.{name}")
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'btgym' has no attribute {name!r}")
