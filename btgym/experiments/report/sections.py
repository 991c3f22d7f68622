"""The pieces of a report: figures as PNG bytes and the rows of the run table."""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from btgym.experiments.registry import RunRecord
from btgym.log import get_logger

log = get_logger(__name__)

CARD_DPI = 64
HEATMAP_DPI = 80
CURVE_DPI = 80


def data_uri(png: bytes) -> str:
    """``data:image/png;base64,...``."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _png(fig: Any, dpi: int) -> bytes:
    from btgym.models.plots import to_png

    fig.set_dpi(dpi)
    return to_png(fig)


def load_results(runs: Sequence[RunRecord]) -> dict[str, Any]:
    """``run id -> ModelResult`` of finished supervised runs whose files are readable."""
    from btgym.experiments.rundir import load_result

    out = {}
    for r in runs:
        if r.kind != "supervised" or r.status != "finished" or not r.run_dir:
            continue
        try:
            res = load_result(r.run_dir)
        except Exception as exc:
            log.warning(f"report: run {r.id} has no readable results ({exc})")
            continue
        out[r.id] = res
    return out


def heatmap_png(
    runs: Sequence[RunRecord], results: Mapping[str, Any], split: str, title: str
) -> bytes | None:
    """Atlas's batch heatmap of finished classifier runs grouped by unit."""
    import dataclasses

    from btgym.models.plots import batch_heatmap

    by_unit: dict[str, list[Any]] = {}
    for r in runs:
        res = results.get(r.id)
        if res is None or res.task != "classification" or split not in res.summary:
            continue
        unit = str(r.config.get("unit") or "runs")
        name = f"{r.config.get('model_spec') or r.name} · {r.id[-6:]}"
        by_unit.setdefault(unit, []).append(dataclasses.replace(res, name=name))
    if not by_unit:
        return None
    # a unit mixing class counts cannot share one block: split it by K
    blocks: dict[str, list[Any]] = {}
    for unit, res in by_unit.items():
        ks = sorted({int(x.n_classes) for x in res})
        for k in ks:
            key = unit if len(ks) == 1 else f"{unit} (K={k})"
            blocks[key] = [x for x in res if int(x.n_classes) == k]
    try:
        return _png(batch_heatmap(blocks, split=split, title=title), HEATMAP_DPI)
    except Exception as exc:
        log.warning(f"report: heatmap not drawn ({exc})")
        return None


def card_png(result: Any, split: str, layout: str = "full") -> bytes | None:
    """The classifier (``full`` or ``compact``) or regressor card of one run."""
    from btgym.models.plots import classifier_card, regressor_card

    try:
        if result.task == "classification":
            fig = classifier_card(result, split=split, layout=layout)
        else:
            fig = regressor_card(result, split=split)
        return _png(fig, CARD_DPI)
    except Exception as exc:
        log.warning(f"report: card of {result.name} not drawn ({exc})")
        return None


def _card_path(run_dir: str, split: str, layout: str) -> Path:
    return Path(run_dir) / f"card_{split}_{layout}.png"


def _cached_card(run_dir: str, split: str, layout: str) -> str | None:
    from btgym.experiments.rundir import PREDICTIONS

    path, pred = _card_path(run_dir, split, layout), Path(run_dir) / PREDICTIONS
    if path.is_file() and pred.is_file() and path.stat().st_mtime_ns >= pred.stat().st_mtime_ns:
        return str(path)
    return None


def card_file(run_dir: str, split: str, layout: str = "full") -> str | None:
    """Draw (or reuse) ``<run_dir>/card_<split>_<layout>.png``; its path, or ``None``.

    A card is redrawn when the predictions are newer than it. Runs in pool workers:
    it reads the run directory itself, so nothing but paths crosses processes.
    """
    from btgym.experiments.rundir import atomic_write, load_result

    cached = _cached_card(run_dir, split, layout)
    if cached is not None:
        return cached
    path = _card_path(run_dir, split, layout)
    try:
        png = card_png(load_result(run_dir), split, layout)
    except Exception as exc:
        log.warning(f"report: card of {run_dir} not drawn ({exc})")
        return None
    if png is None:
        return None
    atomic_write(path, lambda p: p.write_bytes(png))
    return str(path)


def render_cards(
    run_dirs: Mapping[str, str], split: str, workers: int | None = None, layout: str = "full"
) -> dict[str, bytes]:
    """``run id -> card PNG`` for many runs, drawn in a spawned process pool when
    there are more than a few."""
    import concurrent.futures as cf
    import multiprocessing as mp
    import os

    n = workers if workers is not None else min(4, os.cpu_count() or 1)
    cached = {rid: _cached_card(d, split, layout) for rid, d in run_dirs.items()}
    items = [(rid, d) for rid, d in run_dirs.items() if cached[rid] is None]
    files: dict[str, str | None] = {rid: f for rid, f in cached.items() if f is not None}
    if n <= 1 or len(items) <= 8:
        files.update({rid: card_file(d, split, layout) for rid, d in items})
    else:
        try:
            with cf.ProcessPoolExecutor(n, mp_context=mp.get_context("spawn")) as pool:
                futs = {rid: pool.submit(card_file, d, split, layout) for rid, d in items}
                files.update({rid: f.result() for rid, f in futs.items()})
        except cf.process.BrokenProcessPool as exc:  # e.g. a script without a main guard
            log.warning(f"report: card pool failed ({exc}); drawing cards in this process")
            files.update({rid: card_file(d, split, layout) for rid, d in items})
    return {rid: Path(f).read_bytes() for rid, f in files.items() if f}


def rl_png(run: RunRecord, curve: Any, equity: Any) -> bytes:
    """Episode return over env steps and the test equity curves of one RL run."""
    from btgym.models.plots import new_figure

    fig = new_figure(12, 3.6)
    a, b = fig.subplots(1, 2)
    if curve is not None and len(curve):
        a.plot(curve["step"], curve["value"], color="#1f77b4", lw=1.5)
    else:
        a.text(0.5, 0.5, "no progress reports", ha="center", va="center", transform=a.transAxes)
    a.set_title("episode return (mean of recent episodes)")
    a.set_xlabel("env steps")
    a.grid(alpha=0.3)
    if equity is not None and len(equity):
        for ep, part in equity.groupby("episode"):
            b.plot(
                part["step"].to_numpy(),
                part["broker_value"].to_numpy(),
                lw=1.2,
                label=f"episode {ep}",
            )
        b.legend(fontsize=8, loc="best")
    else:
        b.text(0.5, 0.5, "no test episodes", ha="center", va="center", transform=b.transAxes)
    b.set_title("test episodes: broker value")
    b.set_xlabel("step")
    b.grid(alpha=0.3)
    fig.suptitle(f"{run.id} · {run.config.get('algo', '').upper()} · {run.status}", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    return _png(fig, CURVE_DPI)


def rl_data(run: RunRecord, metrics: Any) -> tuple[Any, Any]:
    """``(curve frame, equity frame)`` of an RL run (either may be ``None``)."""
    import pandas as pd

    m = metrics[
        (metrics["run_id"] == run.id)
        & (metrics["key"] == "episode_return_mean")
        & metrics["step"].notna()
    ]
    curve = m.sort_values("step")[["step", "value"]] if len(m) else None
    equity = None
    if run.run_dir and (Path(run.run_dir) / "equity.parquet").is_file():
        try:
            equity = pd.read_parquet(Path(run.run_dir) / "equity.parquet")
        except Exception as exc:
            log.warning(f"report: equity of {run.id} unreadable ({exc})")
    return curve, equity


#: short column titles of the run table
LABELS = {
    "mean_return": "return",
    "mean_broker_value": "broker value",
    "mean_max_drawdown": "max dd",
    "log_loss": "log loss",
    "pnl_sharpe": "pnl sharpe",
}

KEY_METRICS = {
    "supervised": ("acc", "log_loss", "pnl_sharpe", "mse", "r2"),
    "rl": ("mean_return", "mean_broker_value", "mean_max_drawdown"),
    "encoder": (),
}


def first_error_line(error: str | None) -> str:
    """The last non-empty line of a traceback (the exception), or ''."""
    if not error:
        return ""
    lines = [ln.strip() for ln in error.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def table_rows(
    runs: Sequence[RunRecord], metrics: Any, split: str
) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of the run table (numbers stay numbers, for sorting)."""
    summ = metrics[metrics["step"].isna()]
    keys: list[str] = []
    for kind in sorted({r.kind for r in runs}):
        keys += [k for k in KEY_METRICS.get(kind, ()) if k not in keys]
    lookup: dict[tuple[str, str], float] = {}
    for row in summ.itertuples(index=False):
        if row.split == split or (row.split == "test" and row.key.startswith("mean_")):
            lookup[(row.run_id, row.key)] = row.value
    keys = [k for k in keys if any((r.id, k) in lookup for r in runs)]  # no empty columns
    header = [
        "run",
        "kind",
        "status",
        "unit",
        "model",
        *[LABELS.get(k, k) for k in keys],
        "duration s",
        "error",
    ]
    rows = []
    for r in runs:
        model = (r.config.get("model") or {}).get("class") or r.config.get("algo") or ""
        vals = [lookup.get((r.id, k)) for k in keys]
        dur = r.duration
        rows.append(
            [
                r.id,
                r.kind,
                r.status,
                r.config.get("unit") or "",
                model,
                *[
                    None if v is None or (isinstance(v, float) and math.isnan(v)) else v
                    for v in vals
                ],
                None if dur is None else round(dur, 2),
                first_error_line(r.error),
            ]
        )
    return header, rows
