"""Training metrics to TensorBoard (``torch.utils.tensorboard``).

Tag names are fixed here (:class:`Tags`) so tests, dashboards and docs agree.
Per-worker episode tags are prefixed ``worker_<i>/`` (:func:`worker_tag`).
Metrics go to TensorBoard, never to log lines.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams as hparams_summary

from btgym.errors import LogdirError
from btgym.log import get_logger

log = get_logger(__name__)


class Tags:
    """The scalar and image tags a training run writes."""

    EPISODE_RETURN = "episode/return"
    EPISODE_LENGTH = "episode/length"
    EPISODE_BROKER_VALUE = "episode/broker_value"
    EPISODE_MAX_DRAWDOWN = "episode/max_drawdown"
    EPISODE_TRADES = "episode/trades"
    POLICY_LOSS = "loss/policy"
    VALUE_LOSS = "loss/value"
    ENTROPY = "loss/entropy"
    GRAD_NORM = "train/grad_norm"
    LEARNING_RATE = "train/learning_rate"
    STEPS_PER_SEC = "perf/env_steps_per_sec"
    EPISODE_IMAGE = "episode/image"

    #: stats key of :class:`~btgym.algorithms.common.monitor.EpisodeMonitor` -> tag
    EPISODE = {
        "return": EPISODE_RETURN,
        "length": EPISODE_LENGTH,
        "broker_value": EPISODE_BROKER_VALUE,
        "max_drawdown": EPISODE_MAX_DRAWDOWN,
        "trades": EPISODE_TRADES,
    }
    TRAIN = (POLICY_LOSS, VALUE_LOSS, ENTROPY, GRAD_NORM, LEARNING_RATE, STEPS_PER_SEC)


def worker_tag(worker: int, tag: str) -> str:
    """Per-worker variant of ``tag``: ``worker_<i>/<tag>``."""
    return f"worker_{worker}/{tag}"


def _hparam_value(value: Any) -> int | float | str | bool:
    if isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


class MetricLogger:
    """A thin layer over :class:`SummaryWriter`.

    Args:
        logdir: the run directory (event files go straight into it).
        purge_step: on resume, the checkpoint's step: events logged after it by the
            interrupted run are hidden by TensorBoard.
    """

    def __init__(self, logdir: str | os.PathLike, purge_step: int | None = None) -> None:
        from btgym.algorithms.common.checkpoint import check_logdir

        self.logdir = os.fspath(check_logdir(logdir))
        try:
            self.writer = SummaryWriter(self.logdir, purge_step=purge_step, flush_secs=10)
        except Exception as exc:
            raise self._failed(exc) from exc
        self._image_helper = None
        try:
            from btgym.rendering.tensorboard import log_episode_image

            self._image_helper = log_episode_image
        except ImportError:
            pass

    def _failed(self, exc: BaseException) -> LogdirError:
        return LogdirError(
            f"TensorBoard writer for {self.logdir} failed: {type(exc).__name__}: {exc}"
        )

    def scalar(self, tag: str, value: float, step: int) -> None:
        if value is not None and np.isfinite(value):
            try:
                self.writer.add_scalar(tag, float(value), step)
            except Exception as exc:
                raise self._failed(exc) from exc

    def scalars(self, values: Mapping[str, float], step: int) -> None:
        for tag, value in values.items():
            self.scalar(tag, value, step)

    def episode(self, stats: Mapping[str, float], step: int, worker: int | None = None) -> None:
        """Episode statistics under the global tags, and per worker when ``worker`` is set."""
        for key, tag in Tags.EPISODE.items():
            if key in stats:
                self.scalar(tag, stats[key], step)
                if worker is not None:
                    self.scalar(worker_tag(worker, tag), stats[key], step)

    def image(self, tag: str, image: np.ndarray, step: int) -> None:
        """An RGB ``(H, W, 3)`` uint8 image (through the rendering room's helper when present)."""
        try:
            if self._image_helper is not None:
                self._image_helper(self.writer, tag, image, step)
            else:
                self.writer.add_image(tag, np.asarray(image), step, dataformats="HWC")
        except Exception as exc:  # an image must never stop training
            log.warning(f"cannot log image {tag!r}: {exc}")

    def hparams(self, hparams: Mapping[str, Any], metrics: tuple[str, ...]) -> None:
        """Record hyperparameters (TensorBoard's HPARAMS tab) in this run's event file."""
        values = {k: _hparam_value(v) for k, v in hparams.items()}
        exp, ssi, sei = hparams_summary(values, {m: 0.0 for m in metrics})
        fw = self.writer._get_file_writer()
        for summary in (exp, ssi, sei):
            fw.add_summary(summary)

    def flush(self) -> None:
        try:
            self.writer.flush()
        except Exception as exc:
            raise self._failed(exc) from exc

    def close(self) -> None:
        try:
            self.writer.close()
        except Exception as exc:
            raise self._failed(exc) from exc
