"""Data domains: Domain → Trial → Episode sampling (BTGym's ``BTgymRandomDataDomain``).

A domain holds all the data. ``domain.sample()`` draws a :class:`Trial` of
``trial_params['sample_duration']`` bars; the trial draws Episodes of
``episode_params['sample_duration']`` bars. The domain's ``target_period`` (the most
recent data) is where test ("target") trials come from; a trial's own
``test_period`` (its last part) is where its test episodes come from.

Every trial a domain hands out is guaranteed to hold at least one valid train
episode (and one test episode when the trial has a ``test_period``): this is
checked for all candidate trials at ``reset()`` with prefix sums, so sampling never
loops and never fails later.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from btgym.datafeed.bars import BarsView
from btgym.datafeed.loader import SourceHolder
from btgym.datafeed.meta import SampleMeta, draw_request
from btgym.datafeed.parsing import ParsingParams
from btgym.datafeed.sampling import (
    ALL_WEEKDAYS,
    SampleParams,
    explain_no_start,
    limit_row_of,
    pick_start,
    split_rows,
    starts_in,
    valid_start_mask,
)
from btgym.datafeed.seeding import SeedLike, as_generator, draw_seed
from btgym.datafeed.timeutil import NS_PER_MINUTE, duration_dict, duration_ns, stamp_str
from btgym.datafeed.trial import Trial
from btgym.errors import SamplingError, check_keywords
from btgym.log import get_logger

log = get_logger(__name__)

TRIAL_DEFAULTS = dict(
    sample_duration={"days": 30, "hours": 0, "minutes": 0},
    time_gap={"days": 15, "hours": 0},
    start_00=False,
    start_weekdays=ALL_WEEKDAYS,
    test_period={"days": 0, "hours": 0, "minutes": 0},
    expanding=False,
)
EPISODE_DEFAULTS = dict(
    sample_duration={"days": 0, "hours": 23, "minutes": 55},
    time_gap={"days": 0, "hours": 10},
    start_00=False,
    start_weekdays=ALL_WEEKDAYS,
)
TRIAL_KEYS = (
    "sample_duration",
    "time_gap",
    "start_00",
    "start_weekdays",
    "test_period",
    "expanding",
)
EPISODE_KEYS = ("sample_duration", "episode_duration", "time_gap", "start_00", "start_weekdays")
_KINDS = ("train", "test")


@dataclass(frozen=True)
class DomainPlan:
    """What one reset precomputes."""

    trial_rows: int
    episode_rows: int
    starts: tuple[np.ndarray, np.ndarray]
    episode_cum: np.ndarray  # prefix sums of the valid-episode-start mask


class BTgymRandomDataDomain(SourceHolder, BarsView):
    """Trials drawn at random from the data; target trials from ``target_period``.

    Args:
        filename, dataframe, parsing_params, timeframe, data_names: the source (see
            :class:`~btgym.datafeed.dataset.BTgymDataset`).
        trial_params: dict of ``sample_duration``, ``time_gap``, ``start_00``,
            ``start_weekdays``, ``test_period`` (the trial's test part), ``expanding``.
            Defaults: 30 days, gap 15 days, any weekday, no test period.
        episode_params: dict of ``sample_duration`` (alias ``episode_duration``),
            ``time_gap``, ``start_00``, ``start_weekdays``. Defaults: 23 h 55 min, gap
            10 hours, any weekday.
        target_period: the domain's test part at the end of the data (trials with
            ``sample_type=1`` lie wholly in it). Default 0: none.
        name: the domain's name (default ``"RndDataDomain"``; ``"SeqDataDomain"``
            for the sequential domain). seed: int, ``SeedSequence`` or ``Generator``.
        task, log_level: kept for BTGym compatibility.
    """

    _default_name = "RndDataDomain"

    def __init__(
        self,
        filename: Any = None,
        dataframe: Any = None,
        trial_params: Mapping[str, Any] | None = None,
        episode_params: Mapping[str, Any] | None = None,
        parsing_params: ParsingParams | Mapping[str, Any] | None = None,
        target_period: Mapping[str, int] | None = None,
        timeframe: int | None = None,
        name: str | None = None,
        data_names: Sequence[str] | None = ("default_asset",),
        seed: SeedLike = None,
        task: int = 0,
        log_level: Any = None,
    ) -> None:
        self.name, self.task = name or self._default_name, task
        self.trial_params = SampleParams.from_dict(
            trial_params, "trial_params", TRIAL_KEYS, base=SampleParams(**TRIAL_DEFAULTS)
        )
        self.episode_params = SampleParams.from_dict(
            episode_params, "episode_params", EPISODE_KEYS, base=SampleParams(**EPISODE_DEFAULTS)
        )
        self.target_period = duration_dict(target_period, "target_period")
        self._rng = as_generator(seed)
        self._plan: DomainPlan | None = None
        self._last: Trial | None = None
        self._tep: tuple | None = None
        self.sample_num = 0
        self._init_source(filename, dataframe, parsing_params, data_names, timeframe)

    # ------------------------------------------------------------------ data views

    @property
    def is_ready(self) -> bool:
        """``reset()`` has run."""
        return self._plan is not None

    @property
    def trial_episode_params(self) -> SampleParams:
        """The episode params every trial gets (episode rules + the trial's test period)."""
        ep, tp = self.episode_params, self.trial_params  # frozen: identity is enough
        if self._tep is None or self._tep[0] is not ep or self._tep[1] is not tp:
            self._tep = (ep, tp, dataclasses.replace(ep, test_period=tp.test_period))
        return self._tep[2]

    # ------------------------------------------------------------------ reset

    def reset(self, seed: SeedLike = None, **params: Any) -> None:
        """Load the data (once), apply new params, reseed, and precompute valid trials.

        Args:
            seed: reseed the domain (``None``: keep the current stream).
            **params: ``trial_params`` / ``episode_params`` dicts (merged into the
                current ones) and ``target_period``.

        Raises:
            SamplingError: impossible settings (episode longer than trial, trial longer
                than the data, target period holding no trial, no gap-free window).
        """
        check_keywords(params, ("trial_params", "episode_params", "target_period"), self.name)
        if params.get("trial_params"):
            self.trial_params = SampleParams.from_dict(
                params["trial_params"], "trial_params", TRIAL_KEYS, base=self.trial_params
            )
        if params.get("episode_params"):
            self.episode_params = SampleParams.from_dict(
                params["episode_params"], "episode_params", EPISODE_KEYS, base=self.episode_params
            )
        if "target_period" in params:
            self.target_period = duration_dict(params["target_period"], "target_period")
        if seed is not None:
            self._rng = as_generator(seed)
        self._plan = self._make_plan()
        self.sample_num = 0
        self._last = None

    def _sizes(self) -> tuple[int, int]:
        tf = self.bars.timeframe
        nt, ne = self.trial_params.num_rows(tf), self.episode_params.num_rows(tf)
        if ne > nt:
            raise SamplingError(
                f"{self.name}: an episode of {ne} bars "
                f"({dict(self.episode_params.sample_duration)}) is longer than a trial of "
                f"{nt} bars ({dict(self.trial_params.sample_duration)})"
            )
        if nt > len(self.bars):
            raise SamplingError(
                f"{self.name}: a trial of {nt} bars ({dict(self.trial_params.sample_duration)}) "
                f"is longer than the data ({len(self.bars)} bars)"
            )
        return nt, ne

    def _episode_cum(self, ne: int) -> np.ndarray:
        bars = self.bars
        mask = valid_start_mask(bars.index, ne, bars.timeframe * NS_PER_MINUTE, self.episode_params)
        return np.concatenate(([0], np.cumsum(mask, dtype=np.int64)))

    def _make_plan(self) -> DomainPlan:
        nt, ne = self._sizes()
        index, tf_ns = self.bars.index, self.bars.timeframe * NS_PER_MINUTE
        cum = self._episode_cum(ne)
        rows = np.flatnonzero(valid_start_mask(index, nt, tf_ns, self.trial_params))
        rows = rows[self.has_episodes(rows, rows + nt, cum, ne)]
        target_ns = duration_ns(self.target_period)
        source_end, _ = split_rows(index, tf_ns, target_ns)
        train = starts_in(rows, 0, source_end, nt)
        test = starts_in(rows, source_end, len(index), nt) if target_ns else rows[:0]
        for kind, starts, lo, hi in ((0, train, 0, source_end), (1, test, source_end, len(index))):
            if (kind == 0 or target_ns) and not len(starts):
                self._raise_no_trial(kind, lo, hi, nt)
        return DomainPlan(nt, ne, (train, test), cum)

    def _raise_no_trial(self, kind: int, lo: int, hi: int, nt: int) -> None:
        part = ("source", "target")[kind]
        index, tf_ns = self.bars.index, self.bars.timeframe * NS_PER_MINUTE
        why = explain_no_start(index, lo, hi, nt, tf_ns, self.trial_params, None, part)
        raise SamplingError(
            f"{self.name}: no valid trial in the {part} part: {why}; or no trial there holds a "
            f"valid train episode (and a test episode when trial test_period is set) under "
            f"episode_params={self.episode_params.to_dict()}"
        )

    def test_starts(self, s: np.ndarray, e: np.ndarray) -> np.ndarray:
        """First test row of trials ``[s, e)`` by the ``test_period`` rule (``e`` when
        there is no test period)."""
        index, tf_ns = self.bars.index, self.bars.timeframe * NS_PER_MINUTE
        test_ns = duration_ns(self.trial_params.test_period)
        if not test_ns:
            return e
        return np.clip(np.searchsorted(index, index[e - 1] + tf_ns - test_ns), s, e)

    def has_episodes(
        self, s: np.ndarray, e: np.ndarray, cum: np.ndarray, ne: int, b: np.ndarray | None = None
    ) -> np.ndarray:
        """Mask over trials ``[s, e)`` (first test rows ``b``, default by the
        ``test_period`` rule): each holds a valid train episode, and a test episode when
        the trial has a test period, exactly as the Trial will see it."""
        s, e = np.asarray(s, dtype=np.int64), np.asarray(e, dtype=np.int64)
        if not len(s):
            return np.zeros(0, dtype=bool)
        test_ns = duration_ns(self.trial_params.test_period)
        b = self.test_starts(s, e) if b is None else np.asarray(b, dtype=np.int64)

        def count(lo, hi_start):  # valid starts in [lo, hi_start]
            top = np.clip(hi_start + 1, 0, len(cum) - 1)
            return np.where(hi_start >= lo, cum[top] - cum[np.minimum(lo, len(cum) - 1)], 0)

        ok = count(s, b - ne) > 0
        if test_ns:
            ok &= count(b, e - ne) > 0
        return ok

    # ------------------------------------------------------------------ sampling

    def sample(
        self,
        get_new: bool = True,
        sample_type: int = 0,
        timestamp: float | None = None,
        b_alpha: float = 1.0,
        b_beta: float = 1.0,
    ) -> Trial:
        """Draw a Trial: ``sample_type`` 0 from the source part (start Beta-weighted by
        ``b_alpha, b_beta``), 1 from the target part (uniform); ``timestamp`` keeps the
        trial wholly before that POSIX time; ``get_new=False`` returns the last trial.

        Raises:
            SamplingError: a target trial without a ``target_period``, or nothing fits
                before ``timestamp``.
        """
        if self._plan is None:
            self.reset()
        if not get_new and self._last is not None:
            return self._last
        kind, b_alpha, b_beta = draw_request(sample_type, b_alpha, b_beta)
        plan = self._plan
        starts = plan.starts[kind]
        if not len(starts):
            raise SamplingError(f"{self.name}: no target_period set, cannot sample a test trial")
        limit = limit_row_of(self.bars.index, timestamp)
        row = pick_start(starts, self._rng, plan.trial_rows, b_alpha, b_beta, limit, "trial")
        return self._emit(row, row + plan.trial_rows, kind, epoch=0)

    def _emit(self, s: int, e: int, kind: int, epoch: int, split: int | None = None) -> Trial:
        index = self.bars.index
        num = self.sample_num
        meta = SampleMeta(
            type=kind,
            trial_num=num,
            trial_type=kind,
            sample_num=num,
            first_row=s,
            source_row=s,
            num_rows=e - s,
            timestamp=int(index[s]) / 1e9,
            last_timestamp=int(index[e - 1]) / 1e9,
            epoch=epoch,
            name=f"{_KINDS[kind]}_trial_{num}_of_{self.name}_at_{stamp_str(index[s])}",
        )
        prev = int(index[s - 1]) if s > 0 else None
        trial = Trial(
            self.bars.slice(s, e),
            self.trial_episode_params,
            meta,
            draw_seed(self._rng),
            prev,
            self.task,
            None if split is None else split - s,
        )
        self.sample_num += 1
        self._last = trial
        log.debug(f"{self.name}: sampled {meta.name} ({e - s} bars)")
        return trial

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, filename={self.filename!r})"
