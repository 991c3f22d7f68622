"""The vectorized engine: backtrader's broker and the default strategy's episode, in
numpy, for N episodes at once.

- :class:`VectorBTgymEnv`: a ``gymnasium.vector.VectorEnv`` of ``num_envs`` lanes;
- :class:`EngineEnv`: one env on the same engine (``BTgymEnv(engine="vector")``);
- :class:`EngineHooks` / :class:`LaneView`: vectorized observation/reward/done hooks;
- :class:`BatchEpisodes`, :class:`BatchBroker`: the engine itself.

See ``docs/engine.md``.
"""

from btgym.engine.broker import BatchBroker
from btgym.engine.core import BatchEpisodes
from btgym.engine.env import EngineEnv, VectorBTgymEnv
from btgym.engine.hooks import EngineHooks, LaneView

__all__ = ["BatchBroker", "BatchEpisodes", "EngineEnv", "EngineHooks", "LaneView", "VectorBTgymEnv"]
