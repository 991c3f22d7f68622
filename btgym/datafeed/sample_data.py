"""Small data samples shipped inside the package (for the README demo and examples)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from btgym.errors import DataFileNotFoundError

#: short names of the shipped files.
SAMPLES = {
    "eurusd": "DAT_ASCII_EURUSD_M1_201701_2W.csv",  # HistData EURUSD 1-min, 2-13 Jan 2017
    "sine": "test_sine_1min_period256_delta0002.csv",  # 10,000 sine bars, header line
}


def sample_data_path(name: str = "eurusd") -> Path:
    """Path of a data file shipped in ``btgym/data``.

    Args:
        name: a short name (``"eurusd"``: two weeks of HistData EURUSD minute bars,
            default parsing; ``"sine"``: 10,000 sine-wave minute bars, read with
            ``parsing_params={"header": 0}``) or a file name in ``btgym/data``.

    Raises:
        DataFileNotFoundError: no such sample.
    """
    fname = SAMPLES.get(name, name)
    path = Path(str(resources.files("btgym") / "data" / fname))
    if not path.is_file():
        raise DataFileNotFoundError(
            f"no shipped data sample {name!r}; known: {sorted(SAMPLES)} or files in {path.parent}"
        )
    return path
