"""Bar sources of the live bridge: closed bars in, one :class:`ClosedBar` at a time.

Every source yields **closed** bars with strictly increasing stamps (open times,
int64 ns, UTC-naive, the source's clock: ``features.md`` §0). A bar whose stamp is ≤
the previous one is rejected with :class:`~btgym.errors.DataValidationError` (logged,
counted in ``source.rejected``) and never published.

- :class:`ReplaySource`: a file through ``load_bars`` (the training parsing params),
  paced by ``speed`` (``None``: flat out);
- :class:`TailSource`: follows a growing CSV (see :mod:`btgym.live.tail`);
- :class:`IteratorSource`, :class:`CallbackSource`: users' own feeds;
- :class:`MergedSource`: one source per asset, emitting a stamp once every asset has it.

Iterate with ``source.bars(stop_event)`` (or plain ``iter(source)``); ``close()``
ends the iteration from any thread.
"""

from __future__ import annotations

import datetime as _dt
import queue
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from btgym.datafeed import Bars, ParsingParams, load_bars
from btgym.datafeed.timeutil import NS_PER_MINUTE, stamp_str
from btgym.errors import ConfigError, DataValidationError
from btgym.log import get_logger

log = get_logger(__name__)

#: replay pauses longer than this (after dividing by ``speed``) are cut to it.
MAX_REPLAY_PAUSE_S = 5.0


@dataclass(frozen=True)
class ClosedBar:
    """One closed bar of every asset.

    Attributes:
        stamp: open time, int64 ns, UTC-naive, the source's clock.
        values: asset → float64 ``(5,)`` open, high, low, close, volume.
        timeframe: bar length in minutes.
        received_ns: ``time.perf_counter_ns()`` when the source handed it over.
    """

    stamp: int
    values: Mapping[str, np.ndarray]
    timeframe: int
    received_ns: int

    @property
    def close_stamp(self) -> int:
        """``stamp + timeframe`` (int64 ns): when the bar closed."""
        return self.stamp + self.timeframe * NS_PER_MINUTE

    def row(self, asset: str | None = None) -> np.ndarray:
        """The ``(5,)`` OHLCV of ``asset`` (default: the first)."""
        return self.values[next(iter(self.values)) if asset is None else asset]


def to_ns(stamp: Any) -> int:
    """int ns / ``numpy.datetime64`` / ``datetime`` / pandas ``Timestamp`` / ISO string
    → int64 ns (tz-aware values are converted to UTC and made naive)."""
    if isinstance(stamp, (int, np.integer)) and not isinstance(stamp, bool):
        return int(stamp)
    if isinstance(stamp, np.datetime64):
        return int(stamp.astype("datetime64[ns]").astype(np.int64))
    if isinstance(stamp, str):
        stamp = _dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    if isinstance(stamp, _dt.datetime):
        if stamp.tzinfo is not None:
            stamp = stamp.astimezone(_dt.timezone.utc).replace(tzinfo=None)
        ns = getattr(stamp, "value", None)  # pandas Timestamp: exact ns
        if isinstance(ns, (int, np.integer)) and getattr(stamp, "tzinfo", None) is None:
            return int(ns)
        delta = stamp - _dt.datetime(1970, 1, 1)
        return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
    raise ConfigError(f"cannot read {stamp!r} as a bar stamp (int ns, datetime64, datetime)")


def as_row(row: Any, what: str) -> np.ndarray:
    arr = np.asarray(row, dtype=np.float64).reshape(-1)
    if arr.shape != (5,):
        raise ConfigError(f"{what}: a bar row is (5,) open, high, low, close, volume; got {row!r}")
    return arr


class BarSource:
    """Base of the sources: the increasing-stamp gate and stopping.

    Attributes:
        timeframe: bar length in minutes.
        asset_names: the assets of every bar.
        rejected: bars refused because their stamp was not after the previous one.
    """

    def __init__(self, timeframe: int, asset_names: Sequence[str]) -> None:
        if int(timeframe) != timeframe or timeframe < 1:
            raise ConfigError(
                f"timeframe must be a whole number of minutes >= 1, got {timeframe!r}"
            )
        names = (asset_names,) if isinstance(asset_names, str) else tuple(asset_names)
        if not names or len(set(names)) != len(names):
            raise ConfigError(f"asset_names must be distinct names, got {asset_names!r}")
        self.timeframe = int(timeframe)
        self.asset_names = tuple(str(n) for n in names)
        self.rejected = 0
        self.emitted = 0
        self.last_stamp: int | None = None
        self._closed = threading.Event()

    # ------------------------------------------------------------------ to override

    def _produce(self, stop: threading.Event) -> Iterator[ClosedBar]:
        raise NotImplementedError

    def history(self) -> Bars | None:
        """Bars the source already holds and hands to the runner as warm-up (or None)."""
        return None

    # ------------------------------------------------------------------ iteration

    def bars(self, stop: threading.Event | None = None) -> Iterator[ClosedBar]:
        """Closed bars until the source ends, ``stop`` is set or :meth:`close` is called."""
        stop = _either(stop, self._closed)
        for bar in self._produce(stop):
            if self.last_stamp is not None and bar.stamp <= self.last_stamp:
                self.rejected += 1
                err = DataValidationError(
                    f"bar stamped {stamp_str(bar.stamp)} is not after the previous bar "
                    f"({stamp_str(self.last_stamp)}); rejected, not published",
                    type(self).__name__,
                )
                log.error(str(err))
                continue
            self.last_stamp = bar.stamp
            self.emitted += 1
            yield bar
            if stop.is_set():
                return

    def __iter__(self) -> Iterator[ClosedBar]:
        return self.bars()

    def close(self) -> None:
        """End the iteration (from any thread)."""
        self._closed.set()

    def _bar(self, stamp: int, values: Mapping[str, np.ndarray]) -> ClosedBar:
        return ClosedBar(int(stamp), values, self.timeframe, time.perf_counter_ns())


class _Either:
    """An event-like view that is set when either of two events is."""

    def __init__(self, a: threading.Event, b: threading.Event) -> None:
        self.a, self.b = a, b

    def is_set(self) -> bool:
        return self.a.is_set() or self.b.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.is_set():
            left = 0.05 if deadline is None else deadline - time.monotonic()
            if left <= 0:
                return False
            self.a.wait(min(0.05, left))
        return True


def _either(stop: threading.Event | None, closed: threading.Event) -> Any:
    return closed if stop is None else _Either(stop, closed)


# ---------------------------------------------------------------------- replay


class ReplaySource(BarSource):
    """Replays a bar file (or any ``load_bars`` source) as if the bars were closing now.

    Args:
        filename: what ``load_bars`` reads (a path, list of paths, mapping asset → file).
        parsing_params: the training parsing params (same clock, same validation).
        data_names: asset names (see ``load_bars``).
        speed: the pause between two bars is the gap between their closes divided by
            ``speed`` (``60``: a 1-minute bar per second), at most 5 s; ``None`` or
            ``"max"``: flat out.
        start, end: replay only bars with ``start <= stamp < end`` (stamps in the file's
            clock: int ns, datetime, ISO string).
        bars: ready ``Bars`` instead of ``filename``.
    """

    def __init__(
        self,
        filename: Any = None,
        *,
        parsing_params: ParsingParams | Mapping[str, Any] | None = None,
        data_names: Sequence[str] | None = None,
        speed: float | str | None = 60.0,
        start: Any = None,
        end: Any = None,
        bars: Bars | None = None,
    ) -> None:
        if (filename is None) == (bars is None):
            raise ConfigError("ReplaySource needs filename= or bars=")
        data = (
            bars
            if bars is not None
            else load_bars(filename, parsing_params=parsing_params, data_names=data_names)
        )
        lo = 0 if start is None else int(np.searchsorted(data.index, to_ns(start), "left"))
        hi = len(data) if end is None else int(np.searchsorted(data.index, to_ns(end), "left"))
        self.data = data.slice(lo, hi)
        if speed == "max":
            speed = None
        if speed is not None and not float(speed) > 0:
            raise ConfigError(f"replay speed must be > 0, 'max' or None, got {speed!r}")
        self.speed = None if speed is None else float(speed)
        super().__init__(data.timeframe, data.names)

    def _produce(self, stop: Any) -> Iterator[ClosedBar]:
        index, names = self.data.index, self.asset_names
        cols = [self.data.values[n] for n in names]
        due = time.monotonic()
        for i in range(len(index)):
            if i and self.speed is not None:
                gap_s = (int(index[i]) - int(index[i - 1])) / 1e9
                due += min(gap_s / self.speed, MAX_REPLAY_PAUSE_S)
                wait = due - time.monotonic()
                if wait > 0 and stop.wait(wait):
                    return
            if stop.is_set():
                return
            yield self._bar(int(index[i]), {n: c[i].copy() for n, c in zip(names, cols)})


# ---------------------------------------------------------------------- users' feeds


class IteratorSource(BarSource):
    """Bars from any iterable of :class:`ClosedBar` or ``(stamp, row)`` pairs, where
    ``row`` is ``(5,)`` OHLCV (one asset) or a mapping asset → ``(5,)``. The user
    promises the bars are closed."""

    def __init__(
        self,
        iterable: Iterable[Any],
        *,
        timeframe: int,
        asset_names: Sequence[str] = ("default_asset",),
    ) -> None:
        super().__init__(timeframe, asset_names)
        self._items = iterable

    def _produce(self, stop: Any) -> Iterator[ClosedBar]:
        for item in self._items:
            if stop.is_set():
                return
            yield self._coerce(item)

    def _coerce(self, item: Any) -> ClosedBar:
        if isinstance(item, ClosedBar):
            return ClosedBar(item.stamp, item.values, item.timeframe, time.perf_counter_ns())
        try:
            stamp, row = item
        except (TypeError, ValueError):
            raise ConfigError(
                f"a feed item must be a ClosedBar or (stamp, row), got {item!r}"
            ) from None
        return self._bar(to_ns(stamp), self._values(row))

    def _values(self, row: Any) -> dict[str, np.ndarray]:
        if isinstance(row, Mapping):
            missing = [a for a in self.asset_names if a not in row]
            if missing:
                raise ConfigError(f"bar row lacks assets {missing} (expected {self.asset_names})")
            return {a: as_row(row[a], f"asset {a!r}") for a in self.asset_names}
        if len(self.asset_names) != 1:
            raise ConfigError(
                f"a bare (5,) row needs one asset; give {{asset: row}} for {self.asset_names}"
            )
        return {self.asset_names[0]: as_row(row, "bar row")}


_END = object()


class CallbackSource(IteratorSource):
    """A source fed by ``push(stamp, row)`` from any thread; ``end()`` finishes it.

    Args:
        timeframe: bar length in minutes.
        asset_names: the assets of each row.
        maxsize: bars waiting to be taken; ``push`` blocks while it is full.
    """

    def __init__(
        self, *, timeframe: int, asset_names: Sequence[str], maxsize: int = 10_000
    ) -> None:
        super().__init__((), timeframe=timeframe, asset_names=asset_names)
        self._queue: queue.Queue = queue.Queue(maxsize)

    def push(self, stamp: Any, row: Any, timeout: float | None = None) -> None:
        """Hand over one closed bar (thread-safe)."""
        self._queue.put(self._bar(to_ns(stamp), self._values(row)), timeout=timeout)

    def end(self) -> None:
        """No more bars: the iteration ends after the queued ones."""
        self._queue.put(_END)

    def _produce(self, stop: Any) -> Iterator[ClosedBar]:
        while not stop.is_set():
            try:
                item = self._queue.get(timeout=0.05)
            except queue.Empty:
                continue
            if item is _END:
                return
            yield ClosedBar(item.stamp, item.values, item.timeframe, item.received_ns)


# ---------------------------------------------------------------------- several assets


class MergedSource(BarSource):
    """One source per asset, merged on common stamps.

    A stamp is emitted once every asset has delivered it (the values of each source's
    single asset, renamed to the mapping's key). A stamp that some asset skipped can
    never complete: it is dropped and counted in ``dropped`` — the common-stamp rule
    ``Bars.from_arrays`` applies in training.
    """

    def __init__(self, sources: Mapping[str, BarSource]) -> None:
        if not sources:
            raise ConfigError("MergedSource needs at least one source")
        tfs = {s.timeframe for s in sources.values()}
        if len(tfs) != 1:
            raise ConfigError(f"MergedSource: sources have different timeframes {sorted(tfs)}")
        for asset, s in sources.items():
            if len(s.asset_names) != 1:
                raise ConfigError(
                    f"MergedSource: source of {asset!r} holds {s.asset_names}; one asset each"
                )
        super().__init__(tfs.pop(), tuple(sources))
        self.sources = dict(sources)
        self.dropped = 0

    def close(self) -> None:
        super().close()
        for s in self.sources.values():
            s.close()

    def _produce(self, stop: Any) -> Iterator[ClosedBar]:
        q: queue.Queue = queue.Queue()
        threads = []
        for asset, src in self.sources.items():
            t = threading.Thread(
                target=_pump, args=(asset, src, q), daemon=True, name=f"btgym-live-merge-{asset}"
            )
            t.start()
            threads.append(t)
        pending: dict[int, dict[str, ClosedBar]] = {}
        last: dict[str, int] = {}
        ended: set[str] = set()
        n = len(self.sources)
        try:
            while len(ended) < n and not stop.is_set():
                try:
                    asset, bar = q.get(timeout=0.05)
                except queue.Empty:
                    continue
                if bar is _END:
                    ended.add(asset)
                else:
                    last[asset] = bar.stamp
                    pending.setdefault(bar.stamp, {})[asset] = bar
                for stamp in sorted(pending):
                    parts = pending[stamp]
                    if len(parts) == n:
                        del pending[stamp]
                        values = {a: parts[a].row() for a in self.asset_names}
                        received = max(p.received_ns for p in parts.values())
                        yield ClosedBar(stamp, values, self.timeframe, received)
                    elif any(
                        a not in parts and (a in ended or last.get(a, -1) >= stamp)
                        for a in self.asset_names
                    ):
                        del pending[stamp]
                        self.dropped += 1
                        log.info(f"stamp {stamp_str(stamp)} dropped: not every asset has it")
        finally:
            self.dropped += len(pending)
            for src in self.sources.values():
                src.close()


def _pump(asset: str, source: BarSource, q: queue.Queue) -> None:
    try:
        for bar in source.bars():
            q.put((asset, bar))
    except Exception as exc:  # a broken source ends its asset; the merge goes on dropping
        log.error(f"source of {asset!r} failed: {type(exc).__name__}: {exc}")
    finally:
        q.put((asset, _END))


from btgym.live.tail import TailSource  # noqa: E402  (re-exported: sources are one import)

__all__ = [
    "BarSource",
    "CallbackSource",
    "ClosedBar",
    "IteratorSource",
    "MergedSource",
    "ReplaySource",
    "TailSource",
    "to_ns",
]
