"""RayExecutor (extra ``btgym[ray]``): one remote task per unit builds its dataset into
the cache under the artifact root, one remote task per run (``num_cpus`` / ``num_gpus``
from ``ModelSpec.resources``). Tasks get configs and paths, never the registry URL:
they write their run directories and return outcomes; the driver alone writes the
registry."""

from __future__ import annotations

import time
from typing import Any

from btgym.errors import MissingExtraError
from btgym.experiments.executors import base as B
from btgym.experiments.registry import Registry
from btgym.experiments.runner import RunOutcome
from btgym.log import get_logger

log = get_logger(__name__)


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise MissingExtraError("ray", "ray", "RayExecutor") from None
    return ray


def _task(msg: dict[str, Any]) -> dict[str, Any]:
    """The body of every remote task (a JSON message in, a JSON result out)."""
    import torch

    torch.set_num_threads(max(1, int(msg.get("threads", 1))))
    from btgym.experiments.executors.local import execute_task

    return execute_task(msg)


class RayExecutor:
    """Run configs as Ray tasks.

    Args:
        address: a Ray cluster address (``None``: start or join a local Ray).
        num_cpus: CPUs of a local Ray started here.
        allow_data_change: let reruns run on data whose fingerprint changed.
    """

    def __init__(
        self,
        address: str | None = None,
        num_cpus: int | None = None,
        allow_data_change: bool = False,
        threads_per_task: int = 1,
    ) -> None:
        self.ray = _import_ray()
        self.address = address
        self.num_cpus = num_cpus
        self.allow_data_change = allow_data_change
        self.threads = threads_per_task
        #: every task message sent (configs and paths only: never the registry URL)
        self.sent: list[dict[str, Any]] = []

    def _init(self) -> None:
        if not self.ray.is_initialized():
            self.ray.init(
                address=self.address,
                num_cpus=self.num_cpus,
                include_dashboard=False,
                log_to_driver=False,
                ignore_reinit_error=True,
            )

    def _submit(self, msg: dict[str, Any], **resources: float) -> Any:
        self.sent.append(msg)
        return self._fn.options(**resources).remote(msg)

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
        ray = self.ray
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
        self._init()
        self._fn = ray.remote(max_retries=0)(_task)
        root = reg.artifact_root.as_posix()
        groups = B.units_of(plan.runs)
        bar = B.progress_bar(len(plan.runs), progress and bool(plan.runs), plan.experiment)
        pending: dict[Any, Any] = {}
        try:
            refs = {
                self._submit(
                    {
                        "op": "dataset",
                        "cfg": dict(g[0].config),
                        "artifact_root": root,
                        "threads": self.threads,
                    },
                    num_cpus=1,
                ): (key, B.unit_name(g[0]))
                for key, g in groups.items()
            }
            failed_units: dict[str, str] = {}
            for ref, (key, unit) in refs.items():
                try:
                    res = ray.get(ref)
                except Exception as exc:  # a crashed task
                    res = {"error": f"ray task failed: {exc}"}
                if "error" in res:
                    failed_units[key] = res["error"]
                elif res["cache"] == "built":
                    summary.dataset_builds[unit] = summary.dataset_builds.get(unit, 0) + 1
            by_run = {r.id: key for key, g in groups.items() for r in g}
            for r in plan.runs:
                group = by_run.get(r.id)
                reg.start(r.id, f"ray:{r.id}")
                if group in failed_units:
                    reg.finish(
                        r.id, "failed", error=f"dataset build failed:\n{failed_units[group]}"
                    )
                    summary.failed += 1
                    bar.update(1)
                    continue
                res = dict(r.config.get("resources") or {})
                ref = self._submit(
                    {
                        "op": "run",
                        "run_id": r.id,
                        "cfg": dict(r.config),
                        "run_dir": r.run_dir,
                        "artifact_root": root,
                        "device": "cuda" if res.get("gpus") else "cpu",
                        "expected_fingerprint": B.parent_fingerprint(reg, r),
                        "allow_data_change": self.allow_data_change,
                        "threads": self.threads,
                    },
                    num_cpus=float(res.get("cpus", 1)),
                    num_gpus=float(res.get("gpus", 0)),
                )
                pending[ref] = r
            last_beat = time.monotonic()
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1, timeout=5.0)
                for ref in done:
                    run = pending.pop(ref)
                    try:
                        outcome = RunOutcome.from_dict(ray.get(ref))
                    except Exception as exc:
                        outcome = RunOutcome(
                            run_id=run.id, status="failed", error=f"ray task failed: {exc}"
                        )
                    status = B.record_outcome(reg, run, outcome)
                    if outcome.dataset_cache == "built":
                        u = B.unit_name(run)
                        summary.dataset_builds[u] = summary.dataset_builds.get(u, 0) + 1
                    if status == "finished":
                        summary.finished += 1
                    else:
                        summary.failed += 1
                    bar.update(1)
                if time.monotonic() - last_beat > 15.0:
                    last_beat = time.monotonic()
                    for run in pending.values():
                        reg.heartbeat(run.id)
        except KeyboardInterrupt:
            for ref, run in pending.items():
                ray.cancel(ref, force=True)
                reg.finish(run.id, "cancelled", error="interrupted (Ctrl-C)")
                summary.cancelled += 1
            raise
        finally:
            bar.close()
            summary.wall_time = B.elapsed(t0)
        return summary
