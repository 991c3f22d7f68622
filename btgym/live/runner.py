"""``LiveRunner``: source → target → signal → publisher, one closed bar at a time.

- Warm-up: ``history=`` (``Bars`` or a CSV path) primes the target; without it the
  source's own history (a tailed file's rows) does; without either, the first
  ``warmup_bars`` bars only prime (heartbeat ``warming_up``, no signal).
- Exactly one signal per closed bar of the target's resolution; never two for the
  same bar, also across a runner restart (the stream ids are the bars' close times).
- A target that raises gives an ``error`` signal and the runner goes on; after
  ``max_errors`` consecutive errors it stops with exit code 1 (heartbeat ``error``).
- The publisher's overflow (or an outage beyond ``max_outage_s``), or signals left
  unsent at the end, give exit code 3: they are in the journal.
- Clock: stamps are in the source's clock; ``timezone`` (IANA) converts them to UTC
  for the signal. Default: the clock recorded with the weights (stamps already UTC);
  when none is recorded and none is given the runner refuses to start.
"""

from __future__ import annotations

import collections
import datetime as _dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from btgym.datafeed import Bars, load_bars
from btgym.datafeed.timeutil import stamp_str
from btgym.errors import ConfigError, DataValidationError, LiveBufferOverflowError, LiveError
from btgym.live.schema import Signal, now_utc
from btgym.log import get_logger

log = get_logger(__name__)

UTC = _dt.timezone.utc
_EPOCH = _dt.datetime(1970, 1, 1)
EXIT_OK, EXIT_ERRORS, EXIT_UNSENT = 0, 1, 3
NO_CLOCK = (
    "the model / checkpoint records no clock for its bar stamps: pass --timezone; "
    "HistData is Etc/GMT+5, or UTC"
)


@dataclass(frozen=True)
class RunnerStats:
    """What a run did (``run()``'s return value)."""

    bars: int
    signals: int
    ok: int
    stale: int
    error: int
    rejected: int
    latency_ms_median: float | None
    latency_ms_p99: float | None
    exit_code: int = EXIT_OK
    unsent: int = 0


def resolve_timezone(timezone: str | None, recorded: str | None) -> str:
    """The clock of the source's stamps (see the module doc).

    Raises:
        ConfigError: no timezone given or recorded, or an unknown IANA name.
    """
    tz = timezone or ("UTC" if recorded else None)
    if tz is None:
        raise ConfigError(NO_CLOCK)
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"unknown timezone {tz!r} (an IANA name, e.g. Etc/GMT+5 or UTC)"
        ) from None
    return tz


class LiveRunner:
    """Runs a target over a source and publishes its signals.

    Args:
        target: a :class:`~btgym.live.targets.ModelTarget` or
            :class:`~btgym.live.policy.PolicyTarget`.
        source: a bar source (:mod:`btgym.live.sources`).
        publisher: a :class:`~btgym.live.publisher.RedisPublisher`.
        name: the signals' ``name`` (default: the publisher's).
        timezone: IANA clock of the stamps (see the module doc).
        history: warm-up bars (``Bars`` or a CSV path read with ``parsing_params``).
        max_bars: stop after this many bars from the source.
        parsing_params: for a ``history`` path.
        max_errors: consecutive target errors before giving up (exit 1).
        flush_timeout: seconds ``run`` waits at the end for outage buffers to drain.
        registry, run_id: log realised statistics as ``split="live"`` metrics of the
            run every ``registry_every`` signals (models).
        on_signal: called with each published signal (status lines, tests).
    """

    def __init__(
        self,
        target: Any,
        source: Any,
        publisher: Any,
        *,
        name: str | None = None,
        timezone: str | None = None,
        history: Bars | str | None = None,
        max_bars: int | None = None,
        parsing_params: Any = None,
        max_errors: int = 10,
        flush_timeout: float = 10.0,
        registry: Any = None,
        run_id: str | None = None,
        registry_every: int = 60,
        stats_window: int = 500,
        on_signal: Callable[[Signal], None] | None = None,
    ) -> None:
        self.target, self.source, self.publisher = target, source, publisher
        self.name = name or publisher.name
        self.tz_name = resolve_timezone(timezone, getattr(target, "clock", None))
        self._tz = ZoneInfo(self.tz_name)
        self.max_bars, self.max_errors = max_bars, max_errors
        self.flush_timeout = flush_timeout
        self.on_signal = on_signal
        self.registry, self.run_id, self.registry_every = registry, run_id, registry_every
        target.bind(source.timeframe, tuple(source.asset_names))
        if isinstance(history, (str, bytes)) or hasattr(history, "__fspath__"):
            history = load_bars(
                history, parsing_params=parsing_params, data_names=list(source.asset_names)[:1]
            )
        if history is None:
            history = source.history()
        self.bars = self.signals = self.ok = self.stale = self.error = self.rejected = 0
        self.seq = 0
        self._last: int | None = None
        self._last_ok: _dt.datetime | None = None
        self._last_bin: int | None = None
        self._errors_in_row = 0
        self.exit_code = EXIT_OK
        self._latency: list[float] = []
        self._hits: collections.deque = collections.deque(maxlen=stats_window)
        self._logged_at = 0
        if history is not None and len(history):
            if len(history.names) == 1 and len(source.asset_names) == 1:
                asset = source.asset_names[0]
                if history.names[0] != asset:
                    history = Bars(
                        (asset,),
                        history.index,
                        {asset: history.values[history.names[0]]},
                        history.timeframe,
                    )
            target.prime(history)
            self._last = int(history.index[-1])
        self.ready = target.seen >= target.warmup_bars
        publisher.set_state("running" if self.ready else "warming_up")

    # ------------------------------------------------------------------ one bar

    def _utc(self, ns: int) -> _dt.datetime:
        naive = _EPOCH + _dt.timedelta(microseconds=int(ns) // 1000)
        return naive.replace(tzinfo=self._tz).astimezone(UTC)

    def step(self, bar: Any) -> Signal | None:
        """Process one closed bar synchronously; returns the published signal (or None).

        Raises:
            LiveBufferOverflowError: from the publisher (the runner then stops, exit 3).
        """
        if self._last is not None and bar.stamp <= self._last:
            self.rejected += 1
            log.error(
                str(
                    DataValidationError(
                        f"bar stamped {stamp_str(bar.stamp)} is not after {stamp_str(self._last)}; "
                        "rejected, not published",
                        "runner",
                    )
                )
            )
            return None
        self._last = bar.stamp
        self.bars += 1
        due = self.target.due(bar.stamp)
        try:
            out = self.target.update(bar)
        except Exception as exc:
            self._errors_in_row += 1
            if self._errors_in_row >= self.max_errors:
                self.exit_code = EXIT_ERRORS
            log.error(f"target failed at {stamp_str(bar.stamp)}: {type(exc).__name__}: {exc}")
            if (
                due is None
                or not self.ready
                or (self._last_bin is not None and due <= self._last_bin)
            ):
                return None
            return self._publish(
                bar, due, self.target.minutes, "error", error=f"{type(exc).__name__}: {exc}"
            )
        if out is None:
            return None
        self._errors_in_row = 0
        if not self.ready:
            self.ready = True
            self.publisher.set_state("running")
        if self._last_bin is not None and out.bar_open <= self._last_bin:
            return None
        return self._publish(bar, out.bar_open, out.minutes, out.status, out=out)

    def _publish(
        self,
        bar: Any,
        bar_open: int,
        minutes: int,
        status: str,
        *,
        out: Any = None,
        error: str | None = None,
    ) -> Signal:
        self._last_bin = bar_open
        opened = self._utc(bar_open)
        closed = opened + _dt.timedelta(minutes=minutes)
        self.seq += 1
        ok = status == "ok"
        t = self.target
        latency = (time.perf_counter_ns() - bar.received_ns) / 1e6
        signal = Signal(
            name=self.name,
            kind=t.kind,
            status=status,
            bar_open=opened,
            bar_close=closed,
            published_at=now_utc(),
            seq=self.seq,
            asset=t.asset,
            resolution=t.resolution,
            horizon_bars=t.horizon_bars,
            source=dict(t.source),
            prediction=out.prediction if ok else None,
            probabilities=out.probabilities if ok else None,
            class_names=t.class_names,
            boundaries=t.boundaries,
            policy=out.policy if ok else None,
            latency_ms=latency,
            last_ok_bar_close=None if ok else self._last_ok,
            error=error,
        )
        if ok:
            self._last_ok = closed
        setattr(self, status, getattr(self, status) + 1)
        self.signals += 1
        self._latency.append(latency)
        self.publisher.publish(signal)
        if self.on_signal is not None:
            self.on_signal(signal)
        self._realised()
        return signal

    def _realised(self) -> None:
        resolve = getattr(self.target, "resolve", None)
        hits = resolve() if resolve is not None else []
        if hits:
            self._hits.extend(float(h) for h in hits)
            self.publisher.set_stats(
                {
                    "acc": float(np.mean(self._hits)),
                    "n": len(self._hits),
                    "window": self._hits.maxlen,
                    "updated": now_utc().isoformat(),
                }
            )
        due = self.signals - self._logged_at >= self.registry_every
        if self.registry is not None and self.run_id and self._hits and due:
            self._logged_at = self.signals
            values = {"acc": float(np.mean(self._hits)), "n": float(len(self._hits))}
            try:
                self.registry.log_metrics(self.run_id, "live", values, step=self.seq)
            except Exception as exc:  # the registry is a side channel: signals go on
                log.warning(f"registry logging failed: {type(exc).__name__}: {exc}")

    # ------------------------------------------------------------------ the loop

    def run(self, stop_event: threading.Event | None = None) -> RunnerStats:
        """Run until the source ends, ``max_bars``, ``stop_event``, or a fatal error.

        SIGINT / SIGTERM handlers (the CLI's) set ``stop_event``: the current bar
        finishes, the publisher flushes for up to ``flush_timeout`` and the heartbeat
        says ``stopped``.
        """
        stop = stop_event or threading.Event()
        try:
            for bar in self.source.bars(stop):
                self.step(bar)
                if self.exit_code == EXIT_ERRORS:
                    log.error(f"{self.max_errors} consecutive target errors: stopping")
                    break
                if self.max_bars is not None and self.bars >= self.max_bars:
                    break
                if stop.is_set():
                    break
        except (LiveBufferOverflowError, LiveError) as exc:
            log.error(str(exc))
            self.exit_code = EXIT_UNSENT
        finally:
            self.source.close()
            if self.exit_code == EXIT_ERRORS:
                self.publisher.set_state("error")
            unsent = self.publisher.close(self.flush_timeout)
            if unsent and self.exit_code == EXIT_OK:
                self.exit_code = EXIT_UNSENT
            close = getattr(self.target, "close", None)
            if close is not None:
                close()
        return self.stats(unsent)

    def stats(self, unsent: int = 0) -> RunnerStats:
        lat = np.asarray(self._latency) if self._latency else None
        return RunnerStats(
            bars=self.bars,
            signals=self.signals,
            ok=self.ok,
            stale=self.stale,
            error=self.error,
            rejected=self.rejected + getattr(self.source, "rejected", 0),
            latency_ms_median=None if lat is None else float(np.median(lat)),
            latency_ms_p99=None if lat is None else float(np.percentile(lat, 99)),
            exit_code=self.exit_code,
            unsent=unsent,
        )

    def status_line(self) -> str:
        """``name  bars N  ok/stale/error  median X ms  buffered B  state`` (no secrets)."""
        recent = self._latency[-1000:]
        med = f"{float(np.median(recent)):.2f} ms" if recent else "-"
        return (
            f"{self.name}  bars {self.bars}  ok {self.ok} / stale {self.stale} / "
            f"error {self.error}  median {med}  buffered {self.publisher.buffered}  "
            f"{self.publisher.state}"
        )
