"""Helpers for the datafeed tests: EURUSD file lists and small CSV writers."""

from __future__ import annotations

from pathlib import Path

EURUSD_MONTHS = [f"DAT_ASCII_EURUSD_M1_2017{m:02d}.csv" for m in range(1, 7)]
BTC_PARAMS = dict(
    sep=",",
    header=0,
    datetime="time",
    datetime_format="epoch_ms",
    open="open",
    high="high",
    low="low",
    close="close",
    volume="volumefrom",
    timeframe=60,
)

GOOD_ROWS = [
    "20170102 020000;1.051550;1.051970;1.051550;1.051900;0",
    "20170102 020100;1.052090;1.052090;1.051770;1.051790;0",
    "20170102 020200;1.051770;1.051980;1.051770;1.051780;0",
    "20170102 020300;1.051790;1.051800;1.051680;1.051690;0",
]


def eurusd(shared: Path, months: int = 6) -> list[str]:
    """Paths of the first ``months`` EURUSD files."""
    return [str(shared / name) for name in EURUSD_MONTHS[:months]]


def write_rows(path: Path, rows: list[str], header: str | None = None) -> str:
    """Write a HistData-style file (one row per line) and return its path."""
    lines = ([header] if header else []) + rows
    path.write_text("\n".join(lines) + "\n")
    return str(path)
