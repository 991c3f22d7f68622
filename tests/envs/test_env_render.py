"""Rendering through the env, in both server modes."""

from __future__ import annotations

import numpy as np
import pytest

import btgym
from btgym.errors import RenderError
from btgym.rendering import render_episode_figure


def _play(env, seed=4, n=120):
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    for _ in range(n):
        *_, term, trunc, _info = env.step(int(rng.integers(4)))
        if term or trunc:
            break


def _is_picture(img):
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    assert img.std() > 10  # not blank


def test_rgb_array_render_mode(mode, make_env):
    env = make_env(server=mode, render_mode="rgb_array")
    _play(env, n=40)
    _is_picture(env.render())


@pytest.mark.parametrize("name", ["human", "episode", "state", "raw", "internal"])
def test_named_modes_render_in_both_modes(mode, make_env, name):
    env = make_env(server=mode)
    _play(env, n=60)
    _is_picture(env.render_image(name))


def test_unknown_mode_is_render_error(make_env):
    env = make_env(server="inprocess")
    _play(env, n=5)
    with pytest.raises(RenderError, match="episode"):
        env.render_image("no-such-mode")


def test_process_and_inprocess_images_are_identical(make_env):
    images = []
    for mode in ("process", "inprocess"):
        env = make_env(server=mode)
        _play(env, seed=9, n=80)
        images.append(env.render_image("episode"))
    assert images[0].shape == images[1].shape
    assert np.array_equal(images[0], images[1])


def test_episode_markers_match_the_env_fills(mode, make_env):
    env = make_env(server=mode)
    _play(env, seed=2, n=150)
    records, bars = env.episode_records(), env.episode_data()
    fig = render_episode_figure(records, bars)
    markers = {kind: 0 for kind in ("buy", "sell", "close")}
    for ax in fig.axes:
        for coll in ax.collections:
            gid = coll.get_gid() or ""
            if gid.startswith("fills:"):
                markers[gid.split(":")[1]] += len(coll.get_offsets())
    kinds = records["fill_kind"]
    assert sum(markers.values()) == kinds.size > 0
    assert markers == {
        "buy": int((kinds == 1).sum()),
        "sell": int((kinds == 2).sum()),
        "close": int((kinds == 3).sum()),
    }


def test_render_disabled_gives_labelled_placeholder(make_env):
    env = make_env(server="process", render_enabled=False)
    _play(env, n=10)
    img = env.render_image("episode")
    assert img.dtype == np.uint8 and img.ndim == 3
    assert (img[..., 0] == img[..., 1]).all() and (img[..., 1] == img[..., 2]).all()  # grey
    _, counts = np.unique(img[..., 0], return_counts=True)
    assert counts.max() / counts.sum() > 0.9  # a flat background ...
    assert img.std() > 1  # ... with a label on it, not noise and not blank


@pytest.mark.parametrize("backend", [None, "Agg"])
def test_human_mode_without_display_fails_clearly(monkeypatch, make_env, backend):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    if backend is None:
        monkeypatch.delenv("MPLBACKEND", raising=False)
    else:
        monkeypatch.setenv("MPLBACKEND", backend)
    env = make_env(server="inprocess", render_mode="human")
    _play(env, n=5)
    reason = "no display" if backend is None else "headless"
    with pytest.raises(RenderError, match=f"cannot open a render window: .*{reason}.*rgb_array"):
        env.render()


def test_bad_render_mode_keyword():
    with pytest.raises(RenderError, match="rgb_array"):
        btgym.BTgymEnv(render_mode="video", filename=str(btgym.sample_data_path("eurusd")))
