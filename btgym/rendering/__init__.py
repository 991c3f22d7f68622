"""Episode rendering: ``human``, observation and ``episode`` images as RGB arrays.

Pure functions over the server's per-step records and the episode's bars
(``docs/internals.md``), drawn with matplotlib's Agg canvas (no pyplot), plus
PNG files, a window for ``render_mode="human"`` and a TensorBoard helper
(:mod:`btgym.rendering.tensorboard`). Importing this package loads neither
matplotlib nor torch; the first real render loads matplotlib.

Example::

    image = render("episode", records=records, bars=bars, config=RenderConfig())
    save_png(image, "episode.png")
"""

from btgym.rendering.api import (
    available_modes,
    render,
    render_episode_figure,
    render_figure,
)
from btgym.rendering.config import BUILTIN_MODES, RenderConfig
from btgym.rendering.placeholder import placeholder
from btgym.rendering.png import check_image, save_png, to_png_bytes
from btgym.rendering.records import FILL_KINDS
from btgym.rendering.window import (
    HumanWindow,
    close_windows,
    display_problem,
    env_render,
    human_window,
)

__all__ = [
    "BUILTIN_MODES",
    "FILL_KINDS",
    "HumanWindow",
    "RenderConfig",
    "available_modes",
    "check_image",
    "close_windows",
    "display_problem",
    "env_render",
    "human_window",
    "placeholder",
    "render",
    "render_episode_figure",
    "render_figure",
    "save_png",
    "to_png_bytes",
]
