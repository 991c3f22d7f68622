"""Calendar encodings of the bar's open stamp (source clock): TimeOfDay, DayOfWeek."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from btgym.features.base import Feature, Param, register_feature
from btgym.features.kernels import Ctx

_PART = Param("part", str, "sin", ("sin", "cos"))
_MIN_NS = 60_000_000_000
_DAY_MIN = 1440


@register_feature
@dataclass(frozen=True, init=False, eq=False, repr=False)
class TimeOfDay(Feature):
    """``sin/cos(2π m / 1440)``, m = minute of day of the stamp."""

    PARAMS = (_PART,)
    ELEMENTWISE = True

    def kernel(self, ctx: Ctx) -> np.ndarray:
        x = ctx.memo(("minute_of_day_angle",), lambda: _angle(ctx.stamps // _MIN_NS, _DAY_MIN))
        return np.sin(x) if self.get("part") == "sin" else np.cos(x)


@register_feature
@dataclass(frozen=True, init=False, eq=False, repr=False)
class DayOfWeek(Feature):
    """``sin/cos(2π d / 7)``, d = weekday of the stamp (Monday 0)."""

    PARAMS = (_PART,)
    ELEMENTWISE = True

    def kernel(self, ctx: Ctx) -> np.ndarray:
        # 1970-01-01 was a Thursday
        x = ctx.memo(("weekday_angle",), lambda: _angle(ctx.stamps // (_MIN_NS * _DAY_MIN) + 3, 7))
        return np.sin(x) if self.get("part") == "sin" else np.cos(x)


def _angle(units: np.ndarray, period: int) -> np.ndarray:
    """``2π (units mod period) / period`` as float64."""
    return 2.0 * np.pi * (units % period).astype(np.float64) / float(period)
