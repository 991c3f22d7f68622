"""An Episode: the bars one env episode runs over, plus where they came from."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from btgym.datafeed.bars import Bars, BarsView
from btgym.datafeed.btfeed import BTgymArrayFeed, make_feeds
from btgym.datafeed.meta import SampleMeta
from btgym.errors import ProtocolError

WIRE_KIND = "btgym.episode"


class Episode(BarsView):
    """The bars of one episode (a slice of its trial's bars, no copy) and its metadata.

    Attributes:
        bars: the episode's :class:`Bars` (bar stamps are **open** times, UTC-naive).
        metadata: a :class:`SampleMeta` (type 0 train / 1 test, trial and sample
            numbers, first row, first bar's POSIX timestamp...).
    """

    __slots__ = ("bars", "metadata")

    def __init__(self, bars: Bars, metadata: SampleMeta) -> None:
        self.bars = bars
        self.metadata = metadata

    def __len__(self) -> int:
        return len(self.bars)

    def __repr__(self) -> str:
        return f"Episode({self.metadata.name!r}, {len(self.bars)} bars of {self.bars.names})"

    @property
    def filename(self) -> str:
        """BTGym's sample id (same as ``name``)."""
        return self.metadata.name

    name = filename

    def to_btfeed(self) -> dict[str, BTgymArrayFeed]:
        """``{asset name: backtrader feed}`` over the episode's bars (fast, array-backed)."""
        return make_feeds(self.bars)

    def to_wire(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON-able header and arrays (see :meth:`Bars.to_wire`)."""
        bars_header, arrays = self.bars.to_wire()
        header = {"kind": WIRE_KIND, "bars": bars_header, "meta": self.metadata.to_dict()}
        return header, arrays

    @classmethod
    def from_wire(cls, header: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> Episode:
        """Rebuild an Episode from :meth:`to_wire`'s output."""
        if header.get("kind") != WIRE_KIND:
            raise ProtocolError(f"not an episode header: kind={header.get('kind')!r}")
        try:
            meta = SampleMeta.from_dict(header["meta"])
        except (KeyError, TypeError) as exc:
            raise ProtocolError(f"cannot rebuild Episode metadata: {exc}") from None
        return cls(Bars.from_wire(header["bars"], arrays), meta)
