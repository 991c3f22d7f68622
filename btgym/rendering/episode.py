"""The ``episode`` image: the whole (finished or running) episode on one page.

Panels, top to bottom, sharing a bar-number x axis labelled with dates: price of
each asset (close line inside the high-low band) with buy / sell / close markers
at the fills, positions, broker value, drawdown, per-step and cumulative reward.
The header gives the episode's dates and final statistics.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from btgym.rendering import panels
from btgym.rendering.config import RenderConfig
from btgym.rendering.records import (
    FILL_KINDS,
    EpisodeRecords,
    TimeAxis,
    asset_names,
    has_prices,
    summary,
)
from btgym.rendering.style import (
    axes_for,
    color,
    finite_range,
    note_figure,
    set_xlim,
    set_ylim,
)
from btgym.rendering.timeaxis import format_time

_BAND_MAX_BARS = 20000  # above this the high-low band costs more than it shows


def draw_episode(
    fig: Figure,
    rec: EpisodeRecords,
    bars: Any | None,
    config: RenderConfig,
    title_info: dict | None = None,
) -> None:
    """Draw the episode on the empty figure ``fig``."""
    names = asset_names(rec, bars)
    if not len(rec):
        note_figure(fig, "no steps recorded yet", config.render_font_size * 1.6)
        _header(fig, config, rec, names, [], title_info)
        return
    axis = TimeAxis.of(rec, bars)
    x_rec, x_fill = axis.x(rec.time), axis.x(rec.fills.time)
    r = finite_range(x_rec, x_fill)
    x0, x1 = r if r is not None else (0.0, float(len(axis) - 1))
    shown = _price_assets(rec, bars, names, config.render_max_assets)
    kinds = [("price", i) for i in shown]
    kinds += [(k, None) for k in ("position", "value", "drawdown", "reward") if _has(rec, k)]
    ratios = tuple(
        (3.2 if len(shown) == 1 else 2.2) if k == "price" else _RATIO[k] for k, _ in kinds
    )
    key = ("episode", tuple(k for k, _ in kinds), ratios)
    axes, twin = axes_for(fig, key, lambda f: _build(f, config, ratios, kinds[-1][0] == "reward"))
    totals = {
        k: int(np.count_nonzero(np.isin(rec.fills.asset, shown) & (rec.fills.kind == c)))
        for c, k in FILL_KINDS.items()
    }
    for ax, (kind, asset) in zip(axes, kinds):
        if kind == "price":
            _price(ax, config, rec, bars, axis, names[asset], asset, x_fill, x0, x1)
        elif kind == "position":
            panels.position_panel(ax, config, x_rec, rec.positions)
        elif kind == "value":
            panels.value_panel(ax, config, x_rec, rec.columns["broker_value"])
        elif kind == "drawdown":
            panels.drawdown_panel(ax, config, x_rec, rec.columns["drawdown"])
        elif kind == "reward":
            panels.reward_panel(ax, twin, config, x_rec, rec.columns["reward"])
    if shown:
        _legend(axes[0], totals)
    set_xlim(axes[-1], x0, x1)
    panels.date_axis(axes[-1], axis.times, x0, x1, max_ticks=10)
    axes[-1].set_xlabel("bar open time")
    _header(fig, config, rec, names, shown, title_info)


def _legend(ax: Axes, totals: dict[str, int]) -> None:
    handles, labels = ax.get_legend_handles_labels()
    for i, h in enumerate(handles):
        gid = h.get_gid() or ""
        if gid.startswith(panels.FILL_GID):
            kind = gid[len(panels.FILL_GID) :]
            labels[i] = f"{kind} ({totals[kind]})"
    ax.legend(handles, labels, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=len(labels))


def _build(fig: Figure, config: RenderConfig, ratios: tuple, with_twin: bool) -> tuple:
    _layout(fig, config)
    axes = fig.subplots(
        len(ratios),
        1,
        sharex=True,
        squeeze=False,
        gridspec_kw={"height_ratios": ratios, "hspace": 0.16},
    )[:, 0]
    for ax in axes:
        ax.yaxis.set_label_coords(-0.055, 0.5)
    twin = None
    if with_twin:
        twin = axes[-1].twinx()
        twin.grid(False)
        twin.spines["right"].set_visible(True)
    return list(axes), twin


_RATIO = {"position": 1.0, "value": 1.4, "drawdown": 1.0, "reward": 1.4}


def _has(rec: EpisodeRecords, kind: str) -> bool:
    if not len(rec):
        return False
    if kind == "position":
        return bool(rec.positions)
    key = {"value": "broker_value", "drawdown": "drawdown", "reward": "reward"}[kind]
    return key in rec.columns


def _price_assets(rec: EpisodeRecords, bars: Any, names: tuple[str, ...], most: int) -> list[int]:
    """Indices (into ``names``) of the assets that get a price panel."""
    with_prices = [i for i, name in enumerate(names) if has_prices(bars, name)]
    if with_prices:
        return with_prices[:most]
    with_fills = sorted(set(rec.fills.asset.tolist()))
    return [i for i in with_fills if i < len(names)][:most]


def _layout(fig: Figure, config: RenderConfig) -> None:
    w, h = fig.get_size_inches()
    fs = config.render_font_size / 72.0  # font size in inches
    fig.subplots_adjust(
        left=min(0.3, 9.5 * fs / w),
        right=1.0 - min(0.3, 9.0 * fs / w),
        top=1.0 - min(0.3, 5.2 * fs / h),
        bottom=min(0.3, 5.0 * fs / h),
    )


def _price(
    ax: Axes,
    config: RenderConfig,
    rec: EpisodeRecords,
    bars: Any | None,
    axis: TimeAxis,
    name: str,
    asset: int,
    x_fill: np.ndarray,
    x0: float,
    x1: float,
) -> None:
    fills = rec.fills
    arrays = [fills.price[fills.asset == asset]]
    if has_prices(bars, name):
        lo, hi = max(0, int(np.floor(x0))), min(len(axis) - 1, int(np.ceil(x1)))
        ohlc = np.asarray(bars.values[name], np.float64)[lo : hi + 1]
        x = np.arange(lo, hi + 1, dtype=np.float64)
        c = color(config, "price")
        if hi - lo < _BAND_MAX_BARS:
            ax.fill_between(
                x, ohlc[:, 2], ohlc[:, 1], color=c, alpha=0.14, lw=0, label="high-low range"
            )
            arrays += [ohlc[:, 1], ohlc[:, 2]]
        panels.line(ax, x, ohlc[:, 3], color=c, lw=0.9, label="price (close)")
        arrays.append(ohlc[:, 3])
    panels.fill_markers(ax, config, fills, x_fill, asset, size=_marker_size(len(fills)))
    set_ylim(ax, *arrays, pad=0.05)
    ax.set_ylabel(f"{name} price")


def _marker_size(n_fills: int) -> float:
    return float(np.clip(160.0 / np.sqrt(max(n_fills, 1) / 10.0), 20.0, 90.0))


def _header(
    fig: Figure,
    config: RenderConfig,
    rec: EpisodeRecords,
    names: tuple[str, ...],
    shown: list[int],
    title_info: dict | None,
) -> None:
    s = summary(rec)
    assets = ", ".join(names[i] for i in shown) or ", ".join(names) or "no assets"
    if len(names) > len(shown) and shown:
        assets += f" (showing {len(shown)} of {len(names)} assets)"
    if "start" in s:
        steps = f"{s['steps']:,} step" + ("s" if s["steps"] != 1 else "")
        when = f"{format_time(s['start'])}  →  {format_time(s['end'])} · {steps}"
    else:
        when = "not started"
    line1 = f"Episode · {assets} · {when}"
    parts = []
    if "final_value" in s:
        ret = f" ({panels.fmt_num(s['return_pct'], signed=True)}%)" if "return_pct" in s else ""
        parts.append(f"final value {panels.fmt_num(s['final_value'])}{ret}")
    if "max_drawdown_pct" in s:
        parts.append(f"max drawdown {s['max_drawdown_pct']:.2f}%")
    if "realized_pnl" in s:
        parts.append(f"realized PnL {panels.fmt_num(s['realized_pnl'], signed=True)}")
    if "total_reward" in s:
        parts.append(f"total reward {panels.fmt_num(s['total_reward'], signed=True)}")
    f = s["fills"]
    parts.append(f"fills {f['buy']} buy / {f['sell']} sell / {f['close']} close")
    panels.header(fig, config, line1, parts, title_info)
