"""The canonical Bars container: views, frames, immutability, wire round trip."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from btgym.comm import wire
from btgym.datafeed import Bars, Episode, SampleMeta, SineSource
from btgym.errors import DataValidationError


@pytest.fixture()
def bars():
    return SineSource(num_bars=50, noise=0.0001, seed=1).bars()


def test_frame_is_canonical(bars):
    frame = bars.frame()
    assert list(frame.columns) == ["open", "high", "low", "close", "volume"]
    assert all(dt == np.float64 for dt in frame.dtypes)
    assert isinstance(frame.index, pd.DatetimeIndex) and frame.index.tz is None
    np.testing.assert_array_equal(frame.index.asi8, bars.index)
    assert bars.frames().keys() == {"default_asset"} and isinstance(bars.data(), pd.DataFrame)
    with pytest.raises(KeyError):
        bars.frame("nope")


def test_slice_is_a_view_and_arrays_are_read_only(bars):
    part = bars.slice(10, 20)
    assert len(part) == 10 and part.index[0] == bars.index[10]
    assert np.shares_memory(part.index, bars.index)
    assert np.shares_memory(part.values["default_asset"], bars.values["default_asset"])
    with pytest.raises(ValueError):
        part.index[0] = 0
    with pytest.raises(ValueError):
        bars.values["default_asset"][0, 0] = 1.0
    assert len(bars.slice(45, 100)) == 5


def test_construction_is_validated():
    idx = np.arange(3, dtype=np.int64)
    with pytest.raises(DataValidationError, match="shape"):
        Bars(("a",), idx, {"a": np.zeros((2, 5))})
    with pytest.raises(DataValidationError, match="no values"):
        Bars(("a", "b"), idx, {"a": np.zeros((3, 5))})
    with pytest.raises(DataValidationError, match="distinct"):
        Bars(("a", "a"), idx, {"a": np.zeros((3, 5))})


def test_wire_round_trip_through_comm_wire(bars):
    header, arrays = bars.to_wire()
    json.dumps(header)  # the header is plain JSON
    msg = wire.decode([bytes(f) for f in wire.encode("bars", header, arrays)])
    back = Bars.from_wire(msg.payload, msg.arrays)
    assert back.names == bars.names and back.timeframe == bars.timeframe
    np.testing.assert_array_equal(back.index, bars.index)
    np.testing.assert_array_equal(back.values["default_asset"], bars.values["default_asset"])


def test_episode_wire_round_trip(bars):
    meta = SampleMeta(
        type=1,
        trial_num=2,
        trial_type=0,
        sample_num=3,
        first_row=4,
        source_row=5,
        num_rows=50,
        timestamp=bars.index[0] / 1e9,
        last_timestamp=bars.index[-1] / 1e9,
        name="x",
    )
    ep = Episode(bars, meta)
    header, arrays = ep.to_wire()
    msg = wire.decode([bytes(f) for f in wire.encode("episode", header, arrays)])
    back = Episode.from_wire(msg.payload, msg.arrays)
    assert back.metadata == meta and len(back) == 50 and back.filename == "x"
    assert back.metadata.to_dict()["parent_sample_num"] == 2


def test_from_frames_aligns_on_common_stamps():
    idx = pd.date_range("2021-03-01", periods=5, freq="1min")
    a = pd.DataFrame(
        {c: [1.0, 2, 3, 4, 5] for c in ("open", "high", "low", "close", "volume")}, idx
    )
    b = a.iloc[[0, 2, 4]] * 10
    out = Bars.from_frames({"a": a, "b": b})
    assert out.names == ("a", "b") and len(out) == 3
    assert out.frame("a")["close"].tolist() == [1.0, 3.0, 5.0]
    assert out.frame("b")["close"].tolist() == [10.0, 30.0, 50.0]
    assert isinstance(out.data(), dict)
