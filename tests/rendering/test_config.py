"""RenderConfig: BTGym keywords, validation, unknown keys."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from btgym.errors import ConfigError, RenderError, UnknownKeywordError
from btgym.rendering import RenderConfig, render


def test_defaults_and_pixels() -> None:
    c = RenderConfig()
    assert c.render_enabled is True
    assert c.render_modes == ("human", "state", "episode")
    assert c.pixels_of("episode") == (
        round(c.render_size_episode[1] * c.render_dpi),
        round(c.render_size_episode[0] * c.render_dpi),
    )


def test_unknown_keyword_in_constructor_names_it_and_close_matches() -> None:
    with pytest.raises(UnknownKeywordError, match=r"render_dpix.*render_dpi") as info:
        RenderConfig(render_dpix=80)
    assert isinstance(info.value, TypeError)
    with pytest.raises(UnknownKeywordError, match="render_enable"):
        RenderConfig.from_kwargs(render_enable=False)


def test_btgym_keywords_accepted() -> None:
    c = RenderConfig.from_kwargs(
        render_enabled=False,
        render_modes=["human", "raw"],
        render_size_human=(6, 3.5),
        render_size_state=(7, 3.5),
        render_size_episode=(12, 8),
        render_dpi=75,
        render_agent_channel=1,
    )
    assert c.render_modes == ("human", "raw")  # lists become tuples (hashable, frozen)
    assert c.render_size_episode == (12.0, 8.0)
    assert c.state_channel == 1  # BTGym's old name wins when given
    assert RenderConfig(render_state_channel=2).state_channel == 2


def test_pick_replace_to_dict() -> None:
    c = RenderConfig.pick({"render_dpi": 60, "filename": "x.csv", "port": 5000})
    assert c.render_dpi == 60
    assert RenderConfig(**c.to_dict()) == c
    assert c.replace(render_dpi=70).render_dpi == 70
    with pytest.raises(UnknownKeywordError):
        c.replace(dpi=70)


def test_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        RenderConfig().render_dpi = 10  # type: ignore[misc]


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"render_dpi": 0}, "render_dpi"),
        ({"render_dpi": "100"}, "render_dpi"),
        ({"render_size_episode": (-1, 5)}, "render_size_episode"),
        ({"render_size_human": 5}, "render_size_human"),
        ({"render_state_channel": -1}, "render_state_channel"),
        ({"render_agent_channel": 1.5}, "render_agent_channel"),
        ({"render_modes": ("human", 3)}, "render_modes"),
        ({"render_enabled": "yes"}, "render_enabled"),
        ({"render_human_bars": 1}, "render_human_bars"),
        ({"render_buy_color": ""}, "render_buy_color"),
    ],
)
def test_bad_values_raise_config_error_naming_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        RenderConfig(**kwargs)


def test_numpy_integers_accepted() -> None:
    assert RenderConfig(render_state_channel=np.int64(2)).state_channel == 2


@pytest.mark.parametrize(
    "kwargs, field",
    [({"render_buy_color": "not-a-colour"}, "render_buy_color"), ({"render_cmap": "nope"}, "cmap")],
)
def test_unknown_colour_or_colormap_fails_at_render(
    kwargs: dict, field: str, small_episode: tuple
) -> None:
    records, bars = small_episode
    with pytest.raises(ConfigError, match=field):
        render("episode", records=records, bars=bars, config=RenderConfig(**kwargs))


def test_config_must_be_a_render_config(small_episode: tuple) -> None:
    records, bars = small_episode
    with pytest.raises(ConfigError, match="RenderConfig"):
        render("episode", records=records, bars=bars, config={"render_dpi": 50})  # type: ignore[arg-type]
    with pytest.raises(RenderError):
        render("nope", records=records, bars=bars, config=RenderConfig())
