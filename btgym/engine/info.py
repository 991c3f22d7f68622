"""Info of the vector engine: the standard per-step dict (single env) and its batched
form (vector env), plus broker messages worded as the backtrader strategy words them."""

from __future__ import annotations

from typing import Any

import numpy as np

from btgym.engine.broker import COMPLETED, MARGIN, MARGIN_CHECK
from btgym.engine.core import CLOSE, REASONS, BatchEpisodes
from btgym.engine.kernel import CASH, DD, REALIZED, REWARD, VALUE


def broker_message(core: BatchEpisodes, lane: int) -> str:
    """Order notifications of ``lane``'s last fill pass, "; "-joined (backtrader's
    order: check rejections first, then executions, each in submission order)."""
    br = core.broker
    fills = br.fills[lane].tolist()  # k rows [status, size, price, comm, kind]
    if len(fills) == 1:  # one asset: no submission order to follow
        status, size, price, comm, kind = fills[0]
        return asset_message(core.asset_names[0], status, size, price, comm, kind)
    status = [row[0] for row in fills]
    if not any(status):
        return ""
    order = br.oorder[lane].tolist()
    names = core.asset_names
    out = []
    for a in order:
        if status[a] == MARGIN_CHECK:
            out.append(f"{names[a]}: order Margin (not enough cash/margin)")
    for a in order:
        s = status[a]
        if s == COMPLETED:
            _, size, price, comm, kind = fills[a]
            what = "CLOSE" if kind == CLOSE else ("BUY" if size > 0 else "SELL")
            out.append(
                f"{names[a]}: {what} executed, size {size:g}, price {price:.6g}, comm {comm:.6g}"
            )
        elif s == MARGIN:
            out.append(f"{names[a]}: order Margin (not enough cash/margin)")
    return "; ".join(out)


#: ``%.6g`` strings of prices and commissions, ``%g`` strings of sizes seen (float keys
#: and str values: no garbage-collector work), bounded, shared by every env
_G6: dict[float, str] = {}
_G: dict[float, str] = {}
_MAX_STRINGS = 8192


def _g6(x: float) -> str:
    s = _G6.get(x)
    if s is None:
        s = f"{x:.6g}"
        if x:  # 0.0 == -0.0 but prints differently: zeros are not kept
            if len(_G6) >= _MAX_STRINGS:
                _G6.clear()
            _G6[x] = s
    return s


def _g(x: float) -> str:
    s = _G.get(x)
    if s is None:
        s = f"{x:g}"
        if x:
            if len(_G) >= _MAX_STRINGS:
                _G.clear()
            _G[x] = s
    return s


def margin_message(name: str) -> str:
    """The notification of an order rejected or nullified for margin."""
    return f"{name}: order Margin (not enough cash/margin)"


def asset_message(
    name: str, status: float, size: float, price: float, comm: float, kind: float
) -> str:
    """One asset's notification of a fill pass (``""`` when it had no order)."""
    if not status:
        return ""
    if status != COMPLETED:
        return margin_message(name)
    what = "CLOSE" if kind == CLOSE else ("BUY" if size > 0 else "SELL")
    return f"{name}: {what} executed, size {_g(size)}, price {_g6(price)}, comm {_g6(comm)}"


def lane_info(core: BatchEpisodes, lane: int, action_keys: tuple[str, ...]) -> dict[str, Any]:
    """The standard info dict of ``lane`` (see :mod:`btgym.strategy.info`)."""
    return lane_step(core, lane, action_keys)[1]


def lane_step(
    core: BatchEpisodes, lane: int, action_keys: tuple[str, ...]
) -> tuple[float, dict[str, Any]]:
    """``(reward, info)`` of ``lane`` after a step, from one read of its rows (the
    single env's per-step path)."""
    f_row, i_row, a_row, size_row = core.lane_rows(lane)[:4]
    f = f_row.tolist()
    t, _, step, reason, bars = i_row.tolist()
    value, realized = f[VALUE], f[REALIZED]
    act = a_row.tolist()
    if core.portfolio:
        action = dict(zip(action_keys, act))
    elif len(act) == 1:
        action = {action_keys[0]: int(act[0])}
    else:
        action = {k: int(a) for k, a in zip(action_keys, act)}
    info = {
        "step": step,
        "time": core.iso_times[lane][t],
        "action": action,
        "broker_cash": f[CASH],
        "broker_value": value,
        "position": dict(zip(core.asset_names, size_row.tolist())),
        "drawdown": f[DD],
        "realized_pnl": realized,
        "unrealized_pnl": value - core.start_cash - realized,
        "broker_message": broker_message(core, lane) if step else "",
    }
    if reason:
        info["done_reason"] = REASONS[reason]
        info["bars_stepped"] = bars
    return f[REWARD], info


def batch_info(
    core: BatchEpisodes,
    lanes: np.ndarray | None,
    action_keys: tuple[str, ...],
    messages: bool = False,
) -> dict[str, Any]:
    """Batched info: one array per standard key (``time`` as ``datetime64[ns]``,
    ``position`` / ``action`` as ``{name: array}``); ``done_reason`` (object array)
    with its ``_done_reason`` mask where some lane ended; ``broker_message`` only when
    ``messages``."""
    if core.n == 1 and lanes is None:
        return _one_lane_info(core, action_keys, messages)
    br = core.broker
    f = core.F.T.copy()  # one copy; each row below is a contiguous view of it
    ints = core.I.T.copy()
    acts = core.last_action.T.copy() if core.portfolio else core.last_action.T.astype(np.int64)
    sizes = br.size.T.copy()
    value, realized = f[VALUE], f[REALIZED]
    info: dict[str, Any] = {
        "step": ints[2],
        "time": core.stamps[core._lanes, ints[0]].view("datetime64[ns]"),
        "action": dict(zip(action_keys, acts)),
        "broker_cash": f[CASH],
        "broker_value": value,
        "position": dict(zip(core.asset_names, sizes)),
        "drawdown": f[DD],
        "realized_pnl": realized,
        "unrealized_pnl": value - core.start_cash - realized,
    }
    if messages:
        info["broker_message"] = np.array(
            [broker_message(core, i) if core.step_count[i] else "" for i in range(core.n)],
            dtype=object,
        )
    if np.count_nonzero(core.reason):
        mask = core.reason > 0
        reasons = np.full(core.n, "", dtype=object)
        for i in np.flatnonzero(mask):
            reasons[i] = REASONS[int(core.reason[i])]
        info["done_reason"] = reasons
        info["_done_reason"] = mask
        info["bars_stepped"] = ints[4]
        info["_bars_stepped"] = mask
    if lanes is not None:
        info = _select(info, lanes)
    return info


def _one_lane_info(
    core: BatchEpisodes, action_keys: tuple[str, ...], messages: bool
) -> dict[str, Any]:
    """:func:`batch_info` of a one-lane engine from its rows read once as Python values
    (the same keys, dtypes, shapes and values; fewer numpy calls)."""
    return one_lane_step(core, action_keys, messages)[0]


def one_lane_step(
    core: BatchEpisodes, action_keys: tuple[str, ...], messages: bool
) -> tuple[dict[str, Any], int, float]:
    """``(batched info, decision bar, reward)`` of a one-lane engine (see
    :func:`_one_lane_info`)."""
    f = core.F[0].tolist()
    t, _, step, reason, bars = core.I[0].tolist()
    value, realized = f[VALUE], f[REALIZED]
    dtype = np.float64 if core.portfolio else np.int64
    info: dict[str, Any] = {
        "step": np.array([step], np.int64),
        "time": np.array([core.stamps[0, t]], np.int64).view("datetime64[ns]"),
        "action": {
            k: np.array([a], dtype) for k, a in zip(action_keys, core.last_action[0].tolist())
        },
        "broker_cash": np.array([f[CASH]]),
        "broker_value": np.array([value]),
        "position": {
            k: np.array([s]) for k, s in zip(core.asset_names, core.broker.size[0].tolist())
        },
        "drawdown": np.array([f[DD]]),
        "realized_pnl": np.array([realized]),
        "unrealized_pnl": np.array([value - core.start_cash - realized]),
    }
    if messages:
        info["broker_message"] = np.array([broker_message(core, 0) if step else ""], object)
    if reason:
        mask = np.array([reason > 0])
        info["done_reason"] = np.array([REASONS[reason]], object)
        info["_done_reason"] = mask
        info["bars_stepped"] = np.array([bars], np.int64)
        info["_bars_stepped"] = mask
    return info, t, f[REWARD]


def _select(info: dict[str, Any], lanes: np.ndarray) -> dict[str, Any]:
    out = {}
    for k, v in info.items():
        out[k] = _select(v, lanes) if isinstance(v, dict) else v[lanes]
    return out
