"""Pieces every trainer shares: progress reports, results, episode bookkeeping."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from btgym.algorithms.common.logger import MetricLogger, Tags


@dataclass(frozen=True)
class Progress:
    """What a trainer reports to its ``callback`` (e.g. the CLI's progress bar)."""

    steps: int
    total_steps: int
    episodes: int
    mean_return: float
    steps_per_sec: float


@dataclass(frozen=True)
class TrainResult:
    """Summary of a finished (or interrupted) :meth:`train` call."""

    algo: str
    steps: int
    episodes: int
    updates: int
    mean_return: float
    wall_time: float
    steps_per_sec: float
    checkpoint: str
    logdir: str
    interrupted: bool = False


def train_result(
    algo: str,
    run: Any,
    t0: float,
    checkpoint: Any,
    interrupted: bool,
    steps: int | None = None,
) -> TrainResult:
    """The :class:`TrainResult` of one ``train()`` call of ``run`` (an A3C or PPO run,
    local or on Ray: ``steps``, ``start_steps``, ``book``, ``counters``, ``algo``)
    started at ``t0`` (``time.monotonic``); ``steps`` overrides ``run.steps``."""
    steps = run.steps if steps is None else steps
    wall = time.monotonic() - t0
    return TrainResult(
        algo=algo,
        steps=steps,
        episodes=run.book.episodes,
        updates=int(run.counters["updates"]),
        mean_return=run.book.mean_return,
        wall_time=wall,
        steps_per_sec=(steps - run.start_steps) / wall if wall > 0 else 0.0,
        checkpoint=str(checkpoint),
        logdir=str(run.algo.logdir),
        interrupted=interrupted,
    )


ProgressCallback = Callable[[Progress], Any]


class EpisodeBook:
    """Counts episodes, keeps recent returns, writes episode summaries.

    Args:
        logger: where summaries go; window: how many recent returns to average.
    """

    def __init__(self, logger: MetricLogger, episodes: int = 0, window: int = 100) -> None:
        self.logger = logger
        self.episodes = episodes
        self.returns: deque[float] = deque(maxlen=window)

    def add(self, stats: Mapping[str, float], step: int, worker: int | None) -> None:
        self.episodes += 1
        self.returns.append(float(stats.get("return", np.nan)))
        self.logger.episode(stats, step, worker)

    def image(self, image: np.ndarray, step: int) -> None:
        self.logger.image(Tags.EPISODE_IMAGE, image, step)

    @property
    def mean_return(self) -> float:
        return float(np.mean(self.returns)) if self.returns else float("nan")


class RateMeter:
    """Env steps per second between successive :meth:`rate` calls."""

    def __init__(self, steps: int = 0) -> None:
        self._t, self._steps = time.monotonic(), steps
        self.last = 0.0

    def rate(self, steps: int) -> float:
        now = time.monotonic()
        if now > self._t and steps > self._steps:
            self.last = (steps - self._steps) / (now - self._t)
        self._t, self._steps = now, steps
        return self.last
