"""Find the btgym server processes a test left behind."""

from __future__ import annotations

import os
import time

import psutil

HELPERS = ("multiprocessing.forkserver", "multiprocessing.resource_tracker")


def server_processes(pid: int | None = None) -> list[psutil.Process]:
    """Live descendants of ``pid`` (default: this process) that are servers, i.e. not
    the multiprocessing forkserver or resource tracker themselves (their forked
    children — our servers — are counted)."""
    me = psutil.Process(pid or os.getpid())
    out = []
    for proc in me.children(recursive=True):
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            cmd = " ".join(proc.cmdline())
            if proc.ppid() == me.pid and any(h in cmd for h in HELPERS):
                continue
            out.append(proc)
        except psutil.NoSuchProcess:
            continue
    return out


def wait_gone(pids: list[int], timeout: float = 5.0) -> list[int]:
    """Wait until none of ``pids`` is alive (zombies count as gone); return survivors."""
    deadline = time.monotonic() + timeout
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if _alive(p)]
        if alive:
            time.sleep(0.1)
    return alive


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
