"""The per-step records schema shared by the strategy (which writes the records) and the
renderers (which read them); see ``docs/internals.md``. No backtrader, no matplotlib."""

from __future__ import annotations

#: Float columns of every step's record row, in row order.
STEP_FLOAT_KEYS = (
    "reward",
    "broker_value",
    "broker_cash",
    "drawdown",
    "realized_pnl",
    "unrealized_pnl",
)
#: Columns of the fills table (one row per executed order).
FILL_KEYS = ("fill_time", "fill_asset", "fill_kind", "fill_price", "fill_size")
