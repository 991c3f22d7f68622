"""The header caches of ``btgym.comm.wire`` the step path relies on."""

from __future__ import annotations

import numpy as np
import pytest

from btgym.comm import wire
from btgym.errors import ProtocolError


def test_encode_cache_reuses_headers_of_payload_free_messages():
    cache: dict = {}
    a = {"raw": np.zeros((3, 4), np.float32), "#r": np.arange(5.0)}
    f1 = wire.encode("obs", None, a, cache)
    f2 = wire.encode("obs", {}, {"raw": np.ones((3, 4), np.float32), "#r": np.ones(5)}, cache)
    assert f1[0] is f2[0] and len(cache) == 1
    f3 = wire.encode("obs", {"message": "x"}, a, cache)  # a payload: encoded, not cached
    assert len(cache) == 1 and b"message" in f3[0]
    f4 = wire.encode("obs", None, {"raw": np.zeros((2, 4), np.float32)}, cache)
    assert f4[0] != f1[0] and len(cache) == 2
    assert wire.decode(f2).arrays["raw"].sum() == 12


def test_decode_cache_gives_fresh_payloads_and_still_checks_sizes():
    cache: dict = {}
    frames = wire.encode("step", {"a": [1, 2], "k": "v"})
    m1 = wire.decode(frames, cache)
    m1.payload["a"].append(9)
    m1.payload["k"] = "changed"
    m2 = wire.decode(frames, cache)
    assert m2.payload == {"a": [1, 2], "k": "v"} and len(cache) == 1
    nested = wire.encode("reset", {"trial_config": {"get_new": True}})
    wire.decode(nested, cache)
    assert len(cache) == 1  # nested payloads are never cached
    arrays = wire.encode("obs", None, {"x": np.zeros(4)})
    wire.decode(arrays, cache)
    with pytest.raises(ProtocolError, match="needs"):
        wire.decode([arrays[0], b"\x00" * 8], cache)  # cached header, wrong buffer size
    with pytest.raises(ProtocolError):
        wire.decode([arrays[0]], cache)  # buffer missing
