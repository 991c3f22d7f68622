"""Fixtures of the reliability suite: small real envs, closed after each test."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import pytest

# the same small envs as the env tests (one definition: tests/envs/conftest.py)
from tests.envs.conftest import MODES, env_kwargs, make_env, mode  # noqa: F401


def wait_for(cond: Callable[[], bool], timeout: float = 15.0, what: str = "condition") -> None:
    """Poll ``cond`` until true (a condition, not a sleep); fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s")
        time.sleep(0.02)


def pid_gone(pid: int) -> bool:
    """True once ``pid`` no longer runs (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] in (b"Z", b"X")
    except FileNotFoundError:
        return True


def timed(fn: Callable[[], object], exc: type[BaseException]) -> tuple[BaseException, float]:
    """Run ``fn``, which must raise ``exc``; return the exception and the seconds taken."""
    t0 = time.monotonic()
    with pytest.raises(exc) as err:
        fn()
    return err.value, time.monotonic() - t0


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` in MiB."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def kill(pid: int, sig: int) -> None:
    os.kill(pid, sig)
