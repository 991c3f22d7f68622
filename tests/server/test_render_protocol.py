"""Rendering through the handle, and the wire protocol's messages and errors."""

from __future__ import annotations

import numpy as np
import pytest

from btgym.comm import wire
from btgym.errors import (
    InvalidActionError,
    ProtocolError,
    RemoteError,
    RenderError,
    ResetNeededError,
)
from btgym.rendering import RenderConfig
from btgym.server.protocol import (
    Command,
    ResetRequest,
    StepReply,
    StepRequest,
    expect,
    pack_row,
    unpack_row,
)
from btgym.server.remote import localize
from btgym.strategy import InfoLayout


def test_render_modes_return_rgb_arrays(handles, mode):
    small = dict(render_size_human=(4, 3), render_size_episode=(4, 3), render_size_state=(3, 3))
    h = handles(mode, render=RenderConfig(render_dpi=50, **small))
    h.reset(seed=0)
    for _ in range(20):
        h.step(np.random.default_rng(0).integers(4))
    for m in ("human", "episode", "raw"):
        image = h.render(m)
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3, m
        assert image.std() > 0, m  # something was drawn
    with pytest.raises(RenderError):
        h.render("no-such-mode")


def test_render_disabled_gives_a_placeholder(handles, mode):
    h = handles(mode, render=RenderConfig(render_enabled=False))
    h.reset(seed=0)
    image = h.render("human")
    assert image.dtype == np.uint8 and image.shape[2] == 3


def test_reset_request_round_trip_and_validation():
    req = ResetRequest({"get_new": False}, {"sample_type": 0}, 7)
    msg = wire.decode(wire.encode(Command.RESET.value, req.payload()))
    assert ResetRequest.from_message(msg) == req
    for bad in ({"seed": "7"}, {"seed": 1.5}, {"trial_config": [1]}):
        with pytest.raises(ProtocolError):
            ResetRequest.from_message(wire.decode(wire.encode("reset", bad)))


def test_step_request_forms():
    msg = wire.decode(wire.encode("step", StepRequest([1, 0]).payload()))
    assert StepRequest.from_message(msg).action == [1, 0]
    for bad in ({}, {"action": {"a": 2}}):  # only the canonical form travels
        with pytest.raises(ProtocolError):
            StepRequest.from_message(wire.decode(wire.encode("step", bad)))


def test_step_reply_parsing():
    layout = InfoLayout(("a",), ("a",), discrete=True)
    floats = [0.5, 101.0, 90.0, 0.01, 1.0, 0.0, 10.0, 1.0]
    ints = [1_483_315_200_000_000_000, 3, 0, 1]
    row = pack_row(floats, ints)
    assert unpack_row(row) == (floats, ints)
    done = {"done_reason": "end_of_data", "bars_stepped": 2}
    payload = {"message": "a: BUY executed", "done": done}
    frames = wire.encode("obs", payload, {"raw": np.ones((2, 4), np.float32), "#r": row})
    reply = StepReply.from_message(wire.decode(frames), layout)
    assert reply.reward == 0.5 and reply.truncated and not reply.terminated
    assert reply.obs["raw"].flags.writeable and set(reply.obs) == {"raw"}
    assert reply.info == {
        "step": 3, "time": "2017-01-02T00:00:00", "action": {"a": 1},
        "broker_cash": 90.0, "broker_value": 101.0, "position": {"a": 10.0},
        "drawdown": 0.01, "realized_pnl": 1.0, "unrealized_pnl": 0.0,
        "broker_message": "a: BUY executed", "done_reason": "end_of_data", "bars_stepped": 2,
    }  # fmt: skip
    with pytest.raises(ProtocolError):
        StepReply.from_message(wire.decode(wire.encode("obs", {}, {"raw": row})), layout)
    with pytest.raises(ProtocolError):
        StepReply.from_message(wire.decode(wire.encode("obs", {}, {"#r": row[:3]})), layout)
    with pytest.raises(ProtocolError):
        expect(wire.decode(wire.encode("pong")), Command.STOP)


def test_remote_usage_errors_become_local_named_errors():
    def remote(kind, message):
        return RemoteError(f"btgym server: {kind} (btgym-server): {message}", kind, "tb...")

    err = localize(remote("InvalidActionError", "action for asset 'a' must be in 0..3"))
    assert isinstance(err, InvalidActionError) and str(err).startswith("action for asset")
    assert err.remote_traceback == "tb..."
    assert isinstance(localize(remote("ResetNeededError", "x")), ResetNeededError)
    user = remote("ValueError", "boom")
    assert localize(user) is user
    died = remote("ServerDiedError", "x")
    assert localize(died) is died


def test_render_without_the_rendering_package_is_a_render_error(handles, monkeypatch):
    import sys

    h = handles("inprocess")
    h.reset(seed=0)
    monkeypatch.setitem(sys.modules, "btgym.rendering", None)  # import fails
    with pytest.raises(RenderError, match="not available"):
        h.render("human")
