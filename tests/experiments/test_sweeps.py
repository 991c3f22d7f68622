"""Sweeps: sizes, seeded random draws, dedup by hash, typo guard (spec §7, acceptance 12)."""

from __future__ import annotations

import pytest

from btgym.errors import ConfigError
from btgym.experiments.registry import Registry
from btgym.experiments.sweeps import expand_sweep

BASE = {
    "kind": "supervised",
    "model": {"class": "MLPClassifier", "params": {"hidden_layers": [64], "lr": 0.001}},
    "dataset_params": {"percentiles": None},
    "epochs": 10,
    "seed": 0,
}
SPACE = {"model.params.lr": [0.001, 0.01, 0.1], "epochs": [10, 20, 40, 80]}  # a=3, b=4


def test_grid_and_one_at_a_time_sizes():
    assert len(expand_sweep(BASE, SPACE, "grid")) == 3 * 4
    oat = expand_sweep(BASE, SPACE, "one_at_a_time")
    assert len(oat) == 1 + (3 - 1) + (4 - 1)
    assert oat[0] == BASE
    # without the base values in the lists: one per value
    assert len(expand_sweep(BASE, {"model.params.lr": [0.5, 0.6]}, "one_at_a_time")) == 3


def test_random_repeats_with_a_seed_and_draws_distributions():
    space = {
        "model.params.lr": {"loguniform": [1e-4, 1e-1]},
        "epochs": {"int": [5, 7]},
        "model.params.hidden_layers": [[8], [16, 8]],
        "seed": {"uniform": [0, 1]},
    }
    a = expand_sweep(BASE, space, "random", n=20, seed=3)
    assert a == expand_sweep(BASE, space, "random", n=20, seed=3)
    assert a != expand_sweep(BASE, space, "random", n=20, seed=4)
    assert all(1e-4 <= c["model"]["params"]["lr"] <= 1e-1 for c in a)
    assert {c["epochs"] for c in a} <= {5, 6, 7}
    assert all(c["model"]["params"]["hidden_layers"] in ([8], [16, 8]) for c in a)


def test_unknown_path_is_a_config_error():
    with pytest.raises(ConfigError, match=r"model\.params\.lrr"):
        expand_sweep(BASE, {"model.params.lrr": [1]}, "grid")
    with pytest.raises(ConfigError, match="strategy"):
        expand_sweep(BASE, SPACE, "bayes")
    assert len(expand_sweep(BASE, {"model.params.new": [1, 2]}, "grid", allow_new=True)) == 2


def test_create_sweep_skips_and_counts_duplicates(tmp_path):
    reg = Registry(artifact_root=tmp_path)
    first = reg.create_sweep("sw", BASE, SPACE, "one_at_a_time")
    assert (len(first.runs), first.duplicates) == (6, 0)
    assert all(r.sweep_id == first.sweep_id and r.status == "queued" for r in first.runs)
    grid = reg.create_sweep("sw", BASE, SPACE, "grid")  # 12 points, 6 already queued
    assert (len(grid.runs), grid.duplicates) == (6, 6)
    # repeated values inside one sweep are duplicates too
    rep = reg.create_sweep("sw2", BASE, {"epochs": [1, 1, 2]}, "grid")
    assert (len(rep.runs), rep.duplicates) == (2, 1)
    assert reg.counts()["sweeps"] == 3
