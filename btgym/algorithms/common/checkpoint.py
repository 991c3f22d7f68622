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
or the new checkpoint, never a torn file.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import torch

from btgym.errors import CheckpointError
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
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise CheckpointError(f"cannot write checkpoint {path}: {exc}") from exc
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
