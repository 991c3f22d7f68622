"""Episode statistics (``get_stat``): a JSON-able summary of the running / last episode."""

from __future__ import annotations

from typing import Any

from btgym.strategy import iso_time


def _meta_dict(meta: Any) -> dict[str, Any]:
    if meta is None:
        return {}
    if hasattr(meta, "to_dict"):
        meta = meta.to_dict()
    elif hasattr(meta, "__dataclass_fields__"):
        meta = {k: getattr(meta, k) for k in meta.__dataclass_fields__}
    elif not isinstance(meta, dict):
        return {}
    out = {}
    for key, value in meta.items():
        if isinstance(value, (str, int, float, bool)) or value is None:
            out[str(key)] = value
        elif hasattr(value, "item"):
            out[str(key)] = value.item()
        else:
            out[str(key)] = str(value)
    return out


def episode_stat(loop: Any, wall_s: float) -> dict[str, Any]:
    """Summary of ``loop``'s running / last episode.

    Keys: ``episode`` (count of resets), ``active``; once an episode ran also
    ``steps``, ``bars`` (bars processed), ``n_bars``, ``start_value``,
    ``broker_value``, ``broker_cash``, ``total_reward``, ``max_drawdown``,
    ``realized_pnl``, ``unrealized_pnl``, ``n_fills``, ``done_reason``,
    ``time_start`` / ``time_end`` (ISO, first and current bar), ``metadata``
    (the episode's SampleMeta), ``wall_time_s`` and ``steps_per_s``.
    """
    stat: dict[str, Any] = {"episode": loop.episode_count, "active": loop.active}
    s = loop.strategy
    if s is None:
        return stat
    steps = max(s.step_count, 0)
    stat.update(
        steps=steps,
        bars=s.bar_index + 1,
        n_bars=s.n_bars,
        asset_names=list(s.asset_names),
        start_value=s.start_cash,
        broker_value=s.value,
        broker_cash=s.cash,
        total_reward=s.total_reward,
        max_drawdown=s.max_drawdown,
        realized_pnl=s.realized_pnl,
        unrealized_pnl=s.value - s.start_cash - s.realized_pnl,
        n_fills=s.records.n_fills,
        done_reason=s.done_reason,
        time_start=iso_time(s.bars.index[0]),
        time_end=iso_time(s.bars.index[max(s.bar_index, 0)]),
        metadata=_meta_dict(getattr(loop.episode, "metadata", None)),
        wall_time_s=wall_s,
        steps_per_s=steps / wall_s if wall_s > 0 else 0.0,
    )
    return stat
