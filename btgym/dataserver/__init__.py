"""The data server: one data domain served to many env servers over ZeroMQ.

- :class:`DataServerProcess`: start / stop a ``BTgymDataFeedServer`` in a child process.
- :class:`DataClient`: the client; ``client.sample(**sample_config) -> Trial`` has the
  call shape of ``domain.sample``, so a client is a drop-in trial source.
- :class:`DataServerConfig`: transport, host, port, allow_remote, timeouts, log level.
- :mod:`btgym.dataserver.protocol`: the wire commands and messages (no pickle).
"""

from btgym.dataserver.client import DataClient
from btgym.dataserver.config import DataServerConfig
from btgym.dataserver.process import DataServerProcess
from btgym.dataserver.server import BTgymDataFeedServer

__all__ = ["BTgymDataFeedServer", "DataClient", "DataServerConfig", "DataServerProcess"]
