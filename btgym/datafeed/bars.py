"""The canonical bar container: :class:`Bars`.

One int64-ns index shared by every asset, and per asset a float64 ``(n, 5)`` array of
``open, high, low, close, volume``.

Time convention: a stamp is the bar's **open** time (HistData's ``20170102 020000``
bar covers 02:00:00-02:00:59), UTC-naive, in the source's own clock (HistData: EST
without DST); a tz-aware source is converted to UTC and made naive.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from btgym.errors import DataValidationError, ProtocolError
from btgym.log import get_logger

log = get_logger(__name__)

#: the columns of every canonical bar frame, in this order.
COLUMNS = ("open", "high", "low", "close", "volume")
WIRE_KIND = "btgym.bars"


def _readonly(arr: np.ndarray) -> np.ndarray:
    if arr.flags.writeable:
        arr = arr.view()
        arr.flags.writeable = False
    return arr


@dataclass(frozen=True)
class Bars:
    """Bars of one or more assets on one shared index (immutable, arrays read-only).

    Attributes:
        names: asset names, in order.
        index: int64 nanoseconds since the epoch, shape ``(n,)``: each bar's **open**
            time, UTC-naive, strictly increasing.
        values: ``name -> float64 array (n, 5)`` of open, high, low, close, volume.
        timeframe: bar length in minutes (1 for minute bars, 60 for hourly).
    """

    names: tuple[str, ...]
    index: np.ndarray
    values: Mapping[str, np.ndarray]
    timeframe: int = field(default=1)

    def __post_init__(self) -> None:
        names = tuple(str(n) for n in self.names)
        if not names or len(set(names)) != len(names):
            raise DataValidationError(f"Bars need distinct asset names, got {names!r}")
        index = _readonly(np.asarray(self.index, dtype=np.int64))
        if index.ndim != 1:
            raise DataValidationError(f"Bars index must be 1-d, got shape {index.shape}")
        values = {}
        for name in names:
            if name not in self.values:
                raise DataValidationError(f"Bars: no values for asset {name!r}")
            arr = np.asarray(self.values[name], dtype=np.float64)
            if arr.shape != (len(index), len(COLUMNS)):
                raise DataValidationError(
                    f"Bars: values of {name!r} have shape {arr.shape}, "
                    f"expected {(len(index), len(COLUMNS))}"
                )
            values[name] = _readonly(arr)
        if int(self.timeframe) <= 0:
            raise DataValidationError(f"Bars: timeframe must be positive, got {self.timeframe}")
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "index", index)
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "timeframe", int(self.timeframe))

    # ------------------------------------------------------------------ access

    def __len__(self) -> int:
        return len(self.index)

    @property
    def name(self) -> str:
        """The first asset's name."""
        return self.names[0]

    def frame(self, name: str | None = None) -> pd.DataFrame:
        """One asset as a DataFrame (DatetimeIndex of bar open times, float64 OHLCV).

        Args:
            name: the asset; ``None`` for the first one.
        """
        key = self.names[0] if name is None else name
        if key not in self.values:
            raise KeyError(f"no asset {key!r} in bars of {self.names!r}")
        idx = pd.DatetimeIndex(self.index.view("datetime64[ns]"), name="datetime")
        return pd.DataFrame(self.values[key], index=idx, columns=list(COLUMNS), copy=False)

    def frames(self) -> dict[str, pd.DataFrame]:
        """Every asset as a DataFrame, keyed by name."""
        return {n: self.frame(n) for n in self.names}

    def data(self) -> pd.DataFrame | dict[str, pd.DataFrame]:
        """One DataFrame for a single asset, else a dict of them (BTGym's ``.data``)."""
        return self.frame() if len(self.names) == 1 else self.frames()

    def describe(self) -> pd.DataFrame:
        """Summary statistics (``DataFrame.describe()``); with several assets, the
        asset names form the outer column level."""
        frames = self.frames()
        if len(frames) == 1:
            return next(iter(frames.values())).describe()
        return pd.concat({n: f.describe() for n, f in frames.items()}, axis=1)

    def slice(self, start: int, stop: int) -> Bars:
        """Rows ``[start, stop)`` as new Bars sharing memory with these (no copy)."""
        start, stop, _ = slice(start, stop).indices(len(self.index))
        # views of validated read-only arrays: skip re-validation (hot path of sampling)
        out = object.__new__(Bars)
        object.__setattr__(out, "names", self.names)
        object.__setattr__(out, "index", self.index[start:stop])
        object.__setattr__(out, "values", {n: v[start:stop] for n, v in self.values.items()})
        object.__setattr__(out, "timeframe", self.timeframe)
        return out

    def close(self, name: str | None = None) -> np.ndarray:
        """The close column of an asset (a read-only view)."""
        return self.values[self.names[0] if name is None else name][:, 3]

    def fingerprint(self) -> str:
        """``"sha256:<hex>"`` over the names, timeframe, index bytes and value bytes
        (little-endian int64 / float64, C order): equal bars give equal strings, in any
        process and on any machine."""
        h = hashlib.sha256()
        h.update(json.dumps({"names": list(self.names), "timeframe": self.timeframe}).encode())
        h.update(np.ascontiguousarray(self.index, dtype="<i8").tobytes())
        for name in self.names:
            h.update(np.ascontiguousarray(self.values[name], dtype="<f8").tobytes())
        return f"sha256:{h.hexdigest()}"

    # ------------------------------------------------------------------ wire

    def to_wire(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON-able header and named arrays for :func:`btgym.comm.wire.encode`."""
        header = {"kind": WIRE_KIND, "names": list(self.names), "timeframe": self.timeframe}
        arrays = {"index": self.index}
        for i, name in enumerate(self.names):
            arrays[f"values/{i}"] = self.values[name]
        return header, arrays

    @classmethod
    def from_wire(cls, header: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> Bars:
        """Rebuild Bars from :meth:`to_wire`'s output (arrays are used without copying).

        Raises:
            ProtocolError: the header or arrays are not what :meth:`to_wire` makes.
        """
        try:
            if header.get("kind") != WIRE_KIND:
                raise ProtocolError(f"not a bars header: kind={header.get('kind')!r}")
            names = tuple(header["names"])
            values = {n: arrays[f"values/{i}"] for i, n in enumerate(names)}
            return cls(names, arrays["index"], values, int(header["timeframe"]))
        except (KeyError, TypeError, DataValidationError) as exc:
            raise ProtocolError(f"cannot rebuild Bars from message: {exc}") from None

    # ------------------------------------------------------------------ building

    @classmethod
    def from_frames(cls, frames: Mapping[str, pd.DataFrame], timeframe: int = 1) -> Bars:
        """Build Bars from canonical frames (DatetimeIndex, open/high/low/close/volume).

        Several assets are aligned on the **intersection** of their stamps: a bar is
        kept only where every asset has one (BTGym's "time indexes match for all data
        lines"); a warning says how many rows each asset lost.
        """
        arrays = {
            n: (_stamps_of(f), f.loc[:, list(COLUMNS)].to_numpy(dtype=np.float64))
            for n, f in frames.items()
        }
        return cls.from_arrays(arrays, timeframe)

    @classmethod
    def from_arrays(
        cls, arrays: Mapping[str, tuple[np.ndarray, np.ndarray]], timeframe: int = 1
    ) -> Bars:
        """Build Bars from ``name -> (stamps int64 ns, values (n, 5))``, aligning several
        assets on the intersection of their stamps (with a warning per asset that
        loses bars)."""
        if not arrays:
            raise DataValidationError("Bars: no assets given")
        names = tuple(arrays)
        common = np.asarray(arrays[names[0]][0], dtype=np.int64)
        for n in names[1:]:
            common = np.intersect1d(common, arrays[n][0], assume_unique=True)
        values = {}
        for n in names:
            stamps, arr = arrays[n]
            if len(common) != len(stamps):
                keep = np.isin(stamps, common, assume_unique=True)
                log.warning(
                    f"asset {n!r}: dropped {int((~keep).sum())} of {len(keep)} bars "
                    f"whose stamps the other assets lack (aligning on common stamps)"
                )
                arr = arr[keep]
            values[n] = arr
        if not len(common):
            raise DataValidationError(f"assets {names!r} share no timestamp")
        return cls(names, common, values, timeframe)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, name: str = "default_asset", timeframe: int = 1):
        """Build single-asset Bars from one canonical frame."""
        return cls.from_frames({name: frame}, timeframe)


class BarsView:
    """Mixin: BTGym's data views (``data``, ``data_names``, ``describe()``) of any
    object with a ``bars`` attribute (datasets, domains, trials, episodes)."""

    __slots__ = ()
    bars: Bars

    @property
    def data(self) -> pd.DataFrame | dict[str, pd.DataFrame]:
        """One DataFrame (single asset) or a dict of them (several assets)."""
        return self.bars.data()

    @property
    def data_names(self) -> tuple[str, ...]:
        """Asset names."""
        return self.bars.names

    def describe(self) -> pd.DataFrame:
        """Summary statistics of the data (see :meth:`Bars.describe`)."""
        return self.bars.describe()


def _stamps_of(frame: pd.DataFrame) -> np.ndarray:
    idx = frame.index
    if not isinstance(idx, pd.DatetimeIndex):
        raise DataValidationError("a canonical bar frame needs a DatetimeIndex")
    if idx.tz is not None:
        idx = idx.tz_convert("UTC").tz_localize(None)
    return idx.as_unit("ns").asi8.astype(np.int64, copy=False)


def concat_bars(parts: list[Bars]) -> Bars:
    """Concatenate Bars with the same names and timeframe (rows in the given order)."""
    first = parts[0]
    index = np.concatenate([p.index for p in parts])
    values = {n: np.concatenate([p.values[n] for p in parts]) for n in first.names}
    return Bars(first.names, index, values, first.timeframe)
