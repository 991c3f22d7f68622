"""save_png / to_png_bytes: real files, read back with pillow."""

from __future__ import annotations

import errno
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from btgym.errors import RenderError
from btgym.rendering import RenderConfig, render, save_png, to_png_bytes
from tests.conftest import read_only_dir


@pytest.fixture
def image() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(40, 60, 3), dtype=np.uint8)


def test_array_round_trip(tmp_path: Path, image: np.ndarray) -> None:
    path = save_png(image, tmp_path / "a.png")
    assert path == tmp_path / "a.png"
    with Image.open(path) as im:
        assert im.format == "PNG" and im.mode == "RGB"
        assert np.array_equal(np.asarray(im), image)
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]  # no temp file left behind


def test_png_bytes_round_trip(image: np.ndarray) -> None:
    data = to_png_bytes(image)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))), image)


def test_rendered_episode_to_png(tmp_path: Path, small_episode: tuple) -> None:
    records, bars = small_episode
    img = render("episode", records=records, bars=bars, config=RenderConfig(render_dpi=50))
    path = save_png(img, str(tmp_path / "episode.png"))
    assert np.array_equal(np.asarray(Image.open(path)), img)


class _Env:
    """Has the env's ``render_image(mode)`` (what btgym envs provide)."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def render_image(self, mode: str) -> np.ndarray:
        self.asked.append(mode)
        return np.full((10, 20, 3), {"episode": 10, "human": 20}[mode], np.uint8)


class _GymEnv:
    """Only Gymnasium's ``render()`` with ``render_mode="rgb_array"``."""

    render_mode = "rgb_array"

    def render(self) -> np.ndarray:
        return np.full((8, 8, 3), 7, np.uint8)


def test_env_with_render_image(tmp_path: Path) -> None:
    env = _Env()
    save_png(env, tmp_path / "e.png")
    save_png(env, tmp_path / "h.png", mode="human")
    assert env.asked == ["episode", "human"]
    assert np.asarray(Image.open(tmp_path / "h.png"))[0, 0, 0] == 20


def test_gym_env_with_render(tmp_path: Path) -> None:
    save_png(_GymEnv(), tmp_path / "g.png")
    assert np.asarray(Image.open(tmp_path / "g.png")).shape == (8, 8, 3)
    with pytest.raises(RenderError, match="episode"):
        save_png(_GymEnv(), tmp_path / "g.png", mode="episode")


def test_grey_and_rgba_arrays_accepted(tmp_path: Path) -> None:
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4)
    save_png(grey, tmp_path / "g.png")
    assert np.asarray(Image.open(tmp_path / "g.png")).shape == (3, 4, 3)
    save_png(np.zeros((3, 4, 4), np.uint8), tmp_path / "a.png")


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.zeros((4, 4, 3), np.float32), "uint8"),
        (np.zeros((4, 4, 2), np.uint8), "H x W x 3"),
        (np.zeros((0, 4, 3), np.uint8), "H x W x 3"),
        ("picture", "image array or an env"),
    ],
)
def test_bad_input_raises(tmp_path: Path, bad: object, match: str) -> None:
    with pytest.raises(RenderError, match=match):
        save_png(bad, tmp_path / "x.png")
    assert not list(tmp_path.iterdir())


def test_mode_with_an_array_is_an_error(tmp_path: Path, image: np.ndarray) -> None:
    with pytest.raises(RenderError, match="envs only"):
        save_png(image, tmp_path / "x.png", mode="episode")


def test_missing_folder(tmp_path: Path, image: np.ndarray) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        save_png(image, tmp_path / "nope" / "x.png")


def test_read_only_folder(tmp_path: Path, image: np.ndarray) -> None:
    with read_only_dir(tmp_path) as ro:
        with pytest.raises(OSError) as info:  # PermissionError, or EROFS as root
            save_png(image, ro / "x.png")
        assert info.value.errno in (errno.EACCES, errno.EPERM, errno.EROFS)
        assert not list(ro.iterdir())
