"""Adapters to other ecosystems: :mod:`.rllib` (RLlib on btgym envs).

Each module imports its ecosystem lazily; ``import btgym.integrations`` needs nothing extra.
"""
