"""Any data source → one :class:`~btgym.datafeed.bars.Bars`.

A *source* is one of:

- a path (``str`` / ``Path``) to a CSV file, read with the parsing params;
- a list/tuple of paths: files in time order, concatenated (see
  :mod:`btgym.datafeed.validate` for overlaps);
- a ``pandas.DataFrame`` with a DatetimeIndex and open/high/low/close[/volume]
  columns (any case), or a list of them (concatenated like files);
- a synthetic source (:mod:`btgym.datafeed.synthetic`) or ready :class:`Bars`;
- a mapping ``asset name -> one of the above``: several assets, aligned on the
  intersection of their stamps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from btgym.datafeed.bars import COLUMNS, Bars
from btgym.datafeed.parsing import ParsingParams, read_bar_file
from btgym.datafeed.synthetic import SyntheticSource
from btgym.datafeed.validate import check_stamps, check_values, join_overlap
from btgym.errors import ConfigError, DataValidationError
from btgym.log import get_logger

log = get_logger(__name__)

DEFAULT_NAME = "default_asset"


def load_bars(
    filename: Any = None,
    dataframe: Any = None,
    parsing_params: ParsingParams | Mapping[str, Any] | None = None,
    data_names: Sequence[str] | None = None,
    timeframe: int | None = None,
) -> Bars:
    """Load a source into validated Bars.

    Args:
        filename: a source (path, list of paths, synthetic source, Bars, or a mapping
            ``name -> source``).
        dataframe: a DataFrame, list of DataFrames, or mapping ``name -> DataFrame``
            (instead of ``filename``).
        parsing_params: how to read CSV files (default: HistData generic ASCII).
        data_names: asset names; for a single source, ``data_names[0]`` names it
            (several names must match a multi-asset source one to one); for a
            mapping, the order of the assets (must be its keys).
        timeframe: bar length in minutes (default: from the parsing params or the
            synthetic source; 1 for DataFrames).

    Raises:
        ConfigError: no source, both ``filename`` and ``dataframe``, or
            ``data_names`` that do not match the source's assets.
        DataFileNotFoundError, DataParseError, DataValidationError: bad data.
    """
    if (filename is None) == (dataframe is None):
        raise ConfigError("give exactly one data source: filename=... or dataframe=...")
    params = ParsingParams.from_dict(parsing_params)
    source = filename if filename is not None else dataframe
    names = tuple(data_names) if data_names else None
    if isinstance(source, Mapping):
        keys = tuple(source)
        if names is not None and set(names) != set(keys):
            raise ConfigError(f"data_names {names!r} do not match the source's assets {keys!r}")
        order = names or keys
        parts = {n: _single(source[n], params, n, timeframe) for n in order}
        tfs = {b.timeframe for b in parts.values()}
        if len(tfs) != 1:
            raise ConfigError(f"assets have different timeframes: {sorted(tfs)} minutes")
        arrays = {n: (b.index, b.values[b.names[0]]) for n, b in parts.items()}
        return Bars.from_arrays(arrays, tfs.pop())
    bars = _single(source, params, names[0] if names else None, timeframe, allow_multi=True)
    if names and len(names) > 1 and len(names) != len(bars.names):
        raise ConfigError(
            f"data_names {names!r} name {len(names)} assets but the source holds "
            f"{len(bars.names)} ({bars.names!r}); for several files per asset use a "
            f"mapping name -> source"
        )
    if names and len(names) == len(bars.names) and names != bars.names:
        bars = Bars(names, bars.index, dict(zip(names, bars.values.values())), bars.timeframe)
    return bars


def describe_source(source: Any) -> str | list[str] | None:
    """A JSON-able description of a source (the dataset's ``filename``)."""
    if source is None or isinstance(source, str):
        return source
    if isinstance(source, Path):
        return str(source)
    if isinstance(source, (list, tuple)) and all(isinstance(s, (str, Path)) for s in source):
        return [str(s) for s in source]
    if isinstance(source, Mapping):
        return ", ".join(f"{k}: {describe_source(v)}" for k, v in source.items())
    if isinstance(source, pd.DataFrame):
        return "<dataframe>"
    return type(source).__name__


def _single(source, params, name, timeframe, allow_multi=False) -> Bars:
    name = name or DEFAULT_NAME
    if isinstance(source, Bars):
        bars = source
    elif isinstance(source, SyntheticSource):
        bars = source.bars()
    else:
        items = list(source) if isinstance(source, (list, tuple)) else [source]
        if not items:
            raise ConfigError("empty list of data files")
        stamps, values = _join([_read(item, params, i) for i, item in enumerate(items)])
        tf = timeframe or (params.timeframe if not isinstance(items[0], pd.DataFrame) else 1)
        return Bars((name,), stamps, {name: values}, tf)
    if len(bars.names) > 1 and not allow_multi:
        raise ConfigError(f"a mapping entry must hold one asset; {name!r} holds {bars.names!r}")
    if len(bars.names) == 1 and bars.names[0] != name:
        bars = Bars((name,), bars.index, {name: bars.values[bars.names[0]]}, bars.timeframe)
    if timeframe and timeframe != bars.timeframe:
        bars = Bars(bars.names, bars.index, bars.values, timeframe)
    return bars


def _read(item, params, i):
    """One file or frame → (label, stamps, values) after per-file validation."""
    if isinstance(item, pd.DataFrame):
        label = f"<dataframe {i}>"
        stamps, values = _frame_arrays(item, label)
        lines = np.arange(1, len(stamps) + 1, dtype=np.int64)
        column = "index"
    elif isinstance(item, (str, Path)):
        parsed = read_bar_file(item, params)
        label, stamps, values, lines = parsed.path, parsed.stamps, parsed.values, parsed.lines
        column = parsed.datetime_column
    else:
        raise ConfigError(f"cannot use {type(item).__name__} as a data source")
    check_values(values, lines, label, params.max_price)
    check_stamps(stamps, lines, label, column)
    return label, stamps, values


def _join(parts):
    """Concatenate per-file arrays, dropping a later file's rows that overlap."""
    label0, stamps0, values0 = parts[0]
    stamps, values = [stamps0], [values0]
    first, prev_label = (stamps0[0] if len(stamps0) else None), label0
    last = stamps0[-1] if len(stamps0) else None
    for label, s, v in parts[1:]:
        if not len(s):
            continue
        if last is not None:
            drop = join_overlap(int(first), int(last), s, label, prev_label)
            s, v = s[drop:], v[drop:]
        if first is None:
            first = s[0] if len(s) else None
        if len(s):
            stamps.append(s)
            values.append(v)
            last, prev_label = s[-1], label
    out_s = np.concatenate(stamps)
    if not len(out_s):
        raise DataValidationError("the data source holds no bars", label0)
    return out_s, np.concatenate(values)


def _frame_arrays(frame: pd.DataFrame, label: str):
    idx = frame.index
    if not isinstance(idx, pd.DatetimeIndex):
        raise DataValidationError(
            f"a DataFrame source needs a DatetimeIndex (bar open times), got {type(idx).__name__}",
            label,
        )
    if idx.tz is not None:
        idx = idx.tz_convert("UTC").tz_localize(None)
    lower = {str(c).lower(): c for c in frame.columns}
    missing = [c for c in COLUMNS[:4] if c not in lower]
    if missing:
        raise DataValidationError(
            f"DataFrame lacks column(s) {missing}; has {list(frame.columns)}", label
        )
    values = np.zeros((len(frame), 5), dtype=np.float64)
    for j, c in enumerate(COLUMNS):
        if c in lower:
            values[:, j] = pd.to_numeric(frame[lower[c]], errors="coerce").to_numpy(np.float64)
    return idx.as_unit("ns").asi8.astype(np.int64), values
