"""Seeding: one run seed spawns independent streams; RNG state capture and restore.

The run seed feeds a :class:`numpy.random.SeedSequence`. Its children are, in order:
one stream for the model's initial weights, then one per worker (or per env of a
vector env). Each worker stream yields a numpy :class:`~numpy.random.Generator`, a
torch seed and the env's first ``reset`` seed, so two runs with the same seed and
the same worker count draw the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch


@dataclass(frozen=True)
class Stream:
    """The random sources of one worker (or of the model initialisation)."""

    rng: np.random.Generator
    torch_seed: int
    env_seed: int


def _stream(seq: np.random.SeedSequence) -> Stream:
    words = seq.generate_state(2, np.uint64)
    return Stream(
        rng=np.random.default_rng(seq),
        torch_seed=int(words[0] % (2**63 - 1)),
        env_seed=int(words[1] % (2**31 - 1)),
    )


def spawn_streams(seed: int | None, n_workers: int) -> tuple[Stream, list[Stream]]:
    """Spawn the model stream and ``n_workers`` worker streams from one run seed.

    Args:
        seed: the run seed (``None``: fresh OS entropy).
        n_workers: number of worker streams.

    Returns:
        ``(model_stream, worker_streams)``.
    """
    root = np.random.SeedSequence(seed)
    children = root.spawn(n_workers + 1)
    return _stream(children[0]), [_stream(c) for c in children[1:]]


def rng_state(rng: np.random.Generator | None = None) -> dict[str, Any]:
    """Capture torch's CPU RNG state and (optionally) a numpy generator's state.

    Returns:
        A dict of plain types and tensors (safe for ``torch.load(weights_only=True)``).
    """
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["torch_cuda"] = torch.cuda.get_rng_state_all()
    if rng is not None:
        state["numpy"] = rng.bit_generator.state
    return state


def set_rng_state(state: dict[str, Any], rng: np.random.Generator | None = None) -> None:
    """Restore what :func:`rng_state` captured (in place for ``rng``)."""
    if "torch" in state:
        torch.set_rng_state(state["torch"])
    if "torch_cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["torch_cuda"])
    if rng is not None and "numpy" in state:
        rng.bit_generator.state = state["numpy"]
