"""``RedisPublisher``: signals into redis, with nothing lost across outages.

Per signal, one ``MULTI/EXEC`` (``live.md`` §5):

- ``XADD {p}:{name}:stream MAXLEN ~ N <bar_close ms>-0 data <json>``: the record. The id
  comes from the bar, so redis itself refuses a second copy of the same bar (an id ≤
  the stream's top); the publisher counts that refusal as *already delivered*;
- ``SET {p}:{name}:latest <json> PX <ttl_bars × bar length>``: the newest signal;
- ``PUBLISH {p}:{name} <json>``: best-effort push.

Outages (§6): a connection error or timeout moves the signal into an in-memory FIFO
and wakes the reconnect thread, which retries with backoff ``0.1 s · 2ⁿ`` (capped, ±10 %
jitter) until redis answers. New signals queue behind the buffered ones, so order is
kept. Once redis answers, the heartbeat says ``reconnecting``, the buffer drains oldest
first (XADD + PUBLISH each, pipelined), then one SET of ``latest`` for the newest with
its remaining TTL (skipped when expired), and only then do signals go straight out
again. A full buffer raises :class:`~btgym.errors.LiveBufferOverflowError` after the
buffer went to the journal. ``journal=PATH`` appends every signal (JSON lines, flushed)
before its redis write.

Threads: the caller's (``publish``), the reconnect thread (only works during outages)
and the heartbeat thread on its own connection (``SET {p}:{name}:heartbeat … PX
3·interval`` every ``interval`` and on every state change).
"""

from __future__ import annotations

import collections
import contextlib
import os
import random
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from btgym.errors import ConfigError, LiveBufferOverflowError, LiveConnectionError, LiveError
from btgym.live.keys import LiveKeys, connection_errors, stream_ms
from btgym.live.redisurl import RedisURL, TLSConfig, check_connection, make_client, parse_url
from btgym.live.schema import STATES, Heartbeat, Signal, datetime_to_ms, now_utc
from btgym.log import get_logger

log = get_logger(__name__)

_DRAIN_CHUNK = 256
#: the last heartbeat (``stopped`` / ``error``) stays an hour: a bot tells a clean stop
#: from a crash, whose heartbeat expires within 3 intervals
FINAL_HEARTBEAT_TTL_MS = 3_600_000


@dataclass
class _Item:
    ms: int
    text: str
    ttl_ms: int
    made: float  # monotonic time the signal was queued (for the remaining TTL)


class RedisPublisher:
    """Publishes :class:`~btgym.live.schema.Signal` objects (see the module doc).

    Args:
        url: redis URL (``None``: ``$BTGYM_REDIS_URL`` or ``redis://127.0.0.1:6379/0``).
        prefix, name: key names ``{prefix}:{name}:…``.
        ttl_bars: ``latest`` expires after this many of the signal's bars.
        stream_maxlen: ``MAXLEN ~`` of the stream (redis keeps about the newest N).
        publish: also ``PUBLISH`` each signal.
        buffer_max: outage buffer size; one more → ``LiveBufferOverflowError``.
        backoff: ``(first, cap)`` seconds of the reconnect backoff.
        socket_timeout: seconds per redis call.
        tls: certificates for ``rediss://``.
        journal: append every signal here (JSON lines) before its redis write.
        max_outage_s: give up (``LiveConnectionError``) after an outage this long.
        heartbeat_interval: seconds between heartbeats (TTL 3×).
        reset: delete this runner's keys first (needed to replay old bars into a name).

    Raises:
        LiveConnectionError: redis cannot be reached or refuses the credentials.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        prefix: str = "btgym",
        name: str,
        ttl_bars: int = 3,
        stream_maxlen: int = 100_000,
        publish: bool = True,
        buffer_max: int = 100_000,
        backoff: tuple[float, float] = (0.1, 5.0),
        socket_timeout: float = 2.0,
        tls: TLSConfig | None = None,
        journal: str | os.PathLike | None = None,
        max_outage_s: float | None = None,
        heartbeat_interval: float = 1.0,
        reset: bool = False,
    ) -> None:
        self.url: RedisURL = parse_url(url)
        self.keys = LiveKeys.of(prefix, name)
        self.name, self.prefix = name, prefix
        for what, value in (
            ("ttl_bars", ttl_bars),
            ("stream_maxlen", stream_maxlen),
            ("buffer_max", buffer_max),
        ):
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"RedisPublisher {what} must be an int >= 1, got {value!r}")
        if not (0 < backoff[0] <= backoff[1]):
            raise ConfigError(
                f"RedisPublisher backoff {backoff!r} must be (first, cap), 0 < first <= cap"
            )
        if heartbeat_interval <= 0:
            raise ConfigError("RedisPublisher heartbeat_interval must be > 0")
        self.ttl_bars, self.stream_maxlen = ttl_bars, stream_maxlen
        self.do_publish, self.buffer_max = publish, buffer_max
        self.backoff = (float(backoff[0]), float(backoff[1]))
        self.max_outage_s = max_outage_s
        self.heartbeat_interval = float(heartbeat_interval)
        self.journal_path = Path(journal) if journal is not None else None
        self.default_journal = Path(f"btgym-live-{name}.jsonl")
        self._tls, self._timeout = tls, socket_timeout
        self._errors = connection_errors()
        self._client = make_client(self.url, tls=tls, socket_timeout=socket_timeout)
        check_connection(self._client, self.url)
        if reset:
            self._client.delete(*self.keys.all())
            log.info(f"{self.keys.stream}: reset (deleted {len(self.keys.all())} keys)")
        self._top_ms = self._stream_top()
        self._lock = threading.RLock()
        self._buffer: collections.deque[_Item] = collections.deque()
        self._outage = False
        self._outage_since = 0.0
        self._fatal: BaseException | None = None
        self._closed = False
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._hb_wake = threading.Event()
        self._journal = None
        if self.journal_path is not None:
            self.journal_path.parent.mkdir(parents=True, exist_ok=True)
            self._journal = open(self.journal_path, "a", encoding="utf-8")  # noqa: SIM115
        self.runner_state = "warming_up"
        self.last_bar_close = None
        self.last_seq = 0
        self.sent = self.already_delivered = self.reconnects = self.outages = 0
        self.heartbeats: collections.deque[str] = collections.deque(maxlen=10_000)
        self._reconnector = threading.Thread(
            target=self._reconnect_loop, daemon=True, name=f"btgym-live-reconnect-{name}"
        )
        self._heart = threading.Thread(
            target=self._heartbeat_loop, daemon=True, name=f"btgym-live-heartbeat-{name}"
        )
        self._reconnector.start()
        self._heart.start()

    # ------------------------------------------------------------------ status

    @property
    def buffered(self) -> int:
        """Signals waiting for redis."""
        return len(self._buffer)

    @property
    def state(self) -> str:
        """Heartbeat state: ``reconnecting`` during an outage, else the runner's."""
        return (
            "reconnecting" if self._outage and self.runner_state != "error" else self.runner_state
        )

    def set_state(self, state: str) -> None:
        """The runner's state (``warming_up``, ``running``, ``stopped``, ``error``)."""
        if state not in STATES:
            raise ConfigError(f"heartbeat state {state!r} is not one of {STATES}")
        if state != self.runner_state:
            self.runner_state = state
            self._hb_wake.set()

    # ------------------------------------------------------------------ publishing

    def publish(self, signal: Signal) -> None:
        """Journal ``signal`` and write it to redis (or to the outage buffer).

        Raises:
            LiveBufferOverflowError: the buffer is full (its signals went to the journal).
            LiveConnectionError: the outage outlasted ``max_outage_s``.
            LiveError: the publisher is closed, or redis refused a write for a reason
                other than a lost connection (e.g. a key of another type).
        """
        if self._closed:
            raise LiveError(f"publisher {self.keys.channel} is closed")
        if self._fatal is not None:
            raise self._fatal
        text = signal.to_json()
        bar_ms = signal.bar_close_ms
        bar_len_ms = max(1, bar_ms - datetime_to_ms(signal.bar_open))
        item = _Item(bar_ms, text, bar_len_ms * self.ttl_bars, time.monotonic())
        if self._journal is not None:
            self._journal.write(text + "\n")
            self._journal.flush()
        with self._lock:
            self.last_bar_close, self.last_seq = signal.bar_close, signal.seq
            if not self._outage and not self._buffer:
                try:
                    self._send_one(item)
                    return
                except self._errors as exc:
                    self._begin_outage(exc)
            if len(self._buffer) >= self.buffer_max:
                self._overflow(item)
            self._buffer.append(item)
        self._hb_wake.set()

    def _send_one(self, item: _Item) -> None:
        if item.ms <= self._top_ms:
            self.already_delivered += 1
            return
        pipe = self._client.pipeline(transaction=True)
        pipe.xadd(
            self.keys.stream,
            {"data": item.text},
            id=f"{item.ms}-0",
            maxlen=self.stream_maxlen,
            approximate=True,
        )
        pipe.set(self.keys.latest, item.text, px=item.ttl_ms)
        if self.do_publish:
            pipe.publish(self.keys.channel, item.text)
        dup = self._check_results(pipe.execute(raise_on_error=False), 3 if self.do_publish else 2)
        self._top_ms = item.ms
        self.sent += 1 - dup
        self.already_delivered += dup

    def _check_results(self, results: list, per_item: int) -> int:
        """Count XADD refusals of already stored ids; raise on any other refusal."""
        dup = 0
        for i, res in enumerate(results):
            if not isinstance(res, Exception):
                continue
            if isinstance(res, self._errors):
                raise res
            text = str(res)
            if i % per_item == 0 and "equal or smaller" in text:
                dup += 1
                continue
            err = LiveError(
                f"redis at {self.url.redacted} refused a write to "
                f"{self.keys.channel}: {self.url.scrub(text)}"
            )
            self._fatal = err
            raise err
        return dup

    def _begin_outage(self, exc: BaseException) -> None:
        if not self._outage:
            self._outage = True
            self._outage_since = time.monotonic()
            self.outages += 1
            log.warning(
                f"redis at {self.url.redacted} unreachable "
                f"({type(exc).__name__}: {self.url.scrub(exc)}); buffering signals"
            )
            self._hb_wake.set()
            self._wake.set()

    def _overflow(self, item: _Item) -> None:
        items = [*self._buffer, item]
        where = self._dump(items, journaled=True)
        err = LiveBufferOverflowError(
            f"{len(items)} signals of {self.keys.channel} waited for redis at "
            f"{self.url.redacted} (buffer_max={self.buffer_max}); they are in the journal "
            f"{where}, in order"
        )
        self._buffer.clear()
        self._fatal = err
        raise err

    def _dump(self, items: list[_Item], journaled: bool) -> Path:
        """Make sure ``items`` are in a journal; returns its path."""
        if self.journal_path is not None and journaled:
            return self.journal_path  # every signal went there before its redis write
        path = self.default_journal
        with open(path, "a", encoding="utf-8") as fh:
            for it in items:
                fh.write(it.text + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        return path

    # ------------------------------------------------------------------ reconnecting

    def _reconnect_loop(self) -> None:
        n = 0
        while not self._stop.is_set():
            if not self._outage:
                n = 0
                self._wake.wait()
                self._wake.clear()
                continue
            first, cap = self.backoff
            delay = min(cap, first * 2**n) * random.uniform(0.9, 1.1)
            n += 1
            if self._stop.wait(delay):
                return
            if (
                self.max_outage_s is not None
                and time.monotonic() - self._outage_since > self.max_outage_s
            ):
                self._fatal = LiveConnectionError(
                    f"redis at {self.url.redacted} unreachable for more than "
                    f"{self.max_outage_s} s; {self.buffered} signals wait in the buffer"
                )
                return
            try:
                self._client.ping()
                self.reconnects += 1
                self._write_heartbeat(self._client, "reconnecting")
                self._top_ms = max(self._top_ms, self._stream_top())
                self._drain()
            except self._errors as exc:
                log.debug(f"reconnect attempt {n} failed: {type(exc).__name__}")
            except LiveError as exc:  # a refused write: fatal, reported by publish()
                self._fatal = self._fatal or exc
                return

    def _drain(self) -> None:
        while True:
            with self._lock:
                chunk = [it for it in list(self._buffer)[:_DRAIN_CHUNK] if it.ms > self._top_ms]
                skipped = min(len(self._buffer), _DRAIN_CHUNK) - len(chunk)
            if chunk:
                pipe = self._client.pipeline(transaction=False)
                for it in chunk:
                    pipe.xadd(
                        self.keys.stream,
                        {"data": it.text},
                        id=f"{it.ms}-0",
                        maxlen=self.stream_maxlen,
                        approximate=True,
                    )
                    if self.do_publish:
                        pipe.publish(self.keys.channel, it.text)
                dup = self._check_results(
                    pipe.execute(raise_on_error=False), 2 if self.do_publish else 1
                )
                self.sent += len(chunk) - dup
                self.already_delivered += dup
            with self._lock:
                done = len(chunk) + skipped
                newest = None
                for _ in range(done):
                    newest = self._buffer.popleft()
                self.already_delivered += skipped
                if chunk:
                    self._top_ms = max(self._top_ms, chunk[-1].ms)
                if self._buffer:
                    continue
                if newest is not None:
                    left = newest.ttl_ms - int((time.monotonic() - newest.made) * 1000)
                    if left > 0:
                        self._client.set(self.keys.latest, newest.text, px=left)
                self._outage = False
                log.info(f"redis at {self.url.redacted} is back; buffer drained")
            self._hb_wake.set()
            return

    def _stream_top(self) -> int:
        try:
            info = self._client.xinfo_stream(self.keys.stream)
        except Exception as exc:
            if "no such key" in str(exc).lower():
                return 0
            raise
        return stream_ms(info.get("last-generated-id") or info.get(b"last-generated-id") or b"0-0")

    # ------------------------------------------------------------------ heartbeat

    def heartbeat(self, state: str | None = None) -> Heartbeat:
        """The heartbeat as it would be written now."""
        import btgym

        return Heartbeat(
            at=now_utc(),
            state=state or self.state,
            last_bar_close=self.last_bar_close,
            buffered=self.buffered,
            pid=os.getpid(),
            host=socket.gethostname(),
            version=btgym.__version__,
            name=self.name,
            seq=self.last_seq,
        )

    def _write_heartbeat(self, client: Any, state: str | None = None, final: bool = False) -> None:
        hb = self.heartbeat(state)
        ttl = FINAL_HEARTBEAT_TTL_MS if final else int(self.heartbeat_interval * 3000)
        client.set(self.keys.heartbeat, hb.to_json(), px=ttl)
        self.heartbeats.append(hb.state)

    def _heartbeat_loop(self) -> None:
        client = make_client(self.url, tls=self._tls, socket_timeout=self._timeout)
        try:
            while not self._stop.is_set():
                with contextlib.suppress(*self._errors):
                    self._write_heartbeat(client)
                self._hb_wake.wait(self.heartbeat_interval)
                self._hb_wake.clear()
        finally:
            client.close()

    def set_stats(self, mapping: dict[str, Any]) -> None:
        """``HSET {p}:{name}:stats`` (best effort: skipped during an outage)."""
        if self._outage or not mapping:
            return
        with contextlib.suppress(*self._errors):
            self._client.hset(self.keys.stats, mapping={k: str(v) for k, v in mapping.items()})

    # ------------------------------------------------------------------ closing

    def flush(self, timeout: float = 10.0) -> int:
        """Wait up to ``timeout`` s for the buffer to drain; returns the signals left."""
        deadline = time.monotonic() + timeout
        while (self._buffer or self._outage) and self._fatal is None:
            if time.monotonic() >= deadline:
                break
            time.sleep(0.01)
        return self.buffered

    def close(self, flush_timeout: float = 10.0) -> int:
        """Flush, write the final heartbeat (``stopped``, or ``error``), stop the threads
        and journal what is still unsent (default ``./btgym-live-<name>.jsonl``).

        Returns:
            the number of signals that did not reach redis (0: all delivered).
        """
        if self._closed:
            return 0
        left = self.flush(flush_timeout)
        if self.runner_state != "error":
            self.runner_state = "stopped"
        self._stop.set()
        self._wake.set()
        self._hb_wake.set()
        self._reconnector.join(5)
        self._heart.join(5)
        with self._lock:
            items = list(self._buffer)
            self._buffer.clear()
            self._closed = True
        if items:
            where = self._dump(items, journaled=True)
            log.error(
                f"{len(items)} signals of {self.keys.channel} did not reach redis; "
                f"they are in the journal {where}"
            )
        with contextlib.suppress(*self._errors):
            self._write_heartbeat(self._client, self.runner_state, final=True)
        if self._journal is not None:
            self._journal.close()
        self._client.close()
        return max(left, len(items))

    def __enter__(self) -> RedisPublisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
