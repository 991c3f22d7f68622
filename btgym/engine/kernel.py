"""The engine's step as one compiled loop over lanes (numba), when numba is installed.

Same semantics and the same floating-point operations, in the same order, as the numpy
path (:mod:`btgym.engine.broker`, :meth:`btgym.engine.core.BatchEpisodes.step`); the
parity tests run both. Without numba (``pip install btgym[fast]`` adds it) the numpy
path is used. ``BTGYM_ENGINE_BACKEND=numpy`` forces the numpy path.

Layout: ``F`` float64 (n, NF) per-lane floats, ``I`` int64 (n, NI) per-lane ints,
``P`` float64 params ``[start_cash, commission, leverage, low, high, reward_scale]``.
"""

from __future__ import annotations

import os

import numpy as np

try:  # optional speed-up
    if os.environ.get("BTGYM_ENGINE_BACKEND", "").lower() == "numpy":
        raise ImportError("numpy backend forced")
    from numba import njit

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - depends on the install
    HAVE_NUMBA = False

    def njit(*args, **kwargs):
        def wrap(fn):
            return fn

        return wrap if not args or not callable(args[0]) else args[0]


def _no_nrt_options() -> dict:
    """``_nrt=False`` where this numba has the option: the step allocates nothing and
    every array view it makes lives within the call, so reference counting (atomic
    increments/decrements on every view and helper call: ~1 µs of a single-lane step)
    buys nothing. Allocating code fails to compile without it (never silently)."""
    try:
        from numba.core.cpu import CPUTargetOptions

        return {"_nrt": False} if hasattr(CPUTargetOptions, "_nrt") else {}
    except ImportError:  # pragma: no cover - numba internals moved
        return {}


#: options of the step's compiled functions (see :func:`_no_nrt_options`)
STEP_JIT = {"cache": True, **(_no_nrt_options() if HAVE_NUMBA else {})}


# F columns
CASH, REALIZED, VALUE, PREV, PEAK, DD, MAXDD, TOUCHN, REWARD = range(9)
NF = 9
# I columns (BARS: bars stepped by the last step)
T, LAST, STEP, REASON, BARS = range(5)
NI = 5
# fill columns
F_STATUS, F_SIZE, F_PRICE, F_COMM, F_KIND = range(5)


@njit(**STEP_JIT)
def _split(old, delta):
    new = old + delta
    if new == 0:
        return new, 0.0, delta
    if old == 0:
        return new, delta, 0.0
    if old > 0:
        if delta > 0:
            return new, delta, 0.0
        if new > 0:
            return new, 0.0, delta
        return new, new, -old
    if delta < 0:
        return new, delta, 0.0
    if new < 0:
        return new, 0.0, delta
    return new, new, -old


@njit(**STEP_JIT)
def _new_price(old, delta, pprice, price):
    new = old + delta
    if new == 0:
        return 0.0
    if old == 0:
        return price
    if (old > 0 and delta > 0) or (old < 0 and delta < 0):
        return (pprice * old + delta * price) / new
    if (old > 0 and new < 0) or (old < 0 and new > 0):
        return price
    return pprice


@njit(**STEP_JIT)
def _held(s, pp, c, shortcash):
    if shortcash or s >= 0:
        return s * c
    v = pp * s
    return v + (pp - c) * s


@njit(**STEP_JIT)
def _value(cash, size, pp, closes_row, order, lev, shortcash):
    k = size.shape[0]
    total = 0.0
    for j in range(k):
        a = order[j]
        s = size[a]
        c = closes_row[a]
        dv = s * c if shortcash else abs(_held(s, pp[a], c, False))
        if dv > 0:
            dun = s * (c - pp[a]) * 1.0
            total = total + (dv - dun) / lev
            total = total + dun
        else:
            total = total + dv
    return cash + total


@njit(**STEP_JIT)
def _sum_order(touch, out):
    k = touch.shape[0]
    for j in range(k):
        out[j] = j
    for i in range(1, k):  # stable insertion sort by touch rank
        x = out[i]
        j = i - 1
        while j >= 0 and touch[out[j]] > touch[x]:
            out[j + 1] = out[j]
            j -= 1
        out[j + 1] = x


@njit(**STEP_JIT)
def step_kernel(
    F,
    I,  # noqa: E741
    size,
    pprice,
    touch,
    fills,
    oorder,
    opens,
    closes,
    acts,
    active,
    P,
    stakes,
    skip,
    portfolio,
    internal,
    set_prev,
    terminated,
    truncated,
    osize,
    oprice,
    okind,
    psize,
    accepted,
    order,
    key,
):
    """One decision per active lane: orders at ``t``, fills at ``t+1``'s open, values at
    every bar to the next decision; writes rewards, reasons and the internal state.
    ``osize`` ... ``key`` (k,): scratch (float, float, int, float, int, int, float), every
    entry written before it is read."""
    n, k = size.shape
    start, comm, lev, low, high, scale = P[0], P[1], P[2], P[3], P[4], P[5]
    shortcash = P[6] != 0.0
    for i in range(n):
        for a in range(k):
            fills[i, a, F_STATUS] = 0.0
        if not active[i]:
            I[i, REASON] = 0
            terminated[i] = False
            truncated[i] = False
            F[i, REWARD] = 0.0
            continue
        t = I[i, T]
        last = I[i, LAST]
        # ---------------- orders at bar t
        any_order = False
        for a in range(k):
            osize[a] = 0.0
            okind[a] = 0
            oprice[a] = closes[i, t, a]
            oorder[i, a] = a
        if portfolio:
            value = F[i, VALUE]
            for a in range(k):
                cur = size[i, a] * closes[i, t, a] / value if value > 0 else 0.0
                key[a] = acts[i, a + 1] - cur
            _sum_order(key, order)
            for a in range(k):
                oorder[i, a] = order[a]
            for a in range(k):
                if touch[i, a] == np.inf:
                    touch[i, a] = F[i, TOUCHN]
                    F[i, TOUCHN] += 1.0
            for a in range(k):
                c = closes[i, t, a]
                target = acts[i, a + 1] * value
                pos = size[i, a]
                held = _held(pos, pprice[i, a], c, shortcash)
                if target == 0 and pos != 0:
                    sz = -pos
                elif target > held:
                    sz = np.trunc(lev * _floordiv(target - held, c))
                elif target < held:
                    sz = -np.trunc(lev * _floordiv(held - target, c))
                else:
                    sz = 0.0
                osize[a] = sz
                okind[a] = 1 if sz > 0 else (2 if sz < 0 else 0)
                if sz != 0:
                    any_order = True
        else:
            for a in range(k):  # close() reads the position at once
                if acts[i, a] == 3 and touch[i, a] == np.inf:
                    touch[i, a] = F[i, TOUCHN]
                    F[i, TOUCHN] += 1.0
            for a in range(k):
                code = acts[i, a]
                if code == 1:
                    osize[a] = stakes[a]
                elif code == 2:
                    osize[a] = -stakes[a]
                elif code == 3:
                    osize[a] = -size[i, a]
                if osize[a] != 0:
                    okind[a] = code
                    any_order = True
                if (code == 1 or code == 2) and touch[i, a] == np.inf:
                    touch[i, a] = F[i, TOUCHN]
                    F[i, TOUCHN] += 1.0
        t1 = t + 1 if t + 1 < last else last
        # ---------------- check_submitted and execution at bar t+1
        if any_order:
            pcash = F[i, CASH]
            for a in range(k):
                psize[a] = size[i, a]
                accepted[a] = False
            for j in range(k):
                a = oorder[i, j]
                o = osize[a]
                if o == 0:
                    continue
                pc = oprice[a]
                new, opened, closed = _split(psize[a], o)
                cv = -closed * pc if shortcash else abs(closed) * pc
                cc = cv / lev if cv > 0 else cv
                c1 = pcash + cc
                c1 = c1 - abs(closed) * comm * pc
                c2 = c1
                if opened != 0:
                    ov = opened * pc if shortcash else abs(opened) * pc
                    oc = ov / lev if ov > 0 else ov
                    c2 = c1 - oc
                    c2 = c2 - abs(opened) * comm * pc
                pcash = c2
                psize[a] = new
                if c2 >= 0.0:
                    accepted[a] = True
                else:
                    fills[i, a, F_STATUS] = 3.0
            cash = F[i, CASH]
            for j in range(k):
                a = oorder[i, j]
                if not accepted[a]:
                    continue
                o = osize[a]
                p = opens[i, t1, a]
                old = size[i, a]
                pp = pprice[i, a]
                new, opened, closed = _split(old, o)
                pnl = -closed * (p - pp) * 1.0
                c1 = cash
                ccomm = 0.0
                if closed != 0:
                    cv = -closed * pp if shortcash else abs(closed) * pp
                    cc = cv / lev if cv > 0 else cv
                    c1 = cash + (cc + pnl)
                    ccomm = abs(closed) * comm * p
                    c1 = c1 - ccomm
                    c1 = c1 + 0.0
                ok_open = False
                ocomm = 0.0
                c2 = c1
                if opened != 0:
                    ov = opened * p if shortcash else abs(opened) * p
                    oc = ov / lev if ov > 0 else ov
                    c2 = c1 - oc
                    ocomm = abs(opened) * comm * p
                    c2 = c2 - ocomm
                    ok_open = c2 >= 0.0
                fail = opened != 0 and not ok_open
                cash = c2 if ok_open else c1
                execsize = closed + (opened if ok_open else 0.0)
                if execsize != 0:
                    pprice[i, a] = _new_price(old, execsize, pp, p)
                    size[i, a] = old + execsize
                if fail:
                    fills[i, a, F_STATUS] = 2.0
                else:
                    ex_comm = 0.0 + ((ccomm if closed != 0 else 0.0) + ocomm)
                    ex_pnl = 0.0 + pnl
                    F[i, REALIZED] += ex_pnl - ex_comm
                    fills[i, a, F_STATUS] = 1.0
                    fills[i, a, F_SIZE] = execsize
                    fills[i, a, F_PRICE] = (0.0 * 0.0 + execsize * p) / execsize
                    fills[i, a, F_COMM] = ex_comm
                fills[i, a, F_KIND] = okind[a]
            F[i, CASH] = cash
        # ---------------- value at every bar to the next decision
        _sum_order(touch[i], order)
        peak = F[i, PEAK]
        maxdd = F[i, MAXDD]
        reason = 0
        dec = t1
        value = 0.0
        for b in range(t + 1, min(t + skip, last) + 1):
            v = _value(F[i, CASH], size[i], pprice[i], closes[i, b], order, lev, shortcash)
            if v > peak:
                peak = v
            d = (peak - v) / peak if peak > 0 else 0.0
            if d > maxdd:
                maxdd = d
            value = v
            dec = b
            if v <= low:
                reason = 1
                break
            if v >= high:
                reason = 2
                break
        if reason == 0 and dec == last:
            reason = 4
        F[i, PEAK] = peak
        F[i, MAXDD] = maxdd
        F[i, DD] = (peak - value) / peak if peak > 0 else 0.0
        F[i, VALUE] = value
        F[i, REWARD] = (value - F[i, PREV]) / start * scale
        if set_prev:  # else the caller's reward hook reads PREV first
            F[i, PREV] = value
        terminated[i] = reason == 1 or reason == 2
        truncated[i] = reason == 4
        I[i, BARS] = dec - t
        I[i, T] = dec
        I[i, STEP] += 1
        I[i, REASON] = reason
        _internal(F, size, closes, i, dec, start, internal)
        for j in range(internal.shape[1]):  # the leaf's bounds (monotonic rounding: the
            x = internal[i, j]  # same as clipping after the cast to the leaf's dtype)
            if x < P[7]:
                internal[i, j] = P[7]
            elif x > P[8]:
                internal[i, j] = P[8]


@njit(**STEP_JIT)
def _floordiv(a, b):
    # Python's float floor division (CPython float_divmod)
    mod = np.fmod(a, b)
    div = (a - mod) / b
    if mod != 0 and (b < 0) != (mod < 0):
        div -= 1.0
    if div != 0:
        floordiv = np.floor(div)
        if div - floordiv > 0.5:
            floordiv += 1.0
    else:
        floordiv = np.copysign(0.0, a / b)
    return floordiv


@njit(**STEP_JIT)
def _internal(F, size, closes, i, t, start, out):
    k = size.shape[1]
    value = F[i, VALUE]
    gross = 0.0
    net = 0.0
    for a in range(k):
        e = size[i, a] * closes[i, t, a]
        gross = gross + abs(e)
        net = net + e
    denom = value if value > 0 else start
    realized = F[i, REALIZED]
    out[i, 0] = F[i, CASH] / start
    out[i, 1] = value / start
    out[i, 2] = gross / denom
    out[i, 3] = F[i, DD]
    out[i, 4] = net / denom
    out[i, 5] = realized / start
    out[i, 6] = (value - start - realized) / start


@njit(cache=True)
def gather_windows(buf, t, length, out):
    """``out[i] = buf[i, t[i]-length+1 : t[i]+1]`` for every lane."""
    cols = buf.shape[2]
    for i in range(buf.shape[0]):
        s = t[i] - length + 1
        for j in range(length):
            for c in range(cols):
                out[i, j, c] = buf[i, s + j, c]
