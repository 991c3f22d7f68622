"""Action normalisation: discrete codes per asset and portfolio weights."""

from __future__ import annotations

import numpy as np
import pytest

from btgym.errors import InvalidActionError
from btgym.strategy import normalize_discrete, normalize_weights


@pytest.mark.parametrize(
    "action, want",
    [({"a": 1}, (1, 0)), ({"b": 3, "a": 2}, (2, 3)), ({}, (0, 0)), ([1, 2], (1, 2)),
     (np.array([3, 0]), (3, 0)), ({"a": np.int64(2)}, (2, 0)), ({"a": np.array(1)}, (1, 0)),
     ({"a": True}, (1, 0))],
)  # fmt: skip
def test_discrete_forms(action, want):
    assert normalize_discrete(action, ("a", "b")) == want


def test_bare_int_only_for_one_asset():
    assert normalize_discrete(2, ("a",)) == (2,)
    assert normalize_discrete(np.int64(3), ("a",)) == (3,)
    assert normalize_discrete(np.array([1]), ("a",)) == (1,)
    with pytest.raises(InvalidActionError, match="one asset"):
        normalize_discrete(1, ("a", "b"))


@pytest.mark.parametrize(
    "bad", [{"a": 4}, {"a": -1}, {"c": 1}, {"a": 1.5}, {"a": "buy"}, [1, 2, 3], [1, 9],
            np.array([0.5, 1.0]), None],
)  # fmt: skip
def test_discrete_rejects(bad):
    with pytest.raises(InvalidActionError):
        normalize_discrete(bad, ("a", "b"))


def test_weights_forms_and_normalisation():
    w = normalize_weights({"cash": 1, "a": 1, "b": 2}, ("a", "b"), "cash")
    np.testing.assert_allclose(w, [0.25, 0.25, 0.5])
    np.testing.assert_allclose(normalize_weights([0, 1, 0], ("a", "b"), "cash"), [0, 1, 0])
    np.testing.assert_allclose(normalize_weights({"a": 2.0}, ("a", "b"), "cash"), [0, 1, 0])


@pytest.mark.parametrize(
    "bad", [{"x": 1}, [1, 0], [-0.1, 0.6, 0.5], [0, 0, 0], [np.nan, 1, 0], "abc",
            {"a": [0.1, 0.2]}],
)  # fmt: skip
def test_weights_reject(bad):
    with pytest.raises(InvalidActionError):
        normalize_weights(bad, ("a", "b"), "cash")
