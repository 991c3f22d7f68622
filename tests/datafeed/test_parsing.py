"""Sources → canonical bars: HistData, generic CSV through parsing params, file lists,
DataFrames, several assets; and every bad-input case (error or warning-and-fix)."""

from __future__ import annotations

import logbook
import numpy as np
import pandas as pd
import pytest

from btgym.datafeed import Bars, ParsingParams, load_bars
from btgym.errors import (
    ConfigError,
    DataFileNotFoundError,
    DataParseError,
    DataValidationError,
    UnknownKeywordError,
)
from tests.datafeed.helpers import BTC_PARAMS, GOOD_ROWS, eurusd, write_rows

# ---------------------------------------------------------------------------- real files


def test_six_eurusd_months_load_as_canonical_bars(shared_data):
    bars = load_bars(eurusd(shared_data))
    assert len(bars) == 31500 + 28779 + 32660 + 29161 + 33054 + 31194 == 186348
    assert bars.names == ("default_asset",) and bars.timeframe == 1
    assert bars.index.dtype == np.int64 and np.all(np.diff(bars.index) > 0)
    frame = bars.frame()
    assert list(frame.columns) == ["open", "high", "low", "close", "volume"]
    assert all(dt == np.float64 for dt in frame.dtypes)
    assert isinstance(frame.index, pd.DatetimeIndex) and frame.index.tz is None
    # first and last rows exactly as in the files
    assert frame.index[0] == pd.Timestamp("2017-01-02 02:00:00")
    assert frame.iloc[0].tolist() == [1.05155, 1.05197, 1.05155, 1.0519, 0.0]
    assert frame.index[-1] == pd.Timestamp("2017-06-30 16:58:00")
    assert frame.iloc[-1].tolist() == [1.14206, 1.1424, 1.14206, 1.14232, 0.0]


def test_histdata_stamp_is_the_bar_open_time(shared_data):
    """Time convention: HistData's ``20170102 020100`` bar (the second row) is stamped
    02:01:00, its open time, in the file's own clock (naive, no shift)."""
    bars = load_bars(str(shared_data / "DAT_ASCII_EURUSD_M1_201701.csv"))
    assert bars.index[1] == np.datetime64("2017-01-02T02:01:00", "ns").astype(np.int64)
    assert bars.values["default_asset"][1, 0] == 1.05209  # that row's open


def test_sine_file_with_header_loads_through_parsing_params(shared_data):
    bars = load_bars(
        str(shared_data / "test_sine_1min_period256_delta0002.csv"),
        parsing_params={"header": 0},
        data_names=["sine"],
    )
    assert len(bars) == 10_000 and bars.names == ("sine",)
    assert bars.frame().index[0] == pd.Timestamp("2017-01-01 00:00")
    assert np.all(np.diff(bars.index) == 60_000_000_000)
    assert bars.values["sine"][0, 0] == 1.1


def test_btc_eth_epoch_ms_hourly_files_load_as_two_aligned_assets(shared_data):
    bars = load_bars(
        {
            "BTC": str(shared_data / "BTC_USD_hour_data.csv"),
            "ETH": str(shared_data / "ETH_USD_hour_data.csv"),
        },
        parsing_params=BTC_PARAMS,
    )
    assert bars.names == ("BTC", "ETH") and len(bars) == 337 and bars.timeframe == 60
    btc = bars.frame("BTC")
    # 1539763200000 ms = 2018-10-17 08:00 UTC; columns mapped by name, not position
    assert btc.index[0] == pd.Timestamp("2018-10-17 08:00")
    assert btc.iloc[0].tolist() == [6546.55, 6558.49, 6539.0, 6557.75, 1642.89]
    assert bars.frame("ETH").iloc[0]["close"] == 209.42
    assert np.all(np.diff(bars.index) == 3_600_000_000_000)


def test_generic_csv_with_format_and_timezone_is_converted_to_utc_naive(tmp_path):
    path = tmp_path / "ny.csv"
    path.write_text(
        "Date,Open,High,Low,Close\n"
        "2017-07-03 09:30,1.0,1.2,0.9,1.1\n"
        "2017-07-03 09:31,1.1,1.3,1.0,1.2\n"
    )
    params = ParsingParams(
        sep=",",
        header=0,
        datetime="Date",
        open="Open",
        high="High",
        low="Low",
        close="Close",
        volume=None,
        datetime_format="%Y-%m-%d %H:%M",
        timezone="America/New_York",
    )
    bars = load_bars(str(path), parsing_params=params)
    assert bars.frame().index[0] == pd.Timestamp("2017-07-03 13:30")  # EDT = UTC-4
    assert bars.values["default_asset"][:, 4].tolist() == [0.0, 0.0]  # no volume column


def test_list_of_files_is_concatenated_in_order(shared_data):
    two = load_bars(eurusd(shared_data, 2))
    first = load_bars(eurusd(shared_data, 1))
    assert len(two) == 31500 + 28779
    np.testing.assert_array_equal(two.index[: len(first)], first.index)


def test_dataframe_source_and_mapping_of_dataframes():
    idx = pd.date_range("2020-01-01", periods=5, freq="1min", tz="Europe/Berlin")
    frame = pd.DataFrame(
        {"Open": 1.0, "High": 2.0, "Low": 0.5, "Close": 1.5, "Volume": 3.0}, index=idx
    )
    bars = load_bars(dataframe=frame)
    assert bars.frame().index[0] == pd.Timestamp("2019-12-31 23:00")  # UTC, naive
    other = frame.iloc[1:]
    multi = load_bars(dataframe={"a": frame, "b": other})
    assert multi.names == ("a", "b") and len(multi) == 4  # intersection of stamps


def test_data_names_order_rename_or_refuse_assets(tmp_path):
    from btgym.datafeed import CointegratedPairSource, SineSource

    a = write_rows(tmp_path / "a.csv", GOOD_ROWS)
    mapping = {"x": a, "y": SineSource(num_bars=100, start="2017-01-02 02:00")}
    assert load_bars(mapping, data_names=["y", "x"]).names == ("y", "x")
    with pytest.raises(ConfigError, match="do not match"):
        load_bars(mapping, data_names=["x", "z"])
    pair = CointegratedPairSource(num_bars=50)
    assert load_bars(pair, data_names=["eur", "usd"]).names == ("eur", "usd")
    # two names for one asset would silently drop one: refused, naming both counts
    with pytest.raises(ConfigError, match="name 2 assets but the source holds 1"):
        load_bars([a], data_names=["A", "B"])


def test_names_param_labels_a_headerless_file(tmp_path):
    path = write_rows(tmp_path / "n.csv", [r.replace(" ", "T") for r in GOOD_ROWS])
    params = ParsingParams(
        names=("t", "o", "h", "l", "c", "v"),
        datetime="t",
        open="o",
        high="h",
        low="l",
        close="c",
        volume="v",
        datetime_format="%Y%m%dT%H%M%S",
    )
    bars = load_bars(path, parsing_params=params)
    assert bars.frame().index[1] == pd.Timestamp("2017-01-02 02:01")
    assert bars.values["default_asset"][1, :4].tolist() == [1.05209, 1.05209, 1.05177, 1.05179]


def test_multi_asset_alignment_warns_about_dropped_bars():
    idx = pd.date_range("2020-01-01", periods=6, freq="1min")
    a = pd.DataFrame({"open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5}, index=idx)
    b = a.drop(idx[[1, 4]])
    with logbook.TestHandler() as handler:
        bars = load_bars(dataframe={"a": a, "b": b})
    assert len(bars) == 4
    assert any("dropped 2 of 6 bars" in r.message for r in handler.records)


def test_unknown_parsing_key_and_bad_source_args():
    with pytest.raises(UnknownKeywordError, match="seperator"):
        ParsingParams.from_dict({"seperator": ","})
    with pytest.raises(ConfigError):
        load_bars()
    with pytest.raises(ConfigError):
        load_bars("a.csv", dataframe=pd.DataFrame())
    with pytest.raises(ConfigError, match="one character"):
        ParsingParams(sep=";;")


# ---------------------------------------------------------------------------- bad input


def test_missing_file_is_a_named_error(tmp_path):
    missing = tmp_path / "nope.csv"
    with pytest.raises(DataFileNotFoundError, match=r"nope\.csv") as err:
        load_bars(str(missing))
    assert isinstance(err.value, FileNotFoundError)


@pytest.mark.parametrize(
    ("bad_row", "error", "line", "column", "text"),
    [
        ("20170102 020200;1.05;1.06;1.04", DataParseError, 3, None, "4 fields, expected 6"),
        ("20170102 020200;1.05;abc;1.04;1.05;0", DataParseError, 3, 2, "'abc'"),
        ("2017x102 020200;1.05;1.06;1.04;1.05;0", DataParseError, 3, 0, "2017x102"),
        ("20170231 020200;1.05;1.06;1.04;1.05;0", DataParseError, 3, 0, "YYYYMMDD"),
        ("20170102 250200;1.05;1.06;1.04;1.05;0", DataParseError, 3, 0, "YYYYMMDD"),
        ("20170102 020200;1.05;;1.04;1.05;0", DataValidationError, 3, "high", "NaN"),
        ("20170102 020200;nan;1.06;1.04;1.05;0", DataValidationError, 3, "open", "NaN"),
        ("20170102 020200;1.05;1.06;-1.04;1.05;0", DataValidationError, 3, "low", "non-positive"),
        ("20170102 020200;0;1.06;1.04;1.05;0", DataValidationError, 3, "open", "non-positive"),
        ("20170102 020200;1.05;1.03;1.04;1.035;0", DataValidationError, 3, "high", "below low"),
        ("20170102 020200;1.05;1.055;1.04;1.06;0", DataValidationError, 3, "high", "close"),
        ("20170102 020200;1.05;1.06;1.051;1.055;0", DataValidationError, 3, "low", "above open"),
        ("20170102 020200;1.05;1.06;1.04;1.05;-5", DataValidationError, 3, "volume", "negative"),
        ("20170102 020000;1.05;1.06;1.04;1.05;0", DataValidationError, 3, 0, "not sorted"),
        ("20170102 020100;1.05;1.06;1.04;1.05;0", DataValidationError, 3, 0, "duplicated"),
    ],
)
def test_bad_row_names_file_line_and_column(tmp_path, bad_row, error, line, column, text):
    rows = [*GOOD_ROWS[:2], bad_row, *GOOD_ROWS[3:]]
    path = write_rows(tmp_path / "bad.csv", rows)
    with pytest.raises(error, match=text) as err:
        load_bars(path)
    exc = err.value
    assert exc.path == path and exc.row == line
    if column is not None:
        assert exc.column in (column, f"#{column}")
    assert f"row {line}" in str(exc) and "bad.csv" in str(exc)


def test_line_numbers_count_header_and_blank_lines(tmp_path):
    rows = [GOOD_ROWS[0], "", GOOD_ROWS[1], "20170102 020200;1.05;bad;1.04;1.05;0"]
    path = write_rows(tmp_path / "h.csv", rows, header="dt;o;h;l;c;v")
    with pytest.raises(DataParseError) as err:
        load_bars(path, parsing_params={"header": 0})
    assert err.value.row == 5  # header, row, blank, row, bad row


def test_blank_lines_are_skipped(tmp_path):
    path = write_rows(tmp_path / "b.csv", [GOOD_ROWS[0], "", GOOD_ROWS[1], ""])
    assert len(load_bars(path)) == 2


def test_empty_files_add_no_bars_and_a_source_of_none_is_refused(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    full = write_rows(tmp_path / "full.csv", GOOD_ROWS)
    assert len(load_bars([str(empty), full])) == 4
    with pytest.raises(DataValidationError, match="holds no bars") as err:
        load_bars(str(empty))
    assert "empty.csv" in str(err.value)


def test_unknown_column_name_is_a_parse_error(tmp_path, shared_data):
    src = str(shared_data / "BTC_USD_hour_data.csv")
    with pytest.raises(DataParseError, match="no column named 'Close'") as err:
        load_bars(src, parsing_params={**BTC_PARAMS, "close": "Close"})
    assert err.value.row == 1


def test_overlapping_files_warn_and_keep_the_first_files_bars(tmp_path):
    first = write_rows(tmp_path / "a.csv", GOOD_ROWS[:3])
    changed = "20170102 020200;2.0;2.0;2.0;2.0;0"  # overlaps a.csv's last stamp
    second = write_rows(tmp_path / "b.csv", [changed, GOOD_ROWS[3]])
    with logbook.TestHandler() as handler:
        bars = load_bars([first, second])
    assert len(bars) == 4
    assert bars.values["default_asset"][2, 0] == 1.05177  # a.csv's bar kept
    assert any("overlap" in r.message and "b.csv" in r.message for r in handler.records)


def test_files_listed_out_of_time_order_are_an_error(tmp_path):
    late = write_rows(tmp_path / "late.csv", GOOD_ROWS[2:])
    early = write_rows(tmp_path / "early.csv", GOOD_ROWS[:2])
    with pytest.raises(DataValidationError, match="out of time order"):
        load_bars([late, early])


def test_duplicated_file_in_list_is_dropped_with_warning(tmp_path):
    path = write_rows(tmp_path / "a.csv", GOOD_ROWS)
    with logbook.TestHandler() as handler:
        bars = load_bars([path, path])
    assert len(bars) == 4
    assert any("4 row(s) overlap" in r.message for r in handler.records)


def test_dataframe_errors_name_the_row():
    idx = pd.date_range("2020-01-01", periods=3, freq="1min")
    frame = pd.DataFrame({"open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5}, index=idx)
    frame.iloc[1, 3] = np.nan
    with pytest.raises(DataValidationError, match="row 2") as err:
        load_bars(dataframe=frame)
    assert err.value.column == "close"
    with pytest.raises(DataValidationError, match="DatetimeIndex"):
        load_bars(dataframe=frame.reset_index())
    with pytest.raises(DataValidationError, match="duplicated"):
        load_bars(dataframe=pd.concat([frame.iloc[:1], frame.iloc[:1]]).fillna(1.0))


def test_bars_from_wire_rejects_garbage():
    from btgym.errors import ProtocolError

    with pytest.raises(ProtocolError):
        Bars.from_wire({"kind": "btgym.bars", "names": ["a"]}, {})


def test_generic_csv_errors_name_line_and_column(tmp_path, shared_data):
    src = (shared_data / "BTC_USD_hour_data.csv").read_text().splitlines()
    bad_price = [*src[:4], src[4].replace("6544.32", "abc", 1), *src[5:]]
    path = tmp_path / "btc.csv"
    path.write_text("\n".join(bad_price) + "\n")
    with pytest.raises(DataParseError, match="'abc'") as err:
        load_bars(str(path), parsing_params=BTC_PARAMS)
    assert err.value.row == 5 and err.value.column == "close"
    iso = tmp_path / "iso.csv"
    iso.write_text("t,o,h,l,c\n2020-01-01 00:00,1,2,0.5,1\n2020-01-01 00:0x,1,2,0.5,1\n")
    params = dict(sep=",", header=0, datetime="t", datetime_format=None, volume=None)
    with pytest.raises(DataParseError, match="as a datetime") as err:
        load_bars(str(iso), parsing_params=params)
    assert err.value.row == 3 and err.value.column == "t"
    epoch = tmp_path / "epoch.csv"
    epoch.write_text("t,o,h,l,c\n1539763200000,1,2,0.5,1\n,1,2,0.5,1\n")
    with pytest.raises(DataParseError, match="missing epoch") as err:
        load_bars(str(epoch), parsing_params={**params, "datetime_format": "epoch_ms"})
    assert err.value.row == 3
