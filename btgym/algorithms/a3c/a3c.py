"""A3C: the chief process.

The chief (the caller's process) owns the global model and the optimizer state in
shared memory, spawns ``num_workers`` worker processes (each with its own env; with
``env_kwargs`` all share one data server), and is the only one that writes
TensorBoard summaries and checkpoints. Workers report through a queue (see
:mod:`.worker`). Shutdown always stops every worker: normally when the step budget
is spent, on Ctrl-C / SIGTERM (then a final checkpoint is written), and when the
chief dies (workers watch their parent).
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import queue as queue_mod
import time
from collections import defaultdict
from typing import Any

import numpy as np
import torch

from btgym.algorithms.a3c.config import VECTOR_ENGINE_LANES, A3CConfig
from btgym.algorithms.a3c.shared_optim import make_shared_optimizer
from btgym.algorithms.a3c.worker import worker_main
from btgym.algorithms.common.base import BaseTrainer
from btgym.algorithms.common.logger import Tags
from btgym.algorithms.common.seeding import spawn_streams
from btgym.algorithms.common.training import (
    EpisodeBook,
    Progress,
    ProgressCallback,
    RateMeter,
    TrainResult,
    train_result,
)
from btgym.algorithms.common.vecenv import is_vector_engine
from btgym.comm.process import ChildProcess
from btgym.log import get_logger

log = get_logger(__name__)

#: context of the chief's queue, counter and stop event (they work with spawned and
#: forkserver children alike)
_CTX = mp.get_context("spawn")

#: backstop on a worker's start (spawn, env + servers, first reset). Each step of the
#: start has its own timeout (ServerConfig.connect_timeout / reset_timeout, the data
#: server's) and a worker that dies is reported at once, so this only catches a hang
#: those miss; it must not fire on a slow but progressing start (a loaded machine:
#: two workers importing torch and binding encoders took > 120 s on 2 shared cores)
WORKER_START_TIMEOUT = 900.0

_TRAIN_TAGS = {
    "policy_loss": Tags.POLICY_LOSS,
    "value_loss": Tags.VALUE_LOSS,
    "entropy": Tags.ENTROPY,
    "grad_norm": Tags.GRAD_NORM,
    "learning_rate": Tags.LEARNING_RATE,
}


def _rng_to_ckpt(state: dict[str, Any] | None) -> dict[str, Any] | None:
    """A worker's reported state (RNGs, reward normaliser) in checkpoint form."""
    if state is None:
        return None
    out = dict(state)
    out["torch"] = torch.frombuffer(bytearray(state["torch"]), dtype=torch.uint8)
    return out


def _rng_from_ckpt(state: dict[str, Any] | None) -> dict[str, Any] | None:
    if state is None:
        return None
    out = dict(state)
    out["torch"] = state["torch"].numpy().tobytes()
    return out


class A3C(BaseTrainer):
    """Asynchronous advantage actor-critic with Hogwild updates of a shared model.

    Example::

        from btgym.algorithms import A3C
        with A3C(env_kwargs=dict(filename="sine.csv"), logdir="runs/a3c",
                 num_workers=2, total_steps=50_000, seed=0) as algo:
            result = algo.train()

    See :class:`~btgym.algorithms.common.base.BaseTrainer` for the arguments and
    :class:`A3CConfig` for the keywords.
    """

    config_cls = A3CConfig
    config: A3CConfig

    def __init__(self, *args: Any, env_kwargs: dict[str, Any] | None = None, **kw: Any) -> None:
        self._vector_engine = is_vector_engine(env_kwargs)
        super().__init__(*args, env_kwargs=env_kwargs, **kw)

    @property
    def lanes(self) -> int:
        """Envs each worker steps (``envs_per_worker``, resolved when ``None``)."""
        k = self.config.envs_per_worker
        if k is None:
            return VECTOR_ENGINE_LANES if getattr(self, "_vector_engine", False) else 1
        return k

    @property
    def n_envs(self) -> int:
        return self.config.num_workers * self.lanes

    def worker_vector_fn(self, i: int) -> Any:
        """Worker ``i``'s vector env factory, or ``None`` for its single env."""
        k = self.lanes
        if self.envs.vector_env is not None:
            return self.envs.vector_env
        if k == 1:
            return None
        return self.envs.vector(i * k, (i + 1) * k)

    def train(
        self,
        total_steps: int | None = None,
        *,
        resume: bool = False,
        callback: ProgressCallback | None = None,
    ) -> TrainResult:
        """Train until ``total_steps`` env steps (all workers together) are done.

        Args:
            total_steps: overrides the config's ``total_steps``.
            resume: continue from ``logdir/checkpoint.pt`` (model, optimizer, counters,
                RNG states); starts fresh if there is none.
            callback: called about twice a second with a :class:`Progress`; returning
                ``False`` stops training (workers stopped, exit checkpoint written).

        Returns:
            A :class:`TrainResult`; ``interrupted`` is set after Ctrl-C / SIGTERM.

        Raises:
            RemoteError, ServerDiedError: a worker raised or died (its traceback attached).
        """
        if total_steps is not None:
            self.config = self.config.replace(total_steps=int(total_steps))
        cfg = self.config
        ckpt = self._resume_payload(resume)
        model_stream, streams = spawn_streams(cfg.seed, cfg.num_workers)
        model = self._build_model(ckpt, model_stream).share_memory()
        optimizer = make_shared_optimizer(cfg.optimizer, model.parameters(), cfg.lr).share_memory()
        counters = {"env_steps": 0, "episodes": 0, "updates": 0, "wall_time": 0.0}
        worker_rng: list[dict[str, Any] | None] = [None] * cfg.num_workers
        if ckpt is not None:
            optimizer.load_shared(ckpt["optimizer"])
            counters.update(ckpt["counters"])
            saved = list(ckpt.get("worker_rng") or [])
            worker_rng = [_rng_from_ckpt(s) for s in saved[: cfg.num_workers]]
            worker_rng += [None] * (cfg.num_workers - len(worker_rng))
            log.info(f"resuming a3c from step {counters['env_steps']} ({self.checkpoint_file})")
        run = self._run_class()(self, model, optimizer, counters, worker_rng, streams, ckpt)
        with self._threads():
            return run.execute(callback)

    def _run_class(self) -> type[_ChiefRun]:
        """What runs one :meth:`train` call (the Ray backend swaps in its own)."""
        return _ChiefRun


class _Frozen:
    """Stands in for the shared step counter after the run."""

    def __init__(self, value: int) -> None:
        self.value = value


class _ChiefRun:
    """One :meth:`A3C.train` call: workers, queue, summaries, checkpoints."""

    def __init__(self, algo, model, optimizer, counters, worker_rng, streams, ckpt) -> None:
        self.algo, self.cfg = algo, algo.config
        self.model, self.optimizer = model, optimizer
        self.counters, self.worker_rng, self.streams = counters, worker_rng, streams
        self.logger = algo._logger(ckpt)
        self.book = EpisodeBook(self.logger, episodes=int(counters["episodes"]))
        self.global_steps = _CTX.Value("q", int(counters["env_steps"]))
        self.stop = _CTX.Event()
        #: set once every worker is ready: all start stepping together, so a worker
        #: that started first cannot spend the step budget before the others begin
        self.go = _CTX.Event()
        self.queue = _CTX.Queue()
        self.workers: list[ChildProcess] = []
        self.done: set[int] = set()
        self.train_acc: dict[str, list[float]] = defaultdict(list)
        self.rate = RateMeter(int(counters["env_steps"]))
        self.start_steps = int(counters["env_steps"])

    @property
    def steps(self) -> int:
        return int(self.global_steps.value)

    def _start_workers(self) -> None:
        cfg, algo = self.cfg, self.algo
        spec = self.model.spec()
        optim_state = self.optimizer.shared_state()
        for i in range(cfg.num_workers):
            child = ChildProcess(
                worker_main,
                {
                    "worker": i,
                    "env_fn": algo.envs.fns[i] if algo.envs.fns else None,
                    "vector_fn": algo.worker_vector_fn(i),
                    "policy_spec": spec,
                    "shared_model": self.model,
                    "optim_state": optim_state,
                    "config": cfg.to_dict(),
                    "stream": self.streams[i],
                    "rng_state": self.worker_rng[i],
                    "global_steps": self.global_steps,
                    "stop": self.stop,
                    "go": self.go,
                    "queue": self.queue,
                    "device": str(algo.device),
                },
                name=f"btgym-a3c-worker-{i}",
            )
            self.workers.append(child)
            child.launch()
        for child in self.workers:
            child.wait_ready(timeout=WORKER_START_TIMEOUT)
        self.go.set()

    def execute(self, callback: ProgressCallback | None) -> TrainResult:
        t0 = time.monotonic()
        interrupted = False
        next_ckpt = self.steps + self.cfg.checkpoint_every
        next_log = self.steps + self.cfg.log_every
        last_cb = 0.0
        try:
            self._start_workers()
            last_check = 0.0
            while len(self.done) < len(self.workers):
                self._pump(timeout=0.1)
                if time.monotonic() - last_check > 0.25:
                    self._check_workers()
                    last_check = time.monotonic()
                if self.steps >= next_log:
                    self._log_train()
                    next_log = self.steps + self.cfg.log_every
                if self.steps >= next_ckpt:
                    self._checkpoint(t0)
                    next_ckpt = self.steps + self.cfg.checkpoint_every
                if callback is not None and time.monotonic() - last_cb > 0.5:
                    last_cb = time.monotonic()
                    if callback(self._progress()) is False:
                        log.info("callback asked to stop")
                        break
        except KeyboardInterrupt:
            interrupted = True
            log.warning("interrupted: stopping workers and writing a final checkpoint")
        except BaseException as exc:
            self._shutdown()
            self._finish(t0)
            raise exc
        self._shutdown()
        path = self._finish(t0)
        if callback is not None:
            callback(self._progress())
        final_steps = self.steps
        self._release()
        return train_result("a3c", self, t0, path, interrupted, steps=final_steps)

    # ------------------------------------------------------------------ messages

    def _pump(self, timeout: float) -> None:
        try:
            msg = self.queue.get(timeout=timeout)
        except queue_mod.Empty:
            return
        self._handle(msg)
        while True:
            try:
                msg = self.queue.get_nowait()
            except queue_mod.Empty:
                return
            self._handle(msg)

    def _handle(self, msg: tuple) -> None:
        kind, worker = msg[0], msg[1]
        step = self.steps
        if kind == "update":
            self.counters["updates"] += 1
            for key, value in msg[3].items():
                self.train_acc[key].append(value)
        elif kind == "episode":
            self.book.add(msg[2], step, worker)
        elif kind == "image":
            self.book.image(msg[2], step)
        elif kind == "rng":
            self.worker_rng[worker] = msg[2]
        elif kind == "done":
            self.done.add(worker)

    def _check_workers(self) -> None:
        for i, child in enumerate(self.workers):
            if i not in self.done and not child.is_alive():
                self._pump(timeout=0.2)
                if i not in self.done:
                    raise child.death_report()

    # ------------------------------------------------------------------ outputs

    def _log_train(self) -> None:
        step = self.steps
        for key, values in self.train_acc.items():
            if values:
                self.logger.scalar(_TRAIN_TAGS[key], float(np.mean(values)), step)
        self.train_acc.clear()
        self.logger.scalar(Tags.STEPS_PER_SEC, self.rate.rate(step), step)

    def _progress(self) -> Progress:
        return Progress(
            steps=self.steps,
            total_steps=self.cfg.total_steps,
            episodes=self.book.episodes,
            mean_return=self.book.mean_return,
            steps_per_sec=self.rate.last,
        )

    def _checkpoint(self, t0: float):
        counters = dict(self.counters)
        counters.update(
            env_steps=self.steps,
            episodes=self.book.episodes,
            wall_time=float(self.counters["wall_time"]) + time.monotonic() - t0,
        )
        return self.algo._save(
            self.model,
            self.optimizer,
            counters,
            worker_rng=[_rng_to_ckpt(s) for s in self.worker_rng],
        )

    def _finish(self, t0: float) -> Any:
        """Last summaries and the exit checkpoint (also after a worker failed)."""
        try:
            self._log_train()
            return self._checkpoint(t0)
        finally:
            self.logger.close()

    def _release(self) -> None:
        """Drop the queue, counter, event and worker handles now, so their named
        semaphores are unlinked at once rather than reported leaked at exit."""
        self.workers = []
        self.queue = self.stop = self.go = None
        self.global_steps = _Frozen(self.steps)

    def _shutdown(self) -> None:
        self.stop.set()
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline and any(
            c.is_alive() and i not in self.done for i, c in enumerate(self.workers)
        ):
            self._pump(timeout=0.05)
        for child in self.workers:
            child.stop(timeout=2.0)
        with contextlib.suppress(Exception):
            self._pump(timeout=0.01)
        self.queue.close()
        self.queue.join_thread()
