"""The episode contract (btgym.server.contract): action codecs, sample requests,
the episode phase table; and that the server package has no import circle."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import numpy as np
import pytest

from btgym.datafeed import DataSampleConfig
from btgym.errors import (
    ConfigError,
    EnvClosedError,
    IllegalTransitionError,
    InvalidActionError,
    ResetNeededError,
    UnknownKeywordError,
)
from btgym.server import contract as C

# --------------------------------------------------------------------------- discrete codec


@pytest.mark.parametrize(
    "action, want",
    [({"a": 1}, (1, 0)), ({"b": 3, "a": 2}, (2, 3)), ({}, (0, 0)), ([1, 2], (1, 2)),
     (np.array([3, 0]), (3, 0)), ({"a": np.int64(2)}, (2, 0)), ({"a": np.array(1)}, (1, 0)),
     ((1, 1), (1, 1)), (np.array([1.0, 2.0]), (1, 2)), ([np.int32(3), 0], (3, 0))],
)  # fmt: skip
def test_discrete_forms(action, want):
    assert C.DiscreteCodec(("a", "b")).encode(action) == want


def test_bare_code_only_for_one_asset():
    one = C.DiscreteCodec(("a",))
    assert one.encode(2) == (2,)
    assert one.encode(np.int64(3)) == (3,)
    assert one.encode(np.array([1])) == (1,)
    assert one.encode(np.array(1)) == (1,)
    assert one.encode({"a": 1.0}) == (1,)
    with pytest.raises(InvalidActionError, match="one asset"):
        C.DiscreteCodec(("a", "b")).encode(1)


@pytest.mark.parametrize(
    "bad", [{"a": 4}, {"a": -1}, {"c": 1}, {"a": 1.5}, {"a": "buy"}, [1, 2, 3], [1, 9],
            np.array([0.5, 1.0]), None, "1", {"a": True}, [[1], [2]]],
)  # fmt: skip
def test_discrete_rejects(bad):
    with pytest.raises(InvalidActionError):
        C.DiscreteCodec(("a", "b")).encode(bad)


def test_discrete_wire_check_takes_only_the_canonical_list():
    codec = C.DiscreteCodec(("a", "b"))
    assert codec.check_wire(codec.to_wire(codec.encode({"b": 2}))) == (0, 2)
    for bad in ([1], [1, 4], [1, True], [1.0, 0], {"a": 1}, "x", None):
        with pytest.raises(InvalidActionError):
            codec.check_wire(bad)


# --------------------------------------------------------------------------- weights codec


def test_weights_normalised_over_cash_and_assets():
    codec = C.WeightsCodec(("a", "b"), "cash")
    np.testing.assert_allclose(codec.encode({"cash": 1, "a": 1, "b": 2}), [0.25, 0.25, 0.5])
    np.testing.assert_allclose(codec.encode([0, 1, 0]), [0, 1, 0])
    np.testing.assert_allclose(codec.encode({"a": 2.0}), [0, 1, 0])
    np.testing.assert_allclose(codec.encode([0.5, 0.5, 0.0]), [0.5, 0.5, 0.0])  # cash kept


def test_weights_all_cash_and_all_zero_are_flat():
    codec = C.WeightsCodec(("a",), "cash")
    np.testing.assert_array_equal(codec.encode([1, 0]), [1, 0])
    np.testing.assert_array_equal(codec.encode([0, 0]), [1, 0])
    np.testing.assert_array_equal(codec.encode({}), [1, 0])
    np.testing.assert_array_equal(codec.initial(), [1, 0])


@pytest.mark.parametrize(
    "bad", [{"x": 1}, [1, 0], [-0.1, 0.6, 0.5], [np.nan, 1, 0], [np.inf, 0, 0], "abc",
            {"a": [0.1, 0.2]}, {"a": "x"}],
)  # fmt: skip
def test_weights_reject(bad):
    with pytest.raises(InvalidActionError):
        C.WeightsCodec(("a", "b"), "cash").encode(bad)


def test_weights_wire_check():
    codec = C.WeightsCodec(("a",), "cash")
    np.testing.assert_allclose(codec.check_wire([0.25, 0.75]), [0.25, 0.75])
    for bad in ([0.5], [0.5, -0.5], [0.5, "x"], [0.5, None], (0.5, 0.5)):
        with pytest.raises(InvalidActionError):
            codec.check_wire(bad)


def test_make_codec_per_env_kind():
    assert C.make_codec(False, ("a",)).kind == "discrete"
    assert C.make_codec(True, ("a",), "cash").keys == ("cash", "a")


# --------------------------------------------------------------------------- sample requests


def test_sample_keys_are_the_data_sample_config_fields():
    import dataclasses

    assert tuple(f.name for f in dataclasses.fields(DataSampleConfig)) == C.SAMPLE_KEYS


def test_every_sample_signature_is_the_schema():
    """DataSampleConfig is the one schema: every sample() takes exactly its fields."""
    from btgym.datafeed import (
        BTgymDataset,
        BTgymRandomDataDomain,
        BTgymSequentialDataDomain,
        Trial,
    )
    from btgym.dataserver import DataClient

    for owner in (BTgymDataset, BTgymRandomDataDomain, BTgymSequentialDataDomain, Trial):
        params = [p for p in inspect.signature(owner.sample).parameters if p != "self"]
        assert tuple(params) == C.SAMPLE_KEYS, owner
    # the data client forwards its keywords (checked by the server's domain)
    (param,) = [
        p for n, p in inspect.signature(DataClient.sample).parameters.items() if n != "self"
    ]
    assert param.kind is inspect.Parameter.VAR_KEYWORD


def test_sample_request_accepts_the_schema():
    assert C.sample_request(None) == {}
    got = C.sample_request({"get_new": np.bool_(False), "sample_type": np.int64(1)})
    assert got == {"get_new": False, "sample_type": 1}
    assert type(got["sample_type"]) is int and type(got["get_new"]) is bool
    assert C.sample_request({"b_alpha": 2, "b_beta": 0.5, "timestamp": None}) == {
        "b_alpha": 2.0, "b_beta": 0.5, "timestamp": None,
    }  # fmt: skip
    assert C.sample_request(DataSampleConfig(sample_type=1))["sample_type"] == 1


@pytest.mark.parametrize(
    "bad",
    [{"sample_type": 9}, {"sample_type": 0.5}, {"sample_type": "1"}, {"get_new": "x"},
     {"get_new": 1}, {"b_alpha": -1}, {"b_beta": 0}, {"b_alpha": float("nan")},
     {"b_alpha": True}, {"timestamp": "2017"}, {"timestamp": float("inf")}, "x", [1]],
)  # fmt: skip
def test_sample_request_rejects_with_named_errors(bad):
    with pytest.raises(ConfigError):
        C.sample_request(bad, "episode_config")


def test_unknown_sample_key_names_close_matches():
    with pytest.raises(UnknownKeywordError, match="sample_type"):
        C.sample_request({"sampletype": 1})


def test_reset_options():
    assert C.reset_options(None) == ({}, {})
    assert C.reset_options({"episode_config": {"sample_type": 1}}) == ({}, {"sample_type": 1})
    with pytest.raises(ConfigError, match=r"reset\(options=\.\.\.\) must be a dict"):
        C.reset_options("x")
    with pytest.raises(UnknownKeywordError):
        C.reset_options({"episode": {}})


# --------------------------------------------------------------------------- phases


def test_phase_table_is_complete_and_closed_is_final():
    assert set(C.TRANSITIONS) == set(C.EpisodePhase)
    assert C.TRANSITIONS[C.CLOSED] == {C.CLOSED}
    assert C.CLOSED in set.intersection(*map(set, C.TRANSITIONS.values()))


def test_illegal_transitions_raise_named_errors():
    state = C.EpisodeState("test")
    state.to(C.RUNNING)
    state.after_step(False, False)
    assert state.running
    state.after_step(True, False)
    assert state.phase is C.ENDED
    state.to(C.BROKEN)
    with pytest.raises(IllegalTransitionError, match=r"broken.*running"):
        state.to(C.RUNNING)  # a broken server restarts through IDLE
    with pytest.raises(ResetNeededError, match="server failed"):
        state.require_running()
    state.to(C.CLOSED)
    state.to(C.CLOSED)  # close is idempotent
    with pytest.raises(EnvClosedError):
        state.require_running()
    with pytest.raises(IllegalTransitionError):
        state.to(C.IDLE)


# --------------------------------------------------------------------------- structure


def test_no_import_circle_between_the_handles():
    root = Path(C.__file__).parent

    def imports(name):
        tree = ast.parse((root / f"{name}.py").read_text())
        out = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("btgym.server"):
                out.add(node.module.rsplit(".", 1)[-1])
        return out

    assert "handle" not in imports("process_handle")
    assert "handle" not in imports("handle_base")
    assert "process_handle" in imports("handle")


def test_in_process_handle_does_not_swap_its_methods():
    from btgym.server.handle import InProcessHandle

    src = inspect.getsource(InProcessHandle)
    assert "self.step =" not in src and '__dict__.pop("step"' not in src
