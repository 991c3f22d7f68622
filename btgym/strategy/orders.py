"""Turning actions into backtrader orders, and keeping the books on what filled.

Discrete actions per asset: 0 hold, 1 buy ``stake``, 2 sell ``stake`` (shorting
allowed), 3 close the position. Portfolio actions (weights ``[cash, *assets]``)
become ``order_target_percent`` orders, the assets whose weight decreases first
(so sells free cash before buys need it). All are market orders placed at the
decision bar; backtrader fills them at the next bar's open.

Realized PnL is Σ over executed orders of ``executed.pnl − executed.comm`` (every
commission counts as realized); unrealized PnL is ``value − start_cash − realized``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from btgym.strategy.step import BUY, CLOSE, SELL


class OrderBookkeeping:
    """Mixin of :class:`~btgym.strategy.base.BTgymBaseStrategy`: orders and fills."""

    def _init_bookkeeping(self) -> None:
        self.realized_pnl = 0.0
        self.broker_messages: list[str] = []
        self._order_kind: dict[int, int] = {}
        self._data_index = {id(d): i for i, d in enumerate(self.asset_datas)}
        self._weights_actions = bool(self.config.portfolio_actions)
        self._all_hold = (0,) * len(self.asset_datas)

    def execute_action(self, action: Any) -> None:
        """Place the orders of a canonical action (codes tuple or weights array)."""
        if self._weights_actions:
            self._rebalance(action)
        elif action != self._all_hold:  # all hold: no order to place
            self._discrete_orders(action)
        self.last_action = action

    def _discrete_orders(self, codes: tuple[int, ...]) -> None:
        for i, code in enumerate(codes):
            if not code:
                continue
            data = self.asset_datas[i]
            if code == BUY:
                order = self.buy(data=data, size=self.stakes[i])
            elif code == SELL:
                order = self.sell(data=data, size=self.stakes[i])
            else:
                order = self.close(data=data)  # None when flat
            if order is not None:
                self._order_kind[order.ref] = code

    def _rebalance(self, weights: np.ndarray) -> None:
        value = self.broker.getvalue()
        current = [
            self.broker.getposition(d).size * d.close[0] / value if value > 0 else 0.0
            for d in self.asset_datas
        ]
        order = sorted(range(len(current)), key=lambda i: weights[i + 1] - current[i])
        for i in order:
            placed = self.order_target_percent(data=self.asset_datas[i], target=weights[i + 1])
            if placed is not None:
                self._order_kind[placed.ref] = BUY if placed.isbuy() else SELL

    def notify_order(self, order: Any) -> None:
        status = order.status
        if status in (order.Submitted, order.Accepted, order.Partial):
            return
        kind = self._order_kind.pop(order.ref, BUY if order.isbuy() else SELL)
        i = self._data_index.get(id(order.data), -1)
        name = self.asset_names[i] if i >= 0 else getattr(order.data, "_name", "?")
        if status == order.Completed:
            ex = order.executed
            t = len(self.data0) - 1
            self.records.add_fill(int(self.bars.index[t]), i, kind, ex.price, ex.size)
            self.realized_pnl += ex.pnl - ex.comm
            what = "CLOSE" if kind == CLOSE else ("BUY" if order.isbuy() else "SELL")
            self.broker_messages.append(
                f"{name}: {what} executed, size {ex.size:g}, price {ex.price:.6g}, "
                f"comm {ex.comm:.6g}"
            )
        else:
            why = " (not enough cash/margin)" if status == order.Margin else ""
            self.broker_messages.append(f"{name}: order {order.getstatusname()}{why}")
