"""btgym's data layer: sources → canonical :class:`Bars` → Domain → Trial → Episode.

Time convention: every bar stamp is the bar's **open** time, UTC-naive, as int64
nanoseconds in arrays (``docs/internals.md``, "Time convention").
"""

from btgym.datafeed.bars import COLUMNS, Bars
from btgym.datafeed.btfeed import BTgymArrayFeed, bt_datenums, make_feed, make_feeds
from btgym.datafeed.config import DataConfig, make_domain
from btgym.datafeed.dataset import BTgymDataset
from btgym.datafeed.domain import BTgymRandomDataDomain
from btgym.datafeed.episode import Episode
from btgym.datafeed.meta import DataSampleConfig, SampleMeta
from btgym.datafeed.parsing import HISTDATA, ParsingParams
from btgym.datafeed.sample_data import sample_data_path
from btgym.datafeed.sampling import SampleParams
from btgym.datafeed.seeding import as_generator, spawn_generators, spawn_seeds
from btgym.datafeed.sequential import BTgymSequentialDataDomain
from btgym.datafeed.sources import load_bars
from btgym.datafeed.synthetic import (
    CointegratedPairSource,
    GBMSource,
    OUSource,
    RandomWalkSource,
    SineSource,
    SyntheticSource,
)
from btgym.datafeed.trial import Trial

__all__ = [
    "COLUMNS",
    "HISTDATA",
    "BTgymArrayFeed",
    "BTgymDataset",
    "BTgymRandomDataDomain",
    "BTgymSequentialDataDomain",
    "Bars",
    "CointegratedPairSource",
    "DataConfig",
    "DataSampleConfig",
    "Episode",
    "GBMSource",
    "OUSource",
    "ParsingParams",
    "RandomWalkSource",
    "SampleMeta",
    "SampleParams",
    "SineSource",
    "SyntheticSource",
    "Trial",
    "as_generator",
    "bt_datenums",
    "load_bars",
    "make_domain",
    "make_feed",
    "make_feeds",
    "sample_data_path",
    "spawn_generators",
    "spawn_seeds",
]
