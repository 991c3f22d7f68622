"""The one-frame step reply (``protocol.StepFrame``) and the info rebuilt from it.

The process server answers a step with one fixed-layout frame (observation buffers,
the record row, the done code and the broker message) and the handle rebuilds the
standard info dict from it. To the user that info must be the same plain ``dict``,
key for key and value for value, as the in-process loop builds at the bar itself.
"""

from __future__ import annotations

import numpy as np
import pytest

from btgym.comm import wire
from btgym.errors import ProtocolError
from btgym.server.protocol import (
    DONE_REASONS,
    FRAME_TAG,
    RECORD_ROW,
    StepFrame,
    pack_row,
    unpack_row,
)

from .conftest import small_strategy
from .helpers import make_domain
from .test_episode import falling_source

FLOATS = (0.25, 10_050.5, 9_000.0, 0.01, -3.5, 53.0, -20.0, 2.0)
INTS = (1_483_574_400_000_000_000, 7, 1, 0)


def _obs() -> dict[str, np.ndarray]:
    # an odd-sized leaf in the middle: the next leaf and the row stay 8-byte aligned
    return {
        "raw": np.arange(40, dtype=np.float32).reshape(10, 4),
        "flags": np.array([1, 0, 1], np.uint8),
        "internal": np.linspace(-1.0, 1.0, 7),
    }


@pytest.mark.parametrize(
    "message, reason", [("", ""), ("asset: BUY executed, size 10 — ü", "target_call")]
)
def test_step_frame_round_trip(message, reason):
    obs = _obs()
    layout = StepFrame.of_obs(obs, len(FLOATS))
    frame = layout.pack(obs, FLOATS, INTS, message, reason, 3)
    assert frame.startswith(FRAME_TAG) and layout.row_offset % 8 == 0
    got, floats, ints, got_message, done = layout.read(frame, copy=True)
    assert list(got) == list(obs)
    for key, arr in obs.items():
        np.testing.assert_array_equal(got[key], arr)
        assert got[key].dtype == arr.dtype and got[key].flags.writeable
    assert floats == FLOATS and ints == INTS and got_message == message
    assert done == ({"done_reason": reason, "bars_stepped": 3} if reason else {})
    # the vector env's packed row is pack_row's layout
    assert unpack_row(layout.row(frame).copy()) == (list(FLOATS), list(INTS))
    assert layout.tail(frame) == (message, done)


def test_client_layout_from_the_reset_reply_equals_the_servers():
    obs = _obs()
    reply = wire.encode("obs", {}, {**obs, RECORD_ROW: pack_row(FLOATS, INTS)})
    client = StepFrame.of_message(wire.decode(reply))
    server = StepFrame.of_obs(obs, len(FLOATS))
    assert client.leaves == server.leaves and client.size == server.size


def test_what_does_not_fit_is_refused():
    obs = _obs()
    layout = StepFrame.of_obs(obs, len(FLOATS))
    assert layout.pack(obs, FLOATS, INTS, "", "a reason of my own", 1) is None
    assert layout.pack({**obs, "raw": obs["raw"][:5]}, FLOATS, INTS, "", "", 1) is None
    assert layout.pack(obs, FLOATS[:-1], INTS, "", "", 1) is None
    assert layout.read(wire.encode("error", {"type": "X"})[0]) is None  # a JSON header
    with pytest.raises(ProtocolError, match="layout needs"):
        layout.read(FRAME_TAG + b"\0" * 8)
    frame = bytearray(layout.pack(obs, FLOATS, INTS, "", "", 1))
    frame[layout.size - 16] = len(DONE_REASONS)  # an unknown done code
    with pytest.raises(ProtocolError, match="done code"):
        layout.read(bytes(frame))


def _run(h, actions):
    out = [h.reset(seed=5)]
    for a in actions:
        obs, reward, terminated, truncated, info = h.step(a)
        out.append((obs, info))
        assert type(info) is dict and type(reward) is float
        if terminated or truncated:
            break
    return out


@pytest.mark.parametrize("source", ["random_walk", "falling"])
def test_process_info_is_the_inprocess_info(handles, source):
    """Every step's info (broker messages, the final done_reason and bars_stepped
    included) and observation, process mode against in-process mode."""
    rng = np.random.default_rng(3)
    actions = rng.choice(4, size=2_000, p=[0.4, 0.3, 0.2, 0.1]).tolist()
    if source == "falling":  # a short run into the target call (terminated)
        strat, data = small_strategy(fixed_stake=50, target_call=1.0), falling_source
        actions = [2] + [0] * 400
    else:  # random orders to the end of the data (truncated)
        strat, data = small_strategy(skip_frame=3), make_domain
    runs = {
        m: _run(handles(m, data_source=data(), strategy=strat), actions)
        for m in ("process", "inprocess")
    }
    proc, inproc = runs["process"], runs["inprocess"]
    assert len(proc) == len(inproc) > 10
    for (obs_p, info_p), (obs_i, info_i) in zip(proc, inproc):
        assert info_p == info_i and list(info_p) == list(info_i)
        assert list(obs_p) == list(obs_i)
        for key in obs_p:
            np.testing.assert_array_equal(obs_p[key], obs_i[key])
    last = proc[-1][1]
    assert last["done_reason"] == ("target_call" if source == "falling" else "end_of_data")
    assert any(info["broker_message"] for _, info in proc)


def test_the_process_server_answers_a_step_with_one_frame(handles):
    h = handles("process")
    h.reset(seed=0)
    (head,) = h.step_frames(1)
    received = h.client.request_one(head, "step", FRAME_TAG)
    assert len(received) == 1 and received[0].startswith(FRAME_TAG)
    obs, _reward, terminated, _truncated, info = h.read_step(received)
    assert info["step"] == 1 and info["action"] == {"asset": 1} and not terminated
    assert obs["raw"].shape == (10, 4) and obs["raw"].flags.writeable


def test_requests_between_steps_are_served_inside_an_episode(handles):
    """The process server answers steps from inside the episode (the loop's inline
    hook): other requests arriving between steps (records, stats, a ping, an action
    never sent before, garbage) are handed back to the serve loop and served, and the
    episode goes on exactly as in-process."""
    import zmq

    runs = {}
    for mode in ("process", "inprocess"):
        h = handles(mode)
        h.reset(seed=3)
        infos = [h.step(1)[4], h.step(0)[4]]
        assert len(h.records()["step"]) == 3
        infos.append(h.step(2)[4])
        assert h.get_stat() and h.ping() == {"active": True}
        infos.append(h.step({"asset": 3})[4])  # a header the server has not seen yet
        if mode == "process":  # garbage on a side socket of the owner's session
            sock = zmq.Context.instance().socket(zmq.REQ)
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.RCVTIMEO, 5000)
            sock.connect(h.endpoint)
            try:
                sock.send(h.client.token + b"\x00\xffgarbage")
                assert wire.decode(sock.recv_multipart()).kind == "error"
            finally:
                sock.close()
        infos += [h.step(0)[4], h.step(1)[4]]
        runs[mode] = (infos, h.records())
    (info_p, rec_p), (info_i, rec_i) = runs["process"], runs["inprocess"]
    assert info_p == info_i and [i["step"] for i in info_p] == [1, 2, 3, 4, 5, 6]
    assert set(rec_p) == set(rec_i)
    for key in rec_p:
        np.testing.assert_array_equal(rec_p[key], rec_i[key])
