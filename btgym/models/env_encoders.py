"""Env side of the observation encoders (``models.md`` §7, "Env wiring").

``StrategyConfig(encoders=...)`` calls :func:`merge_encoder_leaves` (objects become their
JSON dicts; each encoder's leaves join ``state_shape``); the strategy builds one
:class:`EpisodeEncoders` per episode: it checks the leakage guard, binds every encoder to
the episode's bars once, and serves row ``bar_index`` of each leaf. All of it runs where
Cerebro runs (server child or in-process), so both modes give identical arrays.
Encoders are materialised once per process (ModelEncoders also cache their model by
weights sha256).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from btgym.errors import ConfigError, EncoderLeakageError
from btgym.log import get_logger

log = get_logger(__name__)

_ENCODERS: dict[str, Any] = {}


def encoder_dict(encoder: Any) -> dict[str, Any]:
    """An encoder object or dict as a plain JSON dict (checked to be JSON-able)."""
    d = encoder.to_dict() if hasattr(encoder, "to_dict") else encoder
    if not isinstance(d, Mapping) or "class" not in d:
        raise ConfigError(f"encoders: expected an encoder or its dict, got {encoder!r}")
    try:
        return json.loads(json.dumps(dict(d)))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"encoders: {d.get('key')!r} is not JSON-able: {exc}") from exc


def encoder_dicts(encoders: Any) -> tuple[dict[str, Any], ...]:
    """``encoders=`` (one encoder, a dict, or a sequence of them) as a tuple of dicts."""
    if encoders is None:
        return ()
    if isinstance(encoders, Mapping) or hasattr(encoders, "to_dict"):
        encoders = [encoders]
    return tuple(encoder_dict(e) for e in encoders)


def materialise(d: Mapping[str, Any]) -> Any:
    """The encoder of dict ``d``, built once per process."""
    from btgym.models.encoders import encoder_from_dict

    key = json.dumps(d, sort_keys=True)
    enc = _ENCODERS.get(key)
    if enc is None:
        enc = _ENCODERS[key] = encoder_from_dict(d)
    return enc


def merge_encoder_leaves(
    encoders: Any, state_shape: Mapping[str, Any]
) -> tuple[tuple[dict[str, Any], ...], dict[str, Any]]:
    """Encoder dicts and ``state_shape`` with every encoder's leaves added.

    A leaf key already in ``state_shape`` raises :class:`ConfigError` naming both, unless
    it holds exactly the encoder's own leaf (a config rebuilt from its own fields).
    """
    dicts = encoder_dicts(encoders)
    merged = dict(state_shape)
    owner: dict[str, str] = {}
    for d in dicts:
        enc = materialise(d)
        for key, spec in enc.spaces().items():
            if key in owner:
                raise ConfigError(
                    f"encoders: leaf {key!r} of encoder {enc.key!r} is also a leaf of encoder "
                    f"{owner[key]!r}; give the encoders different keys"
                )
            if key in merged and merged[key] != spec:
                raise ConfigError(
                    f"encoders: encoder {enc.key!r} adds observation key {key!r}, which "
                    f"state_shape already has ({merged[key]}); rename the encoder's key or "
                    "drop that state_shape entry"
                )
            merged[key] = spec
            owner[key] = enc.key
    return dicts, merged


class EpisodeEncoders:
    """The encoders of one episode: leakage guard, one bind, per-bar getters.

    Args:
        dicts: the config's encoder dicts.
        bars: the episode's Bars.
        metadata: the episode's ``SampleMeta`` (``type == 1``: a test episode).
    """

    def __init__(self, dicts: Sequence[Mapping[str, Any]], bars: Any, metadata: Any) -> None:
        self.encoders = [materialise(d) for d in dicts]
        self.timeframe = int(bars.timeframe)
        sample_type = (
            metadata.get("type") if isinstance(metadata, Mapping) else getattr(metadata, "type", 0)
        )
        if len(bars) and int(sample_type or 0) == 1:
            self.check_leakage(int(bars.index[0]), int(bars.index[-1]))
        self.leaves: dict[str, np.ndarray] = {}
        for enc in self.encoders:
            self.leaves.update(enc.leaves(bars))

    def check_leakage(self, first_ns: int, last_ns: int) -> None:
        """Raise :class:`EncoderLeakageError` when a test episode meets a fit range."""
        for enc in self.encoders:
            hit = enc.overlap(first_ns, last_ns)
            if hit is not None and not enc.allow_overlap:
                ts = pd.Timestamp
                raise EncoderLeakageError(
                    f"encoder {enc.key!r} learned from {ts(hit[0])} … {ts(hit[1])}, which overlaps "
                    f"this test episode {ts(first_ns)} … {ts(last_ns)}: its observations would "
                    f"leak the test period; fit it on earlier data, or pass allow_overlap=True "
                    f"to the encoder to accept the overlap"
                )

    @property
    def warmup(self) -> int:
        """Bars of history the encoders need (the max of their warm-ups)."""
        return max((e.warmup_bars(self.timeframe) for e in self.encoders), default=1)

    def getters(self, strategy: Any) -> dict[str, Callable[[], np.ndarray]]:
        """``{leaf key: () -> row at strategy.bar_index}`` (views; the strategy copies them).
        The rows are already clipped to the leaves' Boxes."""
        return {key: (lambda a=arr: a[strategy.bar_index]) for key, arr in self.leaves.items()}
