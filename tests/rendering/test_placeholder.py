"""render_enabled=False: a labelled grey placeholder of the mode's size, not noise."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from btgym.errors import RenderError
from btgym.rendering import RenderConfig, placeholder, render


@pytest.mark.parametrize("mode", ["human", "episode", "state", "raw"])
def test_disabled_gives_a_labelled_placeholder(mode: str, small_episode: tuple) -> None:
    records, bars = small_episode
    cfg = RenderConfig(render_enabled=False)
    img = render(mode, records=records, bars=bars, state={"raw": np.ones((5, 2))}, config=cfg)
    kind = mode if mode in ("human", "episode") else "state"
    assert img.shape == (*cfg.pixels_of(kind), 3) and img.dtype == np.uint8
    # grey only, few distinct levels: a flat background, a frame and antialiased text
    assert (img[..., 0] == img[..., 1]).all() and (img[..., 1] == img[..., 2]).all()
    levels = np.unique(img[..., 0])
    assert len(levels) < 256 and np.mean(img[..., 0] == 244) > 0.9  # mostly background
    # dark text sits in the middle band, nowhere else but the frame
    h, w = img.shape[:2]
    dark = img[..., 0] < 120
    middle = dark[int(h * 0.3) : int(h * 0.7), int(w * 0.1) : int(w * 0.9)]
    assert middle.sum() > 200, "no text in the middle of the placeholder"
    assert dark.sum() == middle.sum()


def test_disabled_still_rejects_unknown_modes(small_episode: tuple) -> None:
    records, bars = small_episode
    with pytest.raises(RenderError, match="available modes"):
        render("nope", records=records, bars=bars, config=RenderConfig(render_enabled=False))


def test_placeholder_text_changes_the_image() -> None:
    a, b = placeholder(100, 300, "rendering disabled"), placeholder(100, 300, "no data")
    assert a.shape == (100, 300, 3) and not np.array_equal(a, b)
    two_lines = placeholder(100, 300, "rendering disabled", "render_enabled=False")
    band = (slice(58, 66), slice(10, 290))  # below the title line, inside the frame
    assert (two_lines[band] < 150).any() and not (a[band] < 150).any()


def test_disabled_never_loads_matplotlib() -> None:
    code = (
        "import sys, numpy as np\n"
        "from btgym.rendering import RenderConfig, render\n"
        "cfg = RenderConfig(render_enabled=False)\n"
        "for m in ('human', 'episode', 'state'):\n"
        "    render(m, records={'time': np.arange(3)}, bars=None, config=cfg)\n"
        "print('matplotlib' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
