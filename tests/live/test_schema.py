"""Signal / Heartbeat JSON, the shipped JSON Schema, URL redaction, no pickle (static)."""

from __future__ import annotations

import ast
import json
import math
from pathlib import Path

import jsonschema
import pytest

import btgym.live
from btgym.errors import ConfigError, SignalSchemaError
from btgym.live.redisurl import TLSConfig, parse_url, redact
from btgym.live.schema import Heartbeat, PolicyInfo, Signal, iso_ms, json_schema, parse_iso

from .helpers import make_signal


def test_signal_round_trip_and_schema_file():
    sig = make_signal(0)
    data = json.loads(sig.to_json())
    jsonschema.validate(data, json_schema())
    assert data["bar_open"] == "2017-01-02T07:00:00.000Z"
    assert data["bar_close"] == "2017-01-02T07:01:00.000Z"
    back = Signal.from_json(sig.to_json())
    assert back.bar_open == sig.bar_open and back.probabilities == [0.25, 0.75]
    assert back.stream_id == "1483340460000-0"


def test_policy_block_and_non_finite_numbers_become_null():
    base = make_signal(3)
    policy = PolicyInfo(
        action={"EURUSD": 1},
        action_probs={"EURUSD": [0.1, 0.9, 0, 0]},
        value=math.inf,
        session=1,
        step=4,
        position={"EURUSD": 10.0},
        broker_value=100.5,
    )
    fields = {**base.__dict__, "kind": "policy", "prediction": None}
    sig = Signal(**{**fields, "probabilities": [math.nan, 1.0], "policy": policy})
    text = sig.to_json()
    assert "NaN" not in text and "Infinity" not in text
    data = json.loads(text)
    jsonschema.validate(data, json_schema())
    assert data["probabilities"] == [None, 1.0] and data["policy"]["value"] is None
    assert Signal.from_json(text).policy.action == {"EURUSD": 1}


def test_readers_ignore_unknown_fields_and_refuse_another_major():
    data = json.loads(make_signal(1).to_json())
    data["future_field"] = {"x": 1}
    assert Signal.from_dict(data).seq == 2
    data["schema"] = "btgym.signal/2"
    with pytest.raises(SignalSchemaError, match="major 2"):
        Signal.from_dict(data)
    with pytest.raises(SignalSchemaError):
        Signal.from_json(b"not json")
    with pytest.raises(SignalSchemaError, match="missing field"):
        Signal.from_dict({"schema": "btgym.signal/1", "name": "x"})


def test_schema_rejects_bad_messages():
    validator = jsonschema.Draft202012Validator(json_schema())
    data = json.loads(make_signal(2, status="stale").to_json())
    assert not list(validator.iter_errors(data))
    bad = dict(data, prediction=1)  # stale with a prediction
    assert list(validator.iter_errors(bad))
    bad = dict(data, bar_open="2017-01-02 07:00")  # not ISO ms Z
    assert list(validator.iter_errors(bad))
    err = dict(data, status="error", error="no colon")
    assert list(validator.iter_errors(err))


def test_heartbeat_round_trip_and_iso():
    hb = Heartbeat(
        at=parse_iso("2017-01-02T07:00:00.123Z", "at"),
        state="running",
        last_bar_close=None,
        buffered=0,
        pid=1,
        host="h",
        version="0",
    )
    assert Heartbeat.from_json(hb.to_json()) == hb
    assert iso_ms(hb.at) == "2017-01-02T07:00:00.123Z"
    with pytest.raises(SignalSchemaError):
        Heartbeat.from_json(json.dumps({"schema": "btgym.heartbeat/9", "at": "x"}))


def test_urls_parse_and_passwords_are_redacted():
    u = parse_url("redis://user:s3cr%40t@example.org:6380/2")
    assert (u.host, u.port, u.db, u.username, u.password) == (
        "example.org",
        6380,
        2,
        "user",
        "s3cr@t",
    )
    assert "s3cr" not in u.redacted and "s3cr" not in repr(u) and "s3cr" not in str(u)
    assert u.scrub("auth failed for s3cr@t and s3cr%40t") == "auth failed for *** and ***"
    assert parse_url("rediss://h").tls
    s = parse_url("unix:///tmp/r.sock?db=3")
    assert (s.path, s.db) == ("/tmp/r.sock", 3)
    assert parse_url(None).port == 6379
    for bad in ("http://h", "redis://", "redis://:pw@h:notaport/0", "unix://"):
        with pytest.raises(ConfigError) as info:
            parse_url(bad)
        assert "pw" not in str(info.value).replace("pw@", "")  # never the password
    assert "hunter2" not in redact("redis://:hunter2@h:notaport/0")
    with pytest.raises(ConfigError, match="rediss"):
        parse_url("redis://h").client_kwargs(tls=TLSConfig())


def test_live_imports_neither_pickle_nor_marshal():
    root = Path(btgym.live.__file__).parent
    banned = {"pickle", "marshal", "cPickle", "dill", "cloudpickle", "joblib"}
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module.split(".")[0]]
            elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "__import__":
                names = [getattr(node.args[0], "value", "")] if node.args else []
            hit = banned.intersection(names)
            assert not hit, f"{path.name}:{node.lineno} imports {hit}"
