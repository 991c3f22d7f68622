"""Installer entry kept for users of the original BTGym (``pip install -e .``).

All metadata lives in ``pyproject.toml``.
"""

from setuptools import setup

setup()
