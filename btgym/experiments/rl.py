"""RL runs (A3C / PPO) in the registry: ``kind="rl"`` with config
``{"kind": "rl", "algo", "trainer": <config as dict>, "env_kwargs", "seed"}``.

Training writes TensorBoard events to ``<run_dir>/tb/`` and its checkpoint beside them;
the final checkpoint is copied to ``<run_dir>/model/checkpoint.pt``. Progress reports
become ``train`` curves (``episode_return_mean``, ``steps_per_sec`` at step = env
steps); the end adds summaries (``steps, episodes, updates, wall_time, mean_return``);
test episodes add ``test`` summaries and ``equity.parquet``.
"""

from __future__ import annotations

import os
import shutil
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from btgym.experiments import rundir as R
from btgym.experiments.runner import RunOutcome, _now, check_fingerprint, run_json
from btgym.log import get_logger

log = get_logger(__name__)

TB_DIR = "tb"
CHECKPOINT = "model/checkpoint.pt"
EPISODE_PNG = "episode.png"
DEFAULT_EVAL_EPISODES = 5
_DATA_KEYS = ("filename", "parsing_params", "data_names", "timeframe")


def rl_config(
    algo: str, trainer: Mapping[str, Any], env_kwargs: Mapping[str, Any], seed: int | None
) -> dict[str, Any]:
    """The run config of an RL training (the trainer config resolved with defaults)."""
    from btgym.algorithms import get_algo
    from btgym.experiments.config import to_jsonable

    cls = get_algo(algo)
    full = cls.config_cls.from_keywords(**dict(trainer)).to_dict()
    return to_jsonable(
        {
            "kind": "rl",
            "algo": algo.lower(),
            "trainer": full,
            "env_kwargs": dict(env_kwargs),
            "seed": seed,
        },
        "rl config",
    )


def env_data_ref(env_kwargs: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ``load_bars`` keywords of an env's data (``None`` without a ``filename``)."""
    if not env_kwargs.get("filename"):
        return None
    return {k: env_kwargs.get(k) for k in _DATA_KEYS}


def env_fingerprint(env_kwargs: Mapping[str, Any]) -> str | None:
    """Fingerprint of the env's data, loaded once."""
    from btgym.experiments.datasets import load_data

    ref = env_data_ref(env_kwargs)
    return load_data(ref)[1] if ref else None


class CurveBuffer:
    """Collects ``train`` curve rows from progress reports; ``flush`` hands them on at
    most every ``every`` seconds (and at the end)."""

    def __init__(
        self,
        sink: Callable[[list[list[Any]]], None] | None = None,
        every: float = 1.0,
        forward: Callable[[Any], Any] | None = None,
    ) -> None:
        self.sink, self.every, self.forward = sink, every, forward
        self.rows: list[list[Any]] = []
        self.pending: list[list[Any]] = []
        self._t = time.monotonic()

    def __call__(self, p: Any) -> None:
        rows = [
            ["train", "episode_return_mean", float(p.mean_return), int(p.steps)],
            ["train", "steps_per_sec", float(p.steps_per_sec), int(p.steps)],
        ]
        self.rows += rows
        self.pending += rows
        if self.forward is not None:
            self.forward(p)
        if time.monotonic() - self._t >= self.every:
            self.flush()

    def flush(self) -> None:
        if self.sink is not None and self.pending:
            try:
                self.sink(self.pending)
            except Exception as exc:
                log.warning(f"curve rows not recorded: {exc}")
        self.pending = []
        self._t = time.monotonic()


def _nan_to_none(v: float) -> float | None:
    return None if v != v else float(v)


def test_episodes(
    checkpoint: Path, env_kwargs: Mapping[str, Any], run_dir: Path, episodes: int, seed: int | None
) -> tuple[dict[str, float], dict[str, str]]:
    """Greedy test episodes: ``test`` summaries, ``equity.parquet`` and ``episode.png``.
    Data without a test part gives no summaries (and a train-episode image)."""
    import numpy as np
    import pandas as pd
    import torch

    from btgym.algorithms.common.envs import make_env
    from btgym.algorithms.evaluation import TEST_EPISODE, load_policy
    from btgym.engine.records import with_records
    from btgym.errors import BTgymError
    from btgym.rendering import save_png

    policy = load_policy(checkpoint)
    env = make_env(with_records(dict(env_kwargs)))
    rows, stats, artifacts = [], [], {}
    try:
        for n in range(max(0, episodes)):
            try:
                obs, _ = env.reset(seed=seed if n == 0 else None, options=TEST_EPISODE)
            except BTgymError as exc:
                log.info(f"no test episodes: {exc}")
                break
            state, start, total, step, peak, mdd, trades = None, True, 0.0, 0, None, 0.0, 0
            while True:
                with torch.no_grad():
                    action, state = policy.predict(obs, state, start, True)
                start = False
                obs, reward, terminated, truncated, info = env.step(action)
                step += 1
                total += float(reward)
                value = float(info.get("broker_value", np.nan))
                pos = info.get("position") or {}
                position = float(sum(pos.values())) if isinstance(pos, Mapping) else float(pos)
                peak = value if peak is None else max(peak, value)
                mdd = max(mdd, (peak - value) / peak if peak else 0.0)
                trades += int("executed" in str(info.get("broker_message", "")))
                rows.append(
                    (pd.Timestamp(info.get("time")), n, step, value, float(reward), position)
                )
                if terminated or truncated:
                    break
            stats.append((total, value, mdd, trades))
        if rows:
            frame = pd.DataFrame(
                rows, columns=["timestamp", "episode", "step", "broker_value", "reward", "position"]
            ).set_index("timestamp")
            R.write_parquet(run_dir / R.EQUITY, frame)
            artifacts[R.EQUITY] = R.EQUITY
        try:
            save_png(env.render_image("episode"), run_dir / EPISODE_PNG)
            artifacts[EPISODE_PNG] = EPISODE_PNG
        except Exception as exc:  # an image is a bonus
            log.warning(f"episode image not written: {exc}")
    finally:
        env.close()
    if not stats:
        return {}, artifacts
    arr = np.asarray(stats, dtype=float)
    summary = {
        "mean_return": arr[:, 0].mean(),
        "mean_broker_value": arr[:, 1].mean(),
        "mean_max_drawdown": arr[:, 2].mean(),
        "mean_trades": arr[:, 3].mean(),
        "episodes": float(len(stats)),
    }
    return {k: float(v) for k, v in summary.items()}, artifacts


def train_rl(
    cfg: Mapping[str, Any],
    run_dir: str | os.PathLike,
    *,
    run_id: str,
    device: str | None = None,
    sink: Callable[[list[list[Any]]], None] | None = None,
    progress: Callable[[Any], Any] | None = None,
    eval_episodes: int | None = None,
    resume: bool = False,
    fingerprint: str | None = None,
) -> RunOutcome:
    """Train one RL config into ``run_dir``; ``sink`` receives curve rows while it runs.

    KeyboardInterrupt ends training early (the trainer saves its checkpoint) and the
    outcome is ``cancelled``; an exception gives ``failed`` with the traceback.
    """
    from btgym.algorithms import get_algo

    run_dir = Path(run_dir)
    started = _now()
    curves = CurveBuffer(sink, forward=progress)
    trainer_kw = dict(cfg["trainer"])
    if device is not None:
        trainer_kw["device"] = device
    artifacts: dict[str, str] = {}
    metrics: dict[str, dict[str, float]] = {}
    status, error = "finished", None
    t0 = time.perf_counter()
    try:
        cls = get_algo(cfg["algo"])
        with cls(
            env_kwargs=dict(cfg["env_kwargs"]), logdir=run_dir / TB_DIR, **trainer_kw
        ) as trainer:
            result = trainer.train(resume=resume, callback=curves)
        curves.flush()
        if result.interrupted:
            status, error = "cancelled", "interrupted (Ctrl-C)"
        metrics["train"] = {
            "steps": float(result.steps),
            "episodes": float(result.episodes),
            "updates": float(result.updates),
            "wall_time": result.wall_time,
            "mean_return": result.mean_return,
        }
        ckpt = Path(result.checkpoint)
        if ckpt.is_file():
            R.atomic_write(run_dir / CHECKPOINT, lambda p: shutil.copyfile(ckpt, p))
            artifacts["checkpoint.pt"] = CHECKPOINT
        if progress is not None and callable(getattr(progress, "close", None)):
            progress.close()  # training is over: the bar should not tick on
        if status == "finished":
            n = DEFAULT_EVAL_EPISODES if eval_episodes is None else eval_episodes
            if n and progress is not None:
                print(f"  {n} greedy test episodes…", flush=True)
            test, files = test_episodes(
                run_dir / CHECKPOINT, cfg["env_kwargs"], run_dir, n, cfg.get("seed")
            )
            if test:
                metrics["test"] = test
            artifacts.update(files)
    except KeyboardInterrupt:
        curves.flush()
        status, error = "cancelled", "interrupted (Ctrl-C)"
        ckpt = run_dir / TB_DIR / "checkpoint.pt"
        if ckpt.is_file():
            R.atomic_write(run_dir / CHECKPOINT, lambda p: shutil.copyfile(ckpt, p))
            artifacts["checkpoint.pt"] = CHECKPOINT
    except Exception:
        curves.flush()
        status, error = "failed", traceback.format_exc()
    timings = {"fit_s": time.perf_counter() - t0}
    R.write_json(
        run_dir / R.RUN_JSON,
        run_json(
            cfg,
            run_id,
            status,
            started=started,
            fingerprint=fingerprint,
            error=error,
            timings=timings,
            metrics=metrics,
        ),
    )
    artifacts[R.RUN_JSON] = R.RUN_JSON
    return RunOutcome(
        run_id=run_id,
        status=status,
        metrics={k: {kk: _nan_to_none(vv) for kk, vv in v.items()} for k, v in metrics.items()},
        curves=[] if sink is not None else curves.rows,
        artifacts=artifacts,
        error=error,
        timings=timings,
        data_fingerprint=fingerprint,
        run_dir=run_dir.as_posix(),
    )


def run_rl_config(
    cfg: Mapping[str, Any],
    run_dir: str | os.PathLike,
    *,
    run_id: str,
    device: str = "cpu",
    expected_fingerprint: str | None = None,
    allow_data_change: bool = False,
) -> RunOutcome:
    """A queued RL run executed by a worker (curves travel back in the outcome)."""
    fingerprint = env_fingerprint(cfg["env_kwargs"])
    ref = env_data_ref(cfg["env_kwargs"]) or {}
    check_fingerprint(run_id, fingerprint or "", expected_fingerprint, ref, allow_data_change)
    return train_rl(cfg, run_dir, run_id=run_id, device=device, fingerprint=fingerprint)


def encoder_tags(registry: Any, env_kwargs: Mapping[str, Any]) -> dict[str, str]:
    """``encoder.<key> = <run_id>`` for each encoder of the env that came from a
    registry run (the ``model/`` directory of a supervised run)."""
    from btgym.errors import RunNotFoundError

    out = {}
    for d in env_kwargs.get("encoders") or ():
        if not isinstance(d, Mapping) or not d.get("model_dir"):
            continue
        run_id = Path(d["model_dir"]).parent.name
        try:
            registry.get(run_id)
        except RunNotFoundError:
            continue
        out[f"encoder.{d.get('key', 'model')}"] = run_id
    return out


def record_training(
    registry: Any,
    experiment: str,
    cfg: Mapping[str, Any],
    *,
    tags: Mapping[str, str] | None = None,
    eval_episodes: int | None = None,
    progress: Callable[[Any], Any] | None = None,
    worker: str = "cli",
) -> tuple[Any, RunOutcome]:
    """``btgym train --registry``: a ``running`` RL run, trained here, recorded live."""
    from btgym.experiments.executors.base import record_outcome

    fingerprint = env_fingerprint(cfg["env_kwargs"])
    tags = {**encoder_tags(registry, cfg["env_kwargs"]), **dict(tags or {})}
    run = registry.create_run(
        experiment,
        cfg,
        kind="rl",
        tags=tags,
        status="running",
        worker=worker,
        data_fingerprint=fingerprint,
    )

    def sink(rows: list[list[Any]]) -> None:
        registry.log_metric_rows(run.id, [tuple(r) for r in rows])
        registry.heartbeat(run.id)

    outcome = train_rl(
        cfg,
        run.run_dir,
        run_id=run.id,
        sink=sink,
        progress=progress,
        eval_episodes=eval_episodes,
        fingerprint=fingerprint,
    )
    record_outcome(registry, run, outcome)
    return registry.get(run.id), outcome
