"""``TailSource``: follow a growing bar CSV, one closed bar per finished line.

Writers append finished bars, so a line is a closed bar once its newline is written;
a partial last line waits for the rest. Rows are read with the same
:class:`~btgym.datafeed.ParsingParams` as training (separator, columns, datetime
format, timezone, price checks). A bad row raises, logs and skips
:class:`~btgym.errors.DataParseError` / ``DataValidationError`` with file and line.

A file that shrinks, changes inode or whose first bytes change (truncated and
rewritten, rotated) is reopened from its start; rows stamped at or before the last
emitted bar are skipped, so nothing is replayed. With ``from_start=False`` (default)
the source begins at the end of the file and hands the rows already there to the
runner as warm-up history (:meth:`TailSource.history`).
"""

from __future__ import annotations

import datetime as _dt
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from btgym.datafeed import Bars, ParsingParams
from btgym.datafeed.parsing import EPOCH_UNITS, HISTDATA_FORMAT, PRICE_FIELDS
from btgym.datafeed.validate import check_values
from btgym.errors import ConfigError, DataParseError, DataValidationError
from btgym.live.sources import BarSource, ClosedBar
from btgym.log import get_logger

log = get_logger(__name__)

_HEAD = 256  # bytes of the file's start and of the end read so far: a rewrite changes them
_EPOCH = _dt.datetime(1970, 1, 1)


class LineParser:
    """One CSV line → ``(stamp ns, (5,) OHLCV)`` with the loader's rules."""

    def __init__(self, params: ParsingParams, path: str) -> None:
        self.params, self.path = params, path
        self.names: tuple[str, ...] | None = params.names
        self._cols: dict[str, int | None] | None = None

    def header(self, line: str, lineno: int) -> None:
        """Read the column names from the header line."""
        if self.params.names is None:
            names = [n.strip().strip('"').strip("'").strip() for n in line.split(self.params.sep)]
            self.names = tuple(names)
        self._cols = None

    def _columns(self, lineno: int) -> dict[str, int | None]:
        if self._cols is None:
            cols: dict[str, int | None] = {}
            for f in ("datetime", *PRICE_FIELDS):
                col = getattr(self.params, f)
                if col is None or (isinstance(col, int) and not isinstance(col, bool)):
                    cols[f] = col
                elif self.names is None or str(col) not in self.names:
                    raise DataParseError(
                        f"no column named {col!r} for {f} (columns: {list(self.names or [])})",
                        self.path,
                        lineno,
                        col,
                    )
                else:
                    cols[f] = self.names.index(str(col))
            self._cols = cols
        return self._cols

    def parse(self, line: str, lineno: int) -> tuple[int, np.ndarray]:
        p = self.params
        cols = self._columns(lineno)
        fields = line.split(p.sep)
        need = max(c for c in cols.values() if c is not None)
        if len(fields) <= need:
            raise DataParseError(
                f"malformed row: {len(fields)} fields, column {need} needed", self.path, lineno
            )
        row = np.zeros(5)
        for j, f in enumerate(PRICE_FIELDS):
            c = cols[f]
            if c is None:
                continue
            text = fields[c].strip()
            try:
                row[j] = float(text)
            except ValueError:
                raise DataParseError(
                    f"cannot read {text!r} as a number ({f})", self.path, lineno, getattr(p, f)
                ) from None
        stamp = self._stamp(fields[cols["datetime"]].strip(), lineno)
        check_values(row[None, :], np.array([lineno]), self.path, p.max_price)
        return stamp, row

    def _stamp(self, text: str, lineno: int) -> int:
        p = self.params
        fmt = p.datetime_format
        try:
            if fmt in EPOCH_UNITS:
                unit = EPOCH_UNITS[fmt]
                val = float(text)
                whole = int(np.floor(val))
                return whole * unit + round((val - whole) * unit)
            if fmt == HISTDATA_FORMAT:
                when = _dt.datetime.strptime(text, HISTDATA_FORMAT)
                delta = when - _EPOCH
                ns = (delta.days * 86_400 + delta.seconds) * 1_000_000_000
            else:
                ts = pd.to_datetime(text, format=fmt)
                if ts.tzinfo is not None:
                    ts = ts.tz_convert("UTC").tz_localize(None)
                ns = int(ts.value)
        except (ValueError, OverflowError):
            raise DataParseError(
                f"cannot read {text!r} as a datetime (format {fmt!r})",
                self.path,
                lineno,
                p.datetime,
            ) from None
        if p.timezone is not None:
            ts = pd.Timestamp(ns).tz_localize(p.timezone).tz_convert("UTC").tz_localize(None)
            ns = int(ts.value)
        return ns


class TailSource(BarSource):
    """Follows a growing CSV of closed bars (see the module doc).

    Args:
        path: the file (it may not exist yet).
        parsing_params: the training parsing params.
        data_names: the asset's name (one asset per file; merge files with
            ``MergedSource``).
        poll_interval: seconds between looks at the file.
        from_start: emit the rows already in the file (else they become
            :meth:`history`).
        history_rows: at most this many trailing rows are kept as history.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        parsing_params: ParsingParams | Mapping[str, Any] | None = None,
        data_names: Sequence[str] | None = None,
        poll_interval: float = 0.25,
        from_start: bool = False,
        history_rows: int = 10_000,
    ) -> None:
        params = ParsingParams.from_dict(parsing_params)
        names = tuple(data_names) if data_names else ("default_asset",)
        if len(names) != 1:
            raise ConfigError(f"TailSource follows one asset; use MergedSource for {names}")
        if not poll_interval > 0:
            raise ConfigError(f"poll_interval must be > 0, got {poll_interval!r}")
        super().__init__(params.timeframe, names)
        self.path = Path(path)
        self.params, self.poll_interval = params, float(poll_interval)
        self.parser = LineParser(params, str(self.path))
        self.bad_rows = 0
        self.skipped = 0
        self.reopened = 0
        self._fh: Any = None
        self._ino: int | None = None
        self._offset = 0
        self._lineno = 0
        self._partial = b""
        self._head = self._tail = b""
        self._history: Bars | None = None
        self._replaying = False
        self._lock = threading.Lock()
        if not from_start:
            rows = self._read_rows()
            if rows:
                rows = rows[-history_rows:]
                self.last_stamp = rows[-1][0]
                idx = np.array([r[0] for r in rows], np.int64)
                vals = np.stack([r[1] for r in rows])
                self._history = Bars(names, idx, {names[0]: vals}, params.timeframe)

    def history(self) -> Bars | None:
        """The rows that were in the file at start (``from_start=False``)."""
        return self._history

    # ------------------------------------------------------------------ reading

    def _open(self) -> bool:
        try:
            fh = open(self.path, "rb")  # noqa: SIM115
        except FileNotFoundError:
            return False
        if self._fh is not None:
            self._fh.close()
        self._fh = fh
        self._ino = os.fstat(fh.fileno()).st_ino
        self._offset, self._lineno, self._partial = 0, 0, b""
        self._head = self._tail = b""
        return True

    def _changed(self) -> bool:
        """True when the file was replaced, truncated or rewritten."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return False
        if st.st_ino != self._ino or st.st_size < self._offset:
            return True
        for start, expected in ((0, self._head), (self._offset - len(self._tail), self._tail)):
            if expected and os.pread(self._fh.fileno(), len(expected), start) != expected:
                return True  # rewritten in place (same inode, not shorter)
        return False

    def _read_rows(self) -> list[tuple[int, np.ndarray]]:
        """Parse every complete line added since the last call."""
        with self._lock:
            if self._fh is None and not self._open():
                return []
            if self._changed():
                self.reopened += 1
                self._replaying = True
                log.warning(f"{self.path}: truncated or replaced; reading it again from the start")
                if not self._open():
                    return []
            self._fh.seek(self._offset)
            data = self._fh.read()
            if not data:
                return []
            self._offset += len(data)
            if len(self._head) < _HEAD:
                self._head = os.pread(self._fh.fileno(), min(_HEAD, self._offset), 0)
            n = min(_HEAD, self._offset)
            self._tail = os.pread(self._fh.fileno(), n, self._offset - n)
            buf = self._partial + data
            *lines, self._partial = buf.split(b"\n")
            return self._parse(lines)

    def _parse(self, lines: list[bytes]) -> list[tuple[int, np.ndarray]]:
        out = []
        header = self.params.header
        for raw in lines:
            self._lineno += 1
            text = raw.decode("utf-8", errors="replace").rstrip("\r")
            if header is not None and self._lineno <= header + 1:
                if self._lineno == header + 1:
                    self.parser.header(text, self._lineno)
                continue
            if not text.strip():
                continue
            try:
                stamp, row = self.parser.parse(text, self._lineno)
            except (DataParseError, DataValidationError) as exc:
                self.bad_rows += 1
                log.error(f"skipped a bad row: {exc}")
                continue
            if self._replaying:
                if self.last_stamp is not None and stamp <= self.last_stamp:
                    self.skipped += 1  # emitted before the file was rewritten
                    continue
                self._replaying = False
            out.append((stamp, row))
        return out

    def _produce(self, stop: Any) -> Iterator[ClosedBar]:
        name = self.asset_names[0]
        try:
            while not stop.is_set():
                rows = self._read_rows()
                for stamp, row in rows:
                    yield self._bar(stamp, {name: row})
                    if stop.is_set():
                        return
                if not rows:
                    stop.wait(self.poll_interval)
        finally:
            with self._lock:
                if self._fh is not None:
                    self._fh.close()
                    self._fh = None
