"""Synthetic sources: seeded, consistent OHLC on a regular grid, usable as files."""

from __future__ import annotations

import numpy as np
import pytest

from btgym.datafeed import (
    BTgymDataset,
    BTgymRandomDataDomain,
    CointegratedPairSource,
    GBMSource,
    OUSource,
    RandomWalkSource,
    SineSource,
    load_bars,
)
from btgym.datafeed.timeutil import NS_PER_MINUTE, weekday
from btgym.errors import ConfigError

SOURCES = [
    SineSource(num_bars=2000, noise=0.0002),
    RandomWalkSource(num_bars=2000),
    GBMSource(num_bars=2000),
    OUSource(num_bars=2000),
    CointegratedPairSource(num_bars=2000),
]


@pytest.mark.parametrize("source", SOURCES, ids=lambda s: type(s).__name__)
def test_seeded_consistent_ohlc_on_a_grid(source):
    a, b = source.bars(), source.bars()
    other = type(source)(**{**source.__dict__, "seed": 99}).bars()
    for name in a.names:
        np.testing.assert_array_equal(a.values[name], b.values[name])  # same seed, same bars
        v = a.values[name]
        o, h, lo, c = v[:, 0], v[:, 1], v[:, 2], v[:, 3]
        assert np.all(h >= np.maximum(o, c)) and np.all(lo <= np.minimum(o, c))
        assert np.all(v[:, :4] > 0)
        np.testing.assert_array_equal(o[1:], c[:-1])  # open = previous close
        if not isinstance(source, SineSource) or source.noise:
            assert not np.array_equal(v, other.values[name])  # another seed, other bars
    assert np.all(np.diff(a.index) == NS_PER_MINUTE) and len(a) == 2000


def test_sine_follows_its_formula():
    src = SineSource(num_bars=512, period=256, amplitude=0.002, level=1.1)
    opens = src.bars().values["default_asset"][:, 0]
    expected = 1.1 + 0.002 * np.sin(2 * np.pi * np.arange(512) / 256)
    np.testing.assert_allclose(opens, expected, atol=1e-12)


def test_ou_reverts_to_its_mean_and_pair_is_cointegrated():
    ou = OUSource(num_bars=50_000, mean=1.1, theta=0.05, sigma=0.001, x0=1.2, seed=3).bars()
    close = ou.close()
    assert abs(close[5000:].mean() - 1.1) < 0.002
    assert close[0] > 1.15  # started away from the mean
    pair = CointegratedPairSource(num_bars=20_000, beta=2.0, names=("x", "y"), seed=4).bars()
    spread = pair.close("y") - 2.0 * pair.close("x")
    assert abs(spread.mean()) < 0.1 and spread.std() < 0.3
    assert np.ptp(pair.close("x")) > 1.0  # the common trend wanders, the spread does not


def test_grid_options_and_generator_seed():
    bars = SineSource(num_bars=3 * 1440, skip_weekends=True, start="2017-01-06", timeframe=1).bars()
    assert not np.isin(weekday(bars.index), [5, 6]).any()
    assert np.diff(bars.index).max() == 2 * 86_400_000_000_000 + NS_PER_MINUTE  # the weekend
    hourly = GBMSource(num_bars=10, timeframe=60).bars()
    assert hourly.timeframe == 60 and np.all(np.diff(hourly.index) == 60 * NS_PER_MINUTE)
    rng = np.random.default_rng(0)
    src = GBMSource(num_bars=10, seed=rng)
    assert not np.array_equal(src.bars().close(), src.bars().close())  # generator advances
    with pytest.raises(ConfigError):
        OUSource(num_bars=1)
    with pytest.raises(ConfigError):
        OUSource(num_bars=10, theta=0).bars()


def test_synthetic_sources_work_where_files_do():
    ds = BTgymDataset(
        filename=SineSource(num_bars=5000, noise=0.0001),
        episode_duration={"hours": 5},
        start_00=False,
        start_weekdays=None,
        seed=0,
    )
    assert len(ds.sample()) == 300
    multi = load_bars({"sine": SineSource(num_bars=100), "ou": OUSource(num_bars=80)})
    assert multi.names == ("sine", "ou") and len(multi) == 80
    dom = BTgymRandomDataDomain(
        filename=GBMSource(num_bars=20_000),
        trial_params={"sample_duration": {"days": 5}},
        episode_params={"sample_duration": {"hours": 6}},
        seed=0,
    )
    assert len(dom.sample().sample()) == 360
