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


@pytest.fixture(scope="session", autouse=True)
def sb3_logs_in_a_temp_dir(tmp_path_factory):
    """Stable-Baselines3 makes a ``$TMPDIR/SB3-<time>`` folder for every model it builds
    unless ``SB3_LOGDIR`` is set: keep those inside pytest's own (cleaned) temp tree."""
    patch = pytest.MonkeyPatch()
    patch.setenv("SB3_LOGDIR", str(tmp_path_factory.mktemp("sb3-logs")))
    yield
    patch.undo()
