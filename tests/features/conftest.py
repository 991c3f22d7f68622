"""Fixtures of the feature tests: real EURUSD / BTC / ETH bars (tests/data) and
synthetic paths."""

from __future__ import annotations

import numpy as np
import pytest

from btgym.datafeed import Bars, load_bars
from tests.datafeed.helpers import BTC_PARAMS, eurusd


@pytest.fixture(scope="session")
def eurusd6(shared_data) -> Bars:
    """EURUSD 1-minute, Jan-Jun 2017 (186,348 bars)."""
    return load_bars(eurusd(shared_data, 6))


@pytest.fixture(scope="session")
def eurusd_jan(eurusd6) -> Bars:
    """EURUSD January 2017 (a slice of the six months)."""
    end = int(np.searchsorted(eurusd6.index, np.datetime64("2017-02-01", "ns").astype(np.int64)))
    return eurusd6.slice(0, end)


@pytest.fixture(scope="session")
def crypto(shared_data) -> Bars:
    """BTC and ETH hourly, Oct 2018, on their common stamps."""
    return load_bars(
        {
            "BTC": str(shared_data / "BTC_USD_hour_data.csv"),
            "ETH": str(shared_data / "ETH_USD_hour_data.csv"),
        },
        parsing_params=BTC_PARAMS,
    )
