"""RedisPublisher and SignalReader against a real redis-server (``live.md`` §5–§7)."""

from __future__ import annotations

import datetime as dt
import json
import os

import pytest
import redis

from btgym.errors import LiveBufferOverflowError, LiveConnectionError, SignalSchemaError
from btgym.live.publisher import RedisPublisher
from btgym.live.reader import SignalReader
from btgym.live.schema import Signal

from .conftest import start_server
from .helpers import Collector, make_signal, wait_for


def raw_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


def test_publish_writes_stream_latest_channel_and_heartbeat(shared_redis, live_name):
    reader = SignalReader(shared_redis.url, name=live_name)
    pushed = reader.subscribe(timeout=10)  # subscribed when this returns
    got = Collector(lambda add: [add(s) for _, s in zip(range(20), pushed)])
    got.start()
    pub = RedisPublisher(shared_redis.url, name=live_name, heartbeat_interval=0.2)
    for i in range(20):
        pub.publish(make_signal(i, name=live_name))
    entries = reader.read(count=1000)
    assert [e[0] for e in entries] == [make_signal(i).stream_id for i in range(20)]
    assert [s.seq for _, s in entries] == list(range(1, 21))
    r = raw_client(shared_redis.url)
    assert 0 < r.pttl(f"btgym:{live_name}:latest") <= 3 * 60_000
    assert reader.latest().seq == 20
    pub.set_state("running")
    wait_for(lambda: reader.heartbeat() and reader.heartbeat().state == "running", what="running")
    assert reader.alive()
    got.join(10)
    assert [s.seq for s in got.items] == list(range(1, 21))
    assert pub.close() == 0
    hb = reader.heartbeat()
    assert hb.state == "stopped" and hb.name == live_name and hb.buffered == 0
    assert not reader.alive()


def test_a_bar_is_stored_once_across_publishers(shared_redis, live_name):
    with RedisPublisher(shared_redis.url, name=live_name) as pub:
        for i in range(5):
            pub.publish(make_signal(i))
    with RedisPublisher(shared_redis.url, name=live_name) as again:  # a restarted runner
        for i in range(3, 8):
            again.publish(make_signal(i))
        assert (again.sent, again.already_delivered) == (3, 2)
    ids = [e[0] for e in SignalReader(shared_redis.url, name=live_name).read(count=100)]
    assert ids == [make_signal(i).stream_id for i in range(8)]
    with RedisPublisher(shared_redis.url, name=live_name, reset=True) as fresh:
        assert raw_client(shared_redis.url).exists(f"btgym:{live_name}:stream") == 0
        fresh.publish(make_signal(0))
        assert fresh.sent == 1


def test_outage_buffers_then_drains_in_order(redis_server, live_name, tmp_path):
    journal = tmp_path / "journal.jsonl"
    pub = RedisPublisher(redis_server.url, name=live_name, journal=journal, backoff=(0.05, 0.2))
    for i in range(10):
        pub.publish(make_signal(i))
    redis_server.kill()
    for i in range(10, 40):
        pub.publish(make_signal(i))  # never blocks on the dead server for long
    assert pub.buffered >= 29 and pub.state == "reconnecting"
    redis_server.restart()
    assert pub.flush(20) == 0
    assert "reconnecting" in pub.heartbeats  # written to redis once it answered again
    reader = SignalReader(redis_server.url, name=live_name)
    entries = reader.read(count=1000)
    assert [s.seq for _, s in entries] == list(range(1, 41))
    assert reader.latest().seq == 40
    assert pub.close() == 0
    lines = journal.read_text().splitlines()
    assert [json.loads(x)["seq"] for x in lines] == list(range(1, 41))


def test_full_buffer_raises_and_journals_in_order(redis_server, live_name, tmp_path):
    journal = tmp_path / "j.jsonl"
    pub = RedisPublisher(redis_server.url, name=live_name, buffer_max=10, journal=journal)
    pub.publish(make_signal(0))
    redis_server.stop()
    for i in range(1, 11):
        pub.publish(make_signal(i))
    with pytest.raises(LiveBufferOverflowError, match="buffer_max=10") as info:
        pub.publish(make_signal(11))
    assert str(journal) in str(info.value)
    with pytest.raises(LiveBufferOverflowError):
        pub.publish(make_signal(12))
    assert [json.loads(x)["seq"] for x in journal.read_text().splitlines()] == list(range(1, 13))
    pub.close(flush_timeout=0.1)


def test_unsent_signals_go_to_the_default_journal(redis_server, live_name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    pub = RedisPublisher(redis_server.url, name=live_name)
    redis_server.stop()
    for i in range(3):
        pub.publish(make_signal(i))
    assert pub.close(flush_timeout=0.2) == 3
    lines = (tmp_path / f"btgym-live-{live_name}.jsonl").read_text().splitlines()
    assert [Signal.from_json(x).seq for x in lines] == [1, 2, 3]


def test_reader_latest_expires_read_after_and_refuses_major_2(shared_redis, live_name):
    pub = RedisPublisher(shared_redis.url, name=live_name, ttl_bars=1)
    short = make_signal(0)
    short = Signal(
        **{**short.__dict__, "bar_close": short.bar_open + dt.timedelta(milliseconds=300)}
    )
    for i in range(1, 6):
        pub.publish(make_signal(i))
    reader = SignalReader(shared_redis.url, name=live_name)
    entries = reader.read()
    later = reader.read(after=entries[1][0])
    assert [e[0] for e in later] == [e[0] for e in entries[2:]]
    assert reader.read(after=entries[-1][0]) == []
    assert reader.read(after=entries[-1][0], block_ms=50) == []
    pub.close()
    raw = raw_client(shared_redis.url)
    raw.delete(f"btgym:{live_name}:latest")
    pub2 = RedisPublisher(shared_redis.url, name=live_name + "s", ttl_bars=1)
    pub2.publish(short)  # a 300 ms bar: latest lives 300 ms
    r2 = SignalReader(shared_redis.url, name=live_name + "s")
    wait_for(lambda: r2.latest() is None, timeout=10, what="latest to expire")
    pub2.close()
    data = json.loads(make_signal(9).to_json())
    data["schema"] = "btgym.signal/2"
    raw.xadd(f"btgym:{live_name}:stream", {"data": json.dumps(data)}, id="9999999999999-0")
    with pytest.raises(SignalSchemaError, match="major 2"):
        reader.read(after=entries[-1][0])


def test_follow_yields_each_entry_once_across_a_restart(redis_server, live_name):
    pub = RedisPublisher(redis_server.url, name=live_name, backoff=(0.05, 0.2))
    reader = SignalReader(redis_server.url, name=live_name, backoff=(0.05, 0.2))
    seen = Collector(lambda add: [add(e) for _, e in zip(range(60), reader.follow("0-0", 200))])
    seen.start()
    for i in range(30):
        pub.publish(make_signal(i))
    wait_for(lambda: len(seen.items) == 30, what="30 followed entries")
    redis_server.kill()
    for i in range(30, 60):
        pub.publish(make_signal(i))
    redis_server.restart()
    seen.join(30)
    assert seen.error is None
    assert [s.seq for _, s in seen.items] == list(range(1, 61))
    assert pub.close() == 0


def test_passwords_work_and_never_leak(live_name):
    secret = "pa55-Word-xyz"
    server = start_server(password=secret)
    try:
        with RedisPublisher(server.url, name=live_name) as pub:
            pub.publish(make_signal(0))
        assert SignalReader(server.url, name=live_name).latest().seq == 1
        wrong = server.url.replace(secret, "not-the-" + secret[:4] + "x")
        for fn in (RedisPublisher, SignalReader):
            with pytest.raises(LiveConnectionError) as info:
                fn(wrong, name=live_name)
            assert secret[:4] not in str(info.value) and "***" in str(info.value)
        nopass = server.url.replace(f":{secret}@", "")
        with pytest.raises(LiveConnectionError):
            RedisPublisher(nopass, name=live_name)
    finally:
        server.stop()


def test_no_server_is_a_named_error(live_name):
    with pytest.raises(LiveConnectionError, match="cannot reach"):
        RedisPublisher("redis://:topsecret@127.0.0.1:1/0", name=live_name, socket_timeout=0.5)


@pytest.mark.skipif(os.environ.get("BTGYM_SKIP_TLS") == "1", reason="TLS disabled by env")
def test_tls_connection(live_name, tmp_path):
    from .tls import tls_server_or_skip

    server, tls = tls_server_or_skip(tmp_path)
    try:
        with RedisPublisher(server.url, name=live_name, tls=tls) as pub:
            pub.publish(make_signal(0))
        assert SignalReader(server.url, name=live_name, tls=tls).latest().seq == 1
        with pytest.raises(LiveConnectionError):  # TLS port, plain client
            RedisPublisher(
                server.url.replace("rediss://", "redis://"), name=live_name, socket_timeout=1.0
            )
    finally:
        server.stop()


def test_an_outage_longer_than_max_outage_s_is_a_named_error(redis_server, live_name):
    pub = RedisPublisher(redis_server.url, name=live_name, max_outage_s=0.3, backoff=(0.05, 0.1))
    redis_server.stop()
    pub.publish(make_signal(0))
    wait_for(lambda: pub._fatal is not None, what="the publisher to give up")
    with pytest.raises(LiveConnectionError, match=r"unreachable for more than 0\.3 s"):
        pub.publish(make_signal(1))
    assert pub.close(flush_timeout=0.1) == 1
