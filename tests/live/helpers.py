"""Helpers of the live tests (plain functions, no mocks)."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable

from btgym.live.schema import Signal, now_utc

UTC = dt.timezone.utc
T0 = dt.datetime(2017, 1, 2, 7, 0, tzinfo=UTC)


def make_signal(i: int, *, name: str = "t", minutes: int = 1, status: str = "ok") -> Signal:
    """Signal number ``i`` (seq i+1) of 1-minute bars from 2017-01-02 07:00 UTC."""
    bar_open = T0 + dt.timedelta(minutes=minutes * i)
    return Signal(
        name=name,
        kind="model",
        status=status,
        bar_open=bar_open,
        bar_close=bar_open + dt.timedelta(minutes=minutes),
        published_at=now_utc(),
        seq=i + 1,
        asset="EURUSD",
        resolution=f"{minutes}min",
        horizon_bars=1,
        source={"model_dir": "m", "sha256": "ab" * 32},
        prediction=1 if status == "ok" else None,
        probabilities=[0.25, 0.75] if status == "ok" else None,
        class_names=["down", "up"],
        boundaries=[0.0],
        latency_ms=0.5,
    )


def wait_for(cond: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    """Poll ``cond`` until true; fail with ``what`` after ``timeout`` s (a condition with a
    deadline, not a sleep used as synchronisation)."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.005)


class Collector(threading.Thread):
    """Runs ``fn(append)`` in a thread and keeps what it appends."""

    def __init__(self, fn: Callable) -> None:
        super().__init__(daemon=True)
        self.items: list = []
        self.error: BaseException | None = None
        self._fn = fn

    def run(self) -> None:
        try:
            self._fn(self.items.append)
        except BaseException as exc:  # reported by the test
            self.error = exc
