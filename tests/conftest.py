"""Shared test fixtures (keep minimal)."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
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


@contextlib.contextmanager
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A folder nobody may write to: chmod 500, or a read-only tmpfs as root (root
    ignores directory permissions)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o500)
        try:
            yield folder
        finally:
            folder.chmod(0o700)
        return
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"root here cannot mount a read-only tmpfs: {done.stderr!r}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)
