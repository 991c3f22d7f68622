"""log_episode_image with a real SummaryWriter, read back from the event file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from btgym.errors import RenderError
from btgym.rendering import RenderConfig, render
from btgym.rendering.tensorboard import log_episode_image


def test_episode_image_lands_in_tensorboard(tmp_path: Path, small_episode: tuple) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from torch.utils.tensorboard import SummaryWriter

    records, bars = small_episode
    img = render("episode", records=records, bars=bars, config=RenderConfig(render_dpi=40))
    writer = SummaryWriter(log_dir=str(tmp_path))
    try:
        log_episode_image(writer, "episode/worker_0", img, step=7)
        log_episode_image(writer, "episode/worker_0", img, step=8)
    finally:
        writer.close()
    acc = EventAccumulator(str(tmp_path), size_guidance={"images": 0})
    acc.Reload()
    assert "episode/worker_0" in acc.Tags()["images"]
    events = acc.Images("episode/worker_0")
    assert [e.step for e in events] == [7, 8]
    assert (events[0].height, events[0].width) == img.shape[:2]


def test_bad_writer_and_image() -> None:
    img = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(RenderError, match="add_image"):
        log_episode_image(object(), "t", img, 0)

    class Writer:
        def add_image(self, *args: object, **kwargs: object) -> None:
            raise AssertionError("must not be called with a bad image")

    with pytest.raises(RenderError, match="uint8"):
        log_episode_image(Writer(), "t", img.astype(float), 0)
    with pytest.raises(RenderError, match="tag"):
        log_episode_image(Writer(), "", img, 0)


def test_importing_rendering_loads_neither_torch_nor_matplotlib() -> None:
    code = (
        "import sys, btgym.rendering, btgym.rendering.tensorboard\n"
        "import numpy as np\n"
        "from btgym.rendering import RenderConfig, render\n"
        "img = render('episode', records={}, bars=None, "
        "config=RenderConfig(render_enabled=False))\n"
        "assert img.shape[2] == 3\n"
        "print(sorted(m for m in ('torch', 'matplotlib') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
