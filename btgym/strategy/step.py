"""What one decision of the strategy hands out.

:class:`StepResult` is what the episode loop returns to its caller at each decision
bar. The strategy executes *canonical* actions only (a tuple of codes, or a weights
array ``[cash, *assets]``): the action codecs of :mod:`btgym.server.contract` make
them, once, at the env's edge, so a bad action raises
:class:`~btgym.errors.InvalidActionError` before it enters the episode.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

HOLD, BUY, SELL, CLOSE = 0, 1, 2, 3
#: ``fill_kind`` / action codes → names.
ACTION_NAMES = {HOLD: "hold", BUY: "buy", SELL: "sell", CLOSE: "close"}


class StepResult(NamedTuple):
    """One decision: the observation and what came with it."""

    obs: dict[str, np.ndarray]
    reward: float
    terminated: bool
    truncated: bool
    info: dict[str, Any]


class Finish:
    """Sentinel sent into the strategy instead of an action: end the episode now."""

    def __repr__(self) -> str:
        return "FINISH"


FINISH = Finish()
