"""Fixtures of the server tests: handles in both modes, cleaned up."""

from __future__ import annotations

import psutil
import pytest

from btgym.server import make_handle
from btgym.strategy import BrokerConfig, StrategyConfig

from .helpers import make_domain

MODES = ("process", "inprocess")

#: a light strategy: 10 bars of raw OHLC plus the internal broker stats.
SMALL_STATE = {"raw": ((10, 4), 0.0, float("inf"), "float32"), "internal": ((7,),)}


def small_strategy(**kw) -> StrategyConfig:
    base = dict(state_shape=SMALL_STATE, drawdown_call=90, target_call=90)
    base.update(kw)
    return StrategyConfig(**base)


BROKER = BrokerConfig(start_cash=10_000.0, broker_commission=0.001)


@pytest.fixture(params=MODES)
def mode(request):
    return request.param


@pytest.fixture
def handles():
    """A factory of handles; every handle made is closed after the test."""
    made = []

    def make(mode, data_source=None, strategy=None, broker=BROKER, **kw):
        h = make_handle(
            mode,
            data_source=data_source if data_source is not None else make_domain(),
            strategy=strategy or small_strategy(),
            broker=broker,
            **kw,
        )
        made.append(h)
        return h

    yield make
    for h in made:
        h.close()


def children_of_me() -> list[psutil.Process]:
    """Live, non-zombie descendants of this process, without multiprocessing's own
    helpers (the forkserver and the resource tracker themselves)."""
    me = psutil.Process()
    helpers = set()
    for p in me.children():
        try:
            cmd = " ".join(p.cmdline())
        except psutil.Error:
            continue
        if "forkserver import main" in cmd or "resource_tracker" in cmd:
            helpers.add(p.pid)
    out = []
    for p in me.children(recursive=True):
        try:
            if p.pid in helpers or p.status() == psutil.STATUS_ZOMBIE:
                continue
        except psutil.Error:
            continue
        out.append(p)
    return out
