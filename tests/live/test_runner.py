"""LiveRunner + ModelTarget end to end on a real redis (``live.md`` §14 items 1–3, 5–7)."""

from __future__ import annotations

import json
import threading

import jsonschema
import numpy as np
import pytest
import redis

from btgym.errors import ConfigError
from btgym.live.publisher import RedisPublisher
from btgym.live.reader import SignalReader
from btgym.live.runner import LiveRunner
from btgym.live.schema import json_schema
from btgym.live.sources import ReplaySource, TailSource
from btgym.live.targets import ModelTarget

from .helpers import Collector, wait_for

MIN = 60_000_000_000


def at(bars, when: str) -> int:
    return int(np.searchsorted(bars.index, np.datetime64(when, "ns").astype(np.int64)))


def model_runner(
    model_dir, url, name, bars, start, n, *, history=500, timezone="Etc/GMT+5", pub=None, **kw
):
    src = ReplaySource(bars=bars.slice(start, start + n), speed=None)
    hist = bars.slice(start - history, start) if history else None
    pub = pub or RedisPublisher(url, name=name, heartbeat_interval=0.2)
    return LiveRunner(
        ModelTarget.from_dir(model_dir), src, pub, timezone=timezone, history=hist, **kw
    )


def stream(url, name):
    return SignalReader(url, name=name).read(count=100_000)


def test_replay_300_bars_subscriber_heartbeat_and_schema(
    shared_redis, live_name, model_dirs, eurusd
):
    reader = SignalReader(shared_redis.url, name=live_name)
    pushed = reader.subscribe(timeout=30)
    got = Collector(lambda add: [add(s) for _, s in zip(range(300), pushed)])
    got.start()
    start = at(eurusd, "2017-01-16T10:00")
    runner = model_runner(model_dirs["mlp20"], shared_redis.url, live_name, eurusd, start, 300)
    stats = runner.run()
    assert stats.exit_code == 0 and stats.bars == stats.signals == 300
    entries = stream(shared_redis.url, live_name)
    closes = (eurusd.index[start : start + 300] + MIN) // 1_000_000 + 5 * 3_600_000  # EST → UTC
    assert [e[0] for e in entries] == [f"{c}-0" for c in closes]
    assert [s.seq for _, s in entries] == list(range(1, 301))
    raw = redis.Redis.from_url(shared_redis.url)
    assert 0 < raw.pttl(f"btgym:{live_name}:latest") <= 3 * 60_000
    assert reader.latest().seq == 300
    got.join(30)
    assert [s.seq for s in got.items] == list(range(1, 301))
    assert "running" in runner.publisher.heartbeats
    assert reader.heartbeat().state == "stopped"
    schema = jsonschema.Draft202012Validator(json_schema())
    for _, fields in raw.xrange(f"btgym:{live_name}:stream"):
        assert not list(schema.iter_errors(json.loads(fields[b"data"])))
    assert stats.ok + stats.stale == 300 and stats.error == 0 and stats.latency_ms_median > 0
    realised = {k.decode(): v.decode() for k, v in raw.hgetall(f"btgym:{live_name}:stats").items()}
    assert 0.0 <= float(realised["acc"]) <= 1.0 and 200 < int(realised["n"]) <= stats.ok


def test_histdata_clock_to_utc_and_refusal_without_clock(
    shared_redis, live_name, model_dirs, eurusd
):
    runner = model_runner(model_dirs["tiny"], shared_redis.url, live_name, eurusd, 0, 3, history=0)
    assert runner.target.warmup_bars == 1
    runner.run()
    first = stream(shared_redis.url, live_name)[0][1].to_dict()
    assert first["bar_open"] == "2017-01-02T07:00:00.000Z"
    assert first["bar_close"] == "2017-01-02T07:01:00.000Z"
    jsonschema.validate(first, json_schema())
    with pytest.raises(ConfigError, match="pass --timezone; HistData is Etc/GMT\\+5, or UTC"):
        model_runner(
            model_dirs["tiny"],
            shared_redis.url,
            live_name + "x",
            eurusd,
            0,
            3,
            history=0,
            timezone=None,
        )


def test_parity_with_batch_features_and_offline_predictions(
    shared_redis, live_name, model_dirs, eurusd, eurusd_path
):
    from btgym.features import compute_features

    for key, n in (("mlp20", 500), ("five", 500)):
        start = at(eurusd, "2017-01-18T12:00")
        target = ModelTarget.from_dir(model_dirs[key])
        seen: list = []
        box: list = []
        runner = model_runner(
            model_dirs[key],
            shared_redis.url,
            f"{live_name}{key}",
            eurusd,
            start,
            n,
            history=800,
            on_signal=lambda s, seen=seen, box=box: seen.append(
                (s, box[0].target.last_features.copy())
            ),
        )
        box.append(runner)
        stats = runner.run()
        assert stats.exit_code == 0
        window = eurusd.slice(start - 800, start + n)  # the bars the runner saw, from a CSV
        X = compute_features(target.features, window, at="bars")
        scaled = target.scaler.transform(X)
        utc = X.index + np.timedelta64(5, "h")
        if key == "mlp20":
            assert len(seen) == n
            rows = scaled.iloc[800:]
        else:  # one signal per completed 5-minute bin, at the bar where b*(t) advances
            bins = sorted(
                {(int(t) + MIN) // (5 * MIN) * (5 * MIN) - 5 * MIN for t in window.index[800:]}
                - {(int(window.index[799]) + MIN) // (5 * MIN) * (5 * MIN) - 5 * MIN}
            )
            assert [int(s.bar_open.timestamp()) * 10**9 - 5 * 3600 * 10**9 for s, _ in seen] == bins
            assert all((s.bar_close - s.bar_open).total_seconds() == 300 for s, _ in seen)
            last_bar_of = {}
            for t in window.index[800:]:
                last_bar_of.setdefault((int(t) + MIN) // (5 * MIN) * (5 * MIN) - 5 * MIN, int(t))
            rows = scaled.loc[[np.datetime64(last_bar_of[b], "ns") for b in bins]]
        live = np.stack([f for _, f in seen])
        np.testing.assert_allclose(live, rows.to_numpy(), rtol=1e-12, atol=1e-12)
        assert np.array_equal(np.isnan(live), np.isnan(rows.to_numpy()))
        ok = np.isfinite(rows.to_numpy()).all(axis=1)
        offline = target.model.predict_proba(rows.to_numpy()[ok])
        published = np.array([s.probabilities for s, _ in seen if s.status == "ok"])
        assert [s.status == "ok" for s, _ in seen] == ok.tolist()
        np.testing.assert_allclose(published, offline, atol=1e-6)
        del utc


def test_weekend_gap_is_stale_and_nan_is_never_ok(shared_redis, live_name, model_dirs, eurusd):
    start = at(eurusd, "2017-01-06T12:00")
    seen: list = []
    box: list = []
    runner = model_runner(
        model_dirs["mlp20"],
        shared_redis.url,
        live_name,
        eurusd,
        start,
        400,
        on_signal=lambda s: seen.append((s, box[0].target.last_features.copy())),
    )
    box.append(runner)
    runner.run()
    gap = next(
        i
        for i, (s, _) in enumerate(seen)
        if i and (s.bar_open - seen[i - 1][0].bar_open).total_seconds() > 3600
    )
    first = seen[gap][0]
    assert first.status == "stale" and first.prediction is None and first.probabilities is None
    last_ok = [s for s, _ in seen[:gap] if s.status == "ok"][-1]
    assert first.last_ok_bar_close == last_ok.bar_close
    assert first.last_ok_bar_close.weekday() == 4  # Friday's last ok bar
    for s, f in seen:
        assert (s.status == "ok") == bool(np.isfinite(f).all())
    assert runner.stale >= 60  # LogReturns(lookback=60) needs an hour after the gap


def test_redis_sigkill_mid_replay_loses_and_duplicates_nothing(
    redis_server, live_name, model_dirs, eurusd
):
    start = at(eurusd, "2017-01-17T03:00")
    pub = RedisPublisher(
        redis_server.url, name=live_name, backoff=(0.1, 5.0), heartbeat_interval=0.2
    )
    runner = model_runner(
        model_dirs["tiny"], redis_server.url, live_name, eurusd, start, 2000, pub=pub
    )
    raw = redis.Redis.from_url(redis_server.url, socket_timeout=2)
    result = {}
    thread = threading.Thread(target=lambda: result.update(stats=runner.run()))
    thread.start()
    key = f"btgym:{live_name}:stream"
    wait_for(lambda: raw.xlen(key) >= 500, what="500 entries")
    redis_server.kill()
    threading.Event().wait(1.0)  # the scenario: redis is down for a second
    redis_server.restart()
    thread.join(60)
    assert not thread.is_alive() and result["stats"].exit_code == 0
    entries = stream(redis_server.url, live_name)
    ids = [int(e[0].split("-")[0]) for e in entries]
    assert len(entries) == 2000 and ids == sorted(set(ids))
    assert [s.seq for _, s in entries] == list(range(1, 2001))
    assert "reconnecting" in pub.heartbeats and pub.outages == 1


def test_runner_restart_on_a_tailed_file_publishes_no_bar_twice(
    shared_redis, live_name, model_dirs, eurusd_path, tmp_path
):
    lines = eurusd_path.read_text().splitlines(keepends=True)
    i0 = next(i for i, ln in enumerate(lines) if ln.startswith("20170116 100000"))
    path = tmp_path / "live.csv"
    path.write_text("".join(lines[i0 - 400 : i0]))

    def session(new_lines, from_start=False):
        src = TailSource(path, poll_interval=0.01, data_names=["EURUSD"], from_start=from_start)
        pub = RedisPublisher(shared_redis.url, name=live_name)
        runner = LiveRunner(
            ModelTarget.from_dir(model_dirs["mlp20"]), src, pub, timezone="Etc/GMT+5"
        )
        stop = threading.Event()
        result = {}
        t = threading.Thread(target=lambda: result.update(stats=runner.run(stop)))
        t.start()
        want = runner.signals + len(new_lines) if not from_start else None
        with open(path, "a") as fh:
            fh.writelines(new_lines)
        if want is not None:
            wait_for(lambda: runner.signals == want, what=f"{want} signals")
        else:
            total = len(path.read_text().splitlines())
            wait_for(lambda: runner.bars == total, what=f"all {total} rows of the file")
        stop.set()
        t.join(30)
        return result["stats"], pub

    s1, _ = session(lines[i0 : i0 + 30])
    s2, _ = session(lines[i0 + 30 : i0 + 60])  # restarted: starts at the file's end
    s3, pub3 = session(lines[i0 + 60 : i0 + 70], from_start=True)  # re-reads all of it
    assert (s1.signals, s2.signals) == (30, 30) and s1.exit_code == s2.exit_code == 0
    assert pub3.already_delivered >= 60
    entries = stream(shared_redis.url, live_name)
    ids = [int(e[0].split("-")[0]) for e in entries]
    assert ids == sorted(set(ids)) and len(ids) == 70
    assert pub3.sent == 10 and s3.exit_code == 0  # only the new rows reached the stream


def test_full_buffer_stops_the_runner_with_exit_3(
    redis_server, live_name, model_dirs, eurusd, tmp_path
):
    journal = tmp_path / "journal.jsonl"
    pub = RedisPublisher(redis_server.url, name=live_name, buffer_max=10, journal=journal)
    start = at(eurusd, "2017-01-16T10:00")
    runner = model_runner(
        model_dirs["mlp20"], redis_server.url, live_name, eurusd, start, 100, pub=pub
    )
    redis_server.stop()
    stats = runner.run()
    assert stats.exit_code == 3 and stats.signals == 11
    seqs = [json.loads(line)["seq"] for line in journal.read_text().splitlines()]
    assert seqs == list(range(1, 12))  # every buffered signal, in order (and the 11th)


class BrokenAfter:
    """A user's target that starts failing after ``n`` bars (the runner must survive it)."""

    def __init__(self, inner, n):
        self.inner, self.n, self.calls = inner, n, 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def update(self, bar):
        self.calls += 1
        if self.calls > self.n:
            raise RuntimeError(f"model blew up at call {self.calls}")
        return self.inner.update(bar)


def test_ten_errors_in_a_row_stop_with_exit_1(shared_redis, live_name, model_dirs, eurusd):
    start = at(eurusd, "2017-01-16T10:00")
    target = BrokenAfter(ModelTarget.from_dir(model_dirs["tiny"]), 5)
    pub = RedisPublisher(shared_redis.url, name=live_name)
    runner = LiveRunner(
        target,
        ReplaySource(bars=eurusd.slice(start, start + 100), speed=None),
        pub,
        timezone="Etc/GMT+5",
        history=eurusd.slice(start - 5, start),
    )
    stats = runner.run()
    assert stats.exit_code == 1 and stats.bars == 15 and (stats.ok, stats.error) == (5, 10)
    reader = SignalReader(shared_redis.url, name=live_name)
    signals = [s for _, s in reader.read()]
    errors = [s for s in signals if s.status == "error"]
    assert len(errors) == 10 and errors[0].error.startswith("RuntimeError: model blew up")
    assert all(s.last_ok_bar_close == signals[4].bar_close and s.prediction is None for s in errors)
    assert reader.heartbeat().state == "error"


def test_a_window_model_serves_its_last_rows(shared_redis, live_name, eurusd, tmp_path):
    """A GRU over 3 consecutive feature rows: live probabilities equal offline
    ``predict_proba`` on ``make_windows`` of the batch features; a window over a gap is
    stale."""
    from btgym.features import (
        BodyRatio,
        CloseLocation,
        FeatureLabelSet,
        LogReturns,
        compute_features,
        make_windows,
    )
    from btgym.models import GRUClassifier

    feats = [LogReturns().lookback(1), BodyRatio(), CloseLocation()]
    ds = FeatureLabelSet(feats, [LogReturns().lookforward(1)]).split(
        eurusd,
        train=("2017-01-03", "2017-01-05"),
        test=("2017-01-05", "2017-01-06"),
        task="classification",
    )
    Xw, idx = make_windows(ds.X_train, 3, minutes=1)
    model = GRUClassifier(n_features=3, n_classes=ds.n_classes, window=3, hidden=8, seed=0)
    model.fit(Xw, ds.y_train.loc[idx].to_numpy(dtype=np.int64), epochs=2)
    target_dir = model.save(tmp_path / "gru", dataset=ds)
    start = at(eurusd, "2017-01-18T12:00")
    seen: list = []
    runner = model_runner(
        target_dir,
        shared_redis.url,
        live_name,
        eurusd,
        start,
        150,
        history=50,
        on_signal=lambda s: seen.append(s),
    )
    assert runner.target.window == 3 and runner.run().exit_code == 0
    window = eurusd.slice(start - 50, start + 150)
    scaled = runner.target.scaler.transform(compute_features(feats, window, at="bars"))
    W, last = make_windows(scaled.dropna(), 3, minutes=1)
    offline = dict(zip(last.asi8.tolist(), model.predict_proba(W)))
    assert len(seen) == 150
    for s in seen:
        stamp = int(s.bar_open.timestamp() * 1e9) - 5 * 3600 * 10**9
        if stamp in offline:
            assert s.status == "ok"
            np.testing.assert_allclose(s.probabilities, offline[stamp], atol=1e-6)
        else:
            assert s.status == "stale" and s.probabilities is None
    assert sum(s.status == "ok" for s in seen) > 100
