"""Log rendered images to TensorBoard.

``writer`` is a ``torch.utils.tensorboard.SummaryWriter`` (anything with its
``add_image(tag, img, global_step, dataformats=...)``). This module imports
neither torch nor tensorboard: the caller owns the writer, so ``btgym.rendering``
stays light enough for env processes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from btgym.errors import RenderError
from btgym.rendering.png import check_image


def log_episode_image(writer: Any, tag: str, image: np.ndarray, step: int) -> None:
    """Add ``image`` (H x W x 3 uint8, e.g. ``env.render_image("episode")``) at ``step``.

    Args:
        writer: a ``SummaryWriter``.
        tag: the TensorBoard tag, e.g. ``"episode/worker_0"``.
        image: the RGB array.
        step: the global step on TensorBoard's slider.

    Raises:
        RenderError: ``writer`` has no ``add_image``, or ``image`` is not an RGB
            uint8 array.
    """
    add_image = getattr(writer, "add_image", None)
    if not callable(add_image):
        raise RenderError(
            f"log_episode_image: writer {type(writer).__name__} has no add_image(); "
            "expected a torch.utils.tensorboard.SummaryWriter"
        )
    if not isinstance(tag, str) or not tag:
        raise RenderError(f"log_episode_image: tag must be a non-empty string, got {tag!r}")
    add_image(tag, check_image(image, f"image for {tag!r}"), int(step), dataformats="HWC")
