"""The data server's wire messages: field checks, JSON conversion, times."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from btgym.comm import wire
from btgym.dataserver import protocol as P
from btgym.errors import ProtocolError


def roundtrip(message):
    """Through real wire frames, as on a socket."""
    frames = wire.encode("x", message.to_payload())
    decoded = wire.decode([bytes(f) for f in frames])
    return type(message).from_payload(decoded.payload)


@pytest.mark.parametrize(
    "message",
    [
        P.SampleRequest(config={"sample_type": 1, "timestamp": 1.5e9}),
        P.ResetRequest(seed=3, params={"trial_params": {"sample_duration": {"days": 2}}}),
        P.ResetRequest(),
        P.BroadcastRequest(message={"a": [1, 2]}, timestamp=10**18),
        P.TimeReply(global_time=None),
        P.BroadcastReply(message="hi", set_at=1.0, global_time=5),
        P.PongReply(pid=1, uptime_s=0.5),
        P.InfoReply(
            domain="D",
            describe={"close": {"count": 3.0}},
            trials_served=2,
            served_by_type={"0": 2},
            resets=1,
            uptime_s=1.0,
            pid=9,
            endpoint="ipc:///x",
            global_time=None,
            rss_mb=120.5,
        ),
    ],
)
def test_messages_roundtrip_through_the_wire(message):
    assert roundtrip(message) == message


def test_from_payload_names_the_bad_field():
    with pytest.raises(ProtocolError, match="ResetRequest: field 'seed' is missing"):
        P.ResetRequest.from_payload({"params": {}})
    with pytest.raises(ProtocolError, match="field 'seed' is 'x', expected int/NoneType"):
        P.ResetRequest.from_payload({"seed": "x", "params": {}})
    with pytest.raises(ProtocolError, match="field 'seed' is True"):  # a bool is no int here
        P.ResetRequest.from_payload({"seed": True, "params": {}})
    with pytest.raises(ProtocolError, match="payload is list"):
        P.SampleRequest.from_payload([1])


def test_commands_and_reply_kinds_are_distinct_strings():
    assert len({c.value for c in P.Command}) == len(P.Command)
    assert P.Command("sample") is P.Command.SAMPLE
    P.expect("trial", P.ReplyKind.TRIAL)
    with pytest.raises(ProtocolError, match="expected a 'pong' reply, got 'trial'"):
        P.expect("trial", P.ReplyKind.PONG)


def test_jsonable_converts_numpy_pandas_and_datetimes():
    frame = pd.DataFrame({"close": [1.0, np.nan]}, index=["mean", "std"])
    out = P.jsonable(
        {
            "i": np.int64(3),
            "f": np.float32(0.5),
            "nan": float("nan"),
            "b": np.bool_(True),
            "t": (1, 2),
            "a": np.arange(3),
            "df": frame,
            "when": dt.datetime(2017, 1, 2, 3, 4),
        }
    )
    assert out == {
        "i": 3,
        "f": 0.5,
        "nan": None,
        "b": True,
        "t": [1, 2],
        "a": [0, 1, 2],
        "df": {"close": {"mean": 1.0, "std": None}},
        "when": "2017-01-02 03:04:00",
    }
    with pytest.raises(ProtocolError, match=r"config\['x'\]: object cannot travel"):
        P.jsonable({"x": object()}, "config")


def test_to_ns_accepts_ints_and_datetimes_only():
    ns = 1483315200 * 10**9  # 2017-01-02 00:00
    assert P.to_ns(ns) == ns and P.to_ns(None) is None
    assert P.to_ns(np.datetime64("2017-01-02")) == ns
    assert P.to_ns(dt.datetime(2017, 1, 2)) == ns
    assert P.to_ns(pd.Timestamp("2017-01-02")) == ns
    with pytest.raises(ProtocolError, match="not int ns or datetime"):
        P.to_ns(1.5)
    with pytest.raises(ProtocolError, match="bool"):
        P.to_ns(True)
