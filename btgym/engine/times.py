"""The info's ``time`` strings of an episode, cheaply.

:class:`LaneTimes` gives exactly what :class:`btgym.strategy.info.IsoTimes` gives
(``datetime.isoformat()`` of each bar's stamp), converted lazily per chunk. Stamps on
whole seconds at or after the epoch (every bar of minute/second data) are assembled
from a per-day date string and clock tables, about four times cheaper than
``isoformat``: at one string per step that was a fifth of a single-env step. Any other
stamp (sub-second, before 1970) goes through ``IsoTimes`` itself.
"""

from __future__ import annotations

import datetime as _dt

import numpy as np

from btgym.strategy.info import IsoTimes

_CHUNK = 256
_NS = 1_000_000_000
_EPOCH_DAY = _dt.date(1970, 1, 1)
#: "HH:MM" of every minute of a day, ":SS" of every second of a minute
_HHMM = tuple(f"{h:02d}:{m:02d}" for h in range(24) for m in range(60))
_SS = tuple(f":{s:02d}" for s in range(60))


class LaneTimes:
    """ISO-8601 strings of a bar index (int64 ns), as ``IsoTimes`` words them.

    Args:
        index: the bars' stamps, int64 nanoseconds since the epoch.
    """

    def __init__(self, index: np.ndarray) -> None:
        self._index = np.asarray(index, np.int64)
        #: the strings converted so far (None: not yet; the list itself is made on the
        #: first read: lanes whose times nobody reads cost nothing); read by LaneStep
        self.strings: list[str | None] = []
        self._slow: IsoTimes | None = None

    def __len__(self) -> int:
        return len(self._index)

    def __getitem__(self, i: int) -> str:
        strings = self.strings
        if not strings:
            strings = self.strings = [None] * len(self._index)
        s = strings[i]
        if s is None:
            self._fill(i if i >= 0 else i + len(strings))
            s = strings[i]
        return s  # type: ignore[return-value]

    def _fill(self, i: int) -> None:
        lo = i - i % _CHUNK
        stamps = self._index[lo : lo + _CHUNK]
        secs = stamps // _NS
        day = secs // 86_400
        sod = secs - day * 86_400
        whole = (stamps >= 0) & (stamps - secs * _NS == 0)  # whole seconds, ≥ the epoch
        days, minutes, seconds = day.tolist(), (sod // 60).tolist(), (sod % 60).tolist()
        dates = {
            d: (_EPOCH_DAY + _dt.timedelta(days=d)).isoformat() + "T"
            for d in set(day[whole].tolist())
        }
        strings = [
            dates[d] + _HHMM[m] + _SS[s] if ok else None
            for d, m, s, ok in zip(days, minutes, seconds, whole.tolist())
        ]
        if not whole.all():
            if self._slow is None:
                self._slow = IsoTimes(self._index)
            for j in np.flatnonzero(~whole).tolist():
                strings[j] = self._slow[lo + j]
        self.strings[lo : lo + len(strings)] = strings
