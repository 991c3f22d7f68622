"""Episode sampling over a trial source: the one rule for both engines.

A source is a data domain (``sample()`` gives a Trial, whose ``sample()`` gives an
Episode), a data-server client, or a ``BTgymDataset`` whose ``sample()`` already gives
an Episode (one flat level). The backtrader episode loop and the vectorized engine's
lanes sample through :class:`EpisodeSampler`, so the same seed gives the same episodes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from btgym.errors import ConfigError


def _draw(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2**63 - 1))


def _flat_request(trial_config: dict, episode_config: dict) -> dict:
    request = {**trial_config, **episode_config}
    if episode_config.get("get_new", True) is False or trial_config.get("get_new", True) is False:
        request["get_new"] = False
    return request


class _SingleEpisode:
    """Stands for the trial when the source hands out episodes (``BTgymDataset``):
    ``get_new=False`` replays the same episode."""

    def __init__(self, episode: Any) -> None:
        self.episode = episode

    def reset(self, seed: int | None = None) -> None:
        pass

    def sample(self, **_: Any) -> Any:
        return self.episode


class EpisodeSampler:
    """The next episode of a source: a trial level, or one flat level for a source that
    hands out episodes directly.

    Args:
        source: anything with ``sample(**trial_config)``.

    Raises:
        ConfigError: ``source`` has no ``sample()`` method.
    """

    def __init__(self, source: Any) -> None:
        if not callable(getattr(source, "sample", None)):
            raise ConfigError(f"data source {source!r} has no sample() method")
        self.source = source
        self.trial: Any = None
        self._flat = False  # the source hands out episodes (no trial level)
        self._rng: np.random.Generator | None = None

    def sample(self, trial_config: dict, episode_config: dict, seed: int | None) -> Any:
        """The next episode; a ``seed`` reseeds the draws of trial seeds.

        The source itself is never reset here: only its owner may reseed it (the env
        does, for a data master).
        """
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        elif self._rng is None:
            self._rng = np.random.default_rng()
        if self._flat:
            return self._sample_flat(trial_config, episode_config)
        if self.trial is None or trial_config.get("get_new", True):
            sample = self.source.sample(**trial_config)
            if not callable(getattr(sample, "sample", None)):
                self._flat = True
                if _flat_request(trial_config, episode_config) != _flat_request(trial_config, {}):
                    return self._sample_flat(trial_config, episode_config)
                self.trial = _SingleEpisode(sample)
                return sample
            self.trial = sample
            self.trial.reset(seed=_draw(self._rng))
        elif seed is not None:
            self.trial.reset(seed=_draw(self._rng))
        return self.trial.sample(**episode_config)

    def _sample_flat(self, trial_config: dict, episode_config: dict) -> Any:
        """One sampling level (a ``BTgymDataset``): ``episode_config`` over
        ``trial_config``, so ``{"episode_config": {"sample_type": 1}}`` draws a test
        episode (``SamplingError`` when the data has no test period)."""
        request = _flat_request(trial_config, episode_config)
        if not request.pop("get_new", True) and self.trial is not None:
            return self.trial.episode
        episode = self.source.sample(**request)
        self.trial = _SingleEpisode(episode)
        return episode
