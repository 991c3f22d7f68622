"""Panels shared by the ``human`` and ``episode`` modes.

Each function draws one kind of panel on an ``Axes`` from already-checked arrays
(x positions are bar numbers, see :class:`~btgym.rendering.records.TimeAxis`).
Buy, sell and close fills are drawn by :func:`fill_markers` everywhere, so their
markers and colours are the same in every image; long and short positions are
shaded with the buy and sell colours.
"""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties

from btgym.rendering.config import RenderConfig
from btgym.rendering.records import FILL_KINDS, Fills
from btgym.rendering.style import MARKERS, color, set_ylim
from btgym.rendering.timeaxis import date_ticks

#: ``gid`` prefix of the marker collections (``"fills:buy"``...): tests and tools
#: find the markers by it.
FILL_GID = "fills:"

_ASSET_LINES = ("#262626", "#8c6d31", "#6b6ecf", "#17becf", "#7f7f7f", "#e377c2")


def fill_markers(
    ax: Axes,
    config: RenderConfig,
    fills: Fills,
    x: np.ndarray,
    asset: int | None,
    size: float = 46.0,
) -> dict[str, int]:
    """Scatter the fills of ``asset`` (all when ``None``): one collection per kind.

    Every kind gets a collection (empty when there was no such fill) with
    ``gid = "fills:<kind>"`` and a legend label carrying the count.

    Returns:
        number of markers drawn per kind name.
    """
    counts = {}
    for code, name in FILL_KINDS.items():
        mask = fills.select(code, asset)
        n = int(np.count_nonzero(mask))
        ax.scatter(
            x[mask],
            fills.price[mask],
            s=size,
            marker=MARKERS[name],
            color=color(config, name),
            edgecolors="white",
            linewidths=0.6,
            zorder=4,
            label=f"{name} ({n})",
            gid=FILL_GID + name,
        )
        counts[name] = n
    return counts


def line(ax: Axes, x: np.ndarray, y: np.ndarray, **kw) -> None:
    """``ax.plot`` that stays visible with a single point (adds a dot marker)."""
    if len(x) < 2:
        kw.setdefault("marker", "o")
        kw.setdefault("markersize", 4)
    ax.plot(x, y, **kw)


def position_panel(
    ax: Axes, config: RenderConfig, x: np.ndarray, positions: dict[str, np.ndarray]
) -> None:
    """Step plot of each asset's position; long shaded in buy, short in sell colour."""
    long_c, short_c = color(config, "buy"), color(config, "sell")
    alpha = 0.45 if len(positions) == 1 else 0.18
    for i, (name, pos) in enumerate(positions.items()):
        p = np.nan_to_num(pos, nan=0.0, posinf=0.0, neginf=0.0)
        for sign, c in ((1.0, long_c), (-1.0, short_c)):
            on = sign * p > 0
            on[1:] |= on[:-1]  # a "post" step holds its value up to the next x
            ax.fill_between(x, p, 0, where=on, step="post", color=c, alpha=alpha, lw=0)
        c = _ASSET_LINES[i % len(_ASSET_LINES)]
        if len(x) < 2:
            ax.plot(x, p, "o", color=c, markersize=4, label=name)
        else:
            ax.step(x, p, where="post", color=c, lw=0.9, label=name)
    ax.axhline(0, color="#9a9a9a", lw=0.6, zorder=1)
    set_ylim(ax, *positions.values(), include_zero=True, pad=0.12)
    ax.set_ylabel("position")
    ax.yaxis.set_major_formatter(thousands)
    if len(positions) > 1:
        ax.legend(loc="upper left", ncols=min(len(positions), 6))


def value_panel(ax: Axes, config: RenderConfig, x: np.ndarray, value: np.ndarray) -> None:
    """Broker value with a dotted line at the starting value."""
    line(ax, x, value, color=color(config, "value"), lw=1.2)
    finite = value[np.isfinite(value)]
    if len(finite):
        ax.axhline(finite[0], color="#9a9a9a", lw=0.8, ls=":", zorder=1)
    set_ylim(ax, value)
    ax.set_ylabel("broker value")
    ax.yaxis.set_major_formatter(thousands)


def drawdown_panel(ax: Axes, config: RenderConfig, x: np.ndarray, drawdown: np.ndarray) -> None:
    """Drawdown (a fraction >= 0) as an under-water area in percent."""
    dd = -100.0 * np.nan_to_num(drawdown, nan=0.0, posinf=0.0, neginf=0.0)
    c = color(config, "drawdown")
    ax.fill_between(x, dd, 0, step="post", color=c, alpha=0.3, lw=0)
    if len(x) < 2:
        ax.plot(x, dd, "o", color=c, markersize=4)
    else:
        ax.step(x, dd, where="post", color=c, lw=0.9)
    set_ylim(ax, dd, include_zero=True, pad=0.1)
    ax.set_ylabel("drawdown %")


def reward_panel(
    ax: Axes, twin: Axes, config: RenderConfig, x: np.ndarray, reward: np.ndarray
) -> None:
    """Per-step reward as bars on ``ax`` and cumulative reward on its twin ``twin``."""
    r = np.nan_to_num(reward, nan=0.0, posinf=0.0, neginf=0.0)
    step_c, cum_c = color(config, "reward"), color(config, "cum_reward")
    ax.plot(*_bars_path(x, r), color=step_c, lw=0.8)
    ax.axhline(0, color="#9a9a9a", lw=0.6, zorder=1)
    set_ylim(ax, r, include_zero=True, pad=0.08)
    ax.set_ylabel("reward / step", color="#505050")
    cum = np.cumsum(r)
    line(twin, x, cum, color=cum_c, lw=1.4)
    set_ylim(twin, cum, include_zero=True, pad=0.08)
    twin.set_ylabel("cumulative", color=cum_c)
    twin.tick_params(axis="y", colors=cum_c)


def _bars_path(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One NaN-separated path of vertical bars 0..y (one artist instead of n segments)."""
    n = len(x)
    xs, ys = np.empty(3 * n), np.empty(3 * n)
    xs[0::3], xs[1::3], xs[2::3] = x, x, np.nan
    ys[0::3], ys[1::3], ys[2::3] = 0.0, y, np.nan
    return xs, ys


def date_axis(ax: Axes, times: np.ndarray, x0: float, x1: float, max_ticks: int = 8) -> None:
    """Date labels for bar numbers ``x0..x1`` on ``ax`` (and the axes sharing it)."""
    pos, labels = date_ticks(times, int(np.floor(x0)), int(np.ceil(x1)), max_ticks)
    ax.set_xticks(pos, labels)


def thousands(v: float, _pos: int | None = None) -> str:
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:g}"


def fmt_num(v: float, signed: bool = False) -> str:
    """A compact readable number: thousands separators, or 4 significant digits."""
    if not np.isfinite(v):
        return "n/a"
    sign = "+" if signed else ""
    if abs(v) >= 1000:
        return f"{v:{sign},.2f}"
    return f"{v:{sign}.4g}"


def header(
    fig: Figure, config: RenderConfig, head: str, parts: list[str], info: dict | None
) -> None:
    """Two header lines at the top left: ``head`` in bold, then ``parts`` and ``info``.

    Lines are fitted to the figure's width (measured with the figure's renderer):
    ``info`` moves up to the first line when the second is full, and what still
    does not fit is cut with an ellipsis.
    """
    fs = config.render_font_size
    w, h = fig.get_size_inches()
    room = 0.98 * w
    bold = FontProperties(size=fs + 2, weight="bold")
    plain = FontProperties(size=fs)
    extra = fmt_info(info)
    line1, line2 = head, _SEP.join(parts + extra)
    if extra and _width(fig, line2, plain) > room:
        moved = head + " · " + " · ".join(extra)
        if _width(fig, moved, bold) <= room:
            line1, line2 = moved, _SEP.join(parts)
    top = 1.0 - 0.06 / h
    line1 = _fit(fig, line1, bold, room)
    fig.text(0.01, top, line1, ha="left", va="top", fontproperties=bold)
    if line2:
        line2 = _fit(fig, line2, plain, room)
        fig.text(
            0.01,
            top - (fs + 5.5) / 72 / h,
            line2,
            ha="left",
            va="top",
            fontproperties=plain,
            color="#404040",
        )


_SEP = "  ·  "


def _width(fig: Figure, text: str, prop: FontProperties) -> float:
    """Width of ``text`` in inches as the figure's renderer will draw it."""
    renderer = fig.canvas.get_renderer()
    return renderer.get_text_width_height_descent(text, prop, ismath=False)[0] / fig.dpi


def _fit(fig: Figure, text: str, prop: FontProperties, room: float) -> str:
    """``text``, or its longest prefix + "…" that fits in ``room`` inches."""
    if _width(fig, text, prop) <= room:
        return text
    lo, hi = 1, len(text)
    while lo < hi:  # longest prefix that fits, by bisection
        mid = (lo + hi + 1) // 2
        if _width(fig, text[:mid] + "…", prop) <= room:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo].rstrip(" ·") + "…"


def fmt_info(info: dict | None) -> list[str]:
    """``"key: value"`` strings of a ``title_info`` dict (floats made compact)."""
    out = []
    for k, v in (info or {}).items():
        if isinstance(v, float | np.floating):
            v = fmt_num(float(v))
        out.append(f"{k}: {v}")
    return out
