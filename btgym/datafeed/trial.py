"""A Trial: a slice of a domain's data that is itself a dataset of Episodes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from btgym.datafeed.bars import Bars
from btgym.datafeed.base import EpisodeSource
from btgym.datafeed.meta import SampleMeta
from btgym.datafeed.sampling import SampleParams
from btgym.errors import ConfigError, ProtocolError

WIRE_KIND = "btgym.trial"
WIRE_VERSION = 1


class Trial(EpisodeSource):
    """A domain's sample: its bars (a view of the domain's data), its metadata, and
    the episode sampling params; ``trial.reset(seed=None)`` then ``trial.sample(...)``
    gives :class:`~btgym.datafeed.episode.Episode` objects.

    A trial's random stream starts from ``seed`` (an int drawn from the domain's
    generator), so a trial rebuilt with :meth:`from_wire` in another process samples
    exactly the same episodes as the original.

    Attributes:
        metadata: the trial's :class:`SampleMeta` (``type`` 0 train / 1 target,
            ``trial_num``, ``first_row`` in the domain's data, ``timestamp``...).
        seed: the int seed its episodes are drawn with.
        params: the episode :class:`SampleParams` (``test_period`` splits the trial
            into train and test episodes).
    """

    def __init__(
        self,
        bars: Bars,
        params: SampleParams,
        metadata: SampleMeta,
        seed: int,
        prev_stamp: int | None = None,
        task: int = 0,
        split_row: int | None = None,
    ) -> None:
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
            raise ConfigError(f"a Trial's seed must be an int, got {seed!r}")
        super().__init__(params, int(seed), metadata.name, task)
        self._bars = bars
        self.metadata = metadata
        self.seed = int(seed)
        self._prev_stamp = None if prev_stamp is None else int(prev_stamp)
        self._split_row = None if split_row is None else int(split_row)
        self._context = (metadata.trial_num, metadata.type, metadata.source_row, metadata.epoch)
        self._label = f"trial_{metadata.trial_num}"

    @property
    def bars(self) -> Bars:
        """The trial's bars."""
        return self._bars

    @property
    def filename(self) -> str:
        """BTGym's sample id (same as ``name``)."""
        return self.name

    def __len__(self) -> int:
        return len(self._bars)

    def __repr__(self) -> str:
        return f"Trial({self.name!r}, {len(self._bars)} bars of {self._bars.names})"

    # ------------------------------------------------------------------ wire

    def to_wire(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON-able header and named arrays: everything needed to rebuild the trial
        (bars, metadata, episode params, seed) in another process; no pickle.

        The rebuilt trial starts from ``seed`` (as a freshly sampled trial does)."""
        bars_header, arrays = self._bars.to_wire()
        header = {
            "kind": WIRE_KIND,
            "version": WIRE_VERSION,
            "bars": bars_header,
            "meta": self.metadata.to_dict(),
            "params": self.params.to_dict(),
            "seed": self.seed,
            "prev_stamp": self._prev_stamp,
            "task": self.task,
            "split_row": self._split_row,
        }
        return header, arrays

    @classmethod
    def from_wire(cls, header: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> Trial:
        """Rebuild a Trial from :meth:`to_wire`'s output (arrays are not copied).

        Raises:
            ProtocolError: the header is not a trial header of a known version.
        """
        if header.get("kind") != WIRE_KIND or header.get("version") != WIRE_VERSION:
            raise ProtocolError(
                f"not a trial header: kind={header.get('kind')!r} version={header.get('version')!r}"
            )
        try:
            bars = Bars.from_wire(header["bars"], arrays)
            params = SampleParams(**header["params"])
            meta = SampleMeta.from_dict(header["meta"])
            return cls(
                bars,
                params,
                meta,
                int(header["seed"]),
                header.get("prev_stamp"),
                int(header.get("task", 0)),
                header.get("split_row"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ProtocolError(f"cannot rebuild Trial from message: {exc}") from None
