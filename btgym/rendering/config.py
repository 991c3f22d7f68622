"""``RenderConfig``: what to render, how large, in which colours.

Field names are BTGym's keyword names (``render_enabled``, ``render_modes``,
``render_size_human``, ``render_size_state``, ``render_size_episode``,
``render_dpi``, ``render_state_channel`` and its old name ``render_agent_channel``,
``render_cmap``), plus the colours of the trade markers and curves. Sizes are
``(width, height)`` in inches as in BTGym; an image is ``round(height * dpi)`` by
``round(width * dpi)`` pixels.

Unknown keywords raise :class:`~btgym.errors.UnknownKeywordError` (a ``TypeError``)
naming the key and its close matches; bad values raise
:class:`~btgym.errors.ConfigError` naming the field.
"""

from __future__ import annotations

import dataclasses
import inspect
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from btgym.errors import ConfigError, check_keywords

#: Modes that are not observation keys.
BUILTIN_MODES = ("human", "state", "episode")

_COLOR_FIELDS = (
    "render_buy_color",
    "render_sell_color",
    "render_close_color",
    "render_price_color",
    "render_value_color",
    "render_drawdown_color",
    "render_reward_color",
    "render_cum_reward_color",
)


@dataclass(frozen=True, kw_only=True)
class RenderConfig:
    """Rendering settings (one per env; travels to the server process).

    Attributes:
        render_enabled: ``False`` turns every render into a labelled placeholder
            image and keeps matplotlib out of the process.
        render_modes: modes the env offers; ``"state"`` renders the observation
            called ``state`` (or the first one), any observation key renders that
            observation; observation keys are always accepted in addition.
        render_size_human: figure size (inches) of the ``human`` mode.
        render_size_state: figure size (inches) of observation modes.
        render_size_episode: figure size (inches) of the ``episode`` mode.
        render_dpi: dots per inch for every mode.
        render_state_channel: channel shown for rank-3 observations ``(time,
            features, channels)``.
        render_agent_channel: BTGym's old name of ``render_state_channel``; wins
            when given.
        render_human_bars: bars shown by the ``human`` mode.
        render_max_assets: price panels drawn by the ``episode`` mode (the first
            ones; the title says when some are left out).
        render_cmap: matplotlib colormap of observation heatmaps.
        render_font_size: base font size in points.
        render_buy_color, render_sell_color, render_close_color: trade markers and
            long (buy colour) / short (sell colour) position shading, in every mode.
        render_price_color, render_value_color, render_drawdown_color,
        render_reward_color, render_cum_reward_color: curve colours.
    """

    render_enabled: bool = True
    render_modes: tuple[str, ...] = BUILTIN_MODES
    render_size_human: tuple[float, float] = (9.0, 5.0)
    render_size_state: tuple[float, float] = (9.0, 4.5)
    render_size_episode: tuple[float, float] = (14.0, 10.0)
    render_dpi: float = 100.0
    render_state_channel: int = 0
    render_agent_channel: int | None = None
    render_human_bars: int = 120
    render_max_assets: int = 4
    render_cmap: str = "viridis"
    render_font_size: float = 9.0
    render_buy_color: str = "#1a9850"
    render_sell_color: str = "#d73027"
    render_close_color: str = "#2c7bb6"
    render_price_color: str = "#262626"
    render_value_color: str = "#54278f"
    render_drawdown_color: str = "#b2182b"
    render_reward_color: str = "#8c8c8c"
    render_cum_reward_color: str = "#e08214"

    def __post_init__(self) -> None:
        modes = self.render_modes
        if isinstance(modes, str):
            modes = (modes,)
        if not all(isinstance(m, str) and m for m in modes):
            raise ConfigError(f"render_modes: expected non-empty strings, got {modes!r}")
        object.__setattr__(self, "render_modes", tuple(dict.fromkeys(modes)))
        for name in ("render_size_human", "render_size_state", "render_size_episode"):
            object.__setattr__(self, name, _size(name, getattr(self, name)))
        if not isinstance(self.render_enabled, bool):
            raise ConfigError(f"render_enabled: expected a bool, got {self.render_enabled!r}")
        _number("render_dpi", self.render_dpi, 10, 1000)
        _number("render_font_size", self.render_font_size, 3, 72)
        _integer("render_state_channel", self.render_state_channel, 0)
        if self.render_agent_channel is not None:
            _integer("render_agent_channel", self.render_agent_channel, 0)
        _integer("render_human_bars", self.render_human_bars, 2)
        _integer("render_max_assets", self.render_max_assets, 1)
        if not isinstance(self.render_cmap, str) or not self.render_cmap:
            raise ConfigError(f"render_cmap: expected a colormap name, got {self.render_cmap!r}")
        for name in _COLOR_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ConfigError(f"{name}: expected a colour string, got {value!r}")

    # ------------------------------------------------------------------ derived

    @property
    def state_channel(self) -> int:
        """The observation channel to show (``render_agent_channel`` wins if set)."""
        if self.render_agent_channel is not None:
            return self.render_agent_channel
        return self.render_state_channel

    def size_of(self, kind: str) -> tuple[float, float]:
        """Figure size in inches of ``"human"``, ``"state"`` or ``"episode"``."""
        return getattr(self, f"render_size_{kind}")

    def pixels_of(self, kind: str) -> tuple[int, int]:
        """``(height, width)`` in pixels of the images of ``kind``."""
        w, h = self.size_of(kind)
        return round(h * self.render_dpi), round(w * self.render_dpi)

    # ------------------------------------------------------------------ keywords

    @classmethod
    def keywords(cls) -> tuple[str, ...]:
        """The keyword names this config accepts."""
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> RenderConfig:
        """Build from BTGym keywords; unknown keys raise ``UnknownKeywordError``."""
        check_keywords(kwargs, cls.keywords(), cls.__name__)
        return cls(**kwargs)

    @classmethod
    def pick(cls, kwargs: Mapping[str, Any]) -> RenderConfig:
        """Build from the subset of ``kwargs`` that names this config's fields."""
        names = set(cls.keywords())
        return cls(**{k: v for k, v in kwargs.items() if k in names})

    def replace(self, **changes: Any) -> RenderConfig:
        """A copy with ``changes`` applied (validated like the constructor)."""
        check_keywords(changes, self.keywords(), type(self).__name__)
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict of every field (``RenderConfig(**d)`` rebuilds it)."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in fields(self)}


# Unknown keywords in the constructor itself raise UnknownKeywordError too.
_dataclass_init = RenderConfig.__init__


def _checked_init(self: RenderConfig, **kwargs: Any) -> None:
    check_keywords(kwargs, RenderConfig.keywords(), "RenderConfig")
    _dataclass_init(self, **kwargs)


_checked_init.__signature__ = inspect.signature(_dataclass_init)  # type: ignore[attr-defined]
_checked_init.__doc__ = _dataclass_init.__doc__
RenderConfig.__init__ = _checked_init  # type: ignore[method-assign]


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _size(name: str, value: Any) -> tuple[float, float]:
    try:
        w, h = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: expected (width, height) in inches, got {value!r}") from None
    if not (0.5 <= w <= 100 and 0.5 <= h <= 100):
        raise ConfigError(f"{name}: width and height must be in [0.5, 100] inches, got {value!r}")
    return (w, h)


def _number(name: str, value: Any, lo: float, hi: float) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not lo <= value <= hi:
        raise ConfigError(f"{name}: expected a number in [{lo}, {hi}], got {value!r}")


def _integer(name: str, value: Any, lo: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < lo:
        raise ConfigError(f"{name}: expected an integer >= {lo}, got {value!r}")
