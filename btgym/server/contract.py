"""The episode contract: what crosses an env's edge, checked once, in one place.

- **Actions.** One codec per env kind: :class:`DiscreteCodec` (``BTgymEnv``,
  ``MultiDiscreteEnv``: one code per asset, 0 hold, 1 buy, 2 sell, 3 close) and
  :class:`WeightsCodec` (``PortfolioEnv``: target weights ``[cash, *assets]``). The
  handle applies ``codec.encode(action)`` once, at the edge, and hands the canonical
  action to the loop (in-process) or to the wire (process mode), where the server only
  checks what arrives (``codec.check_wire``).
- **Sample requests.** :class:`~btgym.datafeed.DataSampleConfig` is the one schema of
  ``reset(options={"trial_config": ..., "episode_config": ...})`` and of every
  ``sample()`` call; :func:`sample_request` checks keys, types and ranges with named
  errors (``sample_type`` in {0, 1}, bool ``get_new``, positive finite beta
  parameters, a finite or ``None`` ``timestamp``).
- **Episode phase.** :class:`EpisodePhase` and the :data:`TRANSITIONS` table, used by
  the env, both handles and the episode loop through :class:`EpisodeState`; an
  illegal change raises :class:`~btgym.errors.IllegalTransitionError`, an action
  outside a running episode :class:`~btgym.errors.ResetNeededError`, anything after
  ``close()`` :class:`~btgym.errors.EnvClosedError`.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Any

import numpy as np

from btgym.datafeed import DataSampleConfig
from btgym.errors import (
    ConfigError,
    EnvClosedError,
    IllegalTransitionError,
    InvalidActionError,
    ResetNeededError,
    check_keywords,
)

# --------------------------------------------------------------------------- actions

HOLD, BUY, SELL, CLOSE = 0, 1, 2, 3
N_DISCRETE = 4
_CODES = "0..3 (hold, buy, sell, close)"


def _code(value: Any, asset: str) -> int:
    """One discrete code: an int (numpy ints and integral floats too) in 0..3."""
    if type(value) is int:
        code = value
    else:
        arr = np.asarray(value) if not isinstance(value, (str, bytes)) else None
        if arr is None or arr.size != 1 or arr.dtype.kind not in "iuf":
            raise InvalidActionError(
                f"action for asset {asset!r} must be an int in {_CODES}, got {value!r}"
            )
        x = arr.reshape(()).item()
        if isinstance(x, float) and not x.is_integer():
            raise InvalidActionError(f"action for asset {asset!r}: {value!r} is not an integer")
        code = int(x)
    if not 0 <= code < N_DISCRETE:
        raise InvalidActionError(f"action for asset {asset!r} must be in {_CODES}, got {code}")
    return code


class DiscreteCodec:
    """Discrete actions of ``BTgymEnv`` / ``MultiDiscreteEnv`` → a tuple of codes.

    Accepted: ``{asset: code}`` (assets left out hold), one code per asset as a
    sequence or array (``MultiDiscrete`` style), or a bare code for one asset.
    Canonical form: ``tuple[int, ...]`` in asset order; on the wire a list.
    """

    kind = "discrete"

    def __init__(self, assets: Sequence[str]) -> None:
        self.assets = tuple(assets)
        self._n = len(self.assets)

    def initial(self) -> tuple[int, ...]:
        """Hold everything."""
        return (HOLD,) * self._n

    def encode(self, action: Any) -> tuple[int, ...]:
        """The canonical codes of ``action``.

        Raises:
            InvalidActionError: unknown asset, a code outside 0..3, wrong type or length.
        """
        assets, n = self.assets, self._n
        kind = type(action)
        if kind is int and n == 1 and 0 <= action < N_DISCRETE:  # the hot paths
            return (action,)
        if kind is dict and len(action) == 1 and n == 1:
            ((key, value),) = action.items()
            if key == assets[0] and type(value) is int and 0 <= value < N_DISCRETE:
                return (value,)
        elif kind is np.ndarray and action.dtype.kind in "iu" and action.shape == (n,):
            codes = tuple(action.tolist())
            if all(0 <= c < N_DISCRETE for c in codes):
                return codes
        if isinstance(action, Mapping):
            codes = [HOLD] * n
            for key, value in action.items():
                try:
                    i = assets.index(key)
                except ValueError:
                    raise InvalidActionError(
                        f"action names asset {key!r}, not one of {list(assets)}"
                    ) from None
                codes[i] = _code(value, key)
            return tuple(codes)
        if isinstance(action, (str, bytes)) or action is None:
            raise InvalidActionError(f"action {action!r}: expected {_CODES} per asset")
        arr = np.asarray(action, dtype=object) if isinstance(action, Sequence) else None
        if arr is None and isinstance(action, np.ndarray):
            arr = action
        if arr is not None and arr.ndim == 1 and len(arr) == n:
            return tuple(_code(v, a) for v, a in zip(arr.tolist(), assets))
        if arr is not None and arr.size != 1:
            raise InvalidActionError(
                f"action {action!r}: expected one code per asset {list(assets)}"
            )
        if n != 1:
            raise InvalidActionError(
                f"a bare action {action!r} is only accepted with one asset; "
                f"pass {{asset: code}} or one code per asset for {list(assets)}"
            )
        value = arr.reshape(()).item() if arr is not None else action
        return (_code(value, assets[0]),)

    def to_wire(self, codes: tuple[int, ...]) -> list[int]:
        return list(codes)

    def check_wire(self, value: Any) -> tuple[int, ...]:
        """What the server accepts: a list of one int code per asset.

        Raises:
            InvalidActionError: anything else.
        """
        if (
            type(value) is list
            and len(value) == self._n
            and all(type(c) is int and 0 <= c < N_DISCRETE for c in value)
        ):
            return tuple(value)
        raise InvalidActionError(
            f"step action on the wire must be a list of {self._n} ints in {_CODES}, got {value!r}"
        )


class WeightsCodec:
    """Portfolio actions of ``PortfolioEnv`` → float64 weights ``[cash, *assets]``.

    Accepted: a vector of ``K + 1`` numbers ≥ 0 in that order, or ``{name: weight}``
    over ``cash_name`` and the assets (names left out are 0). The weights are divided
    by their sum (all K + 1 entries, cash included); all zero means all cash (flat).
    Canonical form: a float64 array summing to 1; on the wire a list.
    """

    kind = "weights"

    def __init__(self, assets: Sequence[str], cash_name: str) -> None:
        self.assets = tuple(assets)
        self.cash_name = cash_name
        self.keys = (cash_name, *self.assets)
        self._flat = np.eye(len(self.keys))[0]

    def initial(self) -> np.ndarray:
        """All cash."""
        return self._flat.copy()

    def encode(self, action: Any) -> np.ndarray:
        """The canonical weights of ``action``.

        Raises:
            InvalidActionError: unknown name, wrong length, a negative or non-finite weight.
        """
        keys = self.keys
        if isinstance(action, Mapping):
            weights = np.zeros(len(keys))
            for key, value in action.items():
                if key not in keys:
                    raise InvalidActionError(
                        f"portfolio action names {key!r}, not one of {list(keys)}"
                    )
                try:
                    arr = np.asarray(value, dtype=np.float64)
                except (TypeError, ValueError):
                    arr = np.empty(0)
                if arr.size != 1:
                    raise InvalidActionError(f"weight of {key!r} must be one number, got {value!r}")
                weights[keys.index(key)] = arr.reshape(-1)[0]
        else:
            try:
                weights = np.array(action, dtype=np.float64).reshape(-1)
            except (TypeError, ValueError):
                raise InvalidActionError(f"portfolio action {action!r} is not numeric") from None
            if len(weights) != len(keys):
                raise InvalidActionError(
                    f"portfolio action has {len(weights)} weights, expected {len(keys)} "
                    f"{list(keys)} (cash first)"
                )
        return self._normalized(weights)

    def _normalized(self, weights: np.ndarray) -> np.ndarray:
        if not np.isfinite(weights).all() or (weights < 0).any():
            raise InvalidActionError(
                f"portfolio weights must be finite and ≥ 0, got {weights.tolist()}"
            )
        total = float(weights.sum())
        if total <= 0.0:
            return self._flat.copy()
        if not math.isfinite(total):
            raise InvalidActionError(f"portfolio weights overflow: {weights.tolist()}")
        return weights / total

    def to_wire(self, weights: np.ndarray) -> list[float]:
        return weights.tolist()

    def check_wire(self, value: Any) -> np.ndarray:
        """What the server accepts: a list of ``K + 1`` finite numbers ≥ 0.

        Raises:
            InvalidActionError: anything else.
        """
        if (
            type(value) is list
            and len(value) == len(self.keys)
            and all(type(x) in (float, int) for x in value)
        ):
            return self._normalized(np.array(value, dtype=np.float64))
        raise InvalidActionError(
            f"step action on the wire must be a list of {len(self.keys)} numbers "
            f"{list(self.keys)}, got {value!r}"
        )


def make_codec(
    portfolio: bool, assets: Sequence[str], cash_name: str = "default_cash"
) -> DiscreteCodec | WeightsCodec:
    """The codec of an env kind: weights for portfolio envs, else discrete codes."""
    return WeightsCodec(assets, cash_name) if portfolio else DiscreteCodec(assets)


# --------------------------------------------------------------------------- sample requests

#: ``DataSampleConfig`` fields: the keys of ``trial_config`` / ``episode_config`` and
#: the keywords of every ``sample()``.
SAMPLE_KEYS = tuple(f.name for f in dataclasses.fields(DataSampleConfig))
#: The keys of ``reset(options=...)`` (BTGym's ``EnvResetConfig``).
RESET_OPTION_KEYS = ("episode_config", "trial_config")


def _real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def sample_request(config: Any, where: str = "sample config") -> dict[str, Any]:
    """A sample request (dict, ``DataSampleConfig`` or ``None``) as a checked,
    JSON-able dict holding the keys given (``DataSampleConfig`` supplies defaults).

    Raises:
        UnknownKeywordError: a key that is not a ``DataSampleConfig`` field.
        ConfigError: not a mapping; ``get_new`` not a bool; ``sample_type`` not 0 or 1;
            ``b_alpha`` / ``b_beta`` not finite numbers > 0; ``timestamp`` not a
            finite number or ``None``.
    """
    if config is None:
        return {}
    if isinstance(config, DataSampleConfig):
        return config.to_dict()
    if not isinstance(config, Mapping):
        raise ConfigError(
            f"{where} must be a dict of DataSampleConfig keys {list(SAMPLE_KEYS)} "
            f"(or a DataSampleConfig), got {config!r}"
        )
    check_keywords(config, SAMPLE_KEYS, where)
    out: dict[str, Any] = {}
    for key, value in config.items():
        if key == "get_new":
            if not isinstance(value, (bool, np.bool_)):
                raise ConfigError(f"{where}: get_new must be True or False, got {value!r}")
            out[key] = bool(value)
        elif key == "sample_type":
            ok = isinstance(value, (bool, np.bool_)) or (
                isinstance(value, numbers.Integral) and value in (0, 1)
            )
            if not ok:
                raise ConfigError(
                    f"{where}: sample_type must be 0 (train) or 1 (test), got {value!r}"
                )
            out[key] = int(value)
        elif key == "timestamp":
            if value is not None and not (_real(value) and math.isfinite(float(value))):
                raise ConfigError(
                    f"{where}: timestamp must be POSIX seconds (a finite number) or None, "
                    f"got {value!r}"
                )
            out[key] = None if value is None else float(value)
        else:  # b_alpha, b_beta
            if not (_real(value) and math.isfinite(float(value)) and float(value) > 0):
                raise ConfigError(f"{where}: {key} must be a finite number > 0, got {value!r}")
            out[key] = float(value)
    DataSampleConfig(**out)  # the schema's own checks
    return out


def split_options(options: Any) -> tuple[Any, Any]:
    """``reset(options=...)`` → ``(trial_config, episode_config)`` as given (the
    handle checks each with :func:`sample_request`, once).

    Raises:
        ConfigError: ``options`` is not a dict (or ``None``).
        UnknownKeywordError: an option other than ``trial_config`` / ``episode_config``.
    """
    if options is None:
        return None, None
    if not isinstance(options, Mapping):
        raise ConfigError(
            "reset(options=...) must be a dict like {'episode_config': {...}, "
            f"'trial_config': {{...}}}} (or None), got {options!r}"
        )
    check_keywords(options, RESET_OPTION_KEYS, "reset(options=...)")
    return options.get("trial_config"), options.get("episode_config")


def reset_options(options: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """``reset(options=...)`` → checked ``(trial_config, episode_config)`` dicts.

    Raises:
        ConfigError: ``options`` is not a dict (or ``None``), or a config is malformed.
        UnknownKeywordError: an unknown option or sample key.
    """
    trial, episode = split_options(options)
    return (
        sample_request(trial, "reset(options={'trial_config': ...})"),
        sample_request(episode, "reset(options={'episode_config': ...})"),
    )


# --------------------------------------------------------------------------- episode phase


class EpisodePhase(str, Enum):
    """Where an episode stands, for the env, a handle or the loop."""

    #: no episode yet, or a reset in progress / failed: ``reset()`` next.
    IDLE = "idle"
    #: an episode runs and takes actions.
    RUNNING = "running"
    #: the episode ended (terminated, truncated or ``done()``): ``reset()`` next.
    ENDED = "ended"
    #: the server died or failed mid-episode: the next ``reset()`` restarts it.
    BROKEN = "broken"
    #: ``close()`` was called: nothing but ``close()`` again.
    CLOSED = "closed"


IDLE, RUNNING, ENDED, BROKEN, CLOSED = EpisodePhase
#: phase → the phases it may change to.
TRANSITIONS: dict[EpisodePhase, frozenset[EpisodePhase]] = {
    IDLE: frozenset({IDLE, RUNNING, ENDED, BROKEN, CLOSED}),
    RUNNING: frozenset({RUNNING, IDLE, ENDED, BROKEN, CLOSED}),
    ENDED: frozenset({IDLE, RUNNING, ENDED, BROKEN, CLOSED}),
    BROKEN: frozenset({IDLE, BROKEN, CLOSED}),
    CLOSED: frozenset({CLOSED}),
}

_NEEDS_RESET = {
    IDLE: "no episode is running: call reset() first",
    ENDED: "the episode has ended: call reset() to start a new one",
    BROKEN: "the episode was lost (the server failed): call reset() to start a new one",
}


class EpisodeState:
    """The phase of one episode owner, changed only along :data:`TRANSITIONS`.

    Args:
        owner: named in error messages (``"BTgymEnv"``, ``"process handle"``...).
    """

    __slots__ = ("owner", "phase")

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.phase = IDLE

    def to(self, phase: EpisodePhase) -> None:
        """Change to ``phase``.

        Raises:
            IllegalTransitionError: the table does not allow it.
        """
        if phase not in TRANSITIONS[self.phase]:
            raise IllegalTransitionError(
                f"{self.owner}: the episode cannot go from {self.phase.value!r} to "
                f"{phase.value!r} (allowed: {sorted(p.value for p in TRANSITIONS[self.phase])})"
            )
        self.phase = phase

    def after_step(self, terminated: bool, truncated: bool) -> None:
        """``RUNNING`` stays, or ``ENDED`` when the step ended the episode."""
        if terminated or truncated:
            self.to(ENDED)

    @property
    def running(self) -> bool:
        return self.phase is RUNNING

    @property
    def closed(self) -> bool:
        return self.phase is CLOSED

    def check_open(self) -> None:
        """Raise :class:`EnvClosedError` after ``close()``."""
        if self.phase is CLOSED:
            raise EnvClosedError(f"{self.owner} is closed")

    def require_running(self, what: str = "step()") -> None:
        """Raise unless an episode runs: :class:`EnvClosedError` after ``close()``,
        else :class:`ResetNeededError` saying what to do."""
        phase = self.phase
        if phase is RUNNING:
            return
        self.check_open()
        raise ResetNeededError(f"{what}: {_NEEDS_RESET[phase]}")
