"""Synthetic bar sources, usable anywhere a file is (``filename=SineSource(...)``).

Each source simulates a price path with ``ticks`` points per bar on a regular grid
of ``timeframe``-minute bars starting at ``start`` (optionally skipping weekends) and
turns it into consistent OHLC bars: a bar's open is the previous bar's close, its high
and low are the extremes of its ticks. Volume is 0 (as in HistData's FX files).
Every source is fully determined by its fields: ``seed`` is an int (or a
``numpy.random.Generator``, which is then advanced).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from btgym.datafeed.bars import Bars
from btgym.datafeed.seeding import as_generator
from btgym.datafeed.timeutil import NS_PER_MINUTE, weekday
from btgym.errors import ConfigError


@dataclass(frozen=True, kw_only=True)
class SyntheticSource:
    """Common grid and seeding fields of the synthetic sources.

    Attributes:
        num_bars: number of bars.
        start: first bar's open time (anything ``numpy.datetime64`` reads).
        timeframe: bar length in minutes.
        ticks: simulated points per bar (sets how wide high-low is).
        skip_weekends: leave Saturdays and Sundays out of the grid (creates gaps).
        seed: int seed or a Generator.
        name: the asset's name.
    """

    num_bars: int = 10_000
    start: str = "2017-01-02 00:00"
    timeframe: int = 1
    ticks: int = 4
    skip_weekends: bool = False
    seed: int | np.random.Generator = 0
    name: str = "default_asset"

    def __post_init__(self) -> None:
        if self.num_bars < 2 or self.timeframe < 1 or self.ticks < 1:
            raise ConfigError(
                f"{type(self).__name__}: need num_bars >= 2, timeframe >= 1, ticks >= 1"
            )

    # subclasses implement _paths(rng, n_points) -> {name: path}
    def _paths(self, rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def stamps(self) -> np.ndarray:
        """The int64-ns open times of the bars."""
        start = np.datetime64(self.start, "ns").astype(np.int64)
        step = self.timeframe * NS_PER_MINUTE
        if not self.skip_weekends:
            return start + step * np.arange(self.num_bars, dtype=np.int64)
        span = self.num_bars * 7 // 5 + 3 * 1440 // self.timeframe + 2
        grid = start + step * np.arange(span, dtype=np.int64)
        return grid[weekday(grid) < 5][: self.num_bars]

    def bars(self) -> Bars:
        """Simulate and return the bars."""
        rng = as_generator(self.seed)
        n_points = self.num_bars * self.ticks + 1
        paths = self._paths(rng, n_points)
        values = {name: _ohlc(path, self.num_bars, self.ticks) for name, path in paths.items()}
        return Bars(tuple(paths), self.stamps(), values, self.timeframe)


def _ohlc(path: np.ndarray, n: int, k: int) -> np.ndarray:
    body = path[:-1].reshape(n, k)
    close = path[k::k]
    out = np.zeros((n, 5), dtype=np.float64)
    out[:, 0] = body[:, 0]
    out[:, 1] = np.maximum(body.max(axis=1), close)
    out[:, 2] = np.minimum(body.min(axis=1), close)
    out[:, 3] = close
    return out


@dataclass(frozen=True, kw_only=True)
class SineSource(SyntheticSource):
    """``level + amplitude * sin(2 pi t / period) + noise * N(0, 1)``, t in bars."""

    period: float = 256.0
    amplitude: float = 0.002
    level: float = 1.1
    noise: float = 0.0

    def _paths(self, rng, n):
        t = np.arange(n) / self.ticks
        path = self.level + self.amplitude * np.sin(2 * np.pi * t / self.period)
        if self.noise:
            path = path + self.noise * rng.standard_normal(n)
        return {self.name: path}


@dataclass(frozen=True, kw_only=True)
class RandomWalkSource(SyntheticSource):
    """Arithmetic random walk: per-bar drift and volatility ``sigma`` (price units)."""

    start_price: float = 100.0
    drift: float = 0.0
    sigma: float = 0.05

    def _paths(self, rng, n):
        k = self.ticks
        steps = self.drift / k + self.sigma / np.sqrt(k) * rng.standard_normal(n - 1)
        return {self.name: self.start_price + np.concatenate(([0.0], np.cumsum(steps)))}


@dataclass(frozen=True, kw_only=True)
class GBMSource(SyntheticSource):
    """Geometric Brownian motion: per-bar log drift ``mu`` and volatility ``sigma``."""

    start_price: float = 100.0
    mu: float = 0.0
    sigma: float = 0.0005

    def _paths(self, rng, n):
        k = self.ticks
        inc = (self.mu - 0.5 * self.sigma**2) / k + self.sigma / np.sqrt(k) * rng.standard_normal(
            n - 1
        )
        return {self.name: self.start_price * np.exp(np.concatenate(([0.0], np.cumsum(inc))))}


def ou_path(rng, n, k, mean, theta, sigma, x0) -> np.ndarray:
    """Exact OU discretisation (per-bar ``theta`` and ``sigma``, ``k`` ticks per bar),
    vectorised in chunks short enough that ``a**-i`` cannot overflow."""
    if theta <= 0:
        raise ConfigError(f"OU theta must be > 0, got {theta}")
    dt = 1.0 / k
    a = np.exp(-theta * dt)
    scale = sigma * np.sqrt((1 - a * a) / (2 * theta))
    eps = scale * rng.standard_normal(n - 1)
    out = np.empty(n)
    out[0] = x0 - mean
    chunk = max(1, int(30.0 / (theta * dt)))
    pos = 1
    while pos < n:
        stop = min(n, pos + chunk)
        i = np.arange(1, stop - pos + 1)
        w = a ** (-i.astype(np.float64))
        out[pos:stop] = a**i * (out[pos - 1] + np.cumsum(w * eps[pos - 1 : stop - 1]))
        pos = stop
    return out + mean


@dataclass(frozen=True, kw_only=True)
class OUSource(SyntheticSource):
    """Ornstein-Uhlenbeck: mean reversion to ``mean`` at per-bar rate ``theta`` with
    per-bar volatility ``sigma``; starts at ``x0`` (default: ``mean``)."""

    mean: float = 1.1
    theta: float = 0.05
    sigma: float = 0.001
    x0: float | None = None

    def _paths(self, rng, n):
        x0 = self.mean if self.x0 is None else self.x0
        return {self.name: ou_path(rng, n, self.ticks, self.mean, self.theta, self.sigma, x0)}


@dataclass(frozen=True, kw_only=True)
class CointegratedPairSource(SyntheticSource):
    """Two cointegrated assets: ``A`` is a GBM, ``B = beta * A + spread`` with an OU
    spread (mean ``spread_mean``, rate ``theta``, volatility ``spread_sigma``).

    Attributes:
        names: the two assets' names.
    """

    names: tuple[str, str] = ("asset_a", "asset_b")
    start_price: float = 100.0
    mu: float = 0.0
    sigma: float = 0.0005
    beta: float = 1.0
    spread_mean: float = 0.0
    theta: float = 0.05
    spread_sigma: float = 0.05

    def _paths(self, rng, n):
        a_rng, s_rng = rng.spawn(2)
        base = GBMSource(
            num_bars=self.num_bars,
            ticks=self.ticks,
            start_price=self.start_price,
            mu=self.mu,
            sigma=self.sigma,
            seed=a_rng,
            name=self.names[0],
        )._paths(a_rng, n)[self.names[0]]
        spread = ou_path(
            s_rng, n, self.ticks, self.spread_mean, self.theta, self.spread_sigma, self.spread_mean
        )
        return {self.names[0]: base, self.names[1]: self.beta * base + spread}
