"""render(): every mode's shape, dtype and content; robustness on odd episodes."""

from __future__ import annotations

import numpy as np
import pytest

from btgym.errors import RenderError
from btgym.rendering import RenderConfig, available_modes, render, render_figure
from btgym.rendering.style import styled, to_rgb
from tests.rendering.episodes import Bars, synthetic_bars, synthetic_records

pytestmark = pytest.mark.filterwarnings("error::matplotlib.MatplotlibDeprecationWarning")


def assert_image(img: np.ndarray, shape: tuple[int, int]) -> None:
    """A fresh RGB uint8 image of ``shape`` that is not blank."""
    assert img.dtype == np.uint8
    assert img.shape == (*shape, 3)
    assert img.flags.c_contiguous and img.flags.writeable
    assert img.std() > 8.0, "image is (nearly) blank"
    colours = np.unique(img.reshape(-1, 3)[:: max(1, img.size // 3 // 200_000)], axis=0)
    assert len(colours) > 20, "image has almost no content"


@pytest.mark.parametrize("mode", ["human", "episode", "state", "raw", "external"])
def test_every_mode_shape_dtype_not_blank(
    mode: str, bt_episode: tuple, observation: dict, config: RenderConfig
) -> None:
    records, bars = bt_episode
    img = render(mode, records=records, bars=bars, state=observation, config=config)
    kind = mode if mode in ("human", "episode") else "state"
    assert_image(img, config.pixels_of(kind))


def test_sizes_and_dpi_are_honoured(small_episode: tuple, observation: dict) -> None:
    records, bars = small_episode
    cfg = RenderConfig(
        render_size_human=(4, 3),
        render_size_state=(5, 2),
        render_size_episode=(8, 6),
        render_dpi=60,
    )
    for mode, shape in (("human", (180, 240)), ("raw", (120, 300)), ("episode", (360, 480))):
        img = render(mode, records=records, bars=bars, state=observation, config=cfg)
        assert img.shape == (*shape, 3)


def test_reused_figures_give_identical_pixels(
    small_episode: tuple, bt_episode: tuple, observation: dict, small_config: RenderConfig
) -> None:
    """Figures are reused between renders: nothing of one render may leak into the next."""
    records, bars = small_episode
    first = render("episode", records=records, bars=bars, config=small_config)
    human = render("human", records=records, bars=bars, config=small_config)
    render("episode", records=bt_episode[0], bars=bt_episode[1], config=small_config)
    render("episode", records={}, bars=None, config=small_config)
    render("human", records=records, bars=None, config=small_config)
    render("raw", records=records, bars=bars, state=observation, config=small_config)
    again = render("episode", records=records, bars=bars, config=small_config)
    assert np.array_equal(first, again)
    assert np.array_equal(human, render("human", records=records, bars=bars, config=small_config))
    fig = render_figure("episode", records=records, bars=bars, config=small_config)
    with styled(small_config):  # text hinting is read at draw time
        assert np.array_equal(first, to_rgb(fig))


def test_different_episodes_give_different_images(
    small_episode: tuple, bt_episode: tuple, small_config: RenderConfig
) -> None:
    a = render("episode", records=small_episode[0], bars=small_episode[1], config=small_config)
    b = render("episode", records=bt_episode[0], bars=bt_episode[1], config=small_config)
    assert not np.array_equal(a, b)


# --------------------------------------------------------------------------- modes


def test_unknown_mode_names_it_and_the_available_ones(
    small_episode: tuple, observation: dict, config: RenderConfig
) -> None:
    records, bars = small_episode
    with pytest.raises(RenderError, match=r"'agent'.*human, state, episode, raw, external"):
        render("agent", records=records, bars=bars, state=observation, config=config)
    with pytest.raises(RenderError, match="'episode'"):
        render("episode", records=records, bars=bars, config=RenderConfig(render_modes=["human"]))


def test_available_modes_are_config_modes_plus_observation_keys(observation: dict) -> None:
    cfg = RenderConfig(render_modes=("human", "raw"))
    assert available_modes(cfg) == ("human", "raw")
    assert available_modes(cfg, observation) == ("human", "raw", "external")


def test_listed_observation_mode_before_reset_is_a_labelled_note(config: RenderConfig) -> None:
    cfg = RenderConfig(render_modes=("human", "raw"))
    img = render("raw", records=None, bars=None, state=None, config=cfg)
    assert img.shape == (*cfg.pixels_of("state"), 3)
    assert 0 < img.std() < 30  # a short grey line of text on white


# --------------------------------------------------------------------------- odd episodes


def _odd_episodes() -> dict[str, tuple[dict, Bars | None]]:
    rng = np.random.default_rng(5)
    out = {}
    b = synthetic_bars(200, rng)
    out["no_trades"] = (synthetic_records(b, rng, trade_prob=0.0), b)
    b = synthetic_bars(31, rng)
    out["one_bar"] = (synthetic_records(b, rng, warmup=30), b)
    b = synthetic_bars(1, rng)
    out["one_bar_no_warmup"] = (synthetic_records(b, rng, warmup=0), b)
    b = synthetic_bars(150, rng, flat=True)
    out["flat_price"] = (synthetic_records(b, rng, trade_prob=0.05), b)
    b = synthetic_bars(150, rng)
    r = synthetic_records(b, rng, trade_prob=0.05)
    nan = {
        k: (np.full(len(v), np.nan) if v.dtype == np.float64 and not k.startswith("fill_") else v)
        for k, v in r.items()
    }
    out["all_nan_columns"] = (nan, b)
    out["no_bars"] = (r, None)
    out["time_only"] = ({"time": r["time"]}, b)
    out["empty"] = ({}, None)
    out["none"] = (None, None)
    b = synthetic_bars(600, rng, names=("A", "B", "C"), gap_every=200)
    out["multi_asset_gaps"] = (synthetic_records(b, rng, trade_prob=0.01), b)
    return out


ODD = _odd_episodes()


@pytest.mark.parametrize("name", sorted(ODD))
@pytest.mark.parametrize("mode", ["episode", "human"])
def test_odd_episodes_render(name: str, mode: str, small_config: RenderConfig) -> None:
    records, bars = ODD[name]
    img = render(mode, records=records, bars=bars, config=small_config)
    assert img.shape == (*small_config.pixels_of(mode), 3) and img.dtype == np.uint8
    assert img.std() > 2.0  # never an empty canvas: at least a labelled note


@pytest.mark.parametrize("name", ["flat_price", "one_bar", "one_bar_no_warmup", "all_nan_columns"])
def test_odd_episodes_have_finite_nonempty_axis_limits(name: str) -> None:
    records, bars = ODD[name]
    fig = render_figure("episode", records=records, bars=bars)
    to_rgb(fig)
    assert len(fig.axes) >= 4
    for ax in fig.axes:
        for lo, hi in (ax.get_xlim(), ax.get_ylim()):
            assert np.isfinite([lo, hi]).all() and hi > lo, (name, ax.get_ylabel(), lo, hi)


def test_flat_price_limits_are_around_the_price() -> None:
    records, bars = ODD["flat_price"]
    fig = render_figure("episode", records=records, bars=bars)
    price_ax = fig.axes[0]
    lo, hi = price_ax.get_ylim()
    assert lo < 1.1 < hi and hi - lo < 0.01


# --------------------------------------------------------------------------- bad input


def test_mismatched_columns_raise(small_episode: tuple, config: RenderConfig) -> None:
    records, bars = small_episode
    bad = {**records, "reward": records["reward"][:-1]}
    with pytest.raises(RenderError, match="differ in length"):
        render("episode", records=bad, bars=bars, config=config)


def test_unknown_fill_kind_raises(small_episode: tuple, config: RenderConfig) -> None:
    records, bars = small_episode
    bad = {**records, "fill_kind": records["fill_kind"] + 5}
    with pytest.raises(RenderError, match="fill_kind"):
        render("episode", records=bad, bars=bars, config=config)


def test_bad_bars_raise(small_episode: tuple, config: RenderConfig) -> None:
    records, bars = small_episode
    with pytest.raises(RenderError, match="no attribute 'names'"):
        render("episode", records=records, bars=object(), config=config)
    short = Bars(bars.names, bars.index, {bars.names[0]: bars.values[bars.names[0]][:10]})
    with pytest.raises(RenderError, match=r"\(330, 5\)"):
        render("episode", records=records, bars=short, config=config)


def test_records_must_be_a_mapping(config: RenderConfig) -> None:
    with pytest.raises(RenderError, match="dict of arrays"):
        render("episode", records=[1, 2, 3], bars=None, config=config)  # type: ignore[arg-type]


def test_a_bare_observation_array_is_the_state_mode(config: RenderConfig) -> None:
    obs = np.random.default_rng(0).normal(size=(30, 4))
    img = render("state", records=None, bars=None, state=obs, config=config)
    assert_image(img, config.pixels_of("state"))
    with pytest.raises(RenderError, match="dict of observation arrays"):
        render("state", records=None, bars=None, state=3, config=config)  # type: ignore[arg-type]


def test_real_datafeed_bars_render_like_the_stand_in(
    small_episode: tuple, small_config: RenderConfig
) -> None:
    datafeed = pytest.importorskip("btgym.datafeed")
    records, bars = small_episode
    real = datafeed.Bars(names=bars.names, index=bars.index, values=bars.values)
    for mode in ("episode", "human"):
        a = render(mode, records=records, bars=bars, config=small_config)
        b = render(mode, records=records, bars=real, config=small_config)
        assert np.array_equal(a, b)


def test_title_info_appears_in_the_header(small_episode: tuple) -> None:
    records, bars = small_episode
    info = {"episode": 12, "value": 100012.123456}
    for mode in ("episode", "human"):
        fig = render_figure(mode, records=records, bars=bars, title_info=info)
        header = " ".join(t.get_text() for t in fig.texts)
        assert "episode: 12" in header and "value: 100,012.12" in header


def test_dollar_signs_and_long_headers_are_plain_text(small_episode: tuple) -> None:
    """Asset names like "$SPX" are not mathtext; a long header is cut to fit the image."""
    records, bars = small_episode
    name = bars.names[0]
    renamed = {
        (f"position/$SPX_{name}" if k == f"position/{name}" else k): v for k, v in records.items()
    }
    bars2 = type(bars)((f"$SPX_{name}",), bars.index, {f"$SPX_{name}": bars.values[name]})
    info = {f"key{i}": "x" * 20 for i in range(30)}
    for mode in ("episode", "human"):
        fig = render_figure(mode, records=renamed, bars=bars2, title_info=info)
        with styled(RenderConfig()):
            to_rgb(fig)
        width = fig.get_size_inches()[0] * fig.dpi
        renderer = fig.canvas.get_renderer()
        for text in fig.texts:
            assert text.get_window_extent(renderer).x1 <= width, text.get_text()[:40]
        assert fig.texts[-1].get_text().endswith("…")
        assert any("$SPX" in ax.get_ylabel() for ax in fig.axes)
