"""One error class in both modes: a child's exception re-raised as the same class.

A child process reports an exception as its class name, message, traceback and a
few plain attributes (see :func:`btgym.comm.wire.error_message`). When the class is
one of btgym's named errors (:mod:`btgym.errors`), the parent raises *that class*
with the same message, so ``except FileNotFoundError`` / ``except SamplingError``
catch the same thing whether the code ran in a child or in-process. The child's
traceback stays attached: as ``remote_traceback`` (text), ``remote_type`` (the
class name) and as ``__cause__``, a :class:`~btgym.errors.RemoteError` whose
message holds the traceback (Python prints it above the named error).

Anything else (a ``ValueError`` in a user's strategy hook, a ``RuntimeError`` in a
user's domain) stays a :class:`~btgym.errors.RemoteError` carrying the traceback:
a name from a socket never chooses a class outside :mod:`btgym.errors`.
"""

from __future__ import annotations

from typing import Any

from btgym import errors
from btgym.errors import BTgymError, RemoteError

#: plain attributes of named errors that travel with them (``DataParseError``'s
#: ``path``, ``row``, ``column``; ``UnknownKeywordError``'s ``key``...).
ATTRS = ("path", "row", "column", "key", "close_matches")


def named_class(type_name: str) -> type[BTgymError] | None:
    """The :mod:`btgym.errors` class called ``type_name``, or ``None`` (also for the
    ``RemoteError`` family, which describes the transport, not the cause)."""
    if not isinstance(type_name, str) or type_name.startswith("_"):
        return None
    cls = getattr(errors, type_name, None)
    if not (isinstance(cls, type) and issubclass(cls, BTgymError)):
        return None
    if issubclass(cls, RemoteError):
        return None
    return cls


def error_attrs(exc: BaseException) -> dict[str, Any]:
    """The JSON-able :data:`ATTRS` ``exc`` has (sent beside its message)."""
    out: dict[str, Any] = {}
    for name in ATTRS:
        value = getattr(exc, name, None)
        if isinstance(value, str | int | float | bool):
            out[name] = value
        elif isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            out[name] = list(value)
    return out


def rebuild(
    type_name: str,
    message: str,
    traceback: str = "",
    attrs: dict[str, Any] | None = None,
    context: str = "",
    fallback: type[RemoteError] = RemoteError,
) -> BaseException:
    """The exception a parent raises for a child's error report.

    Args:
        type_name: the child's exception class name.
        message: its message (``str(exc)`` in the child).
        traceback: the child's formatted traceback.
        attrs: plain attributes (see :data:`ATTRS`).
        context: who reported it (e.g. ``"btgym server"``), for the cause's message.
        fallback: the class used when ``type_name`` is not a named btgym error.
    """
    prefix = f"{context}: " if context else ""
    cause = fallback(f"{prefix}{type_name}: {message}", type_name, traceback)
    cls = named_class(type_name)
    if cls is None:
        return cause
    local = cls.__new__(cls)
    Exception.__init__(local, message)
    if isinstance(local, errors.DataParseError):
        local.path = local.row = local.column = None
    if isinstance(local, errors.UnknownKeywordError):
        local.key, local.close_matches = None, []
    for name, value in (attrs or {}).items():
        if name in ATTRS:
            setattr(local, name, value)
    local.remote_type = type_name  # type: ignore[attr-defined]
    local.remote_traceback = traceback  # type: ignore[attr-defined]
    local.__cause__ = cause
    return local
