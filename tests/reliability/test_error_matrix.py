"""One error class in both modes: bad CSVs, bad data and bad API calls raise the
same btgym error (and its builtin base) whether the data server and backtrader run
in child processes or in-process; in process mode the child's traceback is attached
(``remote_traceback`` and ``__cause__``) and the error's attributes (file, line,
column) survive the trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import btgym
from btgym.errors import (
    ConfigError,
    DataFileNotFoundError,
    DataParseError,
    DataValidationError,
    EnvClosedError,
    InvalidActionError,
    RenderError,
    ResetNeededError,
    SamplingError,
    UnknownKeywordError,
)
from tests.reliability.conftest import MODES, env_kwargs

SAMPLE = Path(btgym.sample_data_path("eurusd"))
ROWS = 3000  # two days of minutes: enough for 2-hour episodes


def _lines() -> list[str]:
    with open(SAMPLE) as fh:
        return [next(fh).rstrip("\n") for _ in range(ROWS)]


def _write(tmp_path: Path, name: str, lines: list[str] | bytes) -> str:
    path = tmp_path / name
    if isinstance(lines, bytes):
        path.write_bytes(lines)
    else:
        path.write_text("\n".join(lines) + "\n")
    return str(path)


def _set(lines: list[str], row: int, col: int, value: str) -> list[str]:
    out = list(lines)
    cells = out[row].split(";")
    cells[col] = value
    out[row] = ";".join(cells)
    return out


def bad_files(tmp_path: Path) -> dict[str, tuple[str, type, dict, str]]:
    """name → (path, error class, expected attributes, text the message must hold)."""
    base = _lines()
    unsorted = list(base)
    unsorted[100], unsorted[101] = unsorted[101], unsorted[100]
    quoted_bad = ['"' + x.replace(";", '";"') + '"' for x in base[:5]] + ["x"]
    return {
        "inf": (
            _write(tmp_path, "inf.csv", _set(base, 10, 2, "inf")),
            DataValidationError,
            {"row": 11, "column": "high"},
            "infinite",
        ),
        "huge": (
            _write(tmp_path, "huge.csv", _set(base, 20, 4, "1e308")),
            DataValidationError,
            {"row": 21, "column": "close"},
            "max_price",
        ),
        "zero": (
            _write(tmp_path, "zero.csv", _set(base, 30, 1, "0")),
            DataValidationError,
            {"row": 31, "column": "open"},
            "non-positive",
        ),
        "nan": (
            _write(tmp_path, "nan.csv", _set(base, 40, 3, "nan")),
            DataValidationError,
            {"row": 41, "column": "low"},
            "NaN",
        ),
        "unsorted": (
            _write(tmp_path, "unsorted.csv", unsorted),
            DataValidationError,
            {"row": 102},
            "not sorted",
        ),
        "comma": (
            _write(tmp_path, "comma.csv", [x.replace(";", ",") for x in base]),
            DataParseError,
            {"row": 1},
            "parsing_params={'sep': ','}",
        ),
        "tab": (
            _write(tmp_path, "tab.csv", [x.replace(";", "\t") for x in base]),
            DataParseError,
            {"row": 1},
            "tab-separated",
        ),
        "no_volume": (
            _write(tmp_path, "novol.csv", [x.rsplit(";", 1)[0] for x in base]),
            DataParseError,
            {"row": 1},
            "parsing_params={'volume': None}",
        ),
        "latin1": (
            _write(
                tmp_path,
                "latin1.csv",
                ("\n".join(_set(base, 7, 5, "0\xe9")) + "\n").encode("latin-1"),
            ),
            DataParseError,
            {"row": 8},
            "UTF-8",
        ),
        "short_row": (
            _write(tmp_path, "short.csv", [*base[:50], "20170102 045000;1.05", *base[50:]]),
            DataParseError,
            {"row": 51},
            "fields",
        ),
        "bad_date": (
            _write(tmp_path, "baddate.csv", _set(base, 60, 0, "20170231 020000")),
            DataParseError,
            {"row": 61},
            "bad datetime",
        ),
        "quoted_broken": (_write(tmp_path, "quoted.csv", quoted_bad), DataParseError, {}, "field"),
    }


CASES = [
    "inf",
    "huge",
    "zero",
    "nan",
    "unsorted",
    "comma",
    "tab",
    "no_volume",
    "latin1",
    "short_row",
    "bad_date",
    "quoted_broken",
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", CASES)
def test_bad_csv_matrix(tmp_path, case, mode):
    path, cls, attrs, text = bad_files(tmp_path)[case]
    with pytest.raises(cls) as err:
        btgym.BTgymEnv(server=mode, **env_kwargs(filename=path)).close()
    exc = err.value
    assert type(exc) is cls and isinstance(exc, ValueError)
    assert text in str(exc) and path in str(exc)
    assert exc.path == path
    for key, value in attrs.items():
        assert getattr(exc, key) == value, (key, getattr(exc, key))
    if mode == "process":
        assert "Traceback" in exc.remote_traceback and exc.__cause__ is not None


def test_quoted_file_reads_as_the_plain_one(tmp_path):
    base = _lines()
    quoted = _write(tmp_path, "q.csv", ['"' + x.replace(";", '";"') + '"' for x in base])
    plain = _write(tmp_path, "p.csv", base)
    from btgym.datafeed.sources import load_bars

    a, b = load_bars(quoted), load_bars(plain)
    np.testing.assert_array_equal(a.index, b.index)
    np.testing.assert_array_equal(a.values[a.names[0]], b.values[b.names[0]])


def test_max_price_is_configurable(tmp_path):
    path = _write(
        tmp_path,
        "big.csv",
        [";".join([x.split(";")[0], "2e12", "2e12", "2e12", "2e12", "0"]) for x in _lines()[:200]],
    )
    from btgym.datafeed.sources import load_bars

    with pytest.raises(DataValidationError, match="max_price"):
        load_bars(path)
    assert len(load_bars(path, parsing_params={"max_price": 1e13})) == 200


@pytest.mark.parametrize("mode", MODES)
def test_data_error_matrix(tmp_path, mode):
    """Missing file, impossible sampling: the same class in both modes."""
    with pytest.raises(FileNotFoundError) as err:
        btgym.BTgymEnv(server=mode, **env_kwargs(filename=str(tmp_path / "nope.csv")))
    assert type(err.value) is DataFileNotFoundError and "nope.csv" in str(err.value)
    short = _write(tmp_path, "short.csv", _lines()[:60])
    with pytest.raises(SamplingError) as err:
        env = btgym.BTgymEnv(server=mode, **env_kwargs(filename=short))
        try:
            env.reset(seed=0)
        finally:
            env.close()
    assert type(err.value) is SamplingError
    with pytest.raises(ConfigError) as err:  # checked by the domain: in the child
        btgym.BTgymEnv(server=mode, **env_kwargs(episode_duration={"days": -1}))
    assert type(err.value) is ConfigError and "must not be negative" in str(err.value)
    if mode == "process":
        assert err.value.remote_type == "ConfigError" and err.value.__cause__ is not None


@pytest.mark.parametrize("mode", MODES)
def test_bad_api_matrix(make_env, mode):
    with pytest.raises(TypeError) as err:
        btgym.BTgymEnv(server=mode, **env_kwargs(drawdown_cal=5))
    assert type(err.value) is UnknownKeywordError and "drawdown_call" in str(err.value)
    with pytest.raises(ConfigError):
        btgym.BTgymEnv(server=mode, **env_kwargs(parsing_params={"sep": "ab"}))
    env = make_env(server=mode)
    with pytest.raises(ResetNeededError):
        env.step(0)
    env.reset(seed=0)
    for bad in (7, -1, "buy", 1.5):
        with pytest.raises(InvalidActionError):
            env.step(bad)
    assert env.step(0)[0] is not None  # a bad action leaves the episode running
    with pytest.raises(RenderError) as err:
        env.render_image("no-such-mode")
    assert type(err.value) is RenderError
    env.close()
    with pytest.raises(EnvClosedError):
        env.step(0)
