"""The backtrader strategy behind btgym envs, and its typed configs.

- :class:`BTgymBaseStrategy`: observation / reward / done / info hooks.
- :class:`StrategyConfig`, :class:`BrokerConfig`: frozen keyword configs.
- :class:`StepResult` (actions are encoded by :mod:`btgym.server.contract`).
"""

from btgym.records import FILL_KEYS
from btgym.strategy.base import BTgymBaseStrategy
from btgym.strategy.config import (
    INTERNAL_DIM,
    METADATA_DIM,
    BrokerConfig,
    LeafSpec,
    StrategyConfig,
    default_state_shape,
)
from btgym.strategy.info import STANDARD_KEYS, InfoLayout, iso_time
from btgym.strategy.records import RecordBook
from btgym.strategy.state import metadata_vector
from btgym.strategy.step import (
    ACTION_NAMES,
    BUY,
    CLOSE,
    FINISH,
    HOLD,
    SELL,
    StepResult,
)

__all__ = [
    "ACTION_NAMES",
    "BUY",
    "CLOSE",
    "FILL_KEYS",
    "FINISH",
    "HOLD",
    "INTERNAL_DIM",
    "METADATA_DIM",
    "SELL",
    "STANDARD_KEYS",
    "BTgymBaseStrategy",
    "BrokerConfig",
    "InfoLayout",
    "LeafSpec",
    "RecordBook",
    "StepResult",
    "StrategyConfig",
    "default_state_shape",
    "iso_time",
    "metadata_vector",
]
