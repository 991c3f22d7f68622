"""Resolved configs: canonical JSON, config_hash (spec §3, acceptance 3), ULIDs, diff."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from btgym.errors import ConfigError
from btgym.experiments.config import (
    canonical_json,
    code_version,
    config_hash,
    diff_configs,
    get_path,
    new_ulid,
    set_path,
    ulid_time,
)

CFG = {
    "kind": "supervised",
    "experiment": "e1",
    "workspec": "ws",
    "unit": "u1",
    "model_spec": "m1",
    "tags": {"team": "a"},
    "btgym": "0.1.0",
    "data": {"filename": "/data/x.csv", "parsing_params": None},
    "model": {"class": "MLPClassifier", "params": {"hidden_layers": [64, 32], "lr": 0.001}},
    "epochs": 10,
    "seed": 0,
}


def test_canonical_json_is_sorted_compact_and_refuses_nan():
    assert canonical_json({"b": 1, "a": [1, 2.5]}) == '{"a":[1,2.5],"b":1}'
    assert canonical_json({"é": "ü"}) == '{"é":"ü"}'
    with pytest.raises(ConfigError, match=r"x\.y"):
        canonical_json({"x": {"y": float("nan")}})


def test_hash_ignores_key_order_names_tags_and_version():
    shuffled = json.loads(json.dumps(CFG, sort_keys=True))
    shuffled = dict(reversed(list(shuffled.items())))
    assert config_hash(shuffled) == config_hash(CFG)
    relabelled = {
        **CFG,
        "experiment": "other",
        "unit": "u9",
        "model_spec": "m9",
        "workspec": "w9",
        "name": "n",
        "tags": {"x": "y"},
        "btgym": "9.9",
    }
    assert config_hash(relabelled) == config_hash(CFG)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("model.params.lr", 0.002),
        ("model.params.hidden_layers.1", 33),
        ("epochs", 11),
        ("seed", 1),
        ("data.filename", "/data/y.csv"),
        ("model.class", "MLPRegressor"),
    ],
)
def test_hash_changes_with_any_parameter(path, value):
    assert config_hash(set_path(CFG, path, value)) != config_hash(CFG)


def test_hash_is_equal_across_processes():
    code = (
        "import json,sys; from btgym.experiments.config import config_hash;"
        "print(config_hash(json.loads(sys.argv[1])))"
    )
    outs = set()
    for seed in ("0", "123"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", code, json.dumps(CFG)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        outs.add(out.stdout.strip())
    assert outs == {config_hash(CFG)}


def test_dotted_paths_and_typo_guard():
    assert get_path(CFG, "model.params.hidden_layers.0") == 64
    with pytest.raises(ConfigError, match=r"model\.params\.lrr"):
        get_path(CFG, "model.params.lrr")
    with pytest.raises(ConfigError, match="typo"):
        set_path(CFG, "model.parms.lr", 1.0)
    new = set_path(CFG, "model.params.dropout", 0.1, allow_new=True)
    assert new["model"]["params"]["dropout"] == 0.1 and "dropout" not in CFG["model"]["params"]


def test_diff_lists_exactly_the_differing_leaves():
    b = set_path(set_path(CFG, "model.params.lr", 0.1), "model.params.hidden_layers.1", 16)
    changes = diff_configs(CFG, b)
    assert [(c.path, c.a, c.b) for c in changes] == [
        ("model.params.hidden_layers.1", 32, 16),
        ("model.params.lr", 0.001, 0.1),
    ]
    assert diff_configs(CFG, CFG) == []


def test_ulids_are_26_crockford_chars_and_time_sortable():
    ids = [new_ulid() for _ in range(2000)]
    assert all(len(i) == 26 and set(i) <= set("0123456789ABCDEFGHJKMNPQRSTVWXYZ") for i in ids)
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    import time

    assert abs(ulid_time(ids[0]) - time.time()) < 60


def test_code_version_names_the_checkout():
    v = code_version()
    import btgym

    assert v.startswith(btgym.__version__)
    assert "+g" in v  # the tests run from a git checkout
