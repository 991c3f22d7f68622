"""The engine's per-lane state in a few tables, and the compiled step over them.

Every array the compiled step reads or writes (``F``, ``I``, positions, fills, the
internal state, the last action, the parameters, the scratch...) is a view of one of
five buffers, so one kernel call passes nine arrays instead of nineteen and allocates
nothing (numba unboxes every argument on every call, and each ``reshape`` or
allocation inside costs as much: that was most of a single-lane step). The buffers are
allocated once per engine and never reallocated, so views taken of them (the single
env's row views) stay valid.

- ``lanes`` float64 (n, W): columns ``F`` (NF) | ``size`` (k) | ``fills`` (5k, as
  (k, 5)) | ``pprice`` (k) | ``touch`` (k) | ``internal`` (7) | ``last_action`` (na);
  one lane's floats are one row (one ``tolist()``);
- ``ints`` int64 (n, NI + k): ``I`` | ``oorder``;
- ``flags`` bool (3n): ``terminated`` | ``truncated`` | ``active``;
- ``params`` float64: ``P`` (NP) | ``stakes`` (k) | float scratch (4k);
- ``header`` int64: ``skip``, portfolio, set_prev | int scratch (3k).
"""

from __future__ import annotations

import numpy as np

from btgym.engine.kernel import NF, NI, STEP_JIT, njit, step_kernel

#: width of the internal state; length of the kernel's parameter vector ``P``
N_INTERNAL, NP = 7, 9
#: header slots
H_SKIP, H_PORTFOLIO, H_SET_PREV = 0, 1, 2
NH = 3


def lane_columns(k: int, na: int) -> dict[str, tuple[int, int]]:
    """``{block: (first, last + 1)}`` columns of the lane table."""
    widths = (
        ("F", NF),
        ("size", k),
        ("fills", 5 * k),
        ("pprice", k),
        ("touch", k),
        ("internal", N_INTERNAL),
        ("last_action", na),
    )
    out, c = {}, 0
    for name, w in widths:
        out[name] = (c, c + w)
        c += w
    return out


class PackedState:
    """The buffers of ``n`` lanes × ``k`` assets and their named views.

    Args:
        n: lanes.
        k: assets.
        n_actions: action columns (``k``, or ``k + 1`` for portfolio weights).
    """

    def __init__(self, n: int, k: int, n_actions: int) -> None:
        self.columns = cols = lane_columns(k, n_actions)
        self.lanes = np.zeros((n, cols["last_action"][1]))
        for name, (a, b) in cols.items():
            setattr(self, name, self.lanes[:, a:b])
        # splitting the last axis of a column block: numpy returns a view (tested)
        self.fills = self.lanes[:, slice(*cols["fills"])].reshape(n, k, 5)
        self.ints = np.zeros((n, NI + k), np.int64)
        self.I = self.ints[:, :NI]
        self.oorder = self.ints[:, NI:]
        self.flags = np.zeros(3 * n, bool)
        self.terminated = self.flags[:n]
        self.truncated = self.flags[n : 2 * n]
        self.active = self.flags[2 * n :]
        self.active[:] = True
        self.params = np.zeros(NP + 5 * k)
        self.P = self.params[:NP]
        self.stakes = self.params[NP : NP + k]
        self.header = np.zeros(NH + 3 * k, np.int64)

    def set_flags(self, skip: int, portfolio: bool, set_prev: bool) -> None:
        """The step's fixed settings (``skip_frame``, action kind, default reward)."""
        self.header[H_SKIP] = skip
        self.header[H_PORTFOLIO] = int(portfolio)
        self.header[H_SET_PREV] = int(set_prev)

    def kernel_args(self, opens: np.ndarray, closes: np.ndarray, acts: np.ndarray) -> tuple:
        """The arguments of :func:`step_packed`."""
        return (
            self.lanes,
            self.ints,
            self.flags,
            self.params,
            self.header,
            self.fills,
            opens,
            closes,
            acts,
        )

    def broker_arrays(self) -> dict[str, np.ndarray]:
        """The views :class:`~btgym.engine.broker.BatchBroker` keeps its state in."""
        return {
            "size": self.size,
            "pprice": self.pprice,
            "touch": self.touch,
            "fills": self.fills,
            "oorder": self.oorder,
        }


@njit(**STEP_JIT)
def step_packed(L, ints, flags, params, header, fills, opens, closes, acts):  # pragma: no cover
    """:func:`~btgym.engine.kernel.step_kernel` on views of the buffers (slices: no
    reshape, no allocation), then ``last_action`` of the active lanes; ``acts`` (n, na):
    codes or weights."""
    n = L.shape[0]
    k = ints.shape[1] - NI
    na = acts.shape[1]
    c = NF
    size = L[:, c : c + k]
    c += 6 * k  # size, fills
    pprice = L[:, c : c + k]
    touch = L[:, c + k : c + 2 * k]
    c += 2 * k
    internal = L[:, c : c + N_INTERNAL]
    last = L[:, c + N_INTERNAL : c + N_INTERNAL + na]
    s = NP + k
    h = NH
    active = flags[2 * n : 3 * n]
    step_kernel(
        L[:, :NF],
        ints[:, :NI],
        size,
        pprice,
        touch,
        fills,
        ints[:, NI:],
        opens,
        closes,
        acts,
        active,
        params[:NP],
        params[NP:s],
        header[H_SKIP],
        header[H_PORTFOLIO] != 0,
        internal,
        header[H_SET_PREV] != 0,
        flags[0:n],
        flags[n : 2 * n],
        params[s : s + k],
        params[s + k : s + 2 * k],
        header[h : h + k],
        params[s + 2 * k : s + 3 * k],
        header[h + k : h + 2 * k],
        header[h + 2 * k : h + 3 * k],
        params[s + 3 * k : s + 4 * k],
    )
    for i in range(n):
        if active[i]:
            for j in range(na):
                last[i, j] = acts[i, j]
