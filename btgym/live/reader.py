"""``SignalReader``: what a Python bot uses to read a runner's signals.

>>> r = SignalReader("redis://127.0.0.1:6379/0", name="eurusd-mlp")
>>> for entry_id, signal in r.follow():          # every signal once, in bar order
...     act(signal.prediction, signal.bar_close)

Everything read is JSON (``json.loads`` only) turned into frozen dataclasses; a
message of another schema major raises :class:`~btgym.errors.SignalSchemaError`.
Reads reconnect with the publisher's backoff; :meth:`SignalReader.follow` resumes
after the last id it yielded, so a bot sees every stream entry exactly once across a
redis restart (the stream ids come from the bars, see ``docs/live.md``).
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from typing import Any

from btgym.errors import ConfigError
from btgym.live.keys import LiveKeys, connection_errors
from btgym.live.redisurl import TLSConfig, check_connection, make_client, parse_url
from btgym.live.schema import Heartbeat, Signal
from btgym.log import get_logger

log = get_logger(__name__)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _entry_signal(fields: dict) -> Signal:
    data = fields.get(b"data", fields.get("data"))
    if data is None:
        from btgym.errors import SignalSchemaError

        raise SignalSchemaError(f"stream entry has no 'data' field: {sorted(map(_text, fields))}")
    return Signal.from_json(data)


class SignalReader:
    """Reads one runner's keys (see ``docs/live.md`` for the layout).

    Args:
        url: redis URL (``None``: ``$BTGYM_REDIS_URL`` or ``redis://127.0.0.1:6379/0``).
        prefix, name: the runner's key names.
        backoff: ``(first, cap)`` seconds between reconnect attempts.
        max_retry_s: give up (re-raise the connection error) after this long without
            redis; ``None``: keep trying.
        socket_timeout: seconds per call (blocking reads get their block time on top).
        tls: certificates for ``rediss://``.

    Raises:
        LiveConnectionError: redis cannot be reached or refuses the credentials.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        prefix: str = "btgym",
        name: str,
        backoff: tuple[float, float] = (0.1, 5.0),
        max_retry_s: float | None = 60.0,
        socket_timeout: float = 5.0,
        tls: TLSConfig | None = None,
    ) -> None:
        self.url = parse_url(url)
        self.keys = LiveKeys.of(prefix, name)
        self.backoff, self.max_retry_s = backoff, max_retry_s
        self.socket_timeout = socket_timeout
        self._tls = tls
        self._errors = connection_errors()
        self._client = make_client(self.url, tls=tls, socket_timeout=socket_timeout)
        check_connection(self._client, self.url)
        self.reconnects = 0

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> SignalReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ retrying

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        n, start = 0, time.monotonic()
        while True:
            try:
                return fn(*args, **kwargs)
            except self._errors as exc:
                if self.max_retry_s is not None and time.monotonic() - start > self.max_retry_s:
                    raise
                delay = min(self.backoff[1], self.backoff[0] * 2**n) * random.uniform(0.9, 1.1)
                n += 1
                self.reconnects += 1
                log.debug(f"redis read failed ({type(exc).__name__}); retry in {delay:.2f} s")
                time.sleep(delay)

    # ------------------------------------------------------------------ reads

    def latest(self) -> Signal | None:
        """The newest signal, ``None`` when there is none or its TTL passed."""
        raw = self._call(self._client.get, self.keys.latest)
        return None if raw is None else Signal.from_json(raw)

    def read(
        self, after: str = "0-0", count: int = 100, block_ms: int | None = None
    ) -> list[tuple[str, Signal]]:
        """Up to ``count`` stream entries with ids after ``after`` (``XREAD``).

        ``block_ms`` waits that long for an entry when there is none yet (``None``:
        do not wait). ``after="$"`` means entries added from now on.
        """
        if count < 1:
            raise ConfigError(f"read count must be >= 1, got {count}")
        if block_ms is None:
            return self._xread(after, count, None)
        deadline = time.monotonic() + block_ms / 1000.0
        if after == "$":
            after = self.top_id()
        while True:  # block in slices shorter than the socket timeout
            left_ms = int((deadline - time.monotonic()) * 1000)
            slice_ms = max(1, min(left_ms, int(self.socket_timeout * 1000) - 500))
            got = self._xread(after, count, slice_ms)
            if got or left_ms <= slice_ms:
                return got

    def _xread(
        self, after: str, count: int, block: int | None, raw: bool = False
    ) -> list[tuple[str, Any]]:
        reply = self._call(self._client.xread, {self.keys.stream: after}, count=count, block=block)
        out: list[tuple[str, Any]] = []
        for _stream, entries in reply or []:
            for entry_id, fields in entries:
                signal = _entry_signal(fields)  # validates the schema major
                text = _text(fields.get(b"data", fields.get("data"))) if raw else None
                out.append((_text(entry_id), text if raw else signal))
        return out

    def read_raw(self, after: str = "0-0", count: int = 100) -> list[tuple[str, str]]:
        """Like :meth:`read` without blocking, with each entry's JSON text as stored (unknown
        fields kept; the schema major is still checked)."""
        return self._xread(after, count, None, raw=True)

    def top_id(self) -> str:
        """Id of the newest stream entry (``"0-0"`` when the stream is empty)."""
        last = self._call(self._client.xrevrange, self.keys.stream, count=1)
        return _text(last[0][0]) if last else "0-0"

    def follow(self, after: str = "$", block_ms: int = 1000) -> Iterator[tuple[str, Signal]]:
        """Yield entries forever (until the caller stops), each once, in order.

        ``after="$"`` starts after the newest entry present now; ``"0-0"`` from the
        first. The generator resumes after the last id it yielded, also across a redis
        restart.
        """
        last = self.top_id() if after == "$" else after
        while True:
            for entry_id, signal in self.read(last, count=100, block_ms=block_ms):
                last = entry_id
                yield entry_id, signal

    def subscribe(self, timeout: float | None = None) -> Iterator[Signal]:
        """Pub/sub push of new signals (best effort: a subscriber that is away misses
        messages). The subscription is active when this returns; the iterator ends
        after ``timeout`` seconds without a message (``None``: never)."""
        pubsub = self._subscribe()
        return self._messages(pubsub, timeout)

    def _subscribe(self) -> Any:
        def attempt() -> Any:
            pubsub = self._client.pubsub(ignore_subscribe_messages=False)
            pubsub.subscribe(self.keys.channel)
            deadline = time.monotonic() + self.socket_timeout
            while time.monotonic() < deadline:  # wait for redis to confirm
                msg = pubsub.get_message(timeout=0.1)
                if msg is not None and msg.get("type") == "subscribe":
                    return pubsub
            pubsub.close()
            raise TimeoutError(f"no SUBSCRIBE confirmation on {self.keys.channel}")

        return self._call(attempt)

    def _messages(self, pubsub: Any, timeout: float | None) -> Iterator[Signal]:
        quiet_since = time.monotonic()
        try:
            while True:
                wait = (
                    0.5 if timeout is None else max(0.0, timeout - (time.monotonic() - quiet_since))
                )
                try:
                    msg = pubsub.get_message(ignore_subscribe_messages=True, timeout=min(wait, 0.5))
                except self._errors:
                    pubsub.close()
                    pubsub = self._subscribe()
                    continue
                if msg is not None and msg.get("type") == "message":
                    quiet_since = time.monotonic()
                    yield Signal.from_json(msg["data"])
                elif timeout is not None and time.monotonic() - quiet_since >= timeout:
                    return
        finally:
            pubsub.close()

    # ------------------------------------------------------------------ liveness

    def heartbeat(self) -> Heartbeat | None:
        """The runner's heartbeat, ``None`` when it expired (the runner is gone)."""
        raw = self._call(self._client.get, self.keys.heartbeat)
        return None if raw is None else Heartbeat.from_json(raw)

    def alive(self, max_age_s: float = 5.0) -> bool:
        """True when a heartbeat younger than ``max_age_s`` says the runner works."""
        hb = self.heartbeat()
        return (
            hb is not None
            and hb.age_s() <= max_age_s
            and hb.state in ("warming_up", "running", "reconnecting")
        )
