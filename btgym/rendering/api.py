"""The entry points: :func:`render` (an RGB array) and :func:`render_figure` (a Figure).

Everything here is a pure function of the records, bars, observation and config
it is given; the server calls :func:`render` where the records live and ships the
array. Matplotlib is imported on the first real render only, so a process that
never renders (or has ``render_enabled=False``) never loads it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from btgym.errors import ConfigError, RenderError
from btgym.log import get_logger
from btgym.rendering.config import RenderConfig
from btgym.rendering.placeholder import placeholder
from btgym.rendering.records import EpisodeRecords, check_bars, parse_records

if TYPE_CHECKING:
    from matplotlib.figure import Figure

log = get_logger(__name__)

_POOL: Any = None  # style.FigurePool, made on first use
_POOL_LOCK = threading.Lock()


def _pool() -> Any:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            from btgym.rendering.style import FigurePool

            _POOL = FigurePool()
        return _POOL


def available_modes(
    config: RenderConfig, state: Mapping[str, Any] | None = None
) -> tuple[str, ...]:
    """The modes :func:`render` accepts: ``config.render_modes`` plus the observation keys."""
    return tuple(dict.fromkeys([*config.render_modes, *(as_state(state) or {})]))


def as_state(state: Any) -> Mapping[str, Any] | None:
    """The observation as ``{key: array}``: a bare array is the observation ``"state"``."""
    if state is None or isinstance(state, Mapping):
        return state
    if isinstance(state, np.ndarray | list | tuple):
        return {"state": state}
    raise RenderError(f"state: expected a dict of observation arrays, got {type(state).__name__}")


def kind_of(mode: str) -> str:
    """``"human"``, ``"episode"`` or ``"state"`` (every observation key is a state image)."""
    return mode if mode in ("human", "episode") else "state"


def render(
    mode: str,
    *,
    records: Mapping[str, np.ndarray] | None,
    bars: Any | None,
    state: Mapping[str, np.ndarray] | None = None,
    config: RenderConfig,
    title_info: dict | None = None,
) -> np.ndarray:
    """Render ``mode`` to an ``H x W x 3`` uint8 array.

    Args:
        mode: ``"human"``, ``"episode"``, ``"state"`` or an observation key.
        records: the per-step records (``docs/internals.md``); ``None``/empty
            before the first step.
        bars: the episode's ``Bars`` (``names``, ``index`` int64 ns,
            ``values[name]`` (n, 5) OHLCV), or ``None``.
        state: the latest observation, ``{key: array}`` (a bare array counts as
            the observation ``"state"``).
        config: the :class:`RenderConfig`.
        title_info: extra ``key: value`` pairs for the image's header.

    Returns:
        a fresh array of ``config.pixels_of(kind) + (3,)``.

    Raises:
        RenderError: unknown mode (the message lists the available ones),
            malformed records or bars, or an observation that cannot be drawn.
        ConfigError: a colour or colormap matplotlib does not know.
    """
    state = as_state(state)
    _check_mode(mode, config, state)
    kind = kind_of(mode)
    if not config.render_enabled:
        h, w = config.pixels_of(kind)
        return placeholder(h, w, "rendering disabled", f"render_enabled=False · mode '{mode}'")
    from btgym.rendering import style

    pool = _pool()
    t0 = time.perf_counter()
    with pool.lock:
        fig = pool.get(kind, config.size_of(kind), config.render_dpi, config.render_font_size)
        try:
            _draw(fig, mode, records, bars, state, config, title_info)
            with style.styled(config):
                image = style.to_rgb(fig)
        except BaseException:
            style.forget_layout(fig)
            raise
    log.debug("rendered {} in {:.1f} ms", mode, 1e3 * (time.perf_counter() - t0))
    return image


def render_figure(
    mode: str,
    *,
    records: Mapping[str, np.ndarray] | None,
    bars: Any | None,
    state: Mapping[str, np.ndarray] | None = None,
    config: RenderConfig | None = None,
    title_info: dict | None = None,
) -> Figure:
    """Like :func:`render` but return a new matplotlib ``Figure`` (Agg canvas).

    For notebooks (``fig.savefig(...)``), further annotation, and tests that
    inspect the artists. The figure is drawn once (in btgym's style) before it
    is returned; drawn again outside that style (``savefig``) its text uses the
    caller's ``text.hinting`` setting. Ignores ``render_enabled``: asking for a figure is asking for
    matplotlib.
    """
    config = config or RenderConfig()
    state = as_state(state)
    _check_mode(mode, config, state)
    from btgym.rendering import style

    fig = style.new_figure(config.size_of(kind_of(mode)), config.render_dpi)
    _draw(fig, mode, records, bars, state, config, title_info)
    with style.styled(config):  # ticks are made at draw time: make them in our style
        fig.canvas.draw()
    return fig


def render_episode_figure(
    records: Mapping[str, np.ndarray] | None,
    bars: Any | None = None,
    config: RenderConfig | None = None,
    title_info: dict | None = None,
) -> Figure:
    """The ``episode`` image as a new ``Figure``.

    The fills are drawn as one scatter collection per kind in each price panel,
    with ``gid`` ``"fills:buy"``, ``"fills:sell"``, ``"fills:close"`` and one
    offset per fill. Counting those offsets is how the tests check "as many
    markers as trades": it is exact where a pixel count is not (markers of fills
    a bar apart overlap, antialiasing blurs their edges), and it checks what is
    handed to the Agg renderer, together with a check that every offset lies
    inside the panel's limits (so the marker is actually visible).
    """
    return render_figure(
        "episode", records=records, bars=bars, config=config, title_info=title_info
    )


def _check_mode(mode: Any, config: RenderConfig, state: Mapping[str, Any] | None) -> None:
    if not isinstance(config, RenderConfig):
        raise ConfigError(f"config: expected a RenderConfig, got {type(config).__name__}")
    modes = available_modes(config, as_state(state))
    if not isinstance(mode, str) or mode not in modes:
        raise RenderError(f"unknown render mode {mode!r}; available modes: {', '.join(modes)}")


def _draw(
    fig: Figure,
    mode: str,
    records: Mapping[str, np.ndarray] | None,
    bars: Any | None,
    state: Mapping[str, np.ndarray] | None,
    config: RenderConfig,
    title_info: dict | None,
) -> None:
    from btgym.rendering import style

    style.check_colors(config)
    rec = parse_records(records)
    if bars is not None:
        check_bars(bars)
    try:
        with style.styled(config):
            _dispatch(fig, mode, rec, bars, state, config, title_info)
    except (RenderError, ConfigError):
        raise
    except Exception as exc:  # matplotlib failing on odd data must not look like a crash
        raise RenderError(f"render mode {mode!r} failed: {type(exc).__name__}: {exc}") from exc


def _dispatch(
    fig: Figure,
    mode: str,
    rec: EpisodeRecords,
    bars: Any | None,
    state: Mapping[str, np.ndarray] | None,
    config: RenderConfig,
    title_info: dict | None,
) -> None:
    if mode == "episode":
        from btgym.rendering.episode import draw_episode

        draw_episode(fig, rec, bars, config, title_info)
    elif mode == "human":
        from btgym.rendering.human import draw_human

        draw_human(fig, rec, bars, config, title_info)
    else:
        from btgym.rendering.state import draw_state

        key = _state_key(mode, state)
        if key is None:
            from btgym.rendering.style import axes_for, note, note_axes

            ax = axes_for(fig, ("note",), note_axes)
            note(ax, f"no observation {mode!r} yet (call reset())", config.render_font_size * 1.6)
            return
        draw_state(fig, key, state[key], rec, config, title_info)


def _state_key(mode: str, state: Mapping[str, Any] | None) -> str | None:
    if not state:
        return None
    if mode in state:
        return mode
    if mode == "state":
        return next(iter(state))
    return None
