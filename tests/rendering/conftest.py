"""Fixtures: episodes to render (synthetic and from a real backtrader run)."""

from __future__ import annotations

import numpy as np
import pytest

from btgym.rendering import RenderConfig
from tests.rendering.episodes import (
    EURUSD,
    backtrader_episode,
    synthetic_bars,
    synthetic_records,
)


@pytest.fixture(scope="session")
def bt_episode() -> tuple[dict[str, np.ndarray], object]:
    """Records and bars of a real backtrader run on 1500 EURUSD minute bars."""
    if not EURUSD.exists():
        pytest.skip(f"EURUSD data not found at {EURUSD}")
    records, bars = backtrader_episode(n_bars=1500, seed=7)
    assert len(records["fill_kind"]) > 10  # the run must trade for the marker tests
    return records, bars


@pytest.fixture(scope="session")
def small_episode() -> tuple[dict[str, np.ndarray], object]:
    """A 300-bar synthetic episode with trades of every kind."""
    rng = np.random.default_rng(0)
    bars = synthetic_bars(330, rng)
    records = synthetic_records(bars, rng, trade_prob=0.03)
    assert set(np.unique(records["fill_kind"])) == {1, 2, 3}
    return records, bars


@pytest.fixture(scope="session")
def observation() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    return {"raw": rng.normal(size=(30, 4)), "external": rng.normal(size=(30, 8, 3))}


@pytest.fixture
def config() -> RenderConfig:
    return RenderConfig()


@pytest.fixture
def small_config() -> RenderConfig:
    """Low resolution for tests that render many times."""
    return RenderConfig(render_dpi=50)
