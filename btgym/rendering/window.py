"""Show RGB arrays in a window (Gymnasium's ``render_mode="human"``).

A small tkinter window (Tk ships with Python; no matplotlib GUI backend and no
pyplot state). Before touching Tk the display is checked: on Linux/BSD without
``DISPLAY`` (or only ``WAYLAND_DISPLAY``, which Tk cannot use without XWayland's
``DISPLAY``), or when ``MPLBACKEND`` names a non-interactive backend (the usual
"I am headless" switch), :class:`~btgym.errors.RenderError` is raised at once
with a message saying what to use instead, so CI never hangs on a window.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import gymnasium as gym
import numpy as np

from btgym.errors import RenderError
from btgym.log import get_logger
from btgym.rendering.png import check_image

log = get_logger(__name__)

_HEADLESS_BACKENDS = {"agg", "pdf", "ps", "svg", "pgf", "cairo", "template"}
_ADVICE = (
    "use render_mode='rgb_array' (env.render() returns the image) and btgym.rendering.save_png"
)


def display_problem() -> str | None:
    """Why no window can be opened here, or ``None`` when one probably can."""
    backend = os.environ.get("MPLBACKEND", "").strip()
    if backend.lower() in _HEADLESS_BACKENDS:
        return f"MPLBACKEND={backend} asks for headless (non-interactive) rendering"
    if sys.platform not in ("win32", "darwin") and not os.environ.get("DISPLAY"):
        if os.environ.get("WAYLAND_DISPLAY"):
            return "WAYLAND_DISPLAY is set but DISPLAY is not (Tk needs X or XWayland)"
        return "no display: neither DISPLAY nor WAYLAND_DISPLAY is set"
    try:
        import tkinter  # noqa: F401
    except ImportError:
        return "tkinter (Tk) is not installed"
    return None


class HumanWindow:
    """One Tk window that shows the latest RGB array it is given.

    Args:
        title: the window title.

    Raises:
        RenderError: no display (see :func:`display_problem`) or Tk failed to
            connect to it.
    """

    def __init__(self, title: str = "btgym") -> None:
        problem = display_problem()
        if problem:
            raise RenderError(f"cannot open a render window: {problem}; {_ADVICE}")
        import tkinter

        try:
            self._root = tkinter.Tk()
        except tkinter.TclError as exc:
            raise RenderError(f"cannot open a render window: Tk says {exc}; {_ADVICE}") from None
        self._root.title(title)
        self._label = tkinter.Label(self._root, borderwidth=0)
        self._label.pack()
        self._photo: Any = None
        self._root.protocol("WM_DELETE_WINDOW", self.close)
        self.closed = False

    def show(self, image: np.ndarray) -> None:
        """Display ``image`` (H x W x 3 uint8) and process pending window events."""
        if self.closed:
            return
        import tkinter

        img = check_image(image)
        h, w = img.shape[:2]
        ppm = b"P6 %d %d 255\n" % (w, h) + img.tobytes()
        photo = tkinter.PhotoImage(master=self._root, data=ppm, format="PPM")
        self._label.configure(image=photo, width=w, height=h)
        self._photo = photo  # keep a reference, or Tk shows nothing
        self.update()

    def size(self) -> tuple[int, int]:
        """``(height, width)`` of the image shown, ``(0, 0)`` before the first."""
        if self._photo is None:
            return (0, 0)
        return (int(self._photo.height()), int(self._photo.width()))

    def update(self) -> None:
        """Process window events (call now and then to keep the window responsive)."""
        if not self.closed:
            import tkinter

            try:
                self._root.update()
            except tkinter.TclError:  # the user closed the window
                self.closed = True

    def close(self) -> None:
        """Destroy the window (idempotent)."""
        if not self.closed:
            self.closed = True
            try:
                self._root.destroy()
            except Exception as exc:  # already gone with its display
                log.debug("closing the render window: {}", exc)


_WINDOWS: dict[str, HumanWindow] = {}


def human_window(
    image: np.ndarray, window: HumanWindow | None = None, title: str = "btgym"
) -> HumanWindow:
    """Show ``image`` in a window and return the window.

    With ``window=None`` the open window of the same ``title`` is reused (one
    window per title, like an env's successive ``render()`` calls expect); a
    new one is opened when there is none or it was closed. Pass a window to
    draw into that one. Close with ``window.close()`` or :func:`close_windows`.

    Raises:
        RenderError: no display here (checked before anything else, never hangs).
    """
    img = check_image(image)
    if window is None or window.closed:
        window = _WINDOWS.get(title)
        if window is None or window.closed:
            window = HumanWindow(title)
            _WINDOWS[title] = window
    window.show(img)
    return window


def close_windows() -> None:
    """Close every window :func:`human_window` opened (idempotent)."""
    while _WINDOWS:
        _, window = _WINDOWS.popitem()
        window.close()


def env_render(env: Any) -> np.ndarray | None:
    """Gymnasium's ``render()`` for btgym's envs (the backtrader and the vector
    engine's alike): ``rgb_array`` returns ``env.render_image("human")``, ``human``
    shows it in the env's window (kept in ``env._window``), no ``render_mode`` warns
    and returns None, as gymnasium asks."""
    if env.render_mode is None:
        gym.logger.warn(
            "render() called without a render_mode; pass render_mode= to "
            "the env, or use render_image(mode)"
        )
        return None
    image = env.render_image("human")
    if env.render_mode == "human":
        env._window = human_window(image, env._window, title=type(env).__name__)
        return None
    return image
