"""What both episode handles share (see :mod:`btgym.server.handle`)."""

from __future__ import annotations

import warnings
from typing import Any

import backtrader as bt

from btgym.errors import BTgymWarning, ConfigError
from btgym.log import get_logger
from btgym.server.config import ServerConfig
from btgym.server.contract import RUNNING, EpisodeState, make_codec
from btgym.strategy import BrokerConfig, BTgymBaseStrategy, LeafSpec, StrategyConfig

log = get_logger(__name__)


class HandleBase:
    """What both handles share: configs, spaces, the episode state and the action
    codec (applied once, here, at the edge: see :mod:`btgym.server.contract`)."""

    mode = "base"
    #: ``step()`` hands out a new info dict every step (the env need not copy it)
    fresh_info = True

    def __init__(
        self,
        strategy: StrategyConfig | None,
        broker: BrokerConfig | None,
        server: ServerConfig | None,
        render: Any,
        strategy_class: type[BTgymBaseStrategy],
    ) -> None:
        if not (isinstance(strategy_class, type) and issubclass(strategy_class, bt.Strategy)):
            raise ConfigError(f"strategy_class {strategy_class!r} is not a backtrader Strategy")
        self.strategy_config = strategy or StrategyConfig()
        self.broker_config = broker or BrokerConfig()
        self.server_config = server or ServerConfig()
        self.render_config = render
        self.strategy_class = strategy_class
        self.state = EpisodeState(f"{self.mode} handle")
        self._asset_names = self.strategy_config.asset_names
        self._codec: Any = None
        self._warned: set[str] = set()
        if self._asset_names:
            self._set_assets(self._asset_names)

    @property
    def spaces(self) -> dict[str, LeafSpec]:
        """Observation leaves: key → :class:`LeafSpec` (shape, low, high, dtype);
        ``spec.to_box()`` gives the gymnasium ``Box``."""
        return dict(self.strategy_config.state_shape)

    def observation_space(self) -> Any:
        """The gymnasium ``Dict`` of ``Box`` leaves the observations respect."""
        from gymnasium import spaces

        return spaces.Dict({k: v.to_box() for k, v in self.strategy_config.state_shape.items()})

    @property
    def asset_names(self) -> tuple[str, ...] | None:
        """Tradable assets: the config's, else the last episode's (``None`` before)."""
        return self._asset_names

    @property
    def closed(self) -> bool:
        return self.state.closed

    @property
    def active(self) -> bool:
        """True while an episode runs and takes actions."""
        return self.state.phase is RUNNING

    @property
    def codec(self) -> Any:
        """The action codec (:mod:`btgym.server.contract`); ``None`` before the assets
        are known (the first reset, when the config names none)."""
        return self._codec

    def _set_assets(self, assets: tuple[str, ...]) -> None:
        assets = tuple(assets)
        if self._codec is None or self._codec.assets != assets:
            cfg = self.strategy_config
            self._codec = make_codec(cfg.portfolio_actions, assets, cfg.cash_name)
        self._asset_names = assets

    def _check_open(self) -> None:
        self.state.check_open()

    def _warn(self, notes: Any) -> None:
        """Warn once per handle about each setup problem the strategy noted at reset
        (a ``state_shape`` Box clipping the data, cash that buys no unit...)."""
        for key, text in notes or ():
            if key not in self._warned:
                self._warned.add(key)
                log.warning(text)
                warnings.warn(text, BTgymWarning, stacklevel=4)
