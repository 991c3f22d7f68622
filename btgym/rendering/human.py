"""The ``human`` image: the last bars up to now, the fills among them, the position.

Candles of the first asset for the last ``render_human_bars`` bars up to the bar
of the latest step, buy / sell / close markers at the fills in that window, and
below them the position over the same bars. Without bars (data not available)
the top panel shows the broker value instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from btgym.rendering import panels
from btgym.rendering.config import RenderConfig
from btgym.rendering.records import EpisodeRecords, TimeAxis, asset_names, has_prices
from btgym.rendering.style import axes_for, color, note, note_figure, set_xlim, set_ylim
from btgym.rendering.timeaxis import format_time

_UP, _DOWN = "#9fb0c2", "#34495e"


def draw_human(
    fig: Figure,
    rec: EpisodeRecords,
    bars: Any | None,
    config: RenderConfig,
    title_info: dict | None = None,
) -> None:
    """Draw the recent-window view on the empty figure ``fig``."""
    names = asset_names(rec, bars)
    if not len(rec):
        note_figure(fig, "no steps recorded yet", config.render_font_size * 1.6)
        _title(fig, config, rec, names, title_info)
        return
    candles = bool(names) and has_prices(bars, names[0])
    top, bottom = axes_for(fig, ("human", candles), lambda f: _build(f, config))
    axis = TimeAxis.of(rec, bars)
    now = float(axis.x(rec.time[-1:])[0])
    hi = int(np.ceil(now))
    lo = max(0, hi - config.render_human_bars + 1)
    x_rec, x_fill = axis.x(rec.time), axis.x(rec.fills.time)
    in_win = (x_fill >= lo - 0.5) & (x_fill <= hi + 0.5)
    if candles:
        _candles(top, config, bars, names[0], lo, hi)
        fills = rec.fills
        sel = in_win & (fills.asset == 0)
        _window_markers(top, config, fills, x_fill, sel)
    else:
        _value_line(top, config, rec, x_rec)
    top.axvline(now, color="#7a7a7a", lw=0.8, ls="--", zorder=1)
    if top.get_legend_handles_labels()[0]:
        top.legend(loc="upper left", ncols=3)
    step_in = x_rec >= lo - 1
    pos = {n: p[step_in] for n, p in list(rec.positions.items())[:1]}
    if pos:
        panels.position_panel(bottom, config, x_rec[step_in], pos)
    else:
        set_ylim(bottom)
        note(bottom, "no position recorded")
    set_xlim(bottom, lo, hi)
    panels.date_axis(bottom, axis.times, lo, hi, max_ticks=7)
    _title(fig, config, rec, names, title_info)


def _build(fig: Figure, config: RenderConfig) -> tuple:
    w, h = fig.get_size_inches()
    fs = config.render_font_size / 72.0
    fig.subplots_adjust(
        left=min(0.3, 8.5 * fs / w),
        right=1 - min(0.2, 2.0 * fs / w),
        top=1 - min(0.3, 4.6 * fs / h),
        bottom=min(0.3, 4.6 * fs / h),
    )
    top, bottom = fig.subplots(
        2, 1, sharex=True, squeeze=True, gridspec_kw={"height_ratios": [3, 1], "hspace": 0.1}
    )
    for ax in (top, bottom):
        ax.yaxis.set_label_coords(-0.63 / w, 0.5)
    return top, bottom


def _candles(ax: Axes, config: RenderConfig, bars: Any, name: str, lo: int, hi: int) -> None:
    ohlc = np.asarray(bars.values[name], np.float64)[lo : hi + 1]
    x = np.arange(lo, hi + 1, dtype=np.float64)
    o, hgh, low, c = ohlc[:, 0], ohlc[:, 1], ohlc[:, 2], ohlc[:, 3]
    colors = np.where(c >= o, _UP, _DOWN)
    y0, y1 = set_ylim(ax, hgh, low, pad=0.08)
    ax.vlines(x, low, hgh, colors=colors, lw=0.8, zorder=2)
    width_pt = ax.get_position().width * ax.figure.get_size_inches()[0] * 72.0
    body = float(np.clip(0.7 * width_pt / max(len(x), 1), 1.0, 14.0))
    b_lo = np.minimum(o, c) - (y1 - y0) * 0.002  # flat candles stay visible as dashes
    b_hi = np.maximum(np.maximum(o, c), b_lo + (y1 - y0) * 0.004)
    ax.vlines(x, b_lo, b_hi, colors=colors, lw=body, zorder=3)
    ax.set_ylabel(f"{name} price")


def _window_markers(
    ax: Axes, config: RenderConfig, fills: Any, x_fill: np.ndarray, sel: np.ndarray
) -> None:
    lo, hi = ax.get_ylim()
    sub = type(fills)(*(getattr(fills, f)[sel] for f in ("time", "asset", "kind", "price", "size")))
    panels.fill_markers(ax, config, sub, x_fill[sel], None, size=70.0)
    prices = sub.price[np.isfinite(sub.price)]
    if len(prices):
        set_ylim(ax, np.array([lo, hi]), prices, pad=0.02)


def _value_line(ax: Axes, config: RenderConfig, rec: EpisodeRecords, x: np.ndarray) -> None:
    value = rec.column("broker_value")
    if value is None:
        set_ylim(ax)
        note(ax, "no bars and no broker value to show")
        return
    panels.line(ax, x, value, color=color(config, "value"), lw=1.2, label="broker value")
    set_ylim(ax, value)
    ax.set_ylabel("broker value")
    ax.yaxis.set_major_formatter(panels.thousands)


def _title(
    fig: Figure,
    config: RenderConfig,
    rec: EpisodeRecords,
    names: tuple[str, ...],
    title_info: dict | None,
) -> None:
    head = names[0] if names else "btgym"
    if len(rec):
        head += f" · {format_time(int(rec.time[-1]))} · step {rec.last_step:,}"
    parts = []
    if len(rec):
        for asset, p in list(rec.positions.items())[:1]:
            parts.append(f"position {asset} {panels.fmt_num(float(p[-1]), signed=True)}")
        for key, label in (
            ("broker_value", "value"),
            ("unrealized_pnl", "unrealized PnL"),
            ("reward", "reward"),
        ):
            col = rec.column(key)
            if col is not None:
                parts.append(f"{label} {panels.fmt_num(float(col[-1]))}")
        dd = rec.column("drawdown")
        if dd is not None:
            parts.append(f"drawdown {100 * float(dd[-1]):.2f}%")
    panels.header(fig, config, head, parts, title_info)
