"""A batched broker with backtrader's ``BackBroker`` arithmetic, in numpy.

``N`` lanes (independent accounts) × ``K`` assets. Every formula below is the one
backtrader 1.9.78 runs for a stock-like commission scheme (``setcommission(commission=c,
leverage=L)``, ``margin=None``, ``mult=1``, ``shortcash=True``, ``checksubmit=True``,
no slippage), written with the same operations in the same order so the floats agree
bit for bit (see ``brokers/bbroker.py`` and ``comminfo.py`` in backtrader):

- market orders placed at bar ``t`` are checked at bar ``t+1`` in submission order by a
  *pseudo-execution* at the order's creation price (the close of bar ``t``) against a
  running cash and cloned positions (``check_submitted``): an order that would leave
  the running cash below 0 is rejected (``Margin``) and the running cash is **not**
  restored, exactly like backtrader;
- accepted orders then execute at bar ``t+1``'s open in the same order
  (``_execute``): the closing part returns its cash (longs divided by the leverage)
  plus the PnL minus commission; the opening part pays its cost (longs divided by the
  leverage) plus commission, and is nullified (order ``Margin``) if cash would go
  below 0;
- value = cash + Σ over positions (in the order backtrader first touched them) of
  ``(size·close − upnl)/L + upnl`` for longs and ``size·close`` for shorts.

Commission is ``|size| · c · price`` (``percabs=True``).
"""

from __future__ import annotations

import numpy as np

#: order status codes of one lane/asset after a fill pass (MARGIN_CHECK: rejected by
#: ``check_submitted``, notified before any execution; MARGIN: nullified at execution).
NONE, COMPLETED, MARGIN, MARGIN_CHECK = 0, 1, 2, 3


def split_update(old: np.ndarray, delta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """backtrader's ``Position.update`` size split: ``(new size, opened, closed)``."""
    new = old + delta
    zero_new = new == 0
    zero_old = old == 0
    same_dir = ((old > 0) & (delta > 0)) | ((old < 0) & (delta < 0))
    reduce = ~same_dir & (((old > 0) & (new > 0)) | ((old < 0) & (new < 0)))
    opened = np.where(same_dir | zero_old, delta, np.where(reduce, 0.0, new))
    closed = np.where(same_dir | zero_old, 0.0, np.where(reduce, delta, -old))
    # a position brought exactly to zero: all of delta closes
    opened = np.where(zero_new, 0.0, opened)
    closed = np.where(zero_new, delta, closed)
    return new, opened, closed


def update_price(
    old: np.ndarray, delta: np.ndarray, pprice: np.ndarray, price: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``Position.update``: ``(new size, new average price)``."""
    new = old + delta
    grow = ((old > 0) & (delta > 0)) | ((old < 0) & (delta < 0))
    reverse = ((old > 0) & (new < 0)) | ((old < 0) & (new > 0))
    with np.errstate(invalid="ignore", divide="ignore"):
        avg = (pprice * old + delta * price) / new
    out = np.where(grow, avg, pprice)
    out = np.where(reverse | (old == 0), price, out)
    out = np.where(new == 0, 0.0, out)
    return new, out


def column(j: int, doc: str) -> property:
    """A property over column ``j`` of the table ``self.F`` (assigning writes into it)."""

    def get(self):
        return self.F[:, j]

    def put(self, value):
        self.F[:, j] = value

    return property(get, put, doc=doc)


class BatchBroker:
    """Cash, positions and pending market orders of ``n`` lanes over ``k`` assets.

    Args:
        n: lanes.
        k: assets.
        start_cash: initial cash (every lane).
        commission: fraction of traded value.
        leverage: backtrader's ``leverage``.
        F: the per-lane float table keeping cash/value/realized (default: its own).
        shortcash: backtrader's ``shortcash``.
        arrays: zeroed views to keep ``size``, ``pprice``, ``touch``, ``fills`` and
            ``oorder`` in (the engine's packed buffers; default: its own arrays).
    """

    def __init__(
        self,
        n: int,
        k: int,
        start_cash: float,
        commission: float,
        leverage: float,
        F: np.ndarray | None = None,
        shortcash: bool = True,
        arrays: dict[str, np.ndarray] | None = None,
    ) -> None:
        from btgym.engine import kernel

        self.n, self.k = n, k
        self.start_cash = float(start_cash)
        self.commission = float(commission)
        self.leverage = float(leverage)
        self.shortcash = bool(shortcash)
        # per-lane floats live in the engine's F table (shared with the compiled kernel)
        self.F = np.zeros((n, kernel.NF)) if F is None else F
        self.F[:, kernel.CASH] = self.F[:, kernel.VALUE] = self.start_cash
        # state the compiled kernel shares: the engine's packed views (layout.py) if given
        views = arrays or {}
        self.size = views.get("size", np.zeros((n, k)))
        self.pprice = views.get("pprice", np.zeros((n, k)))
        # pending orders: signed size (0: none), creation price, submission rank
        self.osize = np.zeros((n, k))
        self.oprice = np.zeros((n, k))
        self.okind = np.zeros((n, k), np.int64)
        self.oorder = views.get("oorder", np.zeros((n, k), np.int64))
        self.oorder[:] = np.arange(k)
        # order in which backtrader's ``positions`` dict first saw each asset
        self.touch = views.get("touch", np.zeros((n, k)))
        self.touch[:] = np.inf
        self.any_orders = False
        # last fill pass, per lane/asset (for messages and records): views of one table
        self.fills = views.get("fills", np.zeros((n, k, 5)))
        self.fill_status = self.fills[..., 0]
        self.fill_size = self.fills[..., 1]
        self.fill_price = self.fills[..., 2]
        self.fill_comm = self.fills[..., 3]
        self.fill_kind = self.fills[..., 4]

    cash = column(0, "cash (n,)")
    realized = column(1, "realized PnL: Σ executed pnl − commission (n,)")
    value = column(2, "broker value at the last decision bar (n,)")
    _touch_count = column(7, "assets touched so far (n,)")

    # ------------------------------------------------------------------ lanes

    def reset_lanes(self, lanes: np.ndarray) -> None:
        """Fresh accounts on ``lanes`` (an index array or boolean mask)."""
        self.cash[lanes] = self.start_cash
        self.value[lanes] = self.start_cash
        self.size[lanes] = 0.0
        self.pprice[lanes] = 0.0
        self.realized[lanes] = 0.0
        self.osize[lanes] = 0.0
        self.okind[lanes] = 0
        self.touch[lanes] = np.inf
        self._touch_count[lanes] = 0.0
        self.fill_status[lanes] = NONE

    def touch_assets(self, mask: np.ndarray) -> None:
        """Record the first access of backtrader's ``positions[data]`` (``mask`` (n, k),
        assets in submission order within a call)."""
        if self.k == 1:
            return
        new = mask & np.isinf(self.touch)
        if not new.any():
            return
        for a in range(self.k):  # asset order: the order of accesses within one decision
            m = new[:, a]
            if m.any():
                self.touch[m, a] = self._touch_count[m]
                self._touch_count[m] += 1.0

    # ------------------------------------------------------------------ orders

    def submit(
        self,
        lanes: np.ndarray,
        sizes: np.ndarray,
        prices: np.ndarray,
        kinds: np.ndarray,
        order: np.ndarray | None = None,
    ) -> None:
        """Place market orders (``sizes`` (m, k) signed, 0: none) created at ``prices``
        (the closes of the decision bar); ``order`` (m, k): submission sequence of
        asset indices (default: asset order)."""
        self.osize[lanes] = sizes
        self.oprice[lanes] = prices
        self.okind[lanes] = kinds
        if order is not None:
            self.oorder[lanes] = order
        elif self.k > 1:
            self.oorder[lanes] = np.arange(self.k)
        self.any_orders = bool(self.osize.any())

    def fill(self, opens: np.ndarray) -> None:
        """One ``BackBroker.next()``: check and execute every pending order at ``opens``
        (n, k) (the next bar's open prices), then clear the book."""
        self.fill_status[:] = NONE
        if not self.any_orders:
            return
        n_idx = np.arange(self.n)
        lev, comm = self.leverage, self.commission
        osize = self.osize
        # -------- check_submitted: pseudo-execution at the creation price
        pcash = self.cash.copy()
        psize = self.size.copy()
        accepted = np.zeros((self.n, self.k), bool)
        for j in range(self.k):
            a = self.oorder[:, j]
            o = osize[n_idx, a]
            has = o != 0
            if not has.any():
                continue
            pc = self.oprice[n_idx, a]
            old = psize[n_idx, a]
            new, opened, closed = split_update(old, o)
            cv = -closed * pc if self.shortcash else np.abs(closed) * pc
            cc = np.where(cv > 0, cv / lev, cv)
            c1 = pcash + cc
            c1 = c1 - np.abs(closed) * comm * pc
            ov = opened * pc if self.shortcash else np.abs(opened) * pc
            oc = np.where(ov > 0, ov / lev, ov)
            c2 = c1 - oc
            c2 = c2 - np.abs(opened) * comm * pc
            c2 = np.where(opened != 0, c2, c1)
            pcash = np.where(has, c2, pcash)
            psize[n_idx, a] = np.where(has, new, old)
            accepted[n_idx, a] = has & (c2 >= 0.0)
            rejected = has & ~(c2 >= 0.0)
            self.fill_status[n_idx[rejected], a[rejected]] = MARGIN_CHECK
        # -------- execution at the open, accepted orders in submission order
        cash = self.cash
        for j in range(self.k):
            a = self.oorder[:, j]
            acc = accepted[n_idx, a]
            if not acc.any():
                continue
            o = osize[n_idx, a]
            p = opens[n_idx, a]
            old = self.size[n_idx, a]
            pp = self.pprice[n_idx, a]
            _, opened, closed = split_update(old, o)
            pnl = -closed * (p - pp) * 1.0
            cv = -closed * pp if self.shortcash else np.abs(closed) * pp
            cc = np.where(cv > 0, cv / lev, cv)
            c1 = cash + (cc + pnl)
            ccomm = np.abs(closed) * comm * p
            c1 = c1 - ccomm
            c1 = c1 + 0.0
            c1 = np.where(closed != 0, c1, cash)
            ov = opened * p if self.shortcash else np.abs(opened) * p
            oc = np.where(ov > 0, ov / lev, ov)
            c2 = c1 - oc
            ocomm = np.abs(opened) * comm * p
            c2 = c2 - ocomm
            fail = (opened != 0) & (c2 < 0.0)
            ok_open = (opened != 0) & ~fail
            newcash = np.where(ok_open, c2, c1)
            cash = np.where(acc, newcash, cash)
            execsize = closed + np.where(ok_open, opened, 0.0)
            new, newp = update_price(old, execsize, pp, p)
            moved = acc & (execsize != 0)
            self.size[n_idx, a] = np.where(moved, new, old)
            self.pprice[n_idx, a] = np.where(moved, newp, pp)
            done = acc & ~fail
            lanes, assets = n_idx[done], a[done]
            ex_comm = 0.0 + (np.where(closed != 0, ccomm, 0.0) + np.where(ok_open, ocomm, 0.0))
            ex_pnl = 0.0 + pnl
            self.realized[lanes] += (ex_pnl - ex_comm)[done]
            self.fill_status[lanes, assets] = COMPLETED
            self.fill_size[lanes, assets] = execsize[done]
            with np.errstate(invalid="ignore", divide="ignore"):  # 0/0 only where not done
                price = (0.0 * 0.0 + execsize * p) / execsize
            self.fill_price[lanes, assets] = price[done]
            self.fill_comm[lanes, assets] = ex_comm[done]
            fl, fa = n_idx[acc & fail], a[acc & fail]
            self.fill_status[fl, fa] = MARGIN
        self.cash = cash
        self.fill_kind[:] = self.okind
        self.osize[:] = 0.0
        self.okind[:] = 0
        self.any_orders = False

    # ------------------------------------------------------------------ valuation

    def values_at(self, closes: np.ndarray, lanes: np.ndarray | None = None) -> np.ndarray:
        """Broker value of each lane at ``closes`` (m, k) or (m, j, k) (several bars
        with the same positions); ``lanes``: the lanes ``closes`` belong to."""
        size = self.size if lanes is None else self.size[lanes]
        pp = self.pprice if lanes is None else self.pprice[lanes]
        cash = self.cash if lanes is None else self.cash[lanes]
        if closes.ndim == 3:
            size, pp, cash = size[:, None, :], pp[:, None, :], cash[:, None]
        if self.k == 1:
            return cash + _unlever(
                size[..., 0], pp[..., 0], closes[..., 0], self.leverage, self.shortcash
            )
        order = self._sum_order(lanes)
        total = None
        for j in range(self.k):
            a = order[:, j]
            if closes.ndim == 3:
                s = np.take_along_axis(size, a[:, None, None], axis=2)[..., 0]
                q = np.take_along_axis(pp, a[:, None, None], axis=2)[..., 0]
                c = np.take_along_axis(closes, a[:, None, None], axis=2)[..., 0]
            else:
                rows = np.arange(len(a))
                s, q, c = size[rows, a], pp[rows, a], closes[rows, a]
            if total is None:
                total = 0.0 + _unlever(s, q, c, self.leverage, self.shortcash)  # first term
            else:
                total = _add_unlever(total, s, q, c, self.leverage, self.shortcash)
        return cash + total

    def _sum_order(self, lanes: np.ndarray | None) -> np.ndarray:
        touch = self.touch if lanes is None else self.touch[lanes]
        return np.argsort(touch, axis=1, kind="stable")

    def update_value(self, closes: np.ndarray) -> np.ndarray:
        """Value of every lane at ``closes`` (n, k), stored in :attr:`value`."""
        self.value = self.values_at(closes)
        return self.value


def _unlever(size, pp, close, lev: float, shortcash: bool = True) -> np.ndarray:
    """One asset's contribution ``0.0 + ...`` to backtrader's ``pos_value_unlever``."""
    return _add_unlever(np.zeros(np.broadcast(size, close).shape), size, pp, close, lev, shortcash)


def held_value(size, pp, close, shortcash: bool = True):
    """backtrader's value of one position (``getvalue(datas=[data])``): ``size·close``,
    or with ``shortcash=False`` a short's ``pp·size + (pp − close)·size``."""
    if shortcash:
        return size * close
    short = pp * size
    short = short + (pp - close) * size
    return np.where(size >= 0, size * close, short)


def _add_unlever(total, size, pp, close, lev, shortcash=True):
    dv = size * close if shortcash else np.abs(held_value(size, pp, close, False))
    dun = size * (close - pp) * 1.0
    long = dv > 0
    lv = total + (dv - dun) / lev
    lv = lv + dun
    return np.where(long, lv, total + dv)
