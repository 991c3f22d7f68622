"""Matplotlib plumbing shared by the renderers: style, figures, limits, pixels.

Only the object API (``matplotlib.figure.Figure`` + ``FigureCanvasAgg``) is used:
no pyplot, no global figure registry, no named styles (BTGym's ``seaborn`` style
name no longer exists and crashed its server). The style is a plain rc dict
applied with ``matplotlib.rc_context`` around building and drawing only.
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

import matplotlib
import numpy as np
from matplotlib import colors as mcolors
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from btgym.errors import ConfigError
from btgym.rendering.config import _COLOR_FIELDS, RenderConfig

#: Marker shape per fill kind (colours come from the config).
MARKERS = {"buy": "^", "sell": "v", "close": "X"}


def color(config: RenderConfig, name: str) -> str:
    """The configured colour ``render_<name>_color``."""
    return getattr(config, f"render_{name}_color")


def check_colors(config: RenderConfig) -> None:
    """Raise :class:`ConfigError` for a colour or colormap matplotlib does not know."""
    for name in _COLOR_FIELDS:
        if not mcolors.is_color_like(getattr(config, name)):
            raise ConfigError(f"{name}: {getattr(config, name)!r} is not a matplotlib colour")
    if config.render_cmap not in matplotlib.colormaps:
        raise ConfigError(f"render_cmap: {config.render_cmap!r} is not a matplotlib colormap")


def rc(config: RenderConfig) -> dict:
    """The rc settings of every btgym image."""
    fs = float(config.render_font_size)
    return {
        "font.size": fs,
        "axes.titlesize": fs + 1,
        "axes.labelsize": fs,
        "xtick.labelsize": fs - 0.5,
        "ytick.labelsize": fs - 0.5,
        "legend.fontsize": fs - 0.5,
        "figure.titlesize": fs + 2,
        "axes.grid": True,
        "grid.color": "#e3e3e3",
        "grid.linewidth": 0.6,
        "axes.edgecolor": "#a0a0a0",
        "axes.linewidth": 0.8,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.formatter.useoffset": False,
        "axes.formatter.limits": (-9, 9),  # no offset text over the panel above
        "axes.labelcolor": "#303030",
        "xtick.color": "#505050",
        "ytick.color": "#505050",
        "figure.facecolor": "white",
        "axes.facecolor": "white",
        "savefig.facecolor": "white",
        "legend.frameon": False,
        "legend.borderaxespad": 0.3,
        "legend.handletextpad": 0.3,
        "legend.columnspacing": 1.0,
        "lines.linewidth": 1.1,
        "image.interpolation": "nearest",
        # unhinted glyphs: ~2x faster text on matplotlib 3.11 and just as readable
        "text.hinting": "none",
        "text.parse_math": False,  # asset names and info values may contain "$"
    }


@contextlib.contextmanager
def styled(config: RenderConfig) -> Iterator[None]:
    """Apply the btgym style for the duration of building and drawing."""
    with matplotlib.rc_context(rc(config)):
        yield


def new_figure(size: tuple[float, float], dpi: float) -> Figure:
    """A figure with its own Agg canvas (garbage-collected like any object)."""
    fig = Figure(figsize=size, dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


class FigurePool:
    """A few reusable figures keyed by (kind, size, dpi, font size).

    A figure keeps its axes between renders (see :func:`axes_for`): creating and
    clearing axes (their ticks above all) costs more than drawing them, and a
    reused figure keeps its Agg renderer, so repeated renders neither allocate
    megabytes nor leave garbage behind.
    """

    def __init__(self, maxsize: int = 6) -> None:
        self._figs: OrderedDict[tuple, Figure] = OrderedDict()
        self._maxsize = maxsize
        self.lock = threading.Lock()

    def get(self, kind: str, size: tuple[float, float], dpi: float, font_size: float) -> Figure:
        """The figure of this key (call under ``lock``)."""
        key = (kind, float(size[0]), float(size[1]), float(dpi), float(font_size))
        fig = self._figs.pop(key, None)
        if fig is None:
            fig = new_figure(size, dpi)
        self._figs[key] = fig
        while len(self._figs) > self._maxsize:
            _, old = self._figs.popitem(last=False)
            forget_layout(old)
        return fig


_LAYOUT = "_btgym_layout"


def axes_for(fig: Figure, key: tuple, build: Callable[[Figure], Any]) -> Any:
    """The axes ``build(fig)`` made for ``key``, emptied of data; built anew on a new key.

    Emptying removes every line, collection, patch, text, image and legend of the
    axes and the figure's own texts, but keeps the axes and their ticks.
    """
    cached = fig.__dict__.get(_LAYOUT)
    if cached is not None and cached[0] == key:
        for ax in fig.axes:
            _empty(ax)
        for text in list(fig.texts):
            text.remove()
        return cached[1]
    forget_layout(fig)
    axes = build(fig)
    rc_now = matplotlib.rcParams
    for ax in fig.axes:  # pin what the tick locators read at draw time to the style
        for axis in ("x", "y"):
            ax.tick_params(
                axis=axis,
                labelsize=rc_now[f"{axis}tick.labelsize"],
                colors=rc_now[f"{axis}tick.color"],
            )
    setattr(fig, _LAYOUT, (key, axes))
    return axes


def forget_layout(fig: Figure) -> None:
    """Clear ``fig`` entirely (the next :func:`axes_for` builds from scratch)."""
    fig.__dict__.pop(_LAYOUT, None)
    fig.clear()


def _empty(ax: Axes) -> None:
    for artist in (*ax.lines, *ax.collections, *ax.patches, *ax.texts, *ax.images):
        artist.remove()
    legend = ax.get_legend()
    if legend is not None:
        legend.remove()
    ax.set_ylabel("")


def to_rgb(fig: Figure) -> np.ndarray:
    """Draw ``fig`` with Agg and return a fresh ``H x W x 3`` uint8 array."""
    canvas = fig.canvas
    if not isinstance(canvas, FigureCanvasAgg):
        canvas = FigureCanvasAgg(fig)
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    return np.ascontiguousarray(rgba[..., :3])


def finite_range(*arrays: np.ndarray | None) -> tuple[float, float] | None:
    """``(min, max)`` over the finite values of ``arrays``, or ``None``."""
    lo, hi = np.inf, -np.inf
    for a in arrays:
        if a is None or len(a) == 0:
            continue
        a = np.asarray(a, np.float64)
        a = a[np.isfinite(a)]
        if len(a):
            lo, hi = min(lo, float(a.min())), max(hi, float(a.max()))
    return (lo, hi) if lo <= hi else None


def set_ylim(
    ax: Axes, *arrays: np.ndarray | None, pad: float = 0.06, include_zero: bool = False
) -> tuple[float, float]:
    """Set finite y limits covering ``arrays`` (flat, empty or all-NaN data included).

    Matplotlib's autoscale fails on all-NaN data ("Axis limits cannot be NaN or
    Inf") and gives a zero-height axis on flat data; this never does.
    """
    r = finite_range(*arrays)
    lo, hi = r if r is not None else (0.0, 0.0)
    if include_zero:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    span = hi - lo
    if not span > 0:  # flat (or no) data: a small band around the value, 0 gives +-1
        span = 2.0 * abs(hi) * 1e-3 if hi != 0 else 2.0
        lo, hi = lo - span / 2, hi + span / 2
    lim = (lo - pad * span, hi + pad * span)
    ax.set_ylim(*lim)
    return lim


def set_xlim(ax: Axes, x0: float, x1: float) -> None:
    """x limits ``[x0 - 0.5, x1 + 0.5]`` (one bar included)."""
    ax.set_xlim(x0 - 0.5, max(x1, x0) + 0.5)


def note_axes(fig: Figure) -> Axes:
    """Layout builder of a note-only figure: one axes with no axis lines or ticks."""
    ax = fig.add_subplot()
    ax.set_axis_off()
    return ax


def note_figure(fig: Figure, text: str, size: float | None = None) -> None:
    """The whole (reused) figure as one note, e.g. "no steps recorded yet"."""
    note(axes_for(fig, ("note",), note_axes), text, size)


def note(ax: Axes, text: str, size: float | None = None) -> None:
    """A grey centred note in an empty panel (``size`` in points)."""
    ax.text(
        0.5,
        0.5,
        text,
        transform=ax.transAxes,
        ha="center",
        va="center",
        color="#7a7a7a",
        fontsize=size,
    )
