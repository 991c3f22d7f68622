"""Rendering hook of the episode loop: one call into ``btgym.rendering``.

The loop renders where the records live (in the server process for process mode)
and returns an ``H x W x 3`` uint8 array; ``btgym.rendering`` draws it from the
per-step records, the episode's bars and the latest observation.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np

from btgym.errors import RenderError


def _renderer() -> tuple[Any, Any]:
    try:
        module = importlib.import_module("btgym.rendering")
    except ImportError as exc:
        raise RenderError(f"rendering is not available: btgym.rendering: {exc}") from exc
    render = getattr(module, "render", None)
    config_cls = getattr(module, "RenderConfig", None)
    if render is None:
        try:
            api = importlib.import_module("btgym.rendering.api")
        except ImportError as exc:
            raise RenderError(f"rendering is not available: {exc}") from exc
        render, config_cls = api.render, getattr(api, "RenderConfig", config_cls)
    return render, config_cls


def render_loop(loop: Any, mode: str) -> np.ndarray:
    """Render ``mode`` of ``loop``'s running / last episode.

    Calls ``btgym.rendering.render(mode, records=..., bars=..., state=...,
    config=..., title_info=...)``.

    Raises:
        RenderError: ``btgym.rendering`` is missing, or it refused the request.
    """
    render, config_cls = _renderer()
    config = loop.render_config
    if config is None:
        if config_cls is None:
            raise RenderError("rendering is not available: btgym.rendering has no RenderConfig")
        config = config_cls()
    records = loop.records() if loop.strategy is not None else None
    title = None
    s = loop.strategy
    if s is not None:
        title = {
            "episode": loop.episode_count,
            "step": max(s.step_count, 0),
            "value": round(float(s.value), 6),
        }
    image = render(
        mode,
        records=records,
        bars=loop.episode_bars(),
        state=loop.last_obs,
        config=config,
        title_info=title,
    )
    return np.ascontiguousarray(image, dtype=np.uint8)
