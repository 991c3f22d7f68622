"""Typed, frozen configs of the strategy and the broker.

Field names are the original BTGym keywords where one exists. Both configs are
built with keywords only; :meth:`StrategyConfig.from_kwargs` /
:meth:`BrokerConfig.from_kwargs` reject unknown keys with
:class:`~btgym.errors.UnknownKeywordError`.

``state_shape`` maps an observation key to the spec of its ``Box`` leaf. Each value
may be a ``gymnasium.spaces.Box``, a :class:`LeafSpec`, a ``(shape, low, high, dtype)``
tuple or a ``{"shape", "low", "high", "dtype"}`` dict; all become :class:`LeafSpec`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from btgym.errors import ConfigError, check_keywords

#: Length of the default ``internal`` state vector (see ``BTgymBaseStrategy``).
INTERNAL_DIM = 7
#: Length of the default ``metadata`` state vector (see ``BTgymBaseStrategy``).
METADATA_DIM = 5

ACTIONS = ("hold", "buy", "sell", "close")


@dataclass(frozen=True)
class LeafSpec:
    """Shape, bounds and dtype of one observation leaf (a ``Box``).

    Attributes:
        shape: the array's shape.
        low: lower bound (a float, broadcast to ``shape``).
        high: upper bound (a float, broadcast to ``shape``).
        dtype: numpy dtype name, e.g. ``"float32"``.
    """

    shape: tuple[int, ...]
    low: float = -math.inf
    high: float = math.inf
    dtype: str = "float32"

    def __post_init__(self) -> None:
        shape = tuple(int(s) for s in self.shape)
        if not shape or any(s <= 0 for s in shape):
            raise ConfigError(f"state leaf shape {self.shape!r} must be non-empty and positive")
        try:
            dtype = np.dtype(self.dtype)
        except TypeError as exc:
            raise ConfigError(f"state leaf dtype {self.dtype!r}: {exc}") from None
        if dtype.kind not in "fiu":
            raise ConfigError(f"state leaf dtype {dtype} must be numeric")
        low, high = float(self.low), float(self.high)
        if not low <= high:
            raise ConfigError(f"state leaf bounds low={low} > high={high}")
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "dtype", dtype.name)
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    @property
    def bounded(self) -> bool:
        """True when at least one bound is finite (observations get clipped to it)."""
        return math.isfinite(self.low) or math.isfinite(self.high)

    def to_box(self) -> Any:
        """The ``gymnasium.spaces.Box`` of this leaf."""
        from gymnasium import spaces

        dtype = np.dtype(self.dtype)
        return spaces.Box(low=self.low, high=self.high, shape=self.shape, dtype=dtype)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {"shape": list(self.shape), "low": self.low, "high": self.high, "dtype": self.dtype}

    @classmethod
    def coerce(cls, key: str, value: Any) -> LeafSpec:
        """Build a spec from a Box, a tuple ``(shape, low, high, dtype)`` or a dict."""
        if isinstance(value, LeafSpec):
            return value
        try:
            if hasattr(value, "shape") and hasattr(value, "low") and hasattr(value, "high"):
                low, high = np.asarray(value.low), np.asarray(value.high)
                if low.size and (low.min() != low.max() or high.min() != high.max()):
                    raise ConfigError(
                        f"state_shape[{key!r}]: per-element Box bounds are not supported; "
                        "use one low and one high"
                    )
                lo = float(low.flat[0]) if low.size else -math.inf
                hi = float(high.flat[0]) if high.size else math.inf
                return cls(shape=tuple(value.shape), low=lo, high=hi, dtype=value.dtype.name)
            if isinstance(value, Mapping):
                check_keywords(value, ("shape", "low", "high", "dtype"), f"state_shape[{key!r}]")
                return cls(**value)
            if isinstance(value, (tuple, list)):
                if value and isinstance(value[0], (int, np.integer)):
                    return cls(shape=tuple(value))  # a bare shape
                return cls(*value)
        except ConfigError as exc:
            raise ConfigError(f"state_shape[{key!r}]: {exc}") from None
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"state_shape[{key!r}] = {value!r}: {exc}") from None
        raise ConfigError(
            f"state_shape[{key!r}] = {value!r}: expected a gymnasium Box, a LeafSpec, "
            "(shape, low, high, dtype) or a dict"
        )


#: Upper bound of the default ``raw`` leaf: the largest price the data layer accepts.
PRICE_HIGH = 1e12
#: Bound of the default ``internal`` leaf: its entries are ratios to the start cash or
#: to the value (≈ 1 in normal use); anything beyond ±100 is clipped.
INTERNAL_BOUND = 100.0
#: Bound of the default ``metadata`` leaf (row numbers and POSIX seconds).
METADATA_BOUND = 1e12


def default_state_shape() -> dict[str, LeafSpec]:
    """The default observation, every leaf with finite bounds (so gymnasium's and
    SB3's checkers are silent):

    - ``raw`` (30, 4) float32 in ``[0, PRICE_HIGH]`` (1e12): OHLC prices as they are;
    - ``internal`` (7,) float32 in ``[-INTERNAL_BOUND, INTERNAL_BOUND]`` (±100):
      ratios to the start cash / the value, clipped;
    - ``metadata`` (5,) float64 in ``[-METADATA_BOUND, METADATA_BOUND]`` (±1e12).
    """
    return {
        "raw": LeafSpec(shape=(30, 4), low=0.0, high=PRICE_HIGH, dtype="float32"),
        "internal": LeafSpec(
            shape=(INTERNAL_DIM,), low=-INTERNAL_BOUND, high=INTERNAL_BOUND, dtype="float32"
        ),
        "metadata": LeafSpec(
            shape=(METADATA_DIM,), low=-METADATA_BOUND, high=METADATA_BOUND, dtype="float64"
        ),
    }


class KeywordConfig:
    """Mixin of the frozen config dataclasses: build from keywords, strictly."""

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """The config's keywords."""
        return tuple(f.name for f in fields(cls))  # type: ignore[arg-type]

    @classmethod
    def from_kwargs(cls, config: Any = None, **kwargs: Any) -> Any:
        """Build a config from keywords on top of ``config`` (unknown keys raise
        :class:`~btgym.errors.UnknownKeywordError`)."""
        check_keywords(kwargs, cls.field_names(), where=cls.__name__)
        base = {} if config is None else config.as_dict()
        return cls(**{**base, **kwargs})

    def as_dict(self) -> dict[str, Any]:
        """The fields as a dict (values as stored)."""
        return {name: getattr(self, name) for name in self.field_names()}


@dataclass(frozen=True, kw_only=True)
class StrategyConfig(KeywordConfig):
    """What the strategy observes, how it trades and when an episode ends.

    Attributes:
        state_shape: observation key → leaf spec (see module doc). Each key ``k`` is
            computed by the strategy's ``get_k_state()``.
        asset_names: the tradable assets (data names); ``None``: every data line.
        cash_name: the cash key of portfolio actions.
        drawdown_call: terminate when the broker value lost this percent of the
            start value.
        target_call: terminate when the broker value gained this percent.
        skip_frame: bars between two decisions (≥ 1).
        fixed_stake: order size of buy/sell actions (units of the asset).
        order_size: per-asset order sizes overriding ``fixed_stake`` (a number for
            every asset, or ``{asset: size}``).
        reward_scale: reward multiplier.
        portfolio_actions: actions are target weights (cash + assets, ≥ 0, normalised
            to sum 1) executed with ``order_target_percent``, not discrete orders.
        gamma: discount, kept for user reward hooks.
        metadata: free-form JSON-able dict handed to the strategy.
        encoders: observation encoders (``btgym.models.encoders`` objects or their
            JSON dicts; stored as dicts): each adds its leaves to ``state_shape``.
    """

    state_shape: Mapping[str, Any] = field(default_factory=default_state_shape)
    asset_names: tuple[str, ...] | None = None
    cash_name: str = "default_cash"
    drawdown_call: float = 10.0
    target_call: float = 10.0
    skip_frame: int = 1
    fixed_stake: float = 10.0
    order_size: float | Mapping[str, float] | None = None
    reward_scale: float = 1.0
    portfolio_actions: bool = False
    gamma: float = 0.99
    metadata: Mapping[str, Any] = field(default_factory=dict)
    encoders: tuple[Mapping[str, Any], ...] = ()

    def __post_init__(self) -> None:
        shape = self.state_shape
        if not isinstance(shape, Mapping) or not shape:
            raise ConfigError(f"state_shape must be a non-empty dict, got {shape!r}")
        specs = {}
        for key, value in shape.items():
            if not isinstance(key, str) or not key.isidentifier():
                raise ConfigError(f"state_shape key {key!r} must be an identifier")
            specs[key] = LeafSpec.coerce(key, value)
        if self.encoders:  # their leaves join the observation (btgym.models.env_encoders)
            from btgym.models.env_encoders import merge_encoder_leaves

            encoders, specs = merge_encoder_leaves(self.encoders, specs)
            object.__setattr__(self, "encoders", encoders)
        object.__setattr__(self, "state_shape", specs)
        if self.asset_names is not None:
            names = (self.asset_names,) if isinstance(self.asset_names, str) else self.asset_names
            object.__setattr__(self, "asset_names", tuple(str(n) for n in names))
            if not self.asset_names:
                raise ConfigError("asset_names must name at least one asset")
        if int(self.skip_frame) != self.skip_frame or self.skip_frame < 1:
            raise ConfigError(f"skip_frame must be an integer ≥ 1, got {self.skip_frame!r}")
        object.__setattr__(self, "skip_frame", int(self.skip_frame))
        for name in ("drawdown_call", "target_call"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and value > 0):
                raise ConfigError(f"{name} must be a positive percent, got {value!r}")
        if not self.fixed_stake > 0:
            raise ConfigError(f"fixed_stake must be > 0, got {self.fixed_stake!r}")
        if isinstance(self.order_size, Mapping):
            bad = {k: v for k, v in self.order_size.items() if not float(v) > 0}
            if bad:
                raise ConfigError(f"order_size must be > 0, got {bad!r}")
        elif self.order_size is not None and not float(self.order_size) > 0:
            raise ConfigError(f"order_size must be > 0, got {self.order_size!r}")
        if not math.isfinite(float(self.reward_scale)):
            raise ConfigError(f"reward_scale must be finite, got {self.reward_scale!r}")

    def stake(self, asset: str) -> float:
        """The order size of ``asset``."""
        if isinstance(self.order_size, Mapping):
            return float(self.order_size.get(asset, self.fixed_stake))
        if self.order_size is not None:
            return float(self.order_size)
        return float(self.fixed_stake)


@dataclass(frozen=True, kw_only=True)
class BrokerConfig(KeywordConfig):
    """backtrader broker settings (applied with ``setcash`` / ``setcommission``).

    Attributes:
        start_cash: initial cash.
        broker_commission: commission as a fraction of the traded value
            (``setcommission(commission=...)``).
        leverage: ``setcommission(leverage=...)``.
        margin: ``setcommission(margin=...)``; ``None`` keeps stock-like accounting.
        mult: ``setcommission(mult=...)``.
        slippage: ``set_slippage_perc`` fraction (0: none).
        shortcash: backtrader's ``set_shortcash`` (short sales credit cash).
        checksubmit: check margin/cash before accepting an order.
    """

    start_cash: float = 100.0
    broker_commission: float = 0.001
    leverage: float = 1.0
    margin: float | None = None
    mult: float = 1.0
    slippage: float = 0.0
    shortcash: bool = True
    checksubmit: bool = True

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start_cash) and self.start_cash > 0):
            raise ConfigError(f"start_cash must be > 0, got {self.start_cash!r}")
        if not 0 <= self.broker_commission < 1:
            raise ConfigError(
                f"broker_commission must be in [0, 1), got {self.broker_commission!r}"
            )
        if not self.leverage > 0:
            raise ConfigError(f"leverage must be > 0, got {self.leverage!r}")
        if self.margin is not None and not self.margin > 0:
            raise ConfigError(f"margin must be > 0 or None, got {self.margin!r}")
        if not 0 <= self.slippage < 1:
            raise ConfigError(f"slippage must be in [0, 1), got {self.slippage!r}")

    def apply(self, cerebro: Any) -> None:
        """Configure ``cerebro.broker`` with plain backtrader calls."""
        broker = cerebro.broker
        broker.setcash(float(self.start_cash))
        broker.setcommission(
            commission=float(self.broker_commission),
            margin=self.margin,
            mult=float(self.mult),
            leverage=float(self.leverage),
        )
        if self.slippage:
            broker.set_slippage_perc(float(self.slippage))
        broker.set_shortcash(bool(self.shortcash))
        broker.set_checksubmit(bool(self.checksubmit))
