"""The data server's wire protocol: commands, requests and replies.

Every message is a :mod:`btgym.comm.wire` message (a JSON header plus raw numpy
buffers); nothing is ever pickled. A request's ``kind`` is a :class:`Command`
value, a reply's ``kind`` is a :class:`ReplyKind` value (or ``"error"``, see
:func:`btgym.comm.wire.error_message`). Each request and reply is a frozen
dataclass with ``to_payload()`` and ``from_payload()``; ``from_payload`` checks
every field and raises :class:`~btgym.errors.ProtocolError` naming the bad one.

========================  ==========================  ==================================
request (kind)            payload                     reply (kind): payload [+ arrays]
========================  ==========================  ==================================
``sample``                :class:`SampleRequest`      ``trial``: :class:`TrialReply` + the
                                                      trial's arrays (``Trial.to_wire``)
``reset``                 :class:`ResetRequest`       ``ok``: :class:`InfoReply`
``info``                  ``{}``                      ``info``: :class:`InfoReply`
``global_time``           ``{}``                      ``time``: :class:`TimeReply`
``get_broadcast``         ``{}``                      ``broadcast``: :class:`BroadcastReply`
``set_broadcast``         :class:`BroadcastRequest`   ``broadcast``: :class:`BroadcastReply`
``ping``                  ``{}``                      ``pong``: :class:`PongReply`
``stop``                  ``{}``                      ``stopped``: ``{}``
========================  ==========================  ==================================

Times on the wire are ``int64`` nanoseconds since the epoch of the data's own
(UTC-naive) clock, or ``None`` when there is none yet.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from enum import Enum
from typing import Any

import numpy as np

from btgym.errors import ProtocolError


class Command(str, Enum):
    """Request kinds understood by the data server."""

    SAMPLE = "sample"
    RESET = "reset"
    INFO = "info"
    GLOBAL_TIME = "global_time"
    GET_BROADCAST = "get_broadcast"
    SET_BROADCAST = "set_broadcast"
    PING = "ping"
    STOP = "stop"


#: what a data server's non-owner clients may send: no ``reset``, ``set_broadcast``
#: or ``stop`` (those change every client's data and belong to the owner's session).
CLIENT_COMMANDS = frozenset(
    c.value
    for c in (
        Command.SAMPLE,
        Command.INFO,
        Command.GLOBAL_TIME,
        Command.GET_BROADCAST,
        Command.PING,
    )
)


class ReplyKind(str, Enum):
    """Reply kinds sent by the data server (besides ``"error"``)."""

    TRIAL = "trial"
    OK = "ok"
    INFO = "info"
    TIME = "time"
    BROADCAST = "broadcast"
    PONG = "pong"
    STOPPED = "stopped"


# --------------------------------------------------------------------------- value helpers


def to_ns(value: Any) -> int | None:
    """A time as ``int`` nanoseconds since the epoch (``None`` stays ``None``).

    Accepts ints (already ns), ``numpy.datetime64``, ``datetime`` and
    ``pandas.Timestamp`` (both via ``datetime64``); floats are rejected because a
    POSIX-seconds float and a nanosecond count cannot be told apart safely.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ProtocolError(f"time value {value!r} is a bool, expected int ns or a datetime")
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, np.datetime64 | _dt.datetime | _dt.date):
        return int(np.datetime64(value, "ns").astype(np.int64))
    if hasattr(value, "to_datetime64"):  # pandas.Timestamp without importing pandas
        return int(value.to_datetime64().astype("datetime64[ns]").astype(np.int64))
    raise ProtocolError(f"time value {value!r} ({type(value).__name__}) is not int ns or datetime")


def jsonable(obj: Any, where: str = "value") -> Any:
    """Convert ``obj`` into plain JSON types (dicts, lists, str, int, float, bool, None).

    numpy scalars become Python scalars, small arrays lists, datetimes ISO strings,
    NaN/inf ``None``, pandas objects their ``to_dict()``; anything else raises
    :class:`ProtocolError` naming ``where``.
    """
    if obj is None or isinstance(obj, bool | str):
        return obj
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, Enum):
        return jsonable(obj.value, where)
    if isinstance(obj, _dt.datetime | _dt.date | np.datetime64 | _dt.timedelta | np.timedelta64):
        return str(obj)
    if hasattr(obj, "isoformat"):  # pandas.Timestamp / Timedelta
        return obj.isoformat()
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v, f"{where}[{k!r}]") for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [jsonable(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, np.ndarray) and obj.size <= 1024:
        return jsonable(obj.tolist(), where)
    if hasattr(obj, "to_dict"):  # pandas DataFrame / Series
        return jsonable(obj.to_dict(), where)
    if hasattr(obj, "__dataclass_fields__"):
        return jsonable(asdict(obj), where)
    raise ProtocolError(f"{where}: {type(obj).__name__} cannot travel in a message header")


def _get(payload: Mapping[str, Any], key: str, types: tuple[type, ...], where: str) -> Any:
    if not isinstance(payload, Mapping):
        raise ProtocolError(f"{where}: payload is {type(payload).__name__}, expected an object")
    if key not in payload:
        raise ProtocolError(f"{where}: field {key!r} is missing")
    value = payload[key]
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        names = "/".join(t.__name__ for t in types)
        raise ProtocolError(f"{where}: field {key!r} is {value!r}, expected {names}")
    return value


_NONE = type(None)


class _Payload:
    """Mixin: ``to_payload`` / ``from_payload`` for flat frozen dataclasses."""

    _TYPES: dict[str, tuple[type, ...]] = {}

    def to_payload(self) -> dict[str, Any]:
        return {f.name: jsonable(getattr(self, f.name), f.name) for f in fields(self)}  # type: ignore[arg-type]

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Any:
        where = cls.__name__
        kwargs = {f.name: _get(payload, f.name, cls._TYPES[f.name], where) for f in fields(cls)}  # type: ignore[arg-type]
        return cls(**kwargs)


# --------------------------------------------------------------------------- requests


@dataclass(frozen=True, kw_only=True)
class SampleRequest(_Payload):
    """``sample``: the keyword arguments of ``domain.sample`` (``DataSampleConfig``)."""

    config: dict[str, Any] = field(default_factory=dict)
    _TYPES = {"config": (dict,)}


@dataclass(frozen=True, kw_only=True)
class ResetRequest(_Payload):
    """``reset``: re-seed the domain and/or reset it with new parameters."""

    seed: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    _TYPES = {"seed": (int, _NONE), "params": (dict,)}


@dataclass(frozen=True, kw_only=True)
class BroadcastRequest(_Payload):
    """``set_broadcast``: a JSON-able message; ``timestamp`` (ns) may advance global time."""

    message: Any = None
    timestamp: int | None = None
    _TYPES = {
        "message": (dict, list, str, int, float, bool, _NONE),
        "timestamp": (int, _NONE),
    }


# --------------------------------------------------------------------------- replies


@dataclass(frozen=True, kw_only=True)
class TrialReply(_Payload):
    """``trial`` reply: the trial header (arrays travel as buffers) and server counters."""

    trial: dict[str, Any]
    served: int
    global_time: int | None
    _TYPES = {"trial": (dict,), "served": (int,), "global_time": (int, _NONE)}


@dataclass(frozen=True, kw_only=True)
class InfoReply(_Payload):
    """``info`` (and ``reset``) reply: what the server serves and how much it has served.

    Attributes:
        domain: the domain's class name.
        describe: the domain's ``describe()`` as plain JSON.
        trials_served: trials served since start (all types).
        served_by_type: trials served per ``sample_type`` (keys ``"0"``, ``"1"``...).
        resets: domain resets since start (the one at start included).
        uptime_s: seconds since the server started.
        pid: the server's process id.
        endpoint: the server's endpoint.
        global_time: see :class:`TimeReply`.
        rss_mb: the server process's resident memory (MB).
    """

    domain: str
    describe: Any
    trials_served: int
    served_by_type: dict[str, int]
    resets: int
    uptime_s: float
    pid: int
    endpoint: str
    global_time: int | None
    rss_mb: float
    _TYPES = {
        "domain": (str,),
        "describe": (dict, list, str, int, float, bool, _NONE),
        "trials_served": (int,),
        "served_by_type": (dict,),
        "resets": (int,),
        "uptime_s": (float, int),
        "pid": (int,),
        "endpoint": (str,),
        "global_time": (int, _NONE),
        "rss_mb": (float, int),
    }


@dataclass(frozen=True, kw_only=True)
class TimeReply(_Payload):
    """``time`` reply: global time in ns (``None`` before any trial was served)."""

    global_time: int | None
    _TYPES = {"global_time": (int, _NONE)}


@dataclass(frozen=True, kw_only=True)
class BroadcastReply(_Payload):
    """``broadcast`` reply: the current message, when it was set (wall-clock POSIX
    seconds, ``None`` if never) and the global time."""

    message: Any
    set_at: float | None
    global_time: int | None
    _TYPES = {
        "message": (dict, list, str, int, float, bool, _NONE),
        "set_at": (float, int, _NONE),
        "global_time": (int, _NONE),
    }


@dataclass(frozen=True, kw_only=True)
class PongReply(_Payload):
    """``pong`` reply: the server's pid and uptime."""

    pid: int
    uptime_s: float
    _TYPES = {"pid": (int,), "uptime_s": (float, int)}


def expect(kind: str, expected: ReplyKind, where: str = "data server") -> None:
    """Raise :class:`ProtocolError` unless a reply's ``kind`` is ``expected``."""
    if kind != expected.value:
        raise ProtocolError(f"{where}: expected a {expected.value!r} reply, got {kind!r}")
