"""Bar sources (``live.md`` §2) and TailSource's acceptance (item 11)."""

from __future__ import annotations

import itertools
import threading

import numpy as np
import pytest

from btgym.datafeed import load_bars
from btgym.errors import ConfigError
from btgym.live.sources import (
    CallbackSource,
    ClosedBar,
    IteratorSource,
    MergedSource,
    ReplaySource,
    TailSource,
)

from .helpers import Collector, wait_for

EURUSD = "DAT_ASCII_EURUSD_M1_201701.csv"


@pytest.fixture(scope="module")
def eurusd_lines(shared_data):
    return (shared_data / EURUSD).read_text().splitlines(keepends=True)[:400]


def test_replay_reads_through_load_bars_with_range(shared_data):
    src = ReplaySource(
        shared_data / EURUSD,
        speed="max",
        start="2017-01-02 02:00",
        end="2017-01-02 03:00",
        data_names=["EURUSD"],
    )
    bars = list(src)
    full = load_bars(shared_data / EURUSD)
    lo = np.searchsorted(full.index, bars[0].stamp)
    assert bars[0].stamp == np.datetime64("2017-01-02T02:00", "ns").astype(np.int64)
    assert all(
        b.values["EURUSD"].tolist() == full.values["default_asset"][lo + i].tolist()
        for i, b in enumerate(bars)
    )
    assert bars[-1].stamp < np.datetime64("2017-01-02T03:00", "ns").astype(np.int64)
    assert all(a.stamp < b.stamp for a, b in itertools.pairwise(bars))
    assert bars[0].close_stamp == bars[0].stamp + 60_000_000_000


def test_replay_speed_paces_and_stops(shared_data):
    src = ReplaySource(shared_data / EURUSD, speed=1.0)  # a minute bar per minute
    stop = threading.Event()
    got = Collector(lambda add: [add(b) for b in src.bars(stop)])
    got.start()
    wait_for(lambda: len(got.items) == 1, what="the first bar")
    stop.set()
    got.join(5)
    assert not got.is_alive() and len(got.items) == 1
    with pytest.raises(ConfigError):
        ReplaySource(shared_data / EURUSD, speed=0)


def test_iterator_and_callback_sources_reject_old_stamps():
    rows = [(60 * 10**9 * i, [1.0, 1.2, 0.9, 1.1, 0.0]) for i in (1, 2, 2, 1, 3)]
    src = IteratorSource(rows, timeframe=1)
    assert [b.stamp // 60_000_000_000 for b in src] == [1, 2, 3]
    assert src.rejected == 2
    cb = CallbackSource(timeframe=1, asset_names=["A", "B"])
    feeder = threading.Thread(
        target=lambda: (
            [
                cb.push(
                    np.datetime64(f"2017-01-02T00:0{i}"),
                    {"A": [1, 1, 1, 1, 0], "B": [2, 2, 2, 2, 0]},
                )
                for i in range(3)
            ]
            + [cb.end()]
        )
    )
    feeder.start()
    bars = list(cb)
    feeder.join()
    assert len(bars) == 3 and set(bars[0].values) == {"A", "B"}
    with pytest.raises(ConfigError):
        cb.push(0, [1, 2, 3])
    bar = ClosedBar(5, {"x": np.ones(5)}, 1, 0)
    assert next(iter(IteratorSource([bar], timeframe=1, asset_names=["x"]))).stamp == 5


def test_merged_source_emits_common_stamps_and_counts_drops():
    def feed(minutes):
        return IteratorSource(
            [(m * 60 * 10**9, [1.0, 1.0, 1.0, 1.0, 0.0]) for m in minutes], timeframe=1
        )

    merged = MergedSource({"A": feed([1, 2, 3, 5, 6]), "B": feed([1, 3, 4, 5, 7])})
    bars = list(merged)
    assert [b.stamp // (60 * 10**9) for b in bars] == [1, 3, 5]
    assert merged.dropped == 4  # 2, 4, 6, 7
    assert set(bars[0].values) == {"A", "B"}


def test_tail_source_lines_one_by_one_partial_lines_and_bad_rows(tmp_path, eurusd_lines):
    path = tmp_path / "live.csv"
    path.write_text("".join(eurusd_lines[:100]))
    src = TailSource(path, poll_interval=0.01, data_names=["EURUSD"])
    assert len(src.history()) == 100  # rows already there are warm-up history
    stop = threading.Event()
    got = Collector(lambda add: [add(b) for b in src.bars(stop)])
    got.start()
    with open(path, "a") as fh:
        for i, line in enumerate(eurusd_lines[100:130]):
            if i == 5:  # one line written in two chunks
                fh.write(line[:11])
                fh.flush()
                wait_for(lambda: src.reopened == 0 and len(got.items) == 5, what="5 bars")
                fh.write(line[11:])
            elif i == 10:
                fh.write("20170102 99XX00;1.0;1.0;1.0;1.0;0\n")  # malformed: logged, skipped
                fh.write(line)
            else:
                fh.write(line)
            fh.flush()
    wait_for(lambda: len(got.items) == 30, what="30 tailed bars")
    assert src.bad_rows == 1
    want = load_bars_from_lines(tmp_path, eurusd_lines[100:130])
    assert [b.stamp for b in got.items] == want.index.tolist()
    assert np.array_equal(np.stack([b.values["EURUSD"] for b in got.items]), want.values["x"])
    # truncate and rewrite: nothing replayed, new rows go on
    path.write_text("".join(eurusd_lines[:135]))
    wait_for(lambda: len(got.items) == 35, what="the 5 new rows after the rewrite")
    assert src.reopened == 1 and src.skipped == 130
    stop.set()
    got.join(5)
    assert [b.stamp for b in got.items] == sorted({b.stamp for b in got.items})


def load_bars_from_lines(tmp_path, lines):
    p = tmp_path / "truth.csv"
    p.write_text("".join(lines))
    return load_bars(p, data_names=["x"])


def test_tail_source_malformed_line_is_logged_with_its_number(tmp_path, eurusd_lines):
    from logbook import TestHandler

    path = tmp_path / "f.csv"
    path.write_text("".join(eurusd_lines[:3]) + "20170102 021000;1.0;0.5;1.0;1.0;0\n")
    src = TailSource(path, from_start=True, poll_interval=0.01)
    handler = TestHandler()
    handler.push_application()  # the source reads in another thread
    try:
        stop = threading.Event()
        got = Collector(lambda add: [add(b) for b in src.bars(stop)])
        got.start()
        wait_for(lambda: len(got.items) == 3 and src.bad_rows == 1, what="3 bars, 1 bad row")
        stop.set()
        got.join(5)
    finally:
        handler.pop_application()
    assert any("row 4" in r.message and "high" in r.message for r in handler.records)
