"""500 renders must not grow the process (figures are reused, nothing accumulates)."""

from __future__ import annotations

import os

import numpy as np
import psutil
import pytest

from btgym.rendering import RenderConfig, render


@pytest.mark.slow
def test_500_renders_grow_rss_by_less_than_30mb(small_episode: tuple, observation: dict) -> None:
    records, bars = small_episode
    small = (5.0, 3.5)  # few ticks and texts: the test is about growth, not looks
    cfg = RenderConfig(
        render_dpi=40, render_size_human=small, render_size_state=small, render_size_episode=small
    )
    proc = psutil.Process(os.getpid())
    modes = ("human", "raw", "episode", "external", "state")
    checksum = 0

    def renders(n: int) -> None:
        nonlocal checksum
        for i in range(n):
            # vary the data so every render builds new artists
            rec = {
                k: v[: len(v) - i % 7] if not k.startswith("fill_") else v
                for k, v in records.items()
            }
            img = render(
                modes[i % len(modes)], records=rec, bars=bars, state=observation, config=cfg
            )
            checksum += int(img[::50, ::50].sum())

    renders(25)  # warm-up: imports, font caches, one figure per mode
    before = proc.memory_info().rss
    renders(500)
    grown = (proc.memory_info().rss - before) / 2**20
    assert checksum > 0
    assert grown < 30, f"RSS grew by {grown:.1f} MB over 500 renders"


def test_disabled_rendering_is_cheap_and_constant(small_episode: tuple) -> None:
    records, bars = small_episode
    cfg = RenderConfig(render_enabled=False)
    images = [render("episode", records=records, bars=bars, config=cfg) for _ in range(50)]
    assert all(np.array_equal(images[0], im) for im in images)
    images[0][:] = 0  # callers get fresh arrays: changing one changes no other
    assert images[1].any()
