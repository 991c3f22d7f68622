"""The part of ``BTgymEnv``'s public surface beyond gymnasium's, on the engine env:
``render()`` / ``render_image(mode)``, ``episode_records()``, ``get_stat()``,
``episode_data()``, ``codec``, ``data_address``.

Records (and so statistics and images) are kept when the env is made with
``records=True`` or a ``render_mode``; without them the step does no recording work
and the three methods that need records raise :class:`~btgym.errors.ConfigError`
saying how to turn them on (never a silently different answer).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from btgym.engine.records import EpisodeRecorder
from btgym.engine.render import render_config, render_image
from btgym.errors import ConfigError, RenderError

RENDER_MODES = ("human", "rgb_array")


class EngineEnvSurface:
    """Mixin of :class:`~btgym.engine.env.EngineEnv` (uses its ``core``, ``lanes``,
    ``action_keys``, ``kind``, ``asset_names``, ``cash_name``, ``_check_open``)."""

    _recorder: EpisodeRecorder | None = None
    _window: Any = None

    def _init_surface(
        self, render_mode: str | None, records: bool | None, kwargs: Mapping[str, Any]
    ) -> None:
        if render_mode is not None and render_mode not in RENDER_MODES:
            raise RenderError(f"render_mode {render_mode!r} is not one of {list(RENDER_MODES)}")
        if records is False and render_mode is not None:
            raise ConfigError(
                f"render_mode={render_mode!r} draws from the episode records: drop records=False"
            )
        self.render_mode = render_mode
        self.render_config = render_config(kwargs)
        self.config["render"] = self.render_config  # as BTgymEnv.config has it
        self.spec_kwargs = dict(kwargs)
        keep = bool(records) or render_mode is not None
        self._recorder = (
            EpisodeRecorder(self.core, self.lanes, self.action_keys, self.render_config)
            if keep
            else None
        )

    def _need_records(self, what: str) -> EpisodeRecorder:
        self._check_open()
        if self._recorder is None:
            raise ConfigError(
                f"{what} needs the episode records, which this engine env does not keep: "
                "make it with records=True (or a render_mode), e.g. "
                "BTgymEnv(engine='vector', records=True, ...)"
            )
        return self._recorder

    # ------------------------------------------------------------------ BTgymEnv's extras

    def episode_records(self) -> dict[str, np.ndarray]:
        """Per-step records of the running (or last) episode, as the backtrader
        engine's (see docs/internals.md); needs ``records=True`` or a ``render_mode``."""
        return self._need_records("episode_records()").records()

    def get_stat(self) -> dict:
        """Statistics of the running or last episode, as the backtrader engine's;
        needs ``records=True`` or a ``render_mode``."""
        return self._need_records("get_stat()").get_stat()

    def render_image(self, mode: str = "episode") -> np.ndarray:
        """BTGym's named render modes as an H×W×3 uint8 array: ``"human"``,
        ``"episode"``, ``"state"`` or an observation key (as the backtrader engine's);
        needs ``records=True`` or a ``render_mode``."""
        return render_image(self._need_records(f"render_image({mode!r})"), mode)

    def render(self) -> np.ndarray | None:
        """``rgb_array``: the recent price window with the position, H×W×3 uint8;
        ``human``: the same image in a window (needs a display)."""
        self._check_open()
        from btgym.rendering import env_render

        return env_render(self)

    def episode_data(self) -> Any:
        """The bars of the running (or last) episode, a :class:`btgym.datafeed.Bars`
        (``None`` before the first reset)."""
        self._check_open()
        episode = self.lanes.episodes[0]
        return None if episode is None else episode.bars

    @property
    def codec(self) -> Any:
        """The action codec of this env kind (:mod:`btgym.server.contract`), the one
        the backtrader engine validates and encodes actions with."""
        from btgym.server.contract import make_codec

        return make_codec(self.kind == "portfolio", self.asset_names, self.cash_name)

    @property
    def data_address(self) -> None:
        """``None``: the engine runs no data server (``data_master=False`` envs cannot
        share its data; the engine refuses them)."""
        return None

    def _close_surface(self) -> None:
        if self._window is not None:
            self._window.close()
            self._window = None
