"""Sampling request and sample metadata: :class:`DataSampleConfig`, :class:`SampleMeta`."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from btgym.errors import ConfigError, check_keywords


def sample_kind(sample_type: Any) -> int:
    """``sample_type`` as 0 (train) or 1 (test); ``False``/``True`` are accepted.

    Raises:
        ConfigError: anything else.
    """
    if sample_type in (0, 1):
        return int(sample_type)
    raise ConfigError(f"sample_type must be 0 (train) or 1 (test), got {sample_type!r}")


def check_beta(b_alpha: float, b_beta: float) -> tuple[float, float]:
    """The Beta parameters of a start draw as floats.

    Raises:
        ConfigError: either is not > 0.
    """
    if not (float(b_alpha) > 0 and float(b_beta) > 0):
        raise ConfigError(f"b_alpha and b_beta must be > 0, got {b_alpha}, {b_beta}")
    return float(b_alpha), float(b_beta)


def draw_request(sample_type: Any, b_alpha: float, b_beta: float) -> tuple[int, float, float]:
    """Checked ``(kind, b_alpha, b_beta)`` of a ``sample()`` call; test draws are
    uniform (1, 1) whatever is asked, as in BTGym."""
    kind = sample_kind(sample_type)
    return (kind, 1.0, 1.0) if kind else (kind, *check_beta(b_alpha, b_beta))


@dataclass(frozen=True, kw_only=True)
class DataSampleConfig:
    """BTGym's sampling request (``trial_config`` / ``episode_config`` of ``env.reset``).

    Attributes:
        get_new: draw a new sample (``False``: hand back the last one again).
        sample_type: 0 train, 1 test.
        timestamp: POSIX seconds in the bars' own clock, or ``None``. When given, only
            samples whose last bar opens before it are drawn (global time of the data
            server: nothing from the "future").
        b_alpha, b_beta: Beta-distribution parameters for the start of train samples
            (1, 1: uniform). Test samples are always uniform, as in BTGym.
    """

    get_new: bool = True
    sample_type: int = 0
    timestamp: float | None = None
    b_alpha: float = 1.0
    b_beta: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "sample_type", sample_kind(self.sample_type))
        b_alpha, b_beta = check_beta(self.b_alpha, self.b_beta)
        object.__setattr__(self, "b_alpha", b_alpha)
        object.__setattr__(self, "b_beta", b_beta)
        object.__setattr__(self, "get_new", bool(self.get_new))

    @classmethod
    def from_dict(cls, config: Mapping[str, Any] | DataSampleConfig | None) -> DataSampleConfig:
        """From a dict (unknown keys raise ``UnknownKeywordError``), an instance, or None."""
        if config is None:
            return cls()
        if isinstance(config, DataSampleConfig):
            return config
        check_keywords(config.keys(), [f.name for f in dataclasses.fields(cls)], "sample config")
        return cls(**config)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict, also usable as ``domain.sample(**config.to_dict())``."""
        return dataclasses.asdict(self)


@dataclass(frozen=True, kw_only=True)
class SampleMeta:
    """What a sample (Trial or Episode) is and where it came from.

    Attributes:
        type: 0 train, 1 test.
        trial_num: number of the trial in its domain (0-based; 0 for BTgymDataset).
        trial_type: type of that trial (a domain's train/target trial).
        sample_num: number of this sample within its parent (0-based).
        first_row: row of the first bar within the parent (trial or dataset).
        source_row: row of the first bar within the domain's / dataset's full data.
        num_rows: number of bars.
        timestamp: POSIX seconds of the first bar's open time (bars' own clock).
        last_timestamp: POSIX seconds of the last bar's open time.
        epoch: how many times a sequential domain has wrapped around its data.
        name: readable id (``train_episode_3_of_trial_2_at_2017-01-04T00:00:00``).
    """

    type: int
    trial_num: int
    trial_type: int
    sample_num: int
    first_row: int
    source_row: int
    num_rows: int
    timestamp: float
    last_timestamp: float
    epoch: int = 0
    name: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict; also carries BTGym's ``parent_sample_num`` /
        ``parent_sample_type`` names."""
        d = dataclasses.asdict(self)
        d["parent_sample_num"] = self.trial_num
        d["parent_sample_type"] = self.trial_type
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SampleMeta:
        """Inverse of :meth:`to_dict` (extra keys ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})
