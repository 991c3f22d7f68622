"""Shared test fixtures (keep minimal)."""

from __future__ import annotations

from pathlib import Path

import pytest

#: ``shared/`` lies beside the repository (here and in CI's fresh clone).
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared market-data folder (``../shared/data`` next to the repo)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data folder not found at {SHARED_DATA}")
    return SHARED_DATA
