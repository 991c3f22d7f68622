"""The wire format of the live bridge: versioned JSON signals and heartbeats.

A :class:`Signal` is one UTF-8 JSON object per closed bar of a target's resolution
(``live.md`` §4); a :class:`Heartbeat` says whether its runner is alive (§5). Both are
frozen dataclasses built from ``json.loads`` only: nothing read from redis is ever
unpickled or evaluated.

Versioning: the ``schema`` field is ``"btgym.signal/<major>"``. Adding fields keeps the
major; readers ignore fields they do not know and refuse another major with
:class:`~btgym.errors.SignalSchemaError`. The JSON Schema of major 1 ships with the
package (:func:`json_schema`, file ``btgym/live/signal.schema.json``).

Times on the wire are ISO-8601 UTC with milliseconds and ``Z``
(``2017-01-02T07:00:00.000Z``); in the dataclasses they are tz-aware UTC datetimes.
Encoding uses ``allow_nan=False``: non-finite numbers become ``null``.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np

from btgym.errors import SignalSchemaError

SIGNAL_SCHEMA = "btgym.signal/1"
HEARTBEAT_SCHEMA = "btgym.heartbeat/1"
SIGNAL_MAJOR = 1
HEARTBEAT_MAJOR = 1
STATUSES = ("ok", "stale", "error")
KINDS = ("model", "policy")
STATES = ("warming_up", "running", "reconnecting", "stopped", "error")
SCHEMA_FILE = "signal.schema.json"

UTC = _dt.timezone.utc
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=UTC)


# ---------------------------------------------------------------------- times


def ns_to_datetime(ns: int) -> _dt.datetime:
    """int64 ns since the epoch (UTC) → tz-aware UTC datetime (microsecond precision)."""
    return _EPOCH + _dt.timedelta(microseconds=int(ns) // 1000)


def datetime_to_ms(when: _dt.datetime) -> int:
    """A tz-aware datetime → epoch milliseconds (naive datetimes are taken as UTC)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = when - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def iso_ms(when: _dt.datetime) -> str:
    """``2017-01-02T07:00:00.000Z``."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def parse_iso(text: Any, field: str) -> _dt.datetime:
    """ISO-8601 text (``Z`` or an offset) → tz-aware UTC datetime.

    Raises:
        SignalSchemaError: not a string, or not an ISO time.
    """
    if not isinstance(text, str):
        raise SignalSchemaError(f"field {field!r} must be an ISO-8601 string, got {text!r}")
    raw = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    try:
        when = _dt.datetime.fromisoformat(raw)
    except ValueError:
        raise SignalSchemaError(f"field {field!r}: {text!r} is not an ISO-8601 time") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def now_utc() -> _dt.datetime:
    return _dt.datetime.now(UTC)


# ---------------------------------------------------------------------- JSON


def plain(value: Any) -> Any:
    """``value`` as plain JSON data: numpy scalars and arrays become Python numbers and
    lists, non-finite floats ``None``, tuples lists, datetimes ISO strings."""
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, np.generic):
        return plain(value.item())
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if isinstance(value, _dt.datetime):
        return iso_ms(value)
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return plain(value.to_dict() if hasattr(value, "to_dict") else dataclasses.asdict(value))
    raise TypeError(f"cannot encode {type(value).__name__} {value!r} as JSON")


def dumps(data: Mapping[str, Any]) -> str:
    """Compact JSON with ``allow_nan=False`` (after :func:`plain`)."""
    return json.dumps(plain(data), allow_nan=False, separators=(",", ":"), ensure_ascii=False)


def _loads(text: str | bytes, what: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SignalSchemaError(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise SignalSchemaError(f"{what} must be a JSON object, got {type(data).__name__}")
    return data


def _check_major(data: Mapping[str, Any], family: str, major: int, what: str) -> None:
    tag = data.get("schema")
    prefix = f"btgym.{family}/"
    if not isinstance(tag, str) or not tag.startswith(prefix):
        raise SignalSchemaError(f"{what}: 'schema' is {tag!r}, expected '{prefix}{major}'")
    got = tag[len(prefix) :].split(".")[0]
    if got != str(major):
        raise SignalSchemaError(
            f"{what}: schema {tag!r} has major {got}; this btgym reads '{prefix}{major}' "
            "(upgrade the reader)"
        )


def _opt_iso(data: Mapping[str, Any], key: str) -> _dt.datetime | None:
    value = data.get(key)
    return None if value is None else parse_iso(value, key)


# ---------------------------------------------------------------------- Signal


@dataclass(frozen=True)
class PolicyInfo:
    """The ``policy`` block of a policy signal.

    Attributes:
        action: the action, ``{asset: code}`` (0 hold, 1 buy, 2 sell, 3 close) or
            ``{cash/asset: weight}`` for portfolio policies.
        action_probs: ``{asset: [p_hold, p_buy, p_sell, p_close]}`` (discrete), else ``None``.
        value: the critic's value estimate.
        session: live session number (1, 2, ...); step: decision number in the session.
        position: ``{asset: signed size}`` of the paper account.
        broker_value: the paper account's value.
        done_reason: set on a session's last bar (``end_of_data``, ``drawdown_call``...).
    """

    action: Any
    action_probs: Any = None
    value: float | None = None
    session: int = 0
    step: int = 0
    position: Mapping[str, float] | None = None
    broker_value: float | None = None
    done_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {f.name: plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PolicyInfo:
        if not isinstance(data, Mapping) or "action" not in data:
            raise SignalSchemaError(f"'policy' must be an object with 'action', got {data!r}")
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class Signal:
    """One signal (``live.md`` §4). Times are tz-aware UTC datetimes."""

    name: str
    kind: str
    status: str
    bar_open: _dt.datetime
    bar_close: _dt.datetime
    published_at: _dt.datetime
    seq: int
    asset: str
    resolution: str
    horizon_bars: int
    source: Mapping[str, Any]
    prediction: int | float | None = None
    probabilities: Sequence[float] | None = None
    class_names: Sequence[str] | None = None
    boundaries: Sequence[float] | None = None
    policy: PolicyInfo | None = None
    latency_ms: float | None = None
    last_ok_bar_close: _dt.datetime | None = None
    error: str | None = None
    schema: str = SIGNAL_SCHEMA

    @property
    def bar_close_ms(self) -> int:
        """Epoch milliseconds of ``bar_close``: the signal's stream id is ``<this>-0``."""
        return datetime_to_ms(self.bar_close)

    @property
    def stream_id(self) -> str:
        return f"{self.bar_close_ms}-0"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (ISO times, ``null`` for non-finite numbers)."""
        out = {"schema": self.schema}
        for f in dataclasses.fields(self):
            if f.name != "schema":
                out[f.name] = plain(getattr(self, f.name))
        return out

    def to_json(self) -> str:
        return dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Signal:
        """Build from decoded JSON; unknown fields are ignored.

        Raises:
            SignalSchemaError: another major, a missing field or a malformed value.
        """
        _check_major(data, "signal", SIGNAL_MAJOR, "signal")
        try:
            policy = data.get("policy")
            status = data["status"]
            if status not in STATUSES:
                raise SignalSchemaError(f"signal: status {status!r} is not one of {STATUSES}")
            return cls(
                schema=data["schema"],
                name=str(data["name"]),
                kind=str(data["kind"]),
                status=status,
                bar_open=parse_iso(data["bar_open"], "bar_open"),
                bar_close=parse_iso(data["bar_close"], "bar_close"),
                published_at=parse_iso(data["published_at"], "published_at"),
                seq=int(data["seq"]),
                asset=str(data["asset"]),
                resolution=str(data["resolution"]),
                horizon_bars=int(data["horizon_bars"]),
                source=dict(data.get("source") or {}),
                prediction=data.get("prediction"),
                probabilities=data.get("probabilities"),
                class_names=data.get("class_names"),
                boundaries=data.get("boundaries"),
                policy=None if policy is None else PolicyInfo.from_dict(policy),
                latency_ms=data.get("latency_ms"),
                last_ok_bar_close=_opt_iso(data, "last_ok_bar_close"),
                error=data.get("error"),
            )
        except KeyError as exc:
            raise SignalSchemaError(f"signal: missing field {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise SignalSchemaError(f"signal: malformed value: {exc}") from None

    @classmethod
    def from_json(cls, text: str | bytes) -> Signal:
        return cls.from_dict(_loads(text, "signal"))


# ---------------------------------------------------------------------- Heartbeat


@dataclass(frozen=True)
class Heartbeat:
    """A runner's heartbeat (``live.md`` §5)."""

    at: _dt.datetime
    state: str
    last_bar_close: _dt.datetime | None
    buffered: int
    pid: int
    host: str
    version: str
    name: str = ""
    seq: int = 0
    schema: str = HEARTBEAT_SCHEMA

    def age_s(self, now: _dt.datetime | None = None) -> float:
        """Seconds since the heartbeat was written."""
        return ((now or now_utc()) - self.at).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        out = {"schema": self.schema}
        for f in dataclasses.fields(self):
            if f.name != "schema":
                out[f.name] = plain(getattr(self, f.name))
        return out

    def to_json(self) -> str:
        return dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Heartbeat:
        _check_major(data, "heartbeat", HEARTBEAT_MAJOR, "heartbeat")
        try:
            return cls(
                schema=data["schema"],
                at=parse_iso(data["at"], "at"),
                state=str(data["state"]),
                last_bar_close=_opt_iso(data, "last_bar_close"),
                buffered=int(data.get("buffered") or 0),
                pid=int(data.get("pid") or 0),
                host=str(data.get("host") or ""),
                version=str(data.get("version") or ""),
                name=str(data.get("name") or ""),
                seq=int(data.get("seq") or 0),
            )
        except KeyError as exc:
            raise SignalSchemaError(f"heartbeat: missing field {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise SignalSchemaError(f"heartbeat: malformed value: {exc}") from None

    @classmethod
    def from_json(cls, text: str | bytes) -> Heartbeat:
        return cls.from_dict(_loads(text, "heartbeat"))


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of signal major 1, shipped with the package."""
    text = resources.files("btgym.live").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    return json.loads(text)
