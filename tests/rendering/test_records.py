"""Records and bars checking; episode statistics."""

from __future__ import annotations

import numpy as np
import pytest

from btgym.errors import RenderError
from btgym.rendering.records import TimeAxis, parse_records, summary


def test_datetime64_times_and_counts() -> None:
    t = np.array(["2017-01-02T00:00", "2017-01-02T00:01", "2017-01-02T00:02"], "datetime64[m]")
    rec = parse_records(
        {
            "time": t,
            "broker_value": [100.0, 110.0, 99.0],
            "drawdown": [0.0, 0.0, 0.1],
            "reward": [0, 1, -1],
            "position/X": [0, 1, 1],
            "fill_time": t[:2],
            "fill_asset": [0, 0],
            "fill_kind": [1, 3],
            "fill_price": [1.0, 2.0],
            "fill_size": [1.0, -1.0],
        }
    )
    assert rec.time.dtype == np.int64 and rec.time[1] - rec.time[0] == 60 * 10**9
    assert rec.positions["X"].dtype == np.float64
    s = summary(rec)
    assert s["steps"] == 3
    assert s["return_pct"] == pytest.approx(-1.0)
    assert s["max_drawdown_pct"] == pytest.approx(10.0)
    assert s["total_reward"] == 0
    assert s["fills"] == {"buy": 1, "sell": 0, "close": 1}


def test_empty_and_none() -> None:
    for r in (None, {}):
        rec = parse_records(r)
        assert len(rec) == 0 and len(rec.fills) == 0
        assert summary(rec) == {"steps": 0, "fills": {"buy": 0, "sell": 0, "close": 0}}


@pytest.mark.parametrize(
    "records, match",
    [
        ({"reward": [1.0]}, "'time' is missing"),
        ({"time": [1, 2], "reward": [1.0]}, "differ in length"),
        ({"time": [1.5]}, "int64 nanoseconds"),
        ({"time": [[1]]}, "1-d"),
        ({"time": [1], "reward": ["a"]}, "numbers"),
        ({"fill_time": [1], "fill_kind": [1]}, "missing"),
    ],
)
def test_bad_records(records: dict, match: str) -> None:
    with pytest.raises(RenderError, match=match):
        parse_records(records)


def test_time_axis_maps_bar_times_to_bar_numbers() -> None:
    times = np.array([0, 60, 120, 10_000, 10_060], np.int64)  # a gap after bar 2
    ax = TimeAxis(times)
    np.testing.assert_allclose(ax.x(times), [0, 1, 2, 3, 4])
    assert ax.x(np.array([90]))[0] == pytest.approx(1.5)
    assert ax.x(np.array([-5, 20_000])).tolist() == [0, 4]  # clamped
    assert TimeAxis(np.array([5])).x(np.array([5, 6])).tolist() == [0, 0]
