"""The queue worker behind ``btgym worker``: claim, run, record, repeat.

Several workers (on one host or many) may drain one registry: the claim is atomic, a
heartbeat thread refreshes the claimed run every 15 s, and stale runs of dead workers
are put back in the queue by whoever calls ``requeue_stale`` next.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from btgym.errors import RunStateError
from btgym.experiments.executors.base import parent_fingerprint, record_outcome
from btgym.experiments.registry import Registry, RunRecord
from btgym.log import get_logger

log = get_logger(__name__)

HEARTBEAT_S = 15.0
STALE_AFTER_S = 120.0


@dataclass
class WorkerSummary:
    """Runs a worker took and how they ended."""

    worker: str
    claimed: list[str] = field(default_factory=list)
    finished: int = 0
    failed: int = 0
    cancelled: int = 0


class _Heartbeat(threading.Thread):
    def __init__(self, registry: Registry, run_id: str, every: float) -> None:
        super().__init__(daemon=True, name=f"heartbeat-{run_id}")
        self.registry, self.run_id, self.every = registry, run_id, every
        self.stop = threading.Event()
        self.lost = False

    def run(self) -> None:
        while not self.stop.wait(self.every):
            try:
                if not self.registry.heartbeat(self.run_id):
                    self.lost = True
                    log.warning(f"run {self.run_id} is no longer ours (cancelled or requeued)")
                    return
            except Exception as exc:  # a busy database must not kill the run
                log.warning(f"heartbeat of run {self.run_id} failed: {exc}")


def work(
    registry: Registry,
    *,
    worker: str | None = None,
    kind: str | None = None,
    experiment: str | None = None,
    max_runs: int | None = None,
    idle_exit: float | None = None,
    poll: float = 1.0,
    device: str = "cpu",
    allow_data_change: bool = False,
    heartbeat_every: float = HEARTBEAT_S,
    echo: Callable[[str], None] = print,
) -> WorkerSummary:
    """Claim and run queued runs until ``max_runs`` are done or the queue stayed empty
    for ``idle_exit`` seconds (``None``: wait forever)."""
    from btgym.experiments.runner import run_config

    name = worker or f"{socket.gethostname()}:{os.getpid()}"
    summary = WorkerSummary(worker=name)
    registry.requeue_stale(STALE_AFTER_S)
    idle_since = time.monotonic()
    last_requeue = time.monotonic()
    while max_runs is None or len(summary.claimed) < max_runs:
        run = (
            registry.claim(name, kind=kind, experiment=experiment)
            if _has(registry, experiment)
            else None
        )
        if run is None:
            if idle_exit is not None and time.monotonic() - idle_since >= idle_exit:
                break
            time.sleep(poll)
            if time.monotonic() - last_requeue > STALE_AFTER_S / 2:
                registry.requeue_stale(STALE_AFTER_S)
                last_requeue = time.monotonic()
            continue
        summary.claimed.append(run.id)
        echo(f"claimed {run.id} {run.kind} {run.name or ''} by {name}")
        beat = _Heartbeat(registry, run.id, heartbeat_every)
        beat.start()
        try:
            outcome = run_config(
                run.config,
                _local_dir(registry, run),
                artifact_root=registry.artifact_root,
                device=device,
                run_id=run.id,
                expected_fingerprint=parent_fingerprint(registry, run),
                allow_data_change=allow_data_change,
            )
        except KeyboardInterrupt:
            registry.finish(run.id, "cancelled", error="interrupted (Ctrl-C)")
            summary.cancelled += 1
            echo(f"cancelled {run.id}")
            raise
        finally:
            beat.stop.set()
            beat.join(timeout=5)
        try:
            status = record_outcome(registry, run, outcome)
        except RunStateError as exc:
            status = "cancelled"
            echo(f"run {run.id} changed state while it ran ({exc}); results kept in its dir")
        if status == "finished":
            summary.finished += 1
        elif status == "cancelled":
            summary.cancelled += 1
        else:
            summary.failed += 1
        echo(f"{status} {run.id}")
        idle_since = time.monotonic()
    return summary


def _has(registry: Registry, experiment: str | None) -> bool:
    """Whether the experiment exists yet (a worker may start before anything is queued)."""
    return experiment is None or any(e.name == experiment for e in registry.experiments())


def _local_dir(registry: Registry, run: RunRecord) -> str | os.PathLike:
    """Where this host writes ``run``: under an fsspec root the local working copy (the
    path recorded at creation may be another host's), else the recorded run directory."""
    if registry.store.remote or not run.run_dir:
        return registry.run_dir_of(run.experiment, run.id)
    return run.run_dir
