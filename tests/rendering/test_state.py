"""Observation images: time on x, features on y, one channel of rank-3 observations."""

from __future__ import annotations

import numpy as np
import pytest

from btgym.errors import RenderError
from btgym.rendering import RenderConfig, render, render_figure

pytestmark = pytest.mark.filterwarnings("error::matplotlib.MatplotlibDeprecationWarning")

RNG = np.random.default_rng(2)


def heatmap(fig) -> np.ndarray:
    """The data of the observation heatmap (the first axes' image)."""
    return np.ma.filled(fig.axes[0].images[0].get_array(), np.nan)


def test_time_on_x_features_on_y() -> None:
    obs = RNG.normal(size=(30, 4))
    fig = render_figure("raw", records=None, bars=None, state={"raw": obs})
    np.testing.assert_array_equal(heatmap(fig), obs.T)
    ax = fig.axes[0]
    assert ax.get_xlim() == (-29.5, 0.5) and ax.get_ylim() == (-0.5, 3.5)
    assert "time step" in ax.get_xlabel() and ax.get_ylabel() == "feature"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0", "1", "2", "3"]


@pytest.mark.parametrize("channel", [0, 2])
def test_rank3_shows_the_configured_channel(channel: int) -> None:
    obs = RNG.normal(size=(20, 5, 3))
    for cfg in (
        RenderConfig(render_state_channel=channel),
        RenderConfig(render_agent_channel=channel),
    ):
        fig = render_figure("state", records=None, bars=None, state={"state": obs}, config=cfg)
        np.testing.assert_array_equal(heatmap(fig), obs[:, :, channel].T)
        assert f"channel {channel} of 3" in " ".join(t.get_text() for t in fig.texts)


def test_rank1_and_rank4() -> None:
    fig = render_figure("v", records=None, bars=None, state={"v": np.arange(7.0)})
    assert heatmap(fig).shape == (1, 7)
    obs = RNG.normal(size=(10, 3, 2, 4))
    fig = render_figure("x", records=None, bars=None, state={"x": obs})
    np.testing.assert_array_equal(heatmap(fig), obs[:, :, 0].reshape(10, -1).T)


def test_state_mode_falls_back_to_the_first_observation() -> None:
    obs = {"raw": RNG.normal(size=(6, 2)), "other": RNG.normal(size=(6, 3))}
    fig = render_figure("state", records=None, bars=None, state=obs)
    np.testing.assert_array_equal(heatmap(fig), obs["raw"].T)


@pytest.mark.parametrize(
    "obs, match",
    [
        (np.float64(1.0), "shape"),
        (np.zeros((0, 4)), "shape"),
        (np.array(["a", "b"]), "dtype"),
    ],
)
def test_undrawable_observations(obs: object, match: str) -> None:
    with pytest.raises(RenderError, match=match):
        render("x", records=None, bars=None, state={"x": obs}, config=RenderConfig())


def test_missing_channel_names_it() -> None:
    with pytest.raises(RenderError, match=r"render_state_channel=3.*2 channels"):
        render(
            "x",
            records=None,
            bars=None,
            state={"x": np.zeros((5, 4, 2))},
            config=RenderConfig(render_state_channel=3),
        )


@pytest.mark.parametrize(
    "obs",
    [
        np.full((30, 4), np.nan),
        np.ones((30, 4)),
        np.where(RNG.random((30, 4)) > 0.5, np.inf, 1.0),
        np.arange(120, dtype=np.int32).reshape(30, 4),
    ],
    ids=["all_nan", "constant", "with_inf", "int32"],
)
def test_odd_values_render(obs: np.ndarray) -> None:
    cfg = RenderConfig(render_dpi=50)
    img = render("x", records=None, bars=None, state={"x": obs}, config=cfg)
    assert img.shape == (*cfg.pixels_of("state"), 3) and img.std() > 5
    fig = render_figure("x", records=None, bars=None, state={"x": obs}, config=cfg)
    lo, hi = fig.axes[1].get_ylim()  # the colour bar
    assert np.isfinite([lo, hi]).all() and hi > lo
