"""The backtrader server: the episode loop, its process, its protocol, its handles.

- :func:`make_handle`: start an episode loop (``"process"`` or ``"inprocess"``) and
  get a handle with ``reset`` / ``step`` / ``records`` / ``episode_bars`` /
  ``get_stat`` / ``render`` / ``close``.
- :class:`EpisodeLoop`: the transport-agnostic loop (Cerebro in a greenlet).
- :class:`ServerConfig`: mode, transport, timeouts.
- :mod:`btgym.server.protocol`: the wire commands and messages.
"""

from btgym.server.config import ServerConfig
from btgym.server.handle import InProcessHandle, make_handle
from btgym.server.loop import EpisodeLoop
from btgym.server.process_handle import ProcessHandle
from btgym.server.protocol import Command

__all__ = [
    "Command",
    "EpisodeLoop",
    "InProcessHandle",
    "ProcessHandle",
    "ServerConfig",
    "make_handle",
]
