"""Seeding: every random draw in the data layer comes from a ``numpy.random.Generator``.

Domains take ``seed=`` as an int, a ``SeedSequence`` or a ``Generator``; workers get
independent streams with :func:`spawn_seeds` / :func:`spawn_generators`
(``SeedSequence.spawn``), never by adding the worker id to a seed.
"""

from __future__ import annotations

import numpy as np

from btgym.errors import ConfigError

SeedLike = int | np.random.SeedSequence | np.random.Generator | None


def as_generator(seed: SeedLike) -> np.random.Generator:
    """Return a Generator for ``seed`` (a Generator is used as is, not copied).

    ``None`` gives fresh OS entropy (not reproducible).
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or isinstance(seed, np.random.SeedSequence):
        return np.random.default_rng(seed)
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0:
        return np.random.default_rng(int(seed))
    raise ConfigError(f"seed must be a non-negative int, SeedSequence or Generator, got {seed!r}")


def draw_seed(rng: np.random.Generator) -> int:
    """Draw a child seed (an int that fits JSON and int64) from ``rng``."""
    return int(rng.integers(0, 2**63 - 1))


def spawn_seeds(seed: int | np.random.SeedSequence | None, n: int) -> list[np.random.SeedSequence]:
    """``n`` independent child seed sequences of ``seed`` (one per worker).

    Example:
        >>> workers = spawn_seeds(42, 4)
        >>> domains = [BTgymRandomDataDomain(filename=f, seed=s) for s in workers]
    """
    if isinstance(seed, np.random.SeedSequence):
        root = seed
    elif seed is None or (isinstance(seed, (int, np.integer)) and seed >= 0):
        root = np.random.SeedSequence(None if seed is None else int(seed))
    else:
        raise ConfigError(f"seed must be a non-negative int or SeedSequence, got {seed!r}")
    return root.spawn(int(n))


def spawn_generators(
    seed: int | np.random.SeedSequence | None, n: int
) -> list[np.random.Generator]:
    """``n`` independent Generators spawned from ``seed`` (one per worker)."""
    return [np.random.default_rng(s) for s in spawn_seeds(seed, n)]


def seed_of(seed: SeedLike) -> int:
    """An int seed derived from ``seed`` (draws one from a Generator)."""
    return draw_seed(as_generator(seed))
