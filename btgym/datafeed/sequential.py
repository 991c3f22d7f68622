"""``BTgymSequentialDataDomain``: trials walk the data in time order.

Sliding windows (``expanding=False``): trial ``k+1`` is the first trial (moved
forward, never back) whose last ``test_period`` lies after trial ``k``'s end; its
test part is then set to start exactly at the row after trial ``k``'s end. So the
trials' test parts tile the data in time order without overlap or holes (each covers
at least ``test_period``; more across weekends), each right after its own train part.
Without a ``test_period``, trials follow each other end to start. A trial start that
breaks the trial rules is snapped forward to the next valid one.

Expanding windows (``expanding=True``): every trial starts at the origin (the first
valid trial start) and its end moves forward the same way, so the train part grows.

When the walk runs past the end of the data it wraps around to the first trial and
counts an ``epoch`` (in each trial's metadata). There is no domain-wide test period:
take test episodes from each trial (``trial.sample(sample_type=1)``), so
``sample(sample_type=1)`` and ``target_period`` raise. ``timestamp`` is ignored.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from btgym.datafeed.domain import BTgymRandomDataDomain, DomainPlan
from btgym.datafeed.meta import sample_kind
from btgym.datafeed.sampling import valid_start_mask
from btgym.datafeed.timeutil import NS_PER_MINUTE, duration_ns
from btgym.datafeed.trial import Trial
from btgym.errors import ConfigError, SamplingError
from btgym.log import get_logger

log = get_logger(__name__)


class BTgymSequentialDataDomain(BTgymRandomDataDomain):
    """Trials in time order with sliding or expanding windows (see module docs).

    Takes the arguments of :class:`BTgymRandomDataDomain` except ``target_period``;
    ``trial_params['expanding']`` picks expanding windows.
    """

    _default_name = "SeqDataDomain"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._check_no_target()
        self._end: int | None = None
        self._epoch = 0
        self._rows = np.zeros(0, dtype=np.int64)

    def _check_no_target(self) -> None:
        if duration_ns(self.target_period):
            raise ConfigError(
                f"{self.name}: a sequential domain has no domain-wide target_period; use "
                f"trial_params['test_period'] and trial.sample(sample_type=1)"
            )

    def _make_plan(self) -> DomainPlan:
        self._check_no_target()
        nt, ne = self._sizes()
        index, tf_ns = self.bars.index, self.bars.timeframe * NS_PER_MINUTE
        cum = self._episode_cum(ne)
        rows = np.flatnonzero(valid_start_mask(index, nt, tf_ns, self.trial_params))
        rows = rows[self.has_episodes(rows, rows + nt, cum, ne)]
        if not len(rows):
            self._raise_no_trial(0, 0, len(index), nt)
        self._rows = rows
        self._end = None
        self._epoch = 0
        return DomainPlan(nt, ne, (rows, rows[:0]), cum)

    def _next_end(self, prev_end: int) -> int:
        """Smallest trial end whose test part starts at row ``prev_end`` or later (so test
        parts tile the data); without a test period, a whole trial further."""
        test_ns = duration_ns(self.trial_params.test_period)
        if not test_ns:
            return prev_end + self._plan.trial_rows
        index, tf_ns = self.bars.index, self.bars.timeframe * NS_PER_MINUTE
        return int(np.searchsorted(index, index[prev_end - 1] + test_ns - tf_ns, "right")) + 1

    def _wrap(self) -> None:
        self._epoch += 1
        log.info(f"{self.name}: reached the end of the data, starting epoch {self._epoch}")

    def _ok(self, s: int, e: int, b: int | None) -> bool:
        plan = self._plan
        bs = None if b is None else np.array([b])
        return bool(
            self.has_episodes(
                np.array([s]), np.array([e]), plan.episode_cum, plan.episode_rows, bs
            )[0]
        )

    def _next_sliding(self) -> tuple[int, int, int | None]:
        rows, nt = self._rows, self._plan.trial_rows
        if self._end is None:
            s = int(rows[0])
            return s, s + nt, None
        prev = self._end
        first = int(np.searchsorted(rows, self._next_end(prev) - nt))
        for j in range(first, len(rows)):  # usually the first candidate; bounded anyway
            s = int(rows[j])
            split = prev if s < prev else None  # test part starts right after prev trial
            if split is None or self._ok(s, s + nt, split):
                return s, s + nt, split
        self._wrap()
        s = int(rows[0])
        return s, s + nt, None

    def _next_expanding(self) -> tuple[int, int, int | None]:
        origin, n, plan = int(self._rows[0]), len(self.bars), self._plan
        first = origin + plan.trial_rows
        if self._end is None:
            return origin, first, None
        prev = self._end
        e = self._next_end(prev)
        while e <= n:  # bounded: e strictly grows
            if self._ok(origin, e, prev):
                return origin, e, prev
            e = self._next_end(e)
        self._wrap()
        return origin, first, None

    def sample(
        self,
        get_new: bool = True,
        sample_type: int = 0,
        timestamp: float | None = None,
        b_alpha: float = 1.0,
        b_beta: float = 1.0,
    ) -> Trial:
        """The next trial in time order (``get_new=False``: the current one again).

        Raises:
            SamplingError: ``sample_type=1`` (no domain-wide test period; use
                ``trial.sample(sample_type=1)``).
        """
        if sample_kind(sample_type) == 1:
            raise SamplingError(
                f"{self.name}: a sequential domain has no test trials; sample test episodes "
                f"from a trial with trial.sample(sample_type=1)"
            )
        if self._plan is None:
            self.reset()
        if not get_new and self._last is not None:
            return self._last
        if self.trial_params.expanding:
            s, e, split = self._next_expanding()
        else:
            s, e, split = self._next_sliding()
        self._end = e
        has_test = duration_ns(self.trial_params.test_period) > 0
        return self._emit(s, e, 0, self._epoch, split if has_test else None)
