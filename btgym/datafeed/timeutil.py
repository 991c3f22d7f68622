"""Time helpers: BTGym duration dicts, weekdays and days of int64-ns stamps.

All stamps in :mod:`btgym.datafeed` are ``int64`` nanoseconds since the epoch,
UTC-naive, and mark the bar's **open** time (see ``docs/internals.md``).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

import numpy as np

from btgym.errors import ConfigError, check_keywords

NS_PER_MINUTE = 60_000_000_000
NS_PER_DAY = 86_400_000_000_000
#: keys a BTGym duration dict may hold (``datetime.timedelta`` keywords).
DURATION_KEYS = ("weeks", "days", "hours", "minutes", "seconds")

Duration = Mapping[str, float] | datetime.timedelta | None


def duration_ns(value: Any, what: str = "duration") -> int:
    """Convert a BTGym duration (``{'days': 1, 'hours': 23, 'minutes': 55}``, a
    ``timedelta`` or ``None`` for zero) into integer nanoseconds.

    Raises:
        UnknownKeywordError: a dict key is not a ``timedelta`` keyword.
        ConfigError: the value is negative or not a duration.
    """
    if value is None:
        return 0
    if isinstance(value, datetime.timedelta):  # includes pandas.Timedelta
        delta = value
    elif isinstance(value, Mapping):
        check_keywords(value.keys(), DURATION_KEYS, where=what)
        try:
            delta = datetime.timedelta(**{k: float(v) for k, v in value.items()})
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{what}: bad duration {dict(value)!r}: {exc}") from None
    else:
        raise ConfigError(f"{what}: expected a dict like {{'days': 1, 'hours': 2}}, got {value!r}")
    ns = (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
    if ns < 0:
        raise ConfigError(f"{what}: duration must not be negative, got {value!r}")
    return ns


def duration_dict(value: Any, what: str = "duration") -> dict[str, int]:
    """Normalise a duration into a JSON-able ``{'days', 'hours', 'minutes', 'seconds'}`` dict."""
    ns = duration_ns(value, what)
    secs = ns // 1_000_000_000
    days, rem = divmod(secs, 86_400)
    hours, rem = divmod(rem, 3_600)
    minutes, seconds = divmod(rem, 60)
    out = {"days": days, "hours": hours, "minutes": minutes}
    if seconds:
        out["seconds"] = seconds
    return out


def weekday(stamps: np.ndarray) -> np.ndarray:
    """Monday=0 ... Sunday=6 of int64-ns stamps (1970-01-01 was a Thursday)."""
    return (stamps // NS_PER_DAY + 3) % 7


def day_starts(stamps: np.ndarray, prev_stamp: int | None = None) -> np.ndarray:
    """Boolean mask: the row is the first record of its calendar day.

    Args:
        stamps: int64-ns stamps, sorted.
        prev_stamp: the stamp of the record just before ``stamps[0]`` in the full data
            (``None`` when ``stamps`` starts the data), so that a slice gives the same
            answer as the full data.
    """
    day = stamps // NS_PER_DAY
    out = np.empty(len(stamps), dtype=bool)
    if len(stamps):
        out[0] = prev_stamp is None or (int(prev_stamp) // NS_PER_DAY) != day[0]
        np.not_equal(day[1:], day[:-1], out=out[1:])
    return out


def to_posix(stamp_ns: int) -> float:
    """int64 ns → POSIX seconds (float), in the stamps' own (UTC-naive) clock."""
    return int(stamp_ns) / 1e9


def posix_to_ns(timestamp: float) -> int:
    """POSIX seconds (float, or a datetime-like) → int64 ns."""
    if isinstance(timestamp, (datetime.datetime, np.datetime64)):
        return int(np.datetime64(timestamp, "ns").astype(np.int64))
    return round(float(timestamp) * 1e9)


def stamp_str(stamp_ns: int) -> str:
    """A readable ISO stamp for messages and sample names."""
    return str(np.datetime64(int(stamp_ns), "ns").astype("datetime64[s]"))
