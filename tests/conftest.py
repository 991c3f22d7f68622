"""Shared test fixtures (keep minimal)."""

from __future__ import annotations

from pathlib import Path

import pytest

#: The market data the suite needs, shipped with the repository (a copy of
#: ``../shared/data``: EURUSD 1-minute Jan-Jun 2017, BTC/ETH hourly, the sine set), so a
#: plain clone runs every test.
SHARED_DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The bundled market-data folder (``tests/data``)."""
    assert SHARED_DATA.is_dir(), f"bundled test data missing at {SHARED_DATA}"
    return SHARED_DATA
