"""human_window: a clear RenderError without a display; a real window on Xvfb."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from btgym.errors import RenderError
from btgym.rendering import HumanWindow, close_windows, display_problem, human_window

IMAGE = np.zeros((30, 50, 3), np.uint8)


@pytest.fixture
def headless(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("MPLBACKEND", raising=False)


@pytest.mark.skipif(os.name != "posix" or os.uname().sysname != "Linux", reason="X11 rules")
def test_no_display_raises_at_once(headless: None) -> None:
    t0 = time.monotonic()
    with pytest.raises(RenderError, match=r"DISPLAY.*rgb_array"):
        human_window(IMAGE)
    assert time.monotonic() - t0 < 1.0
    assert "DISPLAY" in (display_problem() or "")


@pytest.mark.skipif(os.name != "posix" or os.uname().sysname != "Linux", reason="X11 rules")
def test_wayland_without_xwayland(headless: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    with pytest.raises(RenderError, match="WAYLAND_DISPLAY is set but DISPLAY is not"):
        HumanWindow()


def test_headless_matplotlib_backend_is_respected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    with pytest.raises(RenderError, match="MPLBACKEND=Agg"):
        human_window(IMAGE)


@pytest.mark.skipif(os.name != "posix", reason="X11 display numbers")
def test_unreachable_display_raises(headless: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPLAY", ":4711")  # nothing listens there
    assert not Path("/tmp/.X11-unix/X4711").exists()
    t0 = time.monotonic()
    with pytest.raises(RenderError, match="Tk says"):
        human_window(IMAGE)
    assert time.monotonic() - t0 < 5.0


def test_bad_image_is_rejected_before_any_window(headless: None) -> None:
    with pytest.raises(RenderError, match="uint8"):
        human_window(np.zeros((3, 3, 3)))


@pytest.fixture
def xvfb(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A private Xvfb server (skips when Xvfb is not installed); stopped afterwards."""
    exe = shutil.which("Xvfb")
    if exe is None:
        pytest.skip("Xvfb is not installed")
    for num in range(97, 140):
        if not Path(f"/tmp/.X11-unix/X{num}").exists() and not Path(f"/tmp/.X{num}-lock").exists():
            break
    proc = subprocess.Popen(
        [exe, f":{num}", "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60  # a loaded CI box starts Xvfb slowly: no skip
        while not Path(f"/tmp/.X11-unix/X{num}").exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.skip("Xvfb did not start")
            time.sleep(0.05)
        monkeypatch.setenv("DISPLAY", f":{num}")
        monkeypatch.delenv("MPLBACKEND", raising=False)
        yield f":{num}"
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_window_shows_images_on_a_real_display(xvfb: str) -> None:
    assert display_problem() is None
    rng = np.random.default_rng(0)
    first = rng.integers(0, 256, (40, 70, 3), dtype=np.uint8)
    window = human_window(first, title="btgym test")
    try:
        assert window.size() == (40, 70)
        second = rng.integers(0, 256, (50, 90, 3), dtype=np.uint8)
        assert human_window(second, window) is window and window.size() == (50, 90)
        photo = window._photo  # the pixels Tk holds are the ones we sent
        for x, y in ((3, 2), (89, 49), (40, 10)):
            assert tuple(int(v) for v in photo.get(x, y)) == tuple(int(v) for v in second[y, x])
        # an env calling human_window(image, title=...) each step gets one window
        assert human_window(first, title="btgym test") is window
        other = human_window(first, title="another")
        assert other is not window
    finally:
        close_windows()
    assert window.closed and other.closed
    window.close()  # idempotent
    replaced = human_window(first, window, title="btgym test")  # closed: a new one
    assert replaced is not window and not replaced.closed
    close_windows()
    assert replaced.closed
