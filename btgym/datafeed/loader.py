"""Lazy loading of a domain's or dataset's source, shared by every data class."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from btgym.datafeed.bars import Bars
from btgym.datafeed.parsing import ParsingParams
from btgym.datafeed.sources import describe_source, load_bars
from btgym.errors import ConfigError
from btgym.log import get_logger

log = get_logger(__name__)


class SourceHolder:
    """Holds a source description and loads it into :class:`Bars` once, on first use.

    Attributes:
        filename: the source as given (path, list of paths) or a short description.
        parsing_params: the :class:`ParsingParams` used for CSV files.
    """

    def _init_source(
        self,
        filename: Any,
        dataframe: Any,
        parsing_params: ParsingParams | Mapping[str, Any] | None,
        data_names: Sequence[str] | None,
        timeframe: int | None,
    ) -> None:
        if filename is None and dataframe is None:
            raise ConfigError(f"{type(self).__name__}: give filename=... or dataframe=...")
        if filename is not None and dataframe is not None:
            raise ConfigError(f"{type(self).__name__}: give filename or dataframe, not both")
        self.filename = describe_source(filename if filename is not None else dataframe)
        self.parsing_params = ParsingParams.from_dict(parsing_params)
        self._source = (filename, dataframe)
        self._data_names = tuple(data_names) if data_names else None
        self._timeframe = timeframe
        self._loaded: Bars | None = None

    @property
    def bars(self) -> Bars:
        """All of the source's bars (loaded and validated on first access)."""
        if self._loaded is None:
            t0 = time.perf_counter()
            filename, dataframe = self._source
            self._loaded = load_bars(
                filename, dataframe, self.parsing_params, self._data_names, self._timeframe
            )
            log.info(
                f"{getattr(self, 'name', '')}: loaded {len(self._loaded)} bars of "
                f"{self._loaded.names} in {time.perf_counter() - t0:.3f} s"
            )
        return self._loaded

    def unload(self) -> None:
        """Drop the loaded bars (they are read again on next use)."""
        self._loaded = None
