"""What one decision of the strategy hands out, and the action codec.

:class:`StepResult` is what the episode loop returns to its caller at each decision
bar. :func:`normalize_action` turns a user action into the canonical form the
strategy executes (done *before* the action enters the episode, so a bad action
raises :class:`~btgym.errors.InvalidActionError` and leaves the episode intact).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from btgym.errors import InvalidActionError

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


def _discrete(value: Any, asset: str) -> int:
    if type(value) is int:
        code = value
    else:
        try:
            arr = np.asarray(value)
            if arr.size != 1 or arr.dtype.kind not in "iub":
                raise TypeError
            code = int(arr.reshape(()))
        except (TypeError, ValueError):
            raise InvalidActionError(
                f"action for asset {asset!r} must be an int in 0..3 "
                f"(hold, buy, sell, close), got {value!r}"
            ) from None
    if not 0 <= code <= 3:
        raise InvalidActionError(
            f"action for asset {asset!r} must be in 0..3 (hold, buy, sell, close), got {code}"
        )
    return code


def normalize_discrete(action: Any, assets: Sequence[str]) -> tuple[int, ...]:
    """``{asset: 0..3}`` (missing assets hold) or a bare int (one asset) → codes tuple.

    A sequence of ``len(assets)`` ints (``MultiDiscrete`` style) is accepted too.

    Raises:
        InvalidActionError: unknown asset, value outside 0..3, wrong type.
    """
    kind = type(action)
    if kind is dict and len(action) == 1 and len(assets) == 1:  # the hot path
        ((key, value),) = action.items()
        if key == assets[0] and type(value) is int and 0 <= value <= 3:
            return (value,)
    elif kind is list and len(action) == len(assets):  # the wire's form
        if all(type(c) is int and 0 <= c <= 3 for c in action):
            return tuple(action)
    elif kind is np.ndarray and action.dtype.kind in "iu" and action.shape == (len(assets),):
        codes = tuple(action.tolist())
        for code, asset in zip(codes, assets):
            if not 0 <= code <= 3:
                _discrete(code, asset)
        return codes
    if isinstance(action, Mapping):
        codes = [HOLD] * len(assets)
        for key, value in action.items():
            try:
                i = assets.index(key)
            except ValueError:
                raise InvalidActionError(
                    f"action names asset {key!r}, not one of {list(assets)}"
                ) from None
            codes[i] = _discrete(value, key)
        return tuple(codes)
    if isinstance(action, (Sequence, np.ndarray)) and not isinstance(action, (str, bytes)):
        arr = np.asarray(action)
        if arr.ndim == 1 and len(arr) == len(assets):
            return tuple(_discrete(v, a) for v, a in zip(arr, assets))
        if arr.size != 1:
            raise InvalidActionError(
                f"action {action!r}: expected one code per asset {list(assets)}"
            )
    if len(assets) != 1:
        raise InvalidActionError(
            f"a bare action {action!r} is only accepted with one asset; "
            f"pass {{asset: code}} for {list(assets)}"
        )
    return (_discrete(action, assets[0]),)


def normalize_weights(action: Any, assets: Sequence[str], cash_name: str) -> np.ndarray:
    """Portfolio action → float64 weights ``[cash, *assets]``, ≥ 0, summing to 1.

    Accepts ``{cash_name: w, asset: w, ...}`` (missing keys are 0) or a vector of
    ``len(assets) + 1`` values in that order. Weights are divided by their sum.

    Raises:
        InvalidActionError: unknown key, wrong length, negative/NaN weight, zero sum.
    """
    keys = [cash_name, *assets]
    if isinstance(action, Mapping):
        weights = np.zeros(len(keys))
        for key, value in action.items():
            if key not in keys:
                raise InvalidActionError(f"portfolio action names {key!r}, not one of {keys}")
            arr = np.asarray(value, dtype=np.float64)
            if arr.size != 1:
                raise InvalidActionError(f"weight of {key!r} must be one number, got {value!r}")
            weights[keys.index(key)] = float(arr.reshape(-1)[0])
    else:
        try:
            weights = np.array(action, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise InvalidActionError(f"portfolio action {action!r} is not numeric") from None
        if len(weights) != len(keys):
            raise InvalidActionError(
                f"portfolio action has {len(weights)} weights, expected {len(keys)} ({keys})"
            )
    total = float(weights.sum())
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise InvalidActionError(f"portfolio weights must be finite and ≥ 0, got {weights}")
    if not total > 0 or not math.isfinite(total):
        raise InvalidActionError(f"portfolio weights must have a positive sum, got {weights}")
    return weights / total
