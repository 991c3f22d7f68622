"""Date ticks on the gap-free bar-number axis."""

from __future__ import annotations

import numpy as np

from btgym.rendering.timeaxis import date_ticks, format_time

MIN = 60 * 10**9
T0 = int(np.datetime64("2017-01-02T02:00", "ns").astype(np.int64))


def minutes(n: int, start: int = T0) -> np.ndarray:
    return start + MIN * np.arange(n, dtype=np.int64)


def test_one_day_of_minutes_gets_hour_ticks_and_a_date() -> None:
    t = minutes(24 * 60)
    pos, labels = date_ticks(t, 0, len(t) - 1, max_ticks=8)
    assert 3 <= len(pos) <= 8
    assert np.all(np.diff(pos) > 0) and pos[0] >= 0 and pos[-1] <= len(t) - 1
    assert labels[0].endswith("\nMon Jan 02")  # the first tick carries the date
    assert all(lab[2] == ":" for lab in labels)
    assert any(lab.endswith("Tue Jan 03") for lab in labels[1:])  # date where the day changes
    # ticks sit on round times
    for p in pos.astype(int):
        assert (t[p] // MIN) % 60 == 0


def test_weekend_gap_does_not_bunch_ticks() -> None:
    fri = minutes(600, int(np.datetime64("2017-01-06T12:00", "ns").astype(np.int64)))
    mon = minutes(600, int(np.datetime64("2017-01-09T00:00", "ns").astype(np.int64)))
    t = np.concatenate([fri, mon])
    pos, labels = date_ticks(t, 0, len(t) - 1, max_ticks=8)
    assert np.min(np.diff(pos)) >= len(t) / (1.6 * 8) - 1
    assert any("Mon Jan 09" in lab for lab in labels)


def test_months_of_hours() -> None:
    t = T0 + 3600 * 10**9 * np.arange(24 * 200, dtype=np.int64)
    pos, labels = date_ticks(t, 0, len(t) - 1, max_ticks=8)
    assert 3 <= len(pos) <= 8
    assert labels[0].endswith("2017")


def test_one_bar_and_empty() -> None:
    pos, labels = date_ticks(minutes(1), 0, 0)
    assert list(pos) == [0] and labels == ["02:00\nMon Jan 02"]
    pos, labels = date_ticks(minutes(5), 3, 2)
    assert len(pos) == 0 and labels == []


def test_view_inside_the_axis() -> None:
    t = minutes(1000)
    pos, _ = date_ticks(t, 200, 400, max_ticks=6)
    assert pos.min() >= 200 and pos.max() <= 400


def test_format_time() -> None:
    assert format_time(T0) == "2017-01-02 02:00"
    assert format_time(T0 + 5 * 10**9, seconds=True) == "2017-01-02 02:00:05"
