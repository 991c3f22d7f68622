"""Atomic training checkpoints.

A checkpoint is one ``torch.save`` file holding plain data and tensors only (it
loads with ``weights_only=True``: no code runs on load):

``format``, ``version``, ``algo``, ``policy_spec`` (rebuilds the policy without an
env), ``model`` and ``optimizer`` state dicts, ``counters`` (``env_steps``,
``episodes``, ``updates``, ``wall_time``), ``rng`` (trainer's torch + numpy state),
``worker_rng`` (one per worker), ``config`` (the algorithm's config as a dict),
``env_kwargs`` (how to rebuild the env for ``btgym eval``, or ``None``).

It is written to a temp file in the same directory, flushed, fsynced and renamed
over the old one (``os.replace``), so a crash at any moment leaves either the old
or the new checkpoint, never a torn file. A failed write (disk full, file size
limit, read-only directory) raises :class:`~btgym.errors.CheckpointError` naming the
path, removes its temp file and leaves the previous checkpoint as it was; temp files
of writers that died are removed at the next save or load.

**Trust.** Loading runs no code (``weights_only=True``), and a checkpoint never
chooses code either: the env class and strategy it names are resolved only from
btgym's own classes or from an allow-list the user passes (:func:`trusted_class`,
:func:`env_from_checkpoint`; ``btgym eval --env-class module:Class``). See
``docs/security.md``.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import torch

from btgym.errors import CheckpointError, LogdirError
from btgym.log import get_logger

log = get_logger(__name__)

FORMAT = "btgym-checkpoint"
VERSION = 1
FILENAME = "checkpoint.pt"


def checkpoint_path(logdir: str | os.PathLike) -> Path:
    """The run's checkpoint file inside ``logdir``."""
    return Path(logdir) / FILENAME


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """Write ``payload`` atomically to ``path`` (temp file + fsync + ``os.replace``).

    Raises:
        CheckpointError: the directory cannot be created or written.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    data = {"format": FORMAT, "version": VERSION, **payload}
    clean_stale_temps(path.parent, path.name)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as fh:
            torch.save(data, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        with contextlib.suppress(OSError):
            fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    except (OSError, RuntimeError) as exc:  # torch reports a failed write as RuntimeError
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise CheckpointError(
            f"cannot write checkpoint {path}: {exc} (disk full, file size limit or no "
            f"write permission?); the previous checkpoint is unchanged"
        ) from exc
    log.debug(f"checkpoint written: {path}")
    return path


def load_checkpoint(
    path: str | os.PathLike, map_location: str | torch.device = "cpu"
) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Args:
        path: the file, or a run's logdir (then ``logdir/checkpoint.pt``).
        map_location: where tensors are loaded.

    Raises:
        CheckpointError: missing, unreadable, or not a btgym checkpoint.
    """
    path = Path(path)
    if path.is_dir():
        path = checkpoint_path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    clean_stale_temps(path.parent, path.name)
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"checkpoint {path} cannot be read: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a btgym checkpoint")
    if data.get("version") != VERSION:
        raise CheckpointError(
            f"checkpoint {path} has version {data.get('version')}, this btgym reads {VERSION}"
        )
    return data


# --------------------------------------------------------------------------- trust


#: env classes a checkpoint may name: btgym's own (the same names ``btgym train``
#: stores), always resolved inside ``btgym.envs``.
ENV_CLASSES = {
    "BTgymEnv": "btgym.envs:BTgymEnv",
    "MultiDiscreteEnv": "btgym.envs:MultiDiscreteEnv",
    "PortfolioEnv": "btgym.envs:PortfolioEnv",
}
#: strategies a checkpoint may name: btgym's own.
STRATEGY_CLASSES = {"BTgymBaseStrategy": "btgym.strategy:BTgymBaseStrategy"}

Trusted = str | type


def _load(target: str) -> Any:
    import importlib

    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def _qualname(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def trusted_class(
    name: Any,
    kind: str,
    registry: dict[str, str],
    trusted: tuple[Trusted, ...] | list[Trusted] = (),
    source: str = "the checkpoint",
) -> type:
    """The class a checkpoint names, if btgym's registry or the user's allow-list has it.

    A checkpoint is data: a name in it never imports a module by itself. It resolves
    to a class only when the name is one of btgym's own (``registry``, imported from
    btgym's package) or when the user named the same class (``trusted``: classes, or
    ``"module:Class"`` strings the user typed, e.g. ``btgym eval --env-class``).

    Raises:
        CheckpointError: anything else, naming the class and how to allow it.
    """
    if not isinstance(name, str) or not name:
        raise CheckpointError(f"{source} names a {kind} that is not a name: {name!r}")
    if name in registry:
        return _load(registry[name])
    for entry in trusted:
        if isinstance(entry, type) and name in (_qualname(entry), entry.__name__):
            return entry
        if isinstance(entry, str) and entry == name:
            cls = _load(entry) if ":" in entry else None
            if isinstance(cls, type):
                return cls
    flag = "--env-class" if kind == "env class" else "--trust"
    raise CheckpointError(
        f"{source} names {kind} {name!r}, which is not one of btgym's "
        f"({', '.join(sorted(registry))}) and not on your allow-list; a checkpoint never "
        f"chooses code by itself. If you trust that class, name it: `btgym eval {flag} "
        f"{name}` or trusted_classes=[{name!r}]"
    )


def env_from_checkpoint(
    ckpt: dict[str, Any],
    trusted_classes: tuple[Trusted, ...] | list[Trusted] = (),
    source: str = "the checkpoint",
) -> tuple[type, dict[str, Any]]:
    """The env class and keywords stored in a checkpoint, resolved by :func:`trusted_class`
    (``env_class`` and a ``strategy`` given by name).

    Returns:
        ``(env_class, env_kwargs)``: call ``env_class(**env_kwargs)``.
    """
    kw = dict(ckpt.get("env_kwargs") or {})
    cls = trusted_class(
        kw.pop("env_class", None) or "BTgymEnv", "env class", ENV_CLASSES, trusted_classes, source
    )
    strategy = kw.get("strategy")
    if strategy is not None:
        kw["strategy"] = trusted_class(
            strategy, "strategy", STRATEGY_CLASSES, trusted_classes, source
        )
    return cls, kw


def clean_stale_temps(folder: str | os.PathLike, name: str = FILENAME) -> list[Path]:
    """Remove ``.<name>.<pid>.tmp`` files left by writers that died mid-save (their
    pid no longer runs); a live writer's temp file is kept."""
    removed = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    for tmp in folder.glob(f".{name}.*.tmp"):
        pid = tmp.name[len(name) + 2 : -4]
        if pid.isdigit() and int(pid) != os.getpid() and _alive(int(pid)):
            continue
        with contextlib.suppress(OSError):
            tmp.unlink()
            removed.append(tmp)
    if removed:
        log.info(f"removed {len(removed)} stale checkpoint temp file(s) in {folder}")
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def check_logdir(logdir: str | os.PathLike) -> Path:
    """Make ``logdir`` if needed and prove it writable (a probe file written, synced,
    removed), before any training starts.

    Raises:
        LogdirError: it cannot be made or written (read-only, a file in the way, full).
    """
    folder = Path(logdir)
    probe = folder / f".btgym-write-probe.{os.getpid()}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with open(probe, "wb") as fh:
            fh.write(b"btgym")
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise LogdirError(
            f"log directory {folder} is not writable ({exc.strerror or exc}): checkpoints and "
            "TensorBoard event files go there; pass another logdir"
        ) from exc
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()
    return folder
