"""DictSpace and ActionDictSpace: structure, validation and encodings."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium import spaces

from btgym.errors import ConfigError, InvalidActionError
from btgym.spaces import ActionDictSpace, DictSpace


def test_dict_space_shapes_and_zeros_inside_bounds():
    space = DictSpace(
        {
            "raw": spaces.Box(1, 10, (30, 4), np.float32),
            "internal": spaces.Box(-1, 1, (7,), np.float32),
        }
    )
    assert space.shapes == {"raw": (30, 4), "internal": (7,)}
    zeros = space.zeros()
    assert space.contains(zeros) and zeros["raw"].dtype == np.float32
    assert zeros["raw"].min() == 1.0  # clipped into [1, 10]


def test_dict_space_refuses_nesting_and_non_spaces():
    with pytest.raises(ConfigError, match="nested"):
        DictSpace({"a": spaces.Dict({"b": spaces.Discrete(2)})})
    with pytest.raises(ConfigError, match="not a space"):
        DictSpace({"a": (3, 4)})


def test_discrete_action_space_accepts_int_for_one_asset_and_rejects_outside():
    space = ActionDictSpace(["EURUSD"])
    assert space.normalize(2) == {"EURUSD": 2}
    assert space.normalize(np.int64(3)) == {"EURUSD": 3}
    assert space.normalize({"EURUSD": 1.0}) == {"EURUSD": 1}
    for bad in (4, -1, 1.5, "buy", True, {"GBPUSD": 1}, {}):
        with pytest.raises(InvalidActionError):
            space.normalize(bad)


def test_initial_action_is_hold_and_in_space():
    space = ActionDictSpace(["A", "B"])
    init = space.get_initial_action()
    assert dict(init) == {"A": 0, "B": 0}
    assert space.contains({k: np.int64(v) for k, v in init.items()})


@pytest.mark.parametrize("assets", [["A"], ["A", "B", "C"]])
def test_binary_encode_decode_roundtrip_all_actions(assets):
    space = ActionDictSpace(assets, seed=0)
    for _ in range(50):
        action = space.sample()
        code = space.encode(action)
        assert code.shape == (2 * len(assets),) and set(np.unique(code)) <= {0.0, 1.0}
        assert dict(space.decode(code)) == {k: int(v) for k, v in action.items()}


def test_one_hot_encode():
    space = ActionDictSpace(["A", "B"])
    code = space.one_hot_encode({"A": 1, "B": 3})
    np.testing.assert_array_equal(code, [0, 1, 0, 0, 0, 0, 0, 1])


def test_continuous_space_encode_decode_and_initial_cash():
    space = ActionDictSpace(["cash", "A", "B"], base_actions=None, seed=1)
    init = space.get_initial_action()
    assert [float(v[0]) for v in init.values()] == [1.0, 0.0, 0.0]
    action = space.sample()
    code = space.encode(action)
    assert code.shape == (3,)
    back = space.decode(code)
    for k in action:
        np.testing.assert_allclose(back[k], action[k])
    with pytest.raises(InvalidActionError):
        space.normalize([0.5, 2.0, 0.0])
    with pytest.raises(InvalidActionError):
        space.normalize([np.nan, 0.0, 0.0])


def test_bad_asset_lists():
    with pytest.raises(ConfigError):
        ActionDictSpace([])
    with pytest.raises(ConfigError):
        ActionDictSpace(["A", "A"])
