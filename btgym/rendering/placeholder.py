"""Labelled placeholder images drawn with pillow (no matplotlib needed).

Used when rendering is disabled (``render_enabled=False``) and when there is
nothing to draw yet (no step recorded). A flat light background, a frame and
one or two lines of centred dark text: an image a person reads at once and a
test recognises by its handful of colours.
"""

from __future__ import annotations

import functools
import importlib.util
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFont

_BACKGROUND = (244, 244, 244)
_FRAME = (190, 190, 190)
_TEXT = (60, 60, 60)
_DETAIL = (110, 110, 110)


@functools.lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    spec = importlib.util.find_spec("matplotlib")
    for root in (spec.submodule_search_locations or []) if spec else []:
        path = os.path.join(root, "mpl-data", "fonts", "ttf", "DejaVuSans.ttf")
        if os.path.exists(path):
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size=size)


@functools.lru_cache(maxsize=16)
def _placeholder(height: int, width: int, title: str, detail: str) -> bytes:
    img = Image.new("RGB", (width, height), _BACKGROUND)
    draw = ImageDraw.Draw(img)
    m = max(2, min(width, height) // 40)
    draw.rectangle([m, m, width - 1 - m, height - 1 - m], outline=_FRAME, width=max(1, m // 3))
    title_size = max(8, min(height // 8, width // max(8, len(title) // 2 + 4)))
    detail_size = max(7, min(title_size // 2, width // max(8, len(detail) // 2 + 4)))
    cx, cy = width / 2, height / 2
    title_y = cy - (title_size * 0.4 if detail else 0)
    draw.text((cx, title_y), title, fill=_TEXT, font=_font(title_size), anchor="mm")
    if detail:
        y = title_y + title_size * 0.6 + detail_size
        draw.text((cx, y), detail, fill=_DETAIL, font=_font(detail_size), anchor="mm")
    return np.asarray(img, dtype=np.uint8).tobytes()


def placeholder(height: int, width: int, title: str, detail: str = "") -> np.ndarray:
    """An ``height x width x 3`` uint8 image showing ``title`` (and ``detail``).

    Args:
        height, width: image size in pixels.
        title: the main line, e.g. ``"rendering disabled"``.
        detail: an optional smaller second line.
    """
    raw = _placeholder(int(height), int(width), title, detail)
    return np.frombuffer(raw, np.uint8).reshape(int(height), int(width), 3).copy()
