"""Atlas's batch-overview heatmap: one block per work unit, one row per model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from btgym.errors import ModelError
from btgym.models.plots.blocks import value_grid
from btgym.models.stats import summary_metrics


def heatmap_columns(n_classes: int) -> list[str]:
    """``ACC, PV0…PV{K−1}, PR0…PR{K−1}, LR0…LR{K−1}`` (1 + 3K)."""
    K = int(n_classes)
    return ["ACC", *[f"{n}{k}" for n in ("PV", "PR", "LR") for k in range(K)]]


def heatmap_row(result: Any, split: str) -> np.ndarray:
    """The 1 + 3K values of one classifier result on ``split``."""
    s = (result.summary or {}).get(split)
    if s is None:
        frame = result.predictions[result.predictions["split"] == split]
        s = summary_metrics(frame, result.task, result.n_classes)
    K = int(result.n_classes)
    keys = ["acc", *[f"{n}_{k}" for n in ("pv", "pr", "lr") for k in range(K)]]
    return np.array([s.get(k, np.nan) for k in keys], np.float64)


def _as_list(results: Any) -> list[Any]:
    if isinstance(results, Mapping):
        return list(results.values())
    if isinstance(results, Sequence):
        return list(results)
    return [results]


def batch_heatmap(
    results_by_unit: Mapping[str, Any], *, split: str = "test", title: str = ""
) -> Figure:
    """One block per work unit (sorted by name, the name as the block's y-label), one
    row per model, columns ``ACC, PV_k, PR_k, LR_k``; cells ``viridis(clip(v, 0, 1))``
    with the value at 3 decimals; NaN grey. Headers on the first block and wherever K
    changes.
    """
    from btgym.models.plots import new_figure

    units = sorted(results_by_unit)
    if not units:
        raise ModelError("batch_heatmap: no work units")
    blocks = []
    for unit in units:
        res = _as_list(results_by_unit[unit])
        if not res:
            raise ModelError(f"batch_heatmap: unit {unit!r} has no results")
        for r in res:
            if r.task != "classification":
                raise ModelError(f"batch_heatmap: {unit}/{r.name} is not a classifier")
        ks = {int(r.n_classes) for r in res}
        if len(ks) != 1:
            raise ModelError(f"batch_heatmap: unit {unit!r} mixes class counts {sorted(ks)}")
        blocks.append((unit, res, ks.pop()))
    n_rows = sum(len(b[1]) for b in blocks)
    max_cols = max(1 + 3 * k for *_, k in blocks)
    height = 1.2 + 0.42 * n_rows + 0.5 * len(blocks) + (0.4 if title else 0.0)
    fig = new_figure(2.5 + 0.75 * max_cols, height)
    grid = fig.add_gridspec(len(blocks), 1, height_ratios=[len(b[1]) for b in blocks], hspace=0.35)
    prev_k = None
    for i, (unit, res, K) in enumerate(blocks):
        ax = fig.add_subplot(grid[i, 0])
        values = np.stack([heatmap_row(r, split) for r in res])
        value_grid(
            ax,
            values,
            row_labels=[r.name for r in res],
            col_labels=heatmap_columns(K),
            top_labels=prev_k != K,
            fontsize=8,
        )
        ax.set_xlim(-0.5, max_cols - 0.5)  # equal cell widths across blocks, left-aligned
        ax.set_ylabel(unit, rotation=0, ha="right", va="center", fontsize=10, labelpad=12)
        ax.set_gid(f"unit:{unit}")
        prev_k = K
    if title:
        fig.suptitle(title, fontsize=12)
    fig.subplots_adjust(
        left=2.3 / (2.5 + 0.75 * max_cols),
        right=0.98,
        top=1 - (1.0 if title else 0.5) / height,
        bottom=0.1 / height,
    )
    return fig
