"""The standard per-step ``info`` dict, built from one record row.

Keys (every step):

- ``step`` int: 0 at reset, then 1, 2, ...;
- ``time`` str: ISO-8601 open time of the observation's bar (the data's clock);
- ``action``: the action passed to the ``step()`` that produced this observation,
  ``{asset: int}`` (0 hold, 1 buy, 2 sell, 3 close) or ``{cash/asset: weight}``;
  hold / all-cash at reset;
- ``broker_cash``, ``broker_value`` float;
- ``position`` ``{asset: float}``: signed position sizes;
- ``drawdown`` float: fraction below the peak broker value (≥ 0);
- ``realized_pnl``, ``unrealized_pnl`` float (see :mod:`btgym.strategy.orders`);
- ``broker_message`` str: order notifications since the previous step
  (executed / rejected / margin), ``""`` if none;

and on the final step ``done_reason``: ``"drawdown_call"``, ``"target_call"``,
``"get_done"`` (terminated) or ``"end_of_data"`` (truncated), and ``bars_stepped``:
the bars since the previous decision (``skip_frame``, or fewer when the episode
ended between two decision bars: a stop or the end of the data).

The record row layout (float64) is ``[reward, broker_value, broker_cash, drawdown,
realized_pnl, unrealized_pnl, *positions, *actions]``; the int row is ``[time_ns,
step, terminated, truncated]``. The process server ships these rows instead of a
JSON info dict, and the client rebuilds the same dict with :func:`info_from_rows`.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from btgym.records import STEP_FLOAT_KEYS

FLOAT_FIELDS = STEP_FLOAT_KEYS
N_FLOATS = len(FLOAT_FIELDS)
STANDARD_KEYS = (
    "step",
    "time",
    "action",
    "broker_cash",
    "broker_value",
    "position",
    "drawdown",
    "realized_pnl",
    "unrealized_pnl",
    "broker_message",
)

_EPOCH = _dt.datetime(1970, 1, 1)
_DELTA = _dt.timedelta
_CHUNK = 512


_DAY_US = 86_400_000_000
#: "YYYY-MM-DDT" of recently seen days (the client side of a step reads one per step)
_DAYS: dict[int, str] = {}
#: "HH:MM:" of each minute of a day, ":SS"-free; and "SS" of each second
_MINUTES = [f"{m // 60:02d}:{m % 60:02d}:" for m in range(1440)]
_SECONDS = [f"{s:02d}" for s in range(60)]


def iso_time(ns: int) -> str:
    """int64 ns since the epoch → ISO-8601 string (naive, the data's clock), as
    ``datetime.isoformat`` writes it (``.ffffff`` only when there are microseconds)."""
    day, us = divmod(int(ns) // 1000, _DAY_US)
    prefix = _DAYS.get(day)
    if prefix is None:
        if len(_DAYS) >= 4096:
            _DAYS.clear()
        prefix = _DAYS[day] = (_EPOCH + _DELTA(days=day)).date().isoformat() + "T"
    sec, micro = divmod(us, 1_000_000)
    out = prefix + _MINUTES[sec // 60] + _SECONDS[sec % 60]
    return f"{out}.{micro:06d}" if micro else out


class IsoTimes:
    """ISO strings of a bar index, converted lazily in chunks (cheap per step)."""

    def __init__(self, index: np.ndarray) -> None:
        self._index = index
        self._chunks: dict[int, list[str]] = {}

    def __getitem__(self, i: int) -> str:
        chunk = self._chunks.get(i // _CHUNK)
        if chunk is None:
            lo = (i // _CHUNK) * _CHUNK
            stamps = np.asarray(self._index[lo : lo + _CHUNK], np.int64).view("datetime64[ns]")
            chunk = [s.isoformat() for s in stamps.astype("datetime64[us]").tolist()]
            self._chunks[i // _CHUNK] = chunk
        return chunk[i % _CHUNK]


class InfoLayout:
    """How to turn record rows into the standard info dict.

    Args:
        assets: tradable asset names.
        action_keys: action columns (assets, or cash + assets for portfolio actions).
        discrete: int action codes (else float weights).
    """

    def __init__(self, assets: Sequence[str], action_keys: Sequence[str], discrete: bool) -> None:
        self.assets = tuple(assets)
        self.action_keys = tuple(action_keys)
        self.discrete = discrete
        self._p0 = N_FLOATS
        self._a0 = N_FLOATS + len(self.assets)
        self._single = len(self.assets) == 1 and len(self.action_keys) == 1

    def to_wire(self) -> dict[str, Any]:
        return {
            "assets": list(self.assets),
            "action_keys": list(self.action_keys),
            "discrete": self.discrete,
        }

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> InfoLayout:
        return cls(d["assets"], d["action_keys"], bool(d["discrete"]))

    def build(self, f: Sequence[float], step: int, time: str, message: str) -> dict[str, Any]:
        """The standard info dict of float row ``f`` (list or array)."""
        p0, a0 = self._p0, self._a0
        if self._single and self.discrete:
            action = {self.action_keys[0]: int(f[a0])}
            position = {self.assets[0]: f[p0]}
        elif self.discrete:
            action = {k: int(a) for k, a in zip(self.action_keys, f[a0:])}
        else:
            action = {k: float(a) for k, a in zip(self.action_keys, f[a0:])}
        if not (self._single and self.discrete):
            position = dict(zip(self.assets, f[p0:a0]))
        return {
            "step": step,
            "time": time,
            "action": action,
            "broker_cash": f[2],
            "broker_value": f[1],
            "position": position,
            "drawdown": f[3],
            "realized_pnl": f[4],
            "unrealized_pnl": f[5],
            "broker_message": message,
        }

    def info_from_rows(
        self,
        floats: Sequence[float],
        ints: Sequence[int],
        message: str = "",
        done: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Rebuild the info dict from the shipped rows (client side); ``done`` holds
        the final step's ``done_reason`` and ``bars_stepped``."""
        info = self.build(floats, int(ints[1]), iso_time(ints[0]), message)
        if done:
            info.update(done)
        return info
