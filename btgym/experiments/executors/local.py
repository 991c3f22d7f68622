"""LocalExecutor: a pool of spawned worker processes on this machine.

Phase 1 builds each unit's dataset exactly once (one task per unit); phase 2 runs one
task per run. Tasks and outcomes cross the pipes as JSON text. The driver alone writes
the registry, heartbeats in-flight runs, fails the run of a worker that died
("worker process died (exit code N)") and starts a new worker in its place. Ctrl-C
marks in-flight runs ``cancelled`` and re-raises.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import os
import signal
import socket
import time
import traceback
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from btgym.experiments.executors import base as B
from btgym.experiments.registry import Registry, RunRecord
from btgym.experiments.runner import RunOutcome
from btgym.log import get_logger

log = get_logger(__name__)

HEARTBEAT_S = 15.0
_CTX = mp.get_context("spawn")


def _worker_main(conn: Connection, threads: int) -> None:
    """A pool worker: read JSON tasks, answer JSON results, until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver decides about Ctrl-C
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        pass
    while True:
        try:
            msg = json.loads(conn.recv_bytes())
        except EOFError:
            return
        if msg["op"] == "stop":
            return
        conn.send_bytes(json.dumps(execute_task(msg)).encode())


def execute_task(msg: dict[str, Any]) -> dict[str, Any]:
    """Run one task message (``dataset`` or ``run``) and return its JSON result."""
    if msg["op"] == "dataset":
        from btgym.experiments.datasets import ensure_dataset

        try:
            ds, key, cache, fp = ensure_dataset(msg["cfg"], msg["artifact_root"])
            return {"key": key, "cache": cache, "fingerprint": fp, "rows": len(ds.X_train)}
        except Exception:
            return {"error": traceback.format_exc()}
    from btgym.experiments.runner import run_config

    return run_config(
        msg["cfg"],
        msg["run_dir"],
        artifact_root=msg["artifact_root"],
        device=msg["device"],
        run_id=msg["run_id"],
        expected_fingerprint=msg.get("expected_fingerprint"),
        allow_data_change=bool(msg.get("allow_data_change")),
    ).to_dict()


@dataclass
class _Slot:
    proc: Any
    conn: Connection
    task: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        return f"{socket.gethostname()}:{self.proc.pid}"


class LocalExecutor:
    """Run configs in ``n_workers`` spawned processes (used as a context manager, the
    pool lives on across :meth:`run` calls).

    Args:
        n_workers: pool size (default: CPU count).
        device: ``"cpu"``, ``"auto"`` or ``"cuda"`` (lane i uses ``cuda:i``).
        threads_per_worker: ``torch.set_num_threads`` in each worker.
        allow_data_change: let reruns run on data whose fingerprint changed.
    """

    def __init__(
        self,
        n_workers: int | None = None,
        device: str = "cpu",
        threads_per_worker: int = 1,
        allow_data_change: bool = False,
    ) -> None:
        self.n_workers = max(1, int(n_workers or os.cpu_count() or 1))
        self.device = device
        self.threads = max(1, int(threads_per_worker))
        self.allow_data_change = allow_data_change
        self._slots: list[_Slot] = []
        self._keep = False

    def __enter__(self) -> LocalExecutor:
        """Keep the worker pool alive across :meth:`run` calls until the block ends."""
        self._keep = True
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Stop the worker processes."""
        self._keep = False
        self._shutdown(graceful=True)

    # ------------------------------------------------------------------ pool

    def _spawn(self) -> _Slot:
        parent, child = _CTX.Pipe()
        proc = _CTX.Process(
            target=_worker_main, args=(child, self.threads), daemon=True, name="btgym-run-worker"
        )
        proc.start()
        child.close()
        return _Slot(proc, parent)

    def _shutdown(self, graceful: bool) -> None:
        for s in self._slots:
            if graceful and s.proc.is_alive() and s.task is None:
                with contextlib.suppress(OSError):
                    s.conn.send_bytes(json.dumps({"op": "stop"}).encode())
        for s in self._slots:
            s.proc.join(timeout=5 if graceful else 0.1)
            if s.proc.is_alive():
                s.proc.kill()
                s.proc.join(timeout=5)
            s.conn.close()
        self._slots = []

    def _devices(self, plan: B.Plan, unit: str, index: int) -> str:
        dev = self.device
        if dev == "auto":
            from btgym.algorithms.common.device import resolve_device

            dev = str(resolve_device("auto"))
        if not dev.startswith("cuda") or ":" in dev:
            return dev
        import torch

        n = max(1, torch.cuda.device_count())
        lane = plan.lanes.get(unit, index)
        return f"cuda:{lane % n}"

    def _drain(
        self, tasks: deque, on_result: Any, on_start: Any, on_death: Any, registry: Registry
    ) -> None:
        """Feed tasks to idle workers until all are answered."""
        last_beat = time.monotonic()
        while tasks or any(s.task for s in self._slots):
            for s in self._slots:
                if s.task is None and tasks:
                    s.task = tasks.popleft()
                    on_start(s)
                    s.conn.send_bytes(json.dumps(s.task).encode())
            busy = [s for s in self._slots if s.task is not None]
            ready = wait([s.conn for s in busy] + [s.proc.sentinel for s in busy], timeout=1.0)
            for s in busy:
                if s.conn in ready or (s.proc.sentinel in ready and s.conn.poll()):
                    try:
                        result = json.loads(s.conn.recv_bytes())
                    except (EOFError, OSError):
                        result = None
                    if result is not None:
                        task, s.task = s.task, None
                        on_result(task, result)
                        continue
                if s.proc.sentinel in ready or not s.proc.is_alive():
                    s.proc.join(timeout=1)
                    task, s.task = s.task, None
                    s.conn.close()
                    idx = self._slots.index(s)
                    self._slots[idx] = self._spawn()
                    on_death(task, s.proc.exitcode)
            if time.monotonic() - last_beat > HEARTBEAT_S:
                last_beat = time.monotonic()
                for s in self._slots:
                    if s.task and s.task["op"] == "run":
                        registry.heartbeat(s.task["run_id"])

    # ------------------------------------------------------------------ run

    def run(
        self,
        spec_or_configs: Any,
        registry: Registry,
        *,
        experiment: str | None = None,
        resume: bool = False,
        dry_run: bool = False,
        progress: bool = True,
    ) -> B.RunSummary:
        """Create every run as queued, build each unit's dataset once, then run them."""
        t0 = time.perf_counter()
        plan = B.plan(
            spec_or_configs, registry, experiment=experiment, resume=resume, dry_run=dry_run
        )
        reg = plan.registry
        summary = B.RunSummary(
            created=plan.created,
            skipped=plan.skipped,
            run_ids=[r.id for r in plan.runs],
            registry_url=reg.safe_url,
        )
        root = reg.artifact_root.as_posix()
        groups = B.units_of(plan.runs)
        failed_units: dict[str, str] = {}
        rows: dict[str, int] = {}
        bar = B.progress_bar(len(plan.runs), progress and bool(plan.runs), plan.experiment)
        want = self.n_workers if self._keep else min(self.n_workers, max(1, len(plan.runs)))
        self._slots = [s for s in self._slots if s.proc.is_alive()]
        self._slots += [self._spawn() for _ in range(want - len(self._slots))]
        inflight: dict[str, RunRecord] = {}
        try:
            # phase 1: one dataset task per unit
            def ds_result(task: dict, res: dict) -> None:
                unit = task["unit"]
                if "error" in res:
                    failed_units[task["group"]] = res["error"]
                    return
                rows[task["group"]] = int(res["rows"])
                if res["cache"] == "built":
                    summary.dataset_builds[unit] = summary.dataset_builds.get(unit, 0) + 1

            def ds_death(task: dict, code: int | None) -> None:
                failed_units[task["group"]] = f"worker process died (exit code {code})"

            tasks = deque(
                {
                    "op": "dataset",
                    "cfg": dict(g[0].config),
                    "artifact_root": root,
                    "unit": B.unit_name(g[0]),
                    "group": key,
                }
                for key, g in groups.items()
            )
            self._drain(tasks, ds_result, lambda s: None, ds_death, reg)

            # phase 2: one task per run, largest units first
            by_run = {r.id: key for key, g in groups.items() for r in g}
            order = sorted(
                plan.runs,
                key=lambda r: (
                    -rows.get(by_run.get(r.id, ""), 0)
                    * int(r.config.get("epochs") or B.DEFAULT_EPOCHS)
                ),
            )
            tasks = deque()
            unit_index = {key: i for i, key in enumerate(groups)}
            for r in order:
                group = by_run.get(r.id)
                if group in failed_units:
                    reg.start(r.id, "driver")
                    reg.finish(
                        r.id, "failed", error=f"dataset build failed:\n{failed_units[group]}"
                    )
                    summary.failed += 1
                    bar.update(1)
                    continue
                tasks.append(
                    {
                        "op": "run",
                        "run_id": r.id,
                        "cfg": dict(r.config),
                        "run_dir": r.run_dir,
                        "artifact_root": root,
                        "unit": B.unit_name(r),
                        "device": self._devices(plan, B.unit_name(r), unit_index.get(group, 0)),
                        "expected_fingerprint": B.parent_fingerprint(reg, r),
                        "allow_data_change": self.allow_data_change,
                    }
                )
            runs = {r.id: r for r in plan.runs}

            def run_start(s: _Slot) -> None:
                reg.start(s.task["run_id"], s.name)
                inflight[s.task["run_id"]] = runs[s.task["run_id"]]

            def run_result(task: dict, res: dict) -> None:
                outcome = RunOutcome.from_dict(res)
                status = B.record_outcome(reg, runs[task["run_id"]], outcome)
                inflight.pop(task["run_id"], None)
                if outcome.dataset_cache == "built":
                    u = task["unit"]
                    summary.dataset_builds[u] = summary.dataset_builds.get(u, 0) + 1
                _count(summary, status)
                bar.update(1)

            def run_death(task: dict, code: int | None) -> None:
                reg.finish(
                    task["run_id"], "failed", error=f"worker process died (exit code {code})"
                )
                inflight.pop(task["run_id"], None)
                summary.failed += 1
                bar.update(1)

            self._drain(tasks, run_result, run_start, run_death, reg)
        except KeyboardInterrupt:
            for run_id in list(inflight):
                try:
                    reg.finish(run_id, "cancelled", error="interrupted (Ctrl-C)")
                    summary.cancelled += 1
                except Exception as exc:
                    log.warning(f"could not cancel run {run_id}: {exc}")
            self._shutdown(graceful=False)
            raise
        finally:
            bar.close()
            if not self._keep:
                self._shutdown(graceful=True)
            summary.wall_time = B.elapsed(t0)
        return summary


def _count(summary: B.RunSummary, status: str) -> None:
    if status == "finished":
        summary.finished += 1
    elif status == "cancelled":
        summary.cancelled += 1
    else:
        summary.failed += 1
