"""Wrappers of btgym envs for other libraries.

- :func:`sb3` / :class:`SB3Env`: the form Stable-Baselines3 takes as it is (no Dict
  action). ``gymnasium.make("btgym/...", sb3=True, ...)`` applies it for you.
"""

from btgym.wrappers.sb3 import SB3Env, make_env, sb3

__all__ = ["SB3Env", "make_env", "sb3"]
