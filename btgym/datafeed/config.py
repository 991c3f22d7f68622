"""``DataConfig``: the data keywords of a BTGym env, and ``make_domain``."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from btgym.datafeed.dataset import BTgymDataset
from btgym.datafeed.domain import BTgymRandomDataDomain
from btgym.datafeed.sequential import BTgymSequentialDataDomain
from btgym.errors import ConfigError, check_keywords

#: names ``DataConfig.domain`` accepts.
DOMAINS = {
    "dataset": BTgymDataset,
    "BTgymDataset": BTgymDataset,
    "random": BTgymRandomDataDomain,
    "BTgymRandomDataDomain": BTgymRandomDataDomain,
    "sequential": BTgymSequentialDataDomain,
    "BTgymSequentialDataDomain": BTgymSequentialDataDomain,
}
_FLAT_EPISODE_KEYS = ("episode_duration", "time_gap", "start_00", "start_weekdays")


@dataclass(frozen=True, kw_only=True)
class DataConfig:
    """Data keywords of a BTGym environment (``None``: the domain's default).

    Attributes:
        filename: a source (CSV path, list of paths, synthetic source, mapping).
        dataframe: a DataFrame source instead of ``filename``.
        data_names: asset names.
        parsing_params: :class:`ParsingParams` or dict.
        timeframe: bar length in minutes.
        episode_duration, time_gap, start_00, start_weekdays: episode rules (for
            domains they fill ``episode_params``).
        test_period: test part (a dataset's, or the trials' for domains).
        target_period: dataset: held-out tail; random domain: target-trial part.
        trial_params, episode_params: domain sampling dicts (domains only).
        domain: ``"dataset"`` (default), ``"random"``, ``"sequential"`` (or the BTGym
            class names).
        name: the domain's name. seed: the domain's seed. task: worker id.
    """

    filename: Any = None
    dataframe: Any = None
    data_names: tuple[str, ...] | None = None
    parsing_params: Any = None
    timeframe: int | None = None
    episode_duration: Mapping[str, int] | None = None
    time_gap: Mapping[str, int] | None = None
    start_00: bool | None = None
    start_weekdays: tuple[int, ...] | None = None
    test_period: Mapping[str, int] | None = None
    target_period: Mapping[str, int] | None = None
    trial_params: Mapping[str, Any] | None = None
    episode_params: Mapping[str, Any] | None = None
    domain: str = "dataset"
    name: str | None = None
    seed: int | None = None
    task: int = 0

    def __post_init__(self) -> None:
        if self.domain not in DOMAINS:
            raise ConfigError(
                f"DataConfig.domain must be one of {sorted(DOMAINS)}, got {self.domain!r}"
            )
        if self.data_names is not None:
            object.__setattr__(self, "data_names", tuple(self.data_names))

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """The keyword names this config takes."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> DataConfig:
        """Build from BTGym keywords; an unknown one raises ``UnknownKeywordError``."""
        check_keywords(kwargs, cls.keys(), "DataConfig")
        return cls(**kwargs)


def make_domain(config: DataConfig | Mapping[str, Any]) -> Any:
    """Build the data domain a :class:`DataConfig` describes (not yet reset).

    Returns:
        a :class:`BTgymDataset`, :class:`BTgymRandomDataDomain` or
        :class:`BTgymSequentialDataDomain`.
    """
    if not isinstance(config, DataConfig):
        config = DataConfig.from_kwargs(**config)
    cls = DOMAINS[config.domain]
    common = dict(
        filename=config.filename,
        dataframe=config.dataframe,
        parsing_params=config.parsing_params,
        timeframe=config.timeframe,
        data_names=config.data_names or _mapping_names(config.filename) or ("default_asset",),
        seed=config.seed,
        task=config.task,
    )
    if config.name is not None:
        common["name"] = config.name
    if cls is BTgymDataset:
        if config.trial_params or config.episode_params:
            raise ConfigError("trial_params / episode_params need domain='random' or 'sequential'")
        return cls(
            episode_duration=config.episode_duration,
            time_gap=config.time_gap,
            start_00=config.start_00,
            start_weekdays=config.start_weekdays,
            test_period=config.test_period,
            target_period=config.target_period,
            **common,
        )
    episode = dict(config.episode_params or {})
    for key in _FLAT_EPISODE_KEYS:
        value = getattr(config, key)
        if value is not None:
            k = "sample_duration" if key == "episode_duration" else key
            if k in episode and episode[k] != value:
                raise ConfigError(
                    f"{key} given twice (flat and in episode_params) with different values"
                )
            episode[k] = value
    trial = dict(config.trial_params or {})
    if config.test_period is not None:
        trial.setdefault("test_period", config.test_period)
    return cls(
        trial_params=trial, episode_params=episode, target_period=config.target_period, **common
    )


def _mapping_names(source: Any) -> tuple[str, ...] | None:
    """Asset names of a ``{name: source}`` mapping (``None`` for any other source)."""
    return tuple(source) if isinstance(source, Mapping) else None
