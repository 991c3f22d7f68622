"""EpisodeMonitor statistics and images; MetricLogger output read back from event files."""

from __future__ import annotations

import numpy as np
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from btgym.algorithms.common.logger import MetricLogger, Tags, worker_tag
from btgym.algorithms.common.monitor import IMAGE_KEY, STATS_KEY, EpisodeMonitor
from tests.algorithms.toy_env import ToyTradingEnv


def _episode(env, action=1):
    env.reset(seed=0)
    while True:
        _, _, term, trunc, info = env.step({"default_asset": action})
        if term or trunc:
            return info


def test_episode_monitor_reports_stats_and_images_every_k():
    env = EpisodeMonitor(ToyTradingEnv(length=10), image_every=2)
    first = _episode(env)
    stats = first[STATS_KEY]
    assert stats["length"] == 10 and IMAGE_KEY not in first
    assert stats["broker_value"] == first["broker_value"]
    assert stats["trades"] == 1  # one position change: flat -> long
    assert 0.0 <= stats["max_drawdown"] < 1.0
    second = _episode(env)
    assert second[IMAGE_KEY].dtype == np.uint8 and second[IMAGE_KEY].shape[2] == 3


class _NoImage(ToyTradingEnv):
    def render_image(self, what="episode"):
        raise RuntimeError("no renderer here")


def test_episode_monitor_survives_a_broken_renderer():
    env = EpisodeMonitor(_NoImage(length=5), image_every=1)
    info = _episode(env)
    assert STATS_KEY in info and IMAGE_KEY not in info and env.image_every == 0


def test_metric_logger_writes_scalars_images_and_hparams(tmp_path):
    logger = MetricLogger(tmp_path)
    logger.episode(
        {"return": 1.5, "length": 10, "broker_value": 101.0, "max_drawdown": 0.1}, 5, worker=1
    )
    logger.scalar(Tags.POLICY_LOSS, 0.25, 5)
    logger.scalar(Tags.VALUE_LOSS, float("nan"), 5)  # skipped, not written
    logger.image(Tags.EPISODE_IMAGE, np.zeros((8, 6, 3), np.uint8), 5)
    logger.hparams({"lr": 1e-3, "policy.hidden": (64,), "seed": None}, (Tags.EPISODE_RETURN,))
    logger.close()
    acc = EventAccumulator(str(tmp_path), size_guidance={"images": 0})
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {Tags.EPISODE_RETURN, worker_tag(1, Tags.EPISODE_RETURN), Tags.POLICY_LOSS} <= tags
    assert Tags.VALUE_LOSS not in tags
    assert acc.Scalars(Tags.EPISODE_BROKER_VALUE)[0].value == 101.0
    assert acc.Tags()["images"] == [Tags.EPISODE_IMAGE]
    plugins = acc.PluginTagToContent("hparams")
    assert "_hparams_/experiment" in plugins
