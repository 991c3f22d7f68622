"""Sign-trading PnL of a model's predictions (``models.md`` §5).

Position at t: binary classes → (−1, +1); three classes → (−1, 0, +1); other K →
sign of ``class − (K−1)/2``; regressors → ``sign(y_pred)``; flat where the top
probability is ≤ ``min_confidence``. Net at t = ``s_t · y_value_t − cost · |s_t − s_{t−1}|``
in log-return units (``s_{−1} = 0``); with a label horizon n > 1 only every n-th row
trades; rows whose ``y_value`` is NaN are skipped. This idealises entry at t's close;
for RL the backtrader broker (fill at t+1's open) stays the reference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from btgym.errors import ModelInputError

NAN = float("nan")


@dataclass(frozen=True)
class PnL:
    """Result of :func:`sign_pnl`: equity (cumulative net, time-indexed) and its summary."""

    equity: pd.Series
    total: float
    mean: float
    sharpe: float
    hit_rate: float
    turnover: float
    max_drawdown: float

    def to_dict(self) -> dict[str, float]:
        """The summary keys used by ``summary_metrics``."""
        return {
            "pnl_total": self.total,
            "pnl_sharpe": self.sharpe,
            "hit_rate": self.hit_rate,
            "turnover": self.turnover,
        }


def class_positions(n_classes: int) -> np.ndarray:
    """Position of each class id: K=2 (−1, +1), K=3 (−1, 0, +1), else sign(k − (K−1)/2)."""
    K = int(n_classes)
    if K == 2:
        return np.array([-1.0, 1.0])
    return np.sign(np.arange(K) - (K - 1) / 2.0)


def positions_of(
    frame: pd.DataFrame,
    task: str,
    n_classes: int | None,
    *,
    min_confidence: float | None = None,
    positions: Any = None,
) -> np.ndarray:
    """Per-row positions of a predictions frame (see module doc).

    Args:
        positions: optional per-class positions overriding the default mapping.
    """
    if task == "regression":
        return np.sign(frame["y_pred"].to_numpy(np.float64))
    K = int(n_classes)
    table = class_positions(K) if positions is None else np.asarray(positions, np.float64)
    if table.shape != (K,):
        raise ModelInputError(f"sign_pnl: positions must give one number per class ({K})")
    s = table[frame["y_pred"].to_numpy(np.int64)]
    if min_confidence is not None:
        cols = [f"proba_{k}" for k in range(K)]
        conf = frame[cols].to_numpy(np.float64).max(axis=1)
        s = np.where(conf <= float(min_confidence), 0.0, s)
    return s


def pnl_from_positions(
    s: np.ndarray, y_value: np.ndarray, index: Any = None, *, cost: float = 0.0, horizon: int = 1
) -> PnL:
    """Net and equity of positions ``s`` against continuous labels ``y_value``."""
    s, v = np.asarray(s, np.float64), np.asarray(y_value, np.float64)
    if len(s) != len(v):
        raise ModelInputError(f"sign_pnl: {len(s)} positions for {len(v)} label values")
    idx = pd.RangeIndex(len(s)) if index is None else index
    keep = np.flatnonzero(np.isfinite(v))
    if horizon > 1:
        keep = keep[:: int(horizon)]
    s, v = s[keep], v[keep]
    trade = np.abs(np.diff(np.r_[0.0, s]))
    net = s * v - float(cost) * trade
    equity = pd.Series(np.cumsum(net), index=idx[keep], name="equity")
    if not len(net):
        return PnL(equity, NAN, NAN, NAN, NAN, NAN, NAN)
    std = float(np.std(net, ddof=1)) if len(net) > 1 else 0.0
    held = s != 0
    hit = float(np.mean(s[held] * v[held] > 0)) if held.any() else NAN
    curve = np.r_[0.0, equity.to_numpy()]
    dd = float(np.max(np.maximum.accumulate(curve) - curve))
    return PnL(
        equity=equity,
        total=float(net.sum()),
        mean=float(net.mean()),
        sharpe=float(net.mean()) / std if std > 0 else NAN,
        hit_rate=hit,
        turnover=float(trade.mean()),
        max_drawdown=dd,
    )


def sign_pnl_frame(
    frame: pd.DataFrame,
    task: str,
    n_classes: int | None,
    *,
    cost: float = 0.0,
    min_confidence: float | None = None,
    positions: Any = None,
    horizon: int = 1,
) -> PnL:
    """:func:`sign_pnl` on one split's predictions frame."""
    s = positions_of(frame, task, n_classes, min_confidence=min_confidence, positions=positions)
    return pnl_from_positions(
        s, frame["y_value"].to_numpy(np.float64), frame.index, cost=cost, horizon=horizon
    )


def sign_pnl(
    result: Any,
    split: str = "test",
    *,
    cost: float = 0.0,
    min_confidence: float | None = None,
    positions: Any = None,
) -> PnL:
    """Sign-trading PnL of a :class:`~btgym.models.results.ModelResult` on ``split``.

    Returns:
        :class:`PnL` with ``equity, total, mean, sharpe`` (mean / std of net per
        traded row, not annualised), ``hit_rate, turnover, max_drawdown``.
    """
    frame = result.predictions
    frame = frame[frame["split"] == split]
    horizon = int((result.spec_info or {}).get("horizon", 1) or 1)
    return sign_pnl_frame(
        frame,
        result.task,
        result.n_classes,
        cost=cost,
        min_confidence=min_confidence,
        positions=positions,
        horizon=horizon,
    )
