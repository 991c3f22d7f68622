"""Per-step and per-fill records of one episode (the data behind replays and plots).

Per-step records, one row per env step (row 0 is the reset observation), all arrays
of equal length:

- ``time`` int64 ns: open time of the bar of the observation;
- ``step`` int64: 0 at reset, then 1, 2, ...;
- ``reward`` float64: the reward returned with that observation (0 at reset);
- ``broker_value``, ``broker_cash``, ``drawdown`` (fraction below the peak value,
  ≥ 0), ``realized_pnl``, ``unrealized_pnl`` float64, at that bar;
- ``position/<asset>`` float64: position size at that bar;
- ``action/<asset>``: the action passed to the ``step()`` that produced this row
  (row 0: hold / all-cash); int64 codes (0 hold, 1 buy, 2 sell, 3 close), or float64
  target weights for portfolio actions (plus ``action/<cash_name>``).

Fills, one row per executed order: ``fill_time`` int64 ns (bar of the fill),
``fill_asset`` int64 (index into ``asset_names``), ``fill_kind`` int64 (1 buy,
2 sell, 3 close), ``fill_price``, ``fill_size`` float64 (signed: < 0 sells).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from btgym.strategy.info import FLOAT_FIELDS, N_FLOATS


class RecordBook:
    """Per-step rows (python tuples while the episode runs) plus a list of fills.

    Row layout: float ``[*FLOAT_FIELDS, *positions, *actions]`` and int
    ``[time_ns, step, terminated, truncated]`` (see :mod:`btgym.strategy.info`).

    Args:
        capacity: the expected number of rows (unused; kept for API stability).
        assets: tradable asset names.
        action_keys: names of the action columns (assets, or cash + assets).
        discrete: actions are int codes (else float weights).
    """

    def __init__(
        self, capacity: int, assets: Sequence[str], action_keys: Sequence[str], discrete: bool
    ) -> None:
        self.assets = tuple(assets)
        self.action_keys = tuple(action_keys)
        self.discrete = discrete
        self.width = N_FLOATS + len(self.assets) + len(self.action_keys)
        self.ints: list[tuple[int, int, bool, bool]] = []
        self.floats: list[tuple[float, ...]] = []
        self._fills: list[tuple[int, int, int, float, float]] = []

    @property
    def n(self) -> int:
        """Number of rows."""
        return len(self.ints)

    def add(self, ints: tuple[int, int, bool, bool], floats: tuple[float, ...]) -> None:
        """Append one row."""
        self.ints.append(ints)
        self.floats.append(floats)

    def add_fill(self, time_ns: int, asset: int, kind: int, price: float, size: float) -> None:
        """Append one executed order."""
        self._fills.append((time_ns, asset, kind, price, size))

    @property
    def n_fills(self) -> int:
        return len(self._fills)

    def to_dict(self) -> dict[str, np.ndarray]:
        """Fresh arrays of every record (see module doc)."""
        ints = np.array(self.ints, np.int64).reshape(-1, 4)
        floats = np.array(self.floats, np.float64).reshape(-1, self.width)
        out: dict[str, np.ndarray] = {"time": ints[:, 0].copy(), "step": ints[:, 1].copy()}
        for j, key in enumerate(FLOAT_FIELDS):
            out[key] = floats[:, j].copy()
        for j, asset in enumerate(self.assets):
            out[f"position/{asset}"] = floats[:, N_FLOATS + j].copy()
        a0 = N_FLOATS + len(self.assets)
        for j, key in enumerate(self.action_keys):
            col = floats[:, a0 + j]
            out[f"action/{key}"] = col.astype(np.int64) if self.discrete else col.copy()
        fills = np.array(self._fills, np.float64).reshape(-1, 5)
        out["fill_time"] = np.array([f[0] for f in self._fills], np.int64)
        out["fill_asset"] = fills[:, 1].astype(np.int64)
        out["fill_kind"] = fills[:, 2].astype(np.int64)
        out["fill_price"] = fills[:, 3].copy()
        out["fill_size"] = fills[:, 4].copy()
        return out
