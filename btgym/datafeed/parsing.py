"""CSV parsing params and the fast reader of one bar file.

The default (:data:`HISTDATA`) reads HistData's generic ASCII minute bars:
``;``-separated, no header, ``YYYYMMDD HHMMSS;open;high;low;close;volume``. Any other
CSV is described by a frozen :class:`ParsingParams` (separator, header line, column
names or positions, datetime format incl. epoch seconds/milliseconds, timezone,
timeframe).

Speed: the file is read once as bytes; for the HistData format the space between
date and time is turned into a separator so pandas' C parser reads every field as a
number, and stamps are computed with vectorised integer arithmetic (no per-row
Python, no ``strptime``). Error paths (rare) may be slow; they say file, line
(1-based, counting every line of the file) and column.
"""

from __future__ import annotations

import dataclasses
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from btgym.datafeed.csvhints import check_layout, check_utf8, strip_quotes
from btgym.datafeed.timeutil import NS_PER_DAY
from btgym.errors import ConfigError, DataFileNotFoundError, DataParseError, check_keywords

#: HistData's datetime layout (``20170102 020000``).
HISTDATA_FORMAT = "%Y%m%d %H%M%S"
#: datetime_format values for integer/float epoch stamps.
EPOCH_UNITS = {"epoch_s": 1_000_000_000, "epoch_ms": 1_000_000, "epoch_us": 1_000, "epoch_ns": 1}
PRICE_FIELDS = ("open", "high", "low", "close", "volume")

Column = str | int


@dataclass(frozen=True, kw_only=True)
class ParsingParams:
    """How to read a bar CSV file (defaults: HistData generic ASCII, 1-minute bars).

    Attributes:
        sep: field separator (one character).
        header: 0-based line number of the header line (``None``: no header). Lines
            before it are skipped too.
        names: names for the file's columns by position (overrides the header's).
        datetime: column (name or 0-based position) holding the bar's open time.
        open, high, low, close: price columns (name or position).
        volume: volume column, or ``None`` when the file has none (volume = 0).
        datetime_format: a ``strftime`` format, ``"epoch_s"`` / ``"epoch_ms"`` /
            ``"epoch_us"`` / ``"epoch_ns"`` for epoch numbers, or ``None`` to let pandas
            infer (ISO 8601).
        timezone: the clock of wall-clock stamps (e.g. ``"US/Eastern"``); when set,
            stamps are converted to UTC and made naive. ``None``: keep them as they are.
            Epoch stamps are UTC already and take no timezone.
        timeframe: bar length in minutes.
        max_price: the largest believable price; above it (or non-finite, or <= 0) a
            row is refused with ``DataValidationError`` (file, line, column).
    """

    sep: str = ";"
    header: int | None = None
    names: tuple[str, ...] | None = None
    datetime: Column = 0
    open: Column = 1
    high: Column = 2
    low: Column = 3
    close: Column = 4
    volume: Column | None = 5
    datetime_format: str | None = HISTDATA_FORMAT
    timezone: str | None = None
    timeframe: int = 1
    max_price: float = 1e12

    def __post_init__(self) -> None:
        if not isinstance(self.sep, str) or len(self.sep) != 1 or self.sep in '\r\n"':
            raise ConfigError(f"parsing_params.sep must be one character, got {self.sep!r}")
        if self.header is not None and (not isinstance(self.header, int) or self.header < 0):
            raise ConfigError("parsing_params.header must be None or a line number >= 0")
        if not (
            isinstance(self.max_price, int | float)
            and not isinstance(self.max_price, bool)
            and 0 < self.max_price < float("inf")
        ):
            raise ConfigError(
                f"parsing_params.max_price must be a positive finite number, got {self.max_price!r}"
            )
        if int(self.timeframe) <= 0:
            raise ConfigError(f"parsing_params.timeframe must be > 0 minutes, got {self.timeframe}")
        if self.names is not None:
            object.__setattr__(self, "names", tuple(str(n) for n in self.names))
        fmt = self.datetime_format
        if fmt in EPOCH_UNITS and self.timezone is not None:
            raise ConfigError("parsing_params: epoch stamps are UTC; drop timezone")
        for f in ("datetime", *PRICE_FIELDS):
            col = getattr(self, f)
            if col is None and f != "volume":
                raise ConfigError(f"parsing_params.{f} must name a column")
            if isinstance(col, int) and not isinstance(col, bool) and col < 0:
                raise ConfigError(f"parsing_params.{f}: column position must be >= 0, got {col}")

    @classmethod
    def from_dict(cls, params: Mapping[str, Any] | ParsingParams | None) -> ParsingParams:
        """Build from a dict (unknown keys raise ``UnknownKeywordError``), pass through
        an instance, ``None`` gives the HistData defaults."""
        if params is None:
            return HISTDATA
        if isinstance(params, ParsingParams):
            return params
        known = [f.name for f in dataclasses.fields(cls)]
        check_keywords(params.keys(), known, where="parsing_params")
        return cls(**params)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict of the fields."""
        d = dataclasses.asdict(self)
        if d["names"] is not None:
            d["names"] = list(d["names"])
        return d


#: HistData generic ASCII minute bars (the default).
HISTDATA = ParsingParams()


@dataclass(frozen=True)
class ParsedFile:
    """One file's rows: stamps (int64 ns), values (n, 5) float64, and the 1-based
    line number in the file of each row."""

    path: str
    stamps: np.ndarray
    values: np.ndarray
    lines: np.ndarray
    datetime_column: str


def read_bar_file(path: str | Path, params: ParsingParams = HISTDATA) -> ParsedFile:
    """Read one CSV file into stamps and OHLCV values (not yet validated).

    Raises:
        DataFileNotFoundError: no such file.
        DataParseError: a row has the wrong number of fields, or a cell cannot be read
            as a number/datetime (file, line, column given).
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataFileNotFoundError(f"data file not found: {str(p)!r}")
    raw = p.read_bytes()
    skipped, body, header_names = _split_header(raw, params, str(p))
    body = strip_quotes(body)
    names = params.names or header_names
    cols = {
        f: _resolve(getattr(params, f), names, f, str(p), params)
        for f in ("datetime", *PRICE_FIELDS)
    }
    dt_name = _col_label(params.datetime, cols["datetime"], names)
    if not body.strip():  # an empty file adds no bars (a source of no bars at all is refused)
        empty = np.zeros(0, dtype=np.int64)
        return ParsedFile(str(p), empty, np.zeros((0, 5)), empty, dt_name)
    fast = params.datetime_format == HISTDATA_FORMAT and params.sep != " "
    check_layout(body, params.sep, cols, skipped, str(p))
    blank = _check_field_counts(body, params.sep, skipped, str(p))
    if fast:
        _check_one_space(body, skipped, str(p), dt_name)
        body = body.replace(b" ", params.sep.encode())
    usecols, dtypes, where = _layout(cols, fast, params)
    try:
        table = _read_table(body, params.sep, usecols, dtypes)
    except (ValueError, pd.errors.ParserError) as exc:  # UnicodeDecodeError included
        check_utf8(body, skipped, str(p))
        try:
            _diagnose(body, params, usecols, where, skipped, str(p), names, exc)
        except (ValueError, pd.errors.ParserError) as again:
            if isinstance(again, DataParseError):
                raise
            raise DataParseError(
                f"cannot parse file ({again}); hint: check parsing_params (sep, header, "
                "column positions) against the file's first lines",
                str(p),
            ) from None
        raise  # _diagnose always raises; this keeps type checkers calm
    lines = np.arange(skipped + 1, skipped + 1 + len(table), dtype=np.int64)
    if blank is not None and len(blank) == len(table) and blank.any():
        table, lines = table.loc[~blank], lines[~blank]
    values = np.empty((len(table), 5), dtype=np.float64)
    for j, f in enumerate(PRICE_FIELDS):
        values[:, j] = 0.0 if cols[f] is None else table[where[f]].to_numpy(np.float64)
    if fast:
        stamps = _histdata_stamps(
            table[where["date"]].to_numpy(), table[where["time"]].to_numpy(), lines, str(p), dt_name
        )
    else:
        stamps = _generic_stamps(table[where["datetime"]], params, lines, str(p), dt_name)
    if params.timezone is not None:
        stamps = _to_utc_naive(stamps, params.timezone, str(p))
    return ParsedFile(str(p), stamps, values, lines, dt_name)


# ---------------------------------------------------------------------- layout helpers


def _read_table(body: bytes, sep: str, usecols, dtype, **extra) -> pd.DataFrame:
    """pandas' C parser over the body, one table row per file line (blank ones too)."""
    return pd.read_csv(
        io.BytesIO(body),
        sep=sep,
        header=None,
        usecols=usecols,
        dtype=dtype,
        skip_blank_lines=False,
        engine="c",
        **extra,
    )


def _split_header(raw: bytes, params: ParsingParams, path: str):
    if params.header is None:
        return 0, raw, None
    pos = 0
    for _ in range(params.header):
        nxt = raw.find(b"\n", pos)
        if nxt < 0:
            raise DataParseError("file ends before its header line", path, params.header + 1)
        pos = nxt + 1
    end = raw.find(b"\n", pos)
    end = len(raw) if end < 0 else end
    line = raw[pos:end].decode("utf-8", errors="replace").strip()
    names = [n.strip().strip('"').strip("'").strip() for n in line.split(params.sep)]
    return params.header + 1, raw[min(end + 1, len(raw)) :], tuple(names)


def _resolve(col, names, field, path, params) -> int | None:
    if col is None:
        return None
    if isinstance(col, int) and not isinstance(col, bool):
        return col
    if names is None or str(col) not in names:
        line = None if params.header is None else params.header + 1
        raise DataParseError(
            f"no column named {col!r} for {field} (columns: {list(names or [])})", path, line, col
        )
    return names.index(str(col))


def _col_label(col, pos, names) -> str:
    if isinstance(col, str):
        return col
    return names[pos] if names is not None and pos < len(names) else f"#{pos}"


def _layout(cols, fast, params):
    """pandas usecols/dtypes and where each field lands in the parsed table."""
    shift = 1 if fast else 0
    dt = cols["datetime"]

    def pos(c):  # position after the date/time split of the fast path
        return c + shift if c > dt else c

    where: dict[str, int] = {}
    dtypes: dict[int, Any] = {}
    if fast:
        where["date"], where["time"] = dt, dt + 1
        dtypes[dt] = dtypes[dt + 1] = np.float64
    else:
        where["datetime"] = dt
        dtypes[dt] = str if params.datetime_format not in EPOCH_UNITS else np.float64
    for f in PRICE_FIELDS:
        if cols[f] is not None:
            where[f] = pos(cols[f])
            dtypes[where[f]] = np.float64
    return sorted(dtypes), dtypes, where


def _line_fields(body: bytes, sep: str) -> tuple[np.ndarray, np.ndarray]:
    """Per line of ``body``: number of ``sep``-separated fields, and blank-line mask."""
    buf = np.frombuffer(body, dtype=np.uint8)
    nl = np.flatnonzero(buf == 10)
    ends = nl if body.endswith(b"\n") else np.append(nl, len(buf))
    starts = np.concatenate(([0], ends[:-1] + 1))
    seps = np.flatnonzero(buf == ord(sep))
    fields = np.searchsorted(seps, ends) - np.searchsorted(seps, starts) + 1
    length = ends - starts
    blank = (length == 0) | ((length == 1) & (buf[np.minimum(starts, len(buf) - 1)] == 13))
    return fields, blank


def _check_one_space(body: bytes, skipped: int, path: str, column: str) -> None:
    """HistData stamps are ``YYYYMMDD HHMMSS``: exactly one space per line."""
    if not body:
        return
    fields, blank = _line_fields(body, " ")
    bad = np.flatnonzero(~blank & (fields != 2))
    if len(bad):
        raise DataParseError(
            "datetime is not 'YYYYMMDD HHMMSS' (expected exactly one space in the row)",
            path,
            skipped + int(bad[0]) + 1,
            column,
        )


def _check_field_counts(body: bytes, sep: str, skipped: int, path: str) -> np.ndarray | None:
    """Every non-blank line must have as many fields as the first one; returns the
    blank-line mask (None when quotes make counting unreliable)."""
    if b'"' in body or not body:
        return None
    fields, blank = _line_fields(body, sep)
    full = np.flatnonzero(~blank)
    if not len(full):
        return blank
    expected = fields[full[0]]
    bad = full[fields[full] != expected]
    if len(bad):
        i = int(bad[0])
        raise DataParseError(
            f"malformed row: {fields[i]} fields, expected {expected} (as on line "
            f"{skipped + full[0] + 1}); {len(bad)} such row(s)",
            path,
            skipped + i + 1,
        )
    return blank


def _diagnose(body, params, usecols, where, skipped, path, names, exc) -> None:
    """Find the first cell that pandas could not read and raise DataParseError."""
    msg = str(exc)
    m = re.search(r"line (\d+)", msg)
    if m and "fields" in msg:
        raise DataParseError(f"malformed row ({msg})", path, skipped + int(m.group(1)))
    table = _read_table(body, params.sep, usecols, str, keep_default_na=False)
    labels = {v: k for k, v in where.items()}
    for c in usecols:
        if labels.get(c) == "datetime":
            continue
        raw = table[c].str.strip()
        num = pd.to_numeric(raw, errors="coerce")
        bad = np.flatnonzero(
            num.isna().to_numpy()
            & (raw != "").to_numpy()
            & ~raw.str.lower().isin(["nan", "na"]).to_numpy()
        )
        if len(bad):
            field = labels.get(c, c)
            col = params.datetime if field in ("date", "time") else getattr(params, field, c)
            raise DataParseError(
                f"cannot read {raw.iloc[bad[0]]!r} as a number ({field})",
                path,
                skipped + int(bad[0]) + 1,
                col,
            )
    raise DataParseError(f"cannot parse file: {msg}", path)


# ---------------------------------------------------------------------- datetimes


def _histdata_stamps(date_f, time_f, lines, path, col) -> np.ndarray:
    """``YYYYMMDD`` and ``HHMMSS`` numbers → int64 ns, validated, vectorised."""
    ok = np.isfinite(date_f) & np.isfinite(time_f)
    ok &= (date_f == np.floor(date_f)) & (time_f == np.floor(time_f)) & (time_f >= 0)
    d = np.where(ok, date_f, 19700101).astype(np.int64)
    t = np.where(ok, time_f, 0).astype(np.int64)
    y, m, dd = d // 10000, d // 100 % 100, d % 100
    hh, mi, ss = t // 10000, t // 100 % 100, t % 100
    ok &= (m >= 1) & (m <= 12) & (dd >= 1) & (dd <= 31) & (y >= 1678) & (y <= 2261)
    ok &= (hh < 24) & (mi < 60) & (ss < 60)
    m1 = np.where(ok, m, 1)
    months = (np.where(ok, y, 1970) - 1970) * 12 + (m1 - 1)
    days = months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64) + dd - 1
    # a day past the month's end (e.g. 20170231) rolls into the next month: reject it
    check = days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    ok &= check == months
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        raise DataParseError(
            f"bad datetime {date_f[i]!r} {time_f[i]!r}: expected YYYYMMDD HHMMSS",
            path,
            int(lines[i]),
            col,
        )
    return days * NS_PER_DAY + (hh * 3600 + mi * 60 + ss) * 1_000_000_000


def _generic_stamps(col_values: pd.Series, params, lines, path, col) -> np.ndarray:
    fmt = params.datetime_format
    if fmt in EPOCH_UNITS:
        vals = col_values.to_numpy(np.float64)
        bad = ~np.isfinite(vals)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataParseError(f"missing epoch stamp ({fmt})", path, int(lines[i]), col)
        unit = EPOCH_UNITS[fmt]
        whole = np.floor(vals)
        return whole.astype(np.int64) * unit + np.round((vals - whole) * unit).astype(np.int64)
    raw = col_values.astype(str).str.strip()
    parsed = pd.to_datetime(raw, format=fmt, errors="coerce")
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    bad = parsed.isna().to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataParseError(
            f"cannot read {raw.iloc[i]!r} as a datetime (format {fmt!r})", path, int(lines[i]), col
        )
    return parsed.to_numpy().astype("datetime64[ns]").astype(np.int64)


def _to_utc_naive(stamps: np.ndarray, tz: str, path: str) -> np.ndarray:
    try:
        idx = pd.DatetimeIndex(stamps.view("datetime64[ns]")).tz_localize(tz)
    except Exception as exc:
        raise DataParseError(f"cannot place stamps in timezone {tz!r}: {exc}", path) from None
    return idx.tz_convert("UTC").tz_localize(None).asi8.astype(np.int64)
