"""RGB arrays to PNG files and bytes (pillow), from an array or from an env."""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from btgym.errors import RenderError


def check_image(image: Any, where: str = "image") -> np.ndarray:
    """Return ``image`` as a C-contiguous ``H x W x 3`` uint8 array.

    Accepts ``H x W`` (grey) and ``H x W x 4`` (alpha dropped) uint8 arrays too.

    Raises:
        RenderError: not a uint8 image array.
    """
    a = np.asarray(image)
    if a.dtype != np.uint8:
        raise RenderError(f"{where}: expected dtype uint8, got {a.dtype}")
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (3, 4) or a.shape[0] == 0 or a.shape[1] == 0:
        raise RenderError(f"{where}: expected an H x W x 3 array, got shape {a.shape}")
    return np.ascontiguousarray(a[:, :, :3])


def image_of(array_or_env: Any, mode: str | None = None) -> np.ndarray:
    """The image of an array, or of an env (``render_image(mode)``, else ``render()``).

    Args:
        array_or_env: an image array, or an object with ``render_image(mode)``
            (btgym envs) or a Gymnasium ``render()`` returning an array.
        mode: the env's render mode (``"episode"`` when ``None`` and the env has
            ``render_image``); must be ``None`` for an array.
    """
    if isinstance(array_or_env, np.ndarray):
        if mode is not None:
            raise RenderError(f"mode={mode!r} was given with an array; it applies to envs only")
        return check_image(array_or_env)
    if hasattr(array_or_env, "render_image"):
        return check_image(array_or_env.render_image(mode or "episode"), f"render_image({mode!r})")
    if hasattr(array_or_env, "render"):
        if mode is not None and getattr(array_or_env, "render_mode", mode) != mode:
            raise RenderError(
                f"{type(array_or_env).__name__} has no render_image(); its render() draws "
                f"{getattr(array_or_env, 'render_mode', None)!r}, not {mode!r}"
            )
        return check_image(array_or_env.render(), "render()")
    raise RenderError(
        f"save_png: expected an image array or an env with render_image()/render(), "
        f"got {type(array_or_env).__name__}"
    )


def to_png_bytes(image: np.ndarray, compress_level: int = 3) -> bytes:
    """PNG-encode an ``H x W x 3`` uint8 image."""
    buf = io.BytesIO()
    Image.fromarray(check_image(image), "RGB").save(buf, "PNG", compress_level=compress_level)
    return buf.getvalue()


def save_png(array_or_env: Any, path: str | os.PathLike, mode: str | None = None) -> Path:
    """Write a PNG of an image array or of an env's render; return the path.

    The file is written next to ``path`` and renamed into place, so a reader
    never sees half a file.

    Args:
        array_or_env: see :func:`image_of`.
        path: the ``.png`` file to write (its folder must exist).
        mode: the env's render mode (e.g. ``"episode"``, ``"human"``, ``"raw"``).

    Raises:
        RenderError: no image can be had from ``array_or_env``.
        FileNotFoundError: the folder of ``path`` does not exist.
    """
    data = to_png_bytes(image_of(array_or_env, mode))
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(f"save_png: folder {str(folder)!r} does not exist (for {path})")
    tmp = folder / f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp"
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
