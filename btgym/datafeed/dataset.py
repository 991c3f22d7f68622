"""``BTgymDataset``: episodes sampled directly from a source (Trial == Dataset)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from btgym.datafeed.base import EpisodeSource
from btgym.datafeed.loader import SourceHolder
from btgym.datafeed.parsing import ParsingParams
from btgym.datafeed.sampling import SampleParams
from btgym.datafeed.seeding import SeedLike

#: BTGym's BTgymDataset defaults.
DATASET_DEFAULTS = dict(
    sample_duration={"days": 1, "hours": 23, "minutes": 55},
    time_gap={"days": 0, "hours": 5, "minutes": 0},
    start_00=True,
    start_weekdays=(0, 1, 2, 3),
    test_period={"days": 0, "hours": 0, "minutes": 0},
    target_period={"days": 0, "hours": 0, "minutes": 0},
)


class BTgymDataset(SourceHolder, EpisodeSource):
    """The simple BTGym data class: episodes are drawn straight from the data.

    The data are split (by wall-clock time from the end) into
    ``[train | test (test_period) | held out (target_period)]``; train episodes lie
    in the train part, test episodes in the test part.

    Args:
        filename: a source: CSV path, list of paths (in time order), synthetic
            source, or mapping ``asset -> source`` (see :mod:`btgym.datafeed.sources`).
        dataframe: a DataFrame (or list / mapping of them) instead of ``filename``.
        episode_duration: episode length (dict days/hours/minutes); alias
            ``sample_duration``. Default ``{'days': 1, 'hours': 23, 'minutes': 55}``.
        time_gap: most missing data inside an episode. Default 5 hours.
        start_00: start episodes at the first bar of a day. Default ``True``.
        start_weekdays: weekdays episodes may start on (Monday=0). Default Mon-Thu.
        test_period: test part at the end of the data. Default 0 (no test episodes).
        target_period: held-out part after the test part, never sampled. Default 0.
        parsing_params: :class:`ParsingParams` or dict (default HistData ASCII).
        timeframe: bar length in minutes (default from parsing params / source).
        name: the dataset's name (used in sample ids).
        data_names: asset names (single source: ``data_names[0]`` names it).
        seed: int, ``SeedSequence`` or ``Generator`` (``None``: OS entropy).
        task: worker id (kept for BTGym compatibility).
        log_level: accepted for BTGym compatibility; set levels with
            :func:`btgym.log.setup_logging`.
    """

    def __init__(
        self,
        filename: Any = None,
        dataframe: Any = None,
        episode_duration: Mapping[str, int] | None = None,
        time_gap: Mapping[str, int] | None = None,
        start_00: bool | None = None,
        start_weekdays: Sequence[int] | None = None,
        test_period: Mapping[str, int] | None = None,
        target_period: Mapping[str, int] | None = None,
        parsing_params: ParsingParams | Mapping[str, Any] | None = None,
        timeframe: int | None = None,
        name: str = "base_data",
        data_names: Sequence[str] | None = ("default_asset",),
        seed: SeedLike = None,
        task: int = 0,
        sample_duration: Mapping[str, int] | None = None,
        log_level: Any = None,
    ) -> None:
        given = dict(
            sample_duration=sample_duration if sample_duration is not None else episode_duration,
            time_gap=time_gap,
            start_00=start_00,
            start_weekdays=start_weekdays,
            test_period=test_period,
            target_period=target_period,
        )
        params = SampleParams(**DATASET_DEFAULTS)
        params = SampleParams.from_dict(given, "BTgymDataset", base=params)
        EpisodeSource.__init__(self, params, seed, name, task)
        self._init_source(filename, dataframe, parsing_params, data_names, timeframe)

    @property
    def episode_duration(self) -> dict[str, int]:
        """The episode duration (BTGym keyword)."""
        return dict(self.params.sample_duration)

    def __repr__(self) -> str:
        return f"BTgymDataset({self.name!r}, filename={self.filename!r})"
