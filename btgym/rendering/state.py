"""Observation images: one observation tensor as a heatmap (time on x, features on y).

BTGym's convention: the first dimension of an observation is time (oldest first,
the current bar last), the second holds features, a third holds channels of which
one (``render_state_channel``) is shown; further dimensions are folded into the
features. Non-finite values are drawn in grey.
"""

from __future__ import annotations

from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, MaxNLocator

from btgym.errors import RenderError
from btgym.rendering.config import RenderConfig
from btgym.rendering.panels import header
from btgym.rendering.records import EpisodeRecords
from btgym.rendering.style import axes_for, finite_range
from btgym.rendering.timeaxis import format_time


def as_matrix(obs: Any, key: str, channel: int) -> tuple[np.ndarray, str]:
    """``(features, time)`` float matrix of an observation, and a note on the channel.

    Raises:
        RenderError: the observation is a scalar, empty, not numeric, or has no
            such channel.
    """
    a = np.asarray(obs)
    if a.dtype.kind not in "biuf":
        raise RenderError(f"observation {key!r}: cannot draw dtype {a.dtype}")
    if a.ndim == 0 or a.size == 0:
        raise RenderError(f"observation {key!r}: cannot draw shape {a.shape}")
    a = a.astype(np.float64)
    extra = ""
    if a.ndim == 1:
        a = a[:, None]
    elif a.ndim >= 3:
        if channel >= a.shape[2]:
            raise RenderError(
                f"observation {key!r} of shape {a.shape}: render_state_channel={channel} "
                f"but it has {a.shape[2]} channels"
            )
        extra = f"channel {channel} of {a.shape[2]}"
        if a.ndim > 3:
            folded = "\u00d7".join(str(d) for d in (a.shape[1], *a.shape[3:]))
            extra += f" · features {folded} flattened"
        a = a[:, :, channel].reshape(a.shape[0], -1)
    return a.T, extra


def draw_state(
    fig: Figure,
    key: str,
    obs: Any,
    rec: EpisodeRecords,
    config: RenderConfig,
    title_info: dict | None = None,
) -> None:
    """Draw observation ``key`` on the empty figure ``fig``."""
    m, extra = as_matrix(obs, key, config.state_channel)
    n_feat, n_time = m.shape
    ax, cax = axes_for(fig, ("state",), lambda f: _build(f, config))
    r = finite_range(m)
    lo, hi = r if r is not None else (0.0, 1.0)
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    cmap = matplotlib.colormaps[config.render_cmap].with_extremes(bad="#bdbdbd")
    ax.imshow(
        np.ma.masked_invalid(m),
        cmap=cmap,
        vmin=lo,
        vmax=hi,
        aspect="auto",
        origin="lower",
        interpolation="nearest",
        extent=(-(n_time - 1) - 0.5, 0.5, -0.5, n_feat - 0.5),
    )
    ax.set_xlim(-(n_time - 1) - 0.5, 0.5)
    ax.set_ylim(-0.5, n_feat - 0.5)
    cax.imshow(
        np.linspace(lo, hi, 256)[:, None],
        cmap=cmap,
        vmin=lo,
        vmax=hi,
        aspect="auto",
        origin="lower",
        extent=(0, 1, lo, hi),
    )
    cax.set_ylim(lo, hi)
    cax.set_ylabel("value")
    ax.set_ylabel("feature")
    ax.xaxis.set_major_locator(MaxNLocator(nbins=10, integer=True))
    if n_feat <= 12:
        ax.yaxis.set_major_locator(FixedLocator(np.arange(n_feat)))
    else:
        ax.yaxis.set_major_locator(MaxNLocator(nbins=12, integer=True))
    _title(fig, config, key, np.shape(obs), extra, rec, title_info)


def _build(fig: Figure, config: RenderConfig) -> tuple:
    w, h = fig.get_size_inches()
    fs = config.render_font_size / 72.0
    left, right = min(0.3, 6.5 * fs / w), 1 - min(0.3, 5.5 * fs / w)
    bottom, top = min(0.3, 4.5 * fs / h), 1 - min(0.35, 4.5 * fs / h)
    bar_w, gap = 0.16 / w, 0.12 / w
    ax = fig.add_axes((left, bottom, right - left - bar_w - gap, top - bottom))
    ax.grid(False)
    ax.set_xlabel("time step (0 = current bar, negative = bars ago)")
    cax = fig.add_axes((right - bar_w, bottom, bar_w, top - bottom))
    cax.grid(False)
    cax.set_xticks([])
    cax.yaxis.tick_right()
    cax.yaxis.set_label_position("right")
    for spine in cax.spines.values():
        spine.set_visible(False)
    return ax, cax


def _title(
    fig: Figure,
    config: RenderConfig,
    key: str,
    shape: tuple,
    extra: str,
    rec: EpisodeRecords,
    title_info: dict | None,
) -> None:
    dims = "\u00d7".join(str(d) for d in shape)
    head = f"Observation '{key}' · shape {dims}" + (f" · {extra}" if extra else "")
    parts = []
    if len(rec):
        parts.append(f"step {rec.last_step:,} · bar {format_time(int(rec.time[-1]))}")
    header(fig, config, head, parts, title_info)
