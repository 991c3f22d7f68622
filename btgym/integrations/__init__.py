"""Adapters to other ecosystems: :mod:`.rllib` (RLlib on btgym envs), :mod:`.sb3`
(a Stable-Baselines3 ``VecEnv`` over the vector engine).

Each module imports its ecosystem lazily; ``import btgym.integrations`` needs nothing extra.
"""
