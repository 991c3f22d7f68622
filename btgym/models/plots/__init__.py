"""Atlas figures: batch heatmap, classifier and regressor baseball cards (Agg only).

Every function builds a :class:`matplotlib.figure.Figure` on an Agg canvas without
``pyplot``. :func:`to_png` gives deterministic PNG bytes (no metadata), so equal inputs
give equal bytes; :func:`btgym.rendering.style.to_rgb` gives the ``(H, W, 3)`` array.
"""

from __future__ import annotations

import os
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from btgym.rendering.png import to_png_bytes
from btgym.rendering.style import to_rgb


def new_figure(width: float, height: float, dpi: int = 100) -> Figure:
    """A Figure with an Agg canvas (no pyplot, no display)."""
    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def to_png(fig: Figure, path: str | os.PathLike | None = None) -> bytes:
    """PNG bytes of ``fig`` without metadata (equal figures → equal bytes); also written
    atomically to ``path`` when given."""
    data = to_png_bytes(to_rgb(fig))
    if path is not None:
        path = Path(path)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    return data


from btgym.models.plots.blocks import (  # noqa: E402
    plot_acc_histogram,
    plot_acc_over_time,
    plot_confidence_curves,
    plot_confusion,
    plot_equity,
    plot_lr_curves,
    plot_metrics_table,
    plot_regression_fit,
    plot_roc,
)
from btgym.models.plots.cards import classifier_card, regressor_card  # noqa: E402
from btgym.models.plots.heatmap import batch_heatmap  # noqa: E402

__all__ = [
    "batch_heatmap",
    "classifier_card",
    "new_figure",
    "plot_acc_histogram",
    "plot_acc_over_time",
    "plot_confidence_curves",
    "plot_confusion",
    "plot_equity",
    "plot_lr_curves",
    "plot_metrics_table",
    "plot_regression_fit",
    "plot_roc",
    "regressor_card",
    "to_png",
    "to_rgb",
]
