"""Env fixtures: real envs on real data, closed after each test."""

from __future__ import annotations

import pytest

import btgym

MODES = ["process", "inprocess"]


def env_kwargs(**over):
    """Small, fast env settings on the shipped EURUSD sample."""
    kw = dict(
        filename=str(btgym.sample_data_path("eurusd")),
        episode_duration={"days": 0, "hours": 2, "minutes": 0},
        start_cash=100.0,
        drawdown_call=90,
        target_call=90,
    )
    kw.update(over)
    return kw


@pytest.fixture(params=MODES)
def mode(request):
    return request.param


@pytest.fixture
def make_env():
    """Factory: ``make_env(cls=BTgymEnv, **kw)``; every env is closed at teardown."""
    made = []

    def factory(cls=btgym.BTgymEnv, **kw):
        env = cls(**env_kwargs(**kw))
        made.append(env)
        return env

    yield factory
    for env in made:
        env.close()
