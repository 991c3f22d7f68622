"""Shared fixtures of the algorithms tests: real BTgymEnv keywords on the sine sample,
and a check that no child process outlives a test."""

from __future__ import annotations

import time

import psutil
import pytest

from btgym.datafeed import sample_data_path

#: short episodes (60 bars: 30 warm-up, ~30 decisions) so a few hundred steps see many
EPISODE = {"days": 0, "hours": 1, "minutes": 0}


def sine_env_kwargs(**extra) -> dict:
    """Keywords of a real BTgymEnv on the shipped sine sample, with a test split."""
    kw = dict(
        filename=str(sample_data_path("sine")),
        parsing_params={"header": 0},
        episode_duration=EPISODE,
        test_period={"days": 1, "hours": 0, "minutes": 0},
        start_00=False,  # the sine's days are Sunday..Saturday: any start will do
        start_weekdays=[0, 1, 2, 3, 4, 5, 6],
    )
    kw.update(extra)
    return kw


def _is_helper(proc: psutil.Process, root: int) -> bool:
    """multiprocessing's own long-lived helpers of ``root`` (its forkserver and resource
    tracker live as long as ``root``); their forked children are *not* helpers."""
    try:
        cmd = " ".join(proc.cmdline())
        return proc.ppid() == root and ("forkserver" in cmd or "resource_tracker" in cmd)
    except psutil.NoSuchProcess:
        return True


def live_descendants(pid: int | None = None, helpers: bool = True) -> list[psutil.Process]:
    """Live (non-zombie) descendants of ``pid`` (default: this process); ``helpers=False``
    leaves out its direct forkserver / resource-tracker children."""
    root = psutil.Process(pid)
    out = []
    try:
        kids = root.children(recursive=True)
    except psutil.NoSuchProcess:
        return out
    for child in kids:
        try:
            if child.status() == psutil.STATUS_ZOMBIE:
                continue
        except psutil.NoSuchProcess:
            continue
        if not helpers and _is_helper(child, root.pid):
            continue
        out.append(child)
    return out


def wait_gone(procs: list[psutil.Process], timeout: float = 10.0) -> list[psutil.Process]:
    """Wait until ``procs`` have exited; returns those still alive."""
    deadline = time.monotonic() + timeout
    alive = procs
    while time.monotonic() < deadline:
        alive = []
        for p in procs:
            try:
                if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                    alive.append(p)
            except psutil.NoSuchProcess:
                pass
        if not alive:
            return []
        time.sleep(0.1)
    return alive


@pytest.fixture
def no_children_left():
    """Fails the test if any child it started is still alive a few seconds after it."""
    before = {p.pid for p in live_descendants()}
    yield
    new = [p for p in live_descendants(helpers=False) if p.pid not in before]
    alive = wait_gone(new, timeout=10.0)
    assert not alive, f"child processes survived: {[(p.pid, p.cmdline()) for p in alive]}"
