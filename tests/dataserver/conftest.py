"""Fixtures of the data-server tests: real spawned servers, always stopped."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import psutil
import pytest

from btgym.datafeed import DataConfig, make_domain
from btgym.dataserver import DataServerProcess
from tests.conftest import SHARED_DATA

#: a random domain over Jan-Feb 2017 EURUSD: 10-day trials with a 2-day test part,
#: one-day episodes, and target trials from the last 15 days.
RANDOM_KW: dict[str, Any] = dict(
    domain="random",
    trial_params=dict(sample_duration={"days": 10}, time_gap={"days": 5}, test_period={"days": 2}),
    episode_params=dict(sample_duration={"hours": 23, "minutes": 55}),
    target_period={"days": 15},
)
SEQUENTIAL_KW: dict[str, Any] = dict(
    domain="sequential",
    trial_params=dict(sample_duration={"days": 8}, time_gap={"days": 5}, test_period={"days": 2}),
    episode_params=dict(sample_duration={"hours": 23, "minutes": 55}),
)
DATASET_KW: dict[str, Any] = dict(domain="dataset", test_period={"days": 10})


def eurusd(*months: int) -> list[str]:
    """Paths of the shared HistData EURUSD files of 2017 ``months``."""
    return [str(SHARED_DATA / f"DAT_ASCII_EURUSD_M1_2017{m:02d}.csv") for m in months]


def data_config(kind: str = "random", seed: int | None = 11, **over: Any) -> DataConfig:
    """A DataConfig over Jan-Feb 2017 EURUSD of the given domain kind."""
    base = {"random": RANDOM_KW, "sequential": SEQUENTIAL_KW, "dataset": DATASET_KW}[kind]
    return DataConfig(**{"filename": eurusd(1, 2), "seed": seed, **base, **over})


def local_domain(config: DataConfig) -> Any:
    """The same domain, in this process, reset as the server resets it."""
    domain = make_domain(config)
    domain.reset()
    return domain


def ipc_dir(endpoint: str) -> str | None:
    return os.path.dirname(endpoint[len("ipc://") :]) if endpoint.startswith("ipc://") else None


def assert_gone(pid: int | None, endpoint: str | None) -> None:
    """The server process no longer runs and its ipc dir is removed."""
    if pid is not None and psutil.pid_exists(pid):
        assert psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, f"pid {pid} still runs"
    folder = ipc_dir(endpoint or "")
    assert folder is None or not os.path.exists(folder), f"{folder} left behind"


@pytest.fixture
def start_server() -> Iterator[Any]:
    """``start_server(source, **kw) -> DataServerProcess`` (started); every server is
    stopped at teardown and checked gone."""
    made: list[DataServerProcess] = []

    def start(source: Any = None, **kw: Any) -> DataServerProcess:
        proc = DataServerProcess(data_config() if source is None else source, **kw)
        made.append(proc)
        proc.start()
        return proc

    yield start
    for proc in made:
        pid, endpoint = proc.pid, proc.endpoint
        proc.stop()
        assert_gone(pid, endpoint)


@pytest.fixture
def server(start_server: Any) -> DataServerProcess:
    """A random-domain data server (seed 11) on ipc."""
    return start_server()
