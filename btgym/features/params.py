"""Parameters and resolutions of features: tokens, canonical forms, validation."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from btgym.errors import FeatureSpecError

BASES = ("close", "open", "hl2", "hlc3", "ohlc4")
ASSET_RE = re.compile(r"^[A-Za-z0-9_.:/-]+$")
_RES_RE = re.compile(r"^(\d*)(min|m|T|hr|h|H|D|d)$")


# --------------------------------------------------------------------------- resolutions


@functools.lru_cache(maxsize=256)
def parse_resolution(token: str | int) -> tuple[str, int]:
    """Canonicalise a resolution token; returns ``(canonical, minutes)``.

    Canonical tokens are ``{n}min`` (n < 60), ``{n}h`` and ``1D``. Accepted aliases: Atlas
    ``1m 5m 10m 1hr``, pandas ``T``, ``H``, ``min``, ``h`` (a bare unit means 1). An int is
    a number of minutes.

    Raises:
        FeatureSpecError: anything else.
    """
    if isinstance(token, (int, np.integer)) and not isinstance(token, bool):
        minutes = int(token)
    else:
        m = _RES_RE.match(str(token).strip())
        if not m:
            raise FeatureSpecError(
                f"unknown resolution {token!r}; use {{n}}min, {{n}}h or 1D "
                f"(aliases: 1m 5m 10m 1hr T H min h)"
            )
        n = int(m.group(1)) if m.group(1) else 1
        unit = m.group(2)
        minutes = n * (1440 if unit in ("D", "d") else 60 if unit in ("h", "H", "hr") else 1)
        if unit in ("D", "d") and n != 1:
            raise FeatureSpecError(f"resolution {token!r}: only 1D is a daily resolution")
    if minutes <= 0:
        raise FeatureSpecError(f"resolution {token!r} must be positive")
    if minutes == 1440:
        return "1D", minutes
    if minutes < 60:
        return f"{minutes}min", minutes
    if minutes % 60 == 0 and minutes < 1440:
        return f"{minutes // 60}h", minutes
    raise FeatureSpecError(
        f"resolution {token!r} ({minutes} minutes) has no canonical token: "
        f"use n < 60 minutes, whole hours below a day, or 1D"
    )


# --------------------------------------------------------------------------- parameters


@dataclass(frozen=True)
class Param:
    """One value-affecting parameter of a feature class (declared order = name order)."""

    name: str
    kind: type
    default: Any = None
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None

    def check(self, value: Any, owner: str) -> Any:
        """Coerce and validate ``value`` (``None`` passes for optional parameters)."""
        if value is None:
            return None
        try:
            if self.kind is int:
                if isinstance(value, bool) or float(value) != int(float(value)):
                    raise ValueError
                out: Any = int(float(value))
            elif self.kind is float:
                out = float(value)
                if not np.isfinite(out):
                    raise ValueError
            else:
                out = str(value)
        except (TypeError, ValueError):
            raise FeatureSpecError(
                f"{owner}: {self.name}={value!r} is not a valid {self.kind.__name__}"
            ) from None
        if self.choices is not None and out not in self.choices:
            raise FeatureSpecError(
                f"{owner}: {self.name}={out!r} is not one of {list(self.choices)}"
            )
        if self.minimum is not None and out < self.minimum:
            raise FeatureSpecError(f"{owner}: {self.name}={out!r} must be ≥ {self.minimum}")
        if self.name == "other" and not ASSET_RE.match(out):
            raise FeatureSpecError(f"{owner}: asset name {out!r} must match [A-Za-z0-9_.:/-]+")
        return out


BASIS = Param("basis", str, "close", BASES)
LOOKBACK = Param("lookback", int, 1, minimum=1)
LOOKFORWARD = Param("lookforward", int, None, minimum=1)
OTHER = Param("other", str, None)
