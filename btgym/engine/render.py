"""Rendering of the single engine env: the backtrader engine's renderer on the same
records.

``EngineEnv`` renders with :func:`btgym.server.render.render_loop`, the function the
backtrader episode loop renders with, handed the engine's
:class:`~btgym.engine.records.EpisodeRecorder` (records, bars, last observation,
title numbers): the same inputs give the same image. ``render_*`` keywords (and
``config={"render": RenderConfig(...)}``) build the same
:class:`~btgym.rendering.RenderConfig` as on the backtrader engine.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from btgym.errors import ConfigError, UnknownKeywordError

#: ``render_*`` keywords the backtrader engine accepts and ignores (see
#: ``btgym.envs.keywords.OBSOLETE``).
OBSOLETE_RENDER = ("render_ylabel",)


def render_config(kwargs: Mapping[str, Any]) -> Any:
    """The :class:`~btgym.rendering.RenderConfig` of BTgymEnv keywords: ``config=
    {"render": ...}`` if given, else the ``render_*`` keywords (an unknown one raises
    :class:`~btgym.errors.UnknownKeywordError` with close matches, as on the
    backtrader engine)."""
    from btgym.rendering import RenderConfig

    ready = (kwargs.get("config") or {}).get("render")
    if ready is not None:
        if not isinstance(ready, RenderConfig):
            raise ConfigError(f"config['render'] must be a RenderConfig, got {ready!r}")
        return ready
    names = {f.name for f in dataclasses.fields(RenderConfig) if f.init}
    given = {}
    for key, value in kwargs.items():
        if not key.startswith("render_") or key in OBSOLETE_RENDER or key == "render_mode":
            continue
        if key not in names:
            raise UnknownKeywordError(key, names, "EngineEnv")
        given[key] = value
    return RenderConfig(**given)


def refuse_render_mode(kwargs: Mapping[str, Any]) -> None:
    """``VectorBTgymEnv(render_mode=...)``: refused (no per-lane renderer); its other
    ``render_*`` keywords are checked as on the backtrader engine (an unknown one
    raises), and have no effect."""
    render_config(kwargs)
    mode = kwargs.get("render_mode")
    if mode is not None:
        raise ConfigError(
            f"VectorBTgymEnv does not render (render_mode={mode!r}); render one env: "
            "EngineEnv(render_mode=...) / BTgymEnv(engine='vector', render_mode=...), or "
            "the backtrader engine's vector env (btgym.make_vec)"
        )


def render_image(recorder: Any, mode: str) -> np.ndarray:
    """``mode`` of the recorder's running / last episode as an H×W×3 uint8 array."""
    from btgym.server.render import render_loop

    return render_loop(recorder, mode)
