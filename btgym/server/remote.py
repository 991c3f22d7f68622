"""Turning a server's error reply back into the named btgym error it was.

The server answers a bad request with the exception's type name, message and
traceback (:class:`~btgym.errors.RemoteError`). For btgym's own *usage* errors
(``ResetNeededError``, ``InvalidActionError``, ``ConfigError``, data errors,
``RenderError``...) the process handle raises the same class as the in-process
handle would, with ``remote_type`` and ``remote_traceback`` attached; anything
else (an exception in a user's strategy hook) stays a ``RemoteError`` carrying the
child's traceback.
"""

from __future__ import annotations

from btgym import errors
from btgym.errors import (
    BTgymError,
    CommError,
    ConfigError,
    DataError,
    DataServerError,
    EnvError,
    RemoteError,
    RenderError,
    UnknownKeywordError,
)

_LOCALIZABLE = (EnvError, ConfigError, DataError, RenderError, DataServerError, UnknownKeywordError)


def local_class(remote_type: str) -> type[BTgymError] | None:
    """The btgym error class named ``remote_type`` if it is a usage error, else ``None``."""
    cls = getattr(errors, remote_type, None)
    if not (isinstance(cls, type) and issubclass(cls, _LOCALIZABLE)):
        return None
    if issubclass(cls, CommError) and not issubclass(cls, DataServerError):
        return None
    return cls


def localize(exc: BaseException) -> BaseException:
    """``exc`` as the local named error when it is a server's usage error, else ``exc``."""
    if not isinstance(exc, RemoteError):
        return exc
    cls = local_class(exc.remote_type)
    if cls is None:
        return exc
    text = str(exc).split("\n\n--- traceback in the child process ---")[0]
    _head, sep, rest = text.partition(f"{exc.remote_type}")
    message = rest.split(": ", 1)[-1] if sep else text
    local = cls.__new__(cls)
    Exception.__init__(local, message)
    local.remote_type = exc.remote_type  # type: ignore[attr-defined]
    local.remote_traceback = exc.remote_traceback  # type: ignore[attr-defined]
    return local
