"""What BTgymDataset and Trial share: bars + episode sampling params → Episodes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from btgym.datafeed.bars import Bars, BarsView
from btgym.datafeed.btfeed import BTgymArrayFeed, make_feeds
from btgym.datafeed.episode import Episode
from btgym.datafeed.meta import SampleMeta, draw_request
from btgym.datafeed.sampling import (
    SampleParams,
    explain_no_start,
    limit_row_of,
    pick_start,
    split_rows,
    starts_in,
    valid_start_mask,
)
from btgym.datafeed.seeding import SeedLike, as_generator
from btgym.datafeed.timeutil import NS_PER_MINUTE, duration_ns, stamp_str
from btgym.errors import SamplingError
from btgym.log import get_logger

log = get_logger(__name__)

#: keys ``reset(**params)`` of an episode source accepts.
EPISODE_KEYS = (
    "sample_duration",
    "episode_duration",
    "time_gap",
    "start_00",
    "start_weekdays",
    "test_period",
    "target_period",
)
_EMPTY = np.zeros(0, dtype=np.int64)
_KINDS = ("train", "test")


@dataclass(frozen=True)
class Plan:
    """Precomputed sampling state of one reset."""

    num_rows: int
    train_end: int
    test_end: int
    starts: tuple[np.ndarray, np.ndarray]


def plan_samples(
    bars: Bars,
    params: SampleParams,
    prev_stamp: int | None,
    what: str,
    owner: str,
    split_row: int | None = None,
) -> Plan:
    """Valid starts of train and test samples (raises SamplingError if impossible).

    ``split_row`` (a sequential domain's trials) sets the first test row explicitly
    instead of deriving it from ``test_period``."""
    index, tf_ns = bars.index, bars.timeframe * NS_PER_MINUTE
    n = params.num_rows(bars.timeframe)
    if n > len(index):
        raise SamplingError(
            f"{owner}: a {what} of {n} bars (sample_duration={dict(params.sample_duration)}) "
            f"is longer than the data ({len(index)} bars)"
        )
    test_ns = duration_ns(params.test_period)
    if split_row is not None and test_ns:
        train_end, test_end = int(split_row), len(index)
    else:
        train_end, test_end = split_rows(index, tf_ns, test_ns, duration_ns(params.target_period))
    rows = np.flatnonzero(valid_start_mask(index, n, tf_ns, params, prev_stamp))
    train = starts_in(rows, 0, train_end, n)
    test = starts_in(rows, train_end, test_end, n) if test_ns else _EMPTY
    for kind, starts, lo, hi, needed in (
        ("train", train, 0, train_end, True),
        ("test", test, train_end, test_end, bool(test_ns)),
    ):
        if needed and not len(starts):
            why = explain_no_start(index, lo, hi, n, tf_ns, params, prev_stamp, kind)
            raise SamplingError(f"{owner}: impossible {what} settings: {why}")
    return Plan(n, train_end, test_end, (train, test))


class EpisodeSource(BarsView):
    """Base of :class:`~btgym.datafeed.dataset.BTgymDataset` and
    :class:`~btgym.datafeed.trial.Trial`: samples :class:`Episode` objects.

    Subclasses provide the ``bars`` property; ``_context`` fills the trial fields of
    the episodes' metadata.
    """

    _what = "episode"

    def __init__(self, params: SampleParams, seed: SeedLike, name: str, task: int = 0) -> None:
        self.params = params
        self.name = name
        self.task = task
        self._seed_arg: SeedLike = seed
        self._gen: np.random.Generator | None = None  # built on first draw
        self._prev_stamp: int | None = None
        self._split_row: int | None = None
        self._plan: Plan | None = None
        self._last: Episode | None = None
        self.sample_num = 0
        # (trial_num, trial_type, source_row offset, epoch) for episode metadata:
        self._context = (0, 0, 0, 0)
        self._label = name  # names the parent in episode ids

    # ------------------------------------------------------------------ data

    @property
    def bars(self) -> Bars:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def is_ready(self) -> bool:
        """``reset()`` has run."""
        return self._plan is not None

    @property
    def train_interval(self) -> tuple[int, int]:
        """Rows ``[start, stop)`` of the train part (BTGym's ``train_interval``)."""
        plan = self._ready_plan()
        return 0, plan.train_end

    @property
    def test_interval(self) -> tuple[int, int]:
        """Rows ``[start, stop)`` of the test part (empty without a test period)."""
        plan = self._ready_plan()
        return plan.train_end, plan.test_end

    def _ready_plan(self) -> Plan:
        if self._plan is None:
            self.reset()
        return self._plan

    def to_btfeed(self) -> dict[str, BTgymArrayFeed]:
        """All of the data as backtrader feeds ``{name: feed}``."""
        return make_feeds(self.bars)

    # ------------------------------------------------------------------ sampling

    @property
    def rng(self) -> np.random.Generator:
        """The generator episodes are drawn with (made from ``seed`` on first use)."""
        if self._gen is None:
            self._gen = as_generator(self._seed_arg)
        return self._gen

    def _check_params(self, params: dict[str, Any]) -> None:
        self.params = SampleParams.from_dict(
            params, f"{type(self).__name__}.reset", EPISODE_KEYS, base=self.params
        )

    def reset(self, seed: SeedLike = None, **params: Any) -> None:
        """Get ready to sample: apply new sampling ``params``, reseed with ``seed``
        (``None`` keeps the current random stream), precompute the valid starts.

        Raises:
            SamplingError: no train episode fits (or no test episode while
                ``test_period`` is set).
            UnknownKeywordError: a key of ``params`` is not a sampling keyword.
        """
        if params:
            self._check_params(params)
        if seed is not None:
            self._gen, self._seed_arg = as_generator(seed), seed
        self._plan = plan_samples(
            self.bars, self.params, self._prev_stamp, self._what, self.name, self._split_row
        )
        self.sample_num = 0
        self._last = None

    def sample(
        self,
        get_new: bool = True,
        sample_type: int = 0,
        timestamp: float | None = None,
        b_alpha: float = 1.0,
        b_beta: float = 1.0,
    ) -> Episode:
        """Draw an Episode (see :class:`~btgym.datafeed.meta.DataSampleConfig`).

        Raises:
            SamplingError: a test episode is asked for but no ``test_period`` is set,
                or nothing fits before ``timestamp``.
        """
        plan = self._ready_plan()
        if not get_new and self._last is not None:
            return self._last
        kind, b_alpha, b_beta = draw_request(sample_type, b_alpha, b_beta)
        starts = plan.starts[kind]
        if not len(starts):
            raise SamplingError(f"{self.name}: no test period set, cannot sample a test episode")
        bars = self.bars
        limit = limit_row_of(bars.index, timestamp)
        row = pick_start(starts, self.rng, plan.num_rows, b_alpha, b_beta, limit, self._what)
        stop = row + plan.num_rows
        episode = Episode(bars.slice(row, stop), self._meta(kind, row, stop))
        self.sample_num += 1
        self._last = episode
        return episode

    def _meta(self, kind: int, row: int, stop: int) -> SampleMeta:
        index = self.bars.index
        trial_num, trial_type, offset, epoch = self._context
        return SampleMeta(
            type=kind,
            trial_num=trial_num,
            trial_type=trial_type,
            sample_num=self.sample_num,
            first_row=row,
            source_row=offset + row,
            num_rows=stop - row,
            timestamp=int(index[row]) / 1e9,
            last_timestamp=int(index[stop - 1]) / 1e9,
            epoch=epoch,
            name=f"{_KINDS[kind]}_{self._what}_{self.sample_num}_of_{self._label}"
            f"_at_{stamp_str(index[row])}",
        )
