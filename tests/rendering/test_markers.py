"""The episode image has one marker per fill, of the fill's kind, where it is visible.

Markers are counted from the artists (one scatter collection per kind and price
panel, ``gid="fills:<kind>"``), not from pixels: see ``render_episode_figure``.
"""

from __future__ import annotations

import numpy as np
import pytest

from btgym.rendering import FILL_KINDS, RenderConfig, render_episode_figure, render_figure
from btgym.rendering.panels import FILL_GID
from tests.rendering.episodes import synthetic_bars, synthetic_records

pytestmark = pytest.mark.filterwarnings("error::matplotlib.MatplotlibDeprecationWarning")


def marker_offsets(fig) -> dict[str, list[tuple[object, np.ndarray]]]:
    """(axes, offsets) of every fill collection, per kind."""
    out: dict[str, list] = {k: [] for k in FILL_KINDS.values()}
    for ax in fig.axes:
        for coll in ax.collections:
            gid = coll.get_gid() or ""
            if gid.startswith(FILL_GID):
                out[gid[len(FILL_GID) :]].append((ax, np.asarray(coll.get_offsets())))
    return out


def assert_markers_match_fills(fig, records: dict, assets: list[int]) -> None:
    found = marker_offsets(fig)
    shown = np.isin(records["fill_asset"], assets)
    for code, kind in FILL_KINDS.items():
        want = records["fill_price"][shown & (records["fill_kind"] == code)]
        got = [off for _, off in found[kind] if len(off)]
        prices = np.concatenate([off[:, 1] for off in got]) if got else np.zeros(0)
        assert len(prices) == len(want), f"{kind}: {len(prices)} markers for {len(want)} fills"
        np.testing.assert_allclose(np.sort(prices), np.sort(want))
        for ax, off in found[kind]:  # every marker lies inside its panel's view
            (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
            assert ((off[:, 0] >= x0) & (off[:, 0] <= x1)).all(), kind
            assert ((off[:, 1] >= y0) & (off[:, 1] <= y1)).all(), kind


def test_backtrader_episode_markers_equal_fills(bt_episode: tuple) -> None:
    records, bars = bt_episode
    fig = render_episode_figure(records, bars)
    counts = {k: int(np.count_nonzero(records["fill_kind"] == c)) for c, k in FILL_KINDS.items()}
    assert all(counts.values()), counts  # the run made fills of every kind
    assert_markers_match_fills(fig, records, [0])


def test_markers_sit_on_the_fill_bars(bt_episode: tuple) -> None:
    """x of a marker is the bar number of its fill time in the episode's bars."""
    records, bars = bt_episode
    fig = render_episode_figure(records, bars)
    (_, off), *_ = marker_offsets(fig)["buy"]
    want = np.searchsorted(bars.index, records["fill_time"][records["fill_kind"] == 1])
    np.testing.assert_allclose(np.sort(off[:, 0]), np.sort(want))


def test_legend_counts_the_fills(bt_episode: tuple) -> None:
    records, bars = bt_episode
    fig = render_episode_figure(records, bars)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    for code, kind in FILL_KINDS.items():
        assert f"{kind} ({int(np.count_nonzero(records['fill_kind'] == code))})" in labels


def test_no_trades_means_no_markers() -> None:
    rng = np.random.default_rng(3)
    bars = synthetic_bars(120, rng)
    records = synthetic_records(bars, rng, trade_prob=0.0)
    assert len(records["fill_kind"]) == 0
    fig = render_episode_figure(records, bars)
    assert all(len(off) == 0 for kind in marker_offsets(fig).values() for _, off in kind)


@pytest.mark.parametrize("max_assets, shown", [(4, [0, 1, 2]), (1, [0])])
def test_multi_asset_markers_per_panel(max_assets: int, shown: list[int]) -> None:
    rng = np.random.default_rng(4)
    bars = synthetic_bars(400, rng, names=("A", "B", "C"))
    records = synthetic_records(bars, rng, trade_prob=0.02)
    fig = render_episode_figure(records, bars, RenderConfig(render_max_assets=max_assets))
    assert_markers_match_fills(fig, records, shown)
    for i, ax in enumerate(fig.axes[: len(shown)]):  # each price panel holds its own asset
        per_panel = sum(len(c.get_offsets()) for c in ax.collections if c.get_gid())
        assert per_panel == int(np.count_nonzero(records["fill_asset"] == i))
    header = " ".join(t.get_text() for t in fig.texts)
    assert ("showing 1 of 3 assets" in header) == (max_assets == 1)


def test_human_window_shows_only_recent_fills(bt_episode: tuple) -> None:
    records, bars = bt_episode
    cfg = RenderConfig(render_human_bars=100)
    fig = render_figure("human", records=records, bars=bars, config=cfg)
    now = np.searchsorted(bars.index, records["time"][-1])
    recent = np.searchsorted(bars.index, records["fill_time"]) > now - 100
    found = marker_offsets(fig)
    assert sum(len(off) for kind in found.values() for _, off in kind) == recent.sum()


def test_same_colours_for_kinds_in_every_mode(bt_episode: tuple) -> None:
    records, bars = bt_episode
    cfg = RenderConfig(render_buy_color="#00ff00", render_sell_color="#ff0000")
    for mode in ("episode", "human"):
        fig = render_figure(mode, records=records, bars=bars, config=cfg)
        colours = {
            c.get_gid(): c.get_facecolor()[0][:3]
            for c in fig.axes[0].collections
            if (c.get_gid() or "").startswith(FILL_GID)
        }
        np.testing.assert_allclose(colours["fills:buy"], (0, 1, 0))
        np.testing.assert_allclose(colours["fills:sell"], (1, 0, 0))


def test_fill_asset_indexes_the_traded_assets_not_the_data_lines() -> None:
    """Bars may carry data lines that are not traded; fill_asset counts traded assets."""
    rng = np.random.default_rng(6)
    both = synthetic_bars(300, rng, names=("INDEX", "EURUSD"))
    traded = synthetic_bars(300, rng, names=("EURUSD",))
    records = synthetic_records(traded, rng, trade_prob=0.03)  # fill_asset 0 = EURUSD
    bars = type(both)(
        both.names, both.index, {"INDEX": both.values["INDEX"], "EURUSD": traded.values["EURUSD"]}
    )
    fig = render_episode_figure(records, bars)
    assert fig.axes[0].get_ylabel() == "EURUSD price"
    assert "INDEX" not in " ".join(ax.get_ylabel() for ax in fig.axes)
    assert_markers_match_fills(fig, records, [0])
    human = render_figure("human", records=records, bars=bars)
    assert human.axes[0].get_ylabel() == "EURUSD price"
