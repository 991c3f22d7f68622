"""Logbook loggers, one per module, with verbosity set by ``verbose`` / ``log_level``."""

from __future__ import annotations

import sys

import logbook

_handler: logbook.StreamHandler | None = None

#: BTGym's ``verbose`` levels: 0 warnings, 1 info, 2 debug.
VERBOSE_LEVELS = {0: logbook.WARNING, 1: logbook.INFO, 2: logbook.DEBUG}


def get_logger(name: str) -> logbook.Logger:
    """Return the logbook logger of a module (call with ``__name__``)."""
    return logbook.Logger(name)


def level_from(verbose: int | None = None, log_level: int | str | None = None) -> int:
    """Resolve BTGym's ``verbose`` / ``log_level`` keywords into a logbook level."""
    if log_level is not None:
        return logbook.lookup_level(log_level)
    return VERBOSE_LEVELS.get(int(verbose or 0), logbook.DEBUG)


def setup_logging(verbose: int | None = None, log_level: int | str | None = None) -> None:
    """Install one stderr handler for the process at the resolved level (idempotent)."""
    global _handler
    level = level_from(verbose, log_level)
    if _handler is None:
        _handler = logbook.StreamHandler(sys.stderr, level=level, bubble=False)
        _handler.format_string = (
            "[{record.time:%H:%M:%S}] {record.level_name} {record.channel}: {record.message}"
        )
        _handler.push_application()
    else:
        _handler.level = level
