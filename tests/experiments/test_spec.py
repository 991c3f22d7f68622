"""Spec files: JSON, YAML (safe_load only), module:attr; resolution (acceptance 2, 3)."""

from __future__ import annotations

import json
import sys

import pytest

from btgym.errors import ConfigError, UnknownComponentError, UnknownKeywordError
from btgym.experiments.config import config_hash
from btgym.experiments.spec import ModelSpec, WorkSpec, load_spec
from tests.experiments.conftest import FEATURES_1, spec_yaml


def test_yaml_spec_expands_units_times_model_specs(workspec_file, eurusd):
    ws = load_spec(workspec_file)
    assert ws.name == "ws" and [u.name for u in ws.units] == ["unit1", "unit2"]
    cfgs = ws.configs()
    assert len(cfgs) == 6
    c = cfgs[1]
    assert (c["kind"], c["experiment"], c["unit"], c["model_spec"]) == (
        "supervised",
        "ws",
        "unit1",
        "mlp",
    )
    assert c["data"]["filename"] == eurusd.resolve().as_posix()
    assert c["featureset"]["features"] == FEATURES_1
    # every default filled, layer tokens resolved to ints (n = 3 features)
    assert c["dataset_params"]["embargo"] == "auto" and c["dataset_params"]["task"] == (
        "classification"
    )
    assert c["model"]["class"] == "MLPClassifier"
    assert c["model"]["params"]["hidden_layers"] == [3] and "lr" in c["model"]["params"]
    assert c["epochs"] == 15 and "epochs" not in c["model"]["params"]
    assert cfgs[2]["split"]["train"] == ["2017-01-02T00:00:00", "2017-01-07T00:00:00"]
    json.dumps(cfgs, allow_nan=False)  # plain JSON


def test_json_and_module_reference_give_the_same_configs(workspec_file, tmp_path, monkeypatch):
    import yaml

    data = yaml.safe_load(workspec_file.read_text())
    jpath = tmp_path / "work.json"
    jpath.write_text(json.dumps(data))
    mod = tmp_path / "my_specs.py"
    mod.write_text(f"SPEC = {data!r}\ndef make():\n    return SPEC\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    a = [config_hash(c) for c in load_spec(workspec_file).configs()]
    assert [config_hash(c) for c in load_spec(jpath).configs()] == a
    assert [config_hash(c) for c in load_spec("my_specs:SPEC").configs()] == a
    assert [config_hash(c) for c in load_spec("my_specs:make").configs()] == a
    sys.modules.pop("my_specs", None)


def test_python_yaml_tag_is_refused_with_file_and_line(tmp_path, eurusd):
    text = spec_yaml(eurusd).replace(
        "description: two units", "description: !!python/object:os.system\n  two units"
    )
    path = tmp_path / "evil.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_spec(path)
    assert str(path) in str(err.value) and "line 2" in str(err.value)


def test_unknown_dataset_param_names_file_and_dotted_path(tmp_path, eurusd):
    text = spec_yaml(eurusd).replace(
        "{task: classification}", "{task: classification, percentile: [0.5]}", 1
    )
    path = tmp_path / "typo.yaml"
    path.write_text(text)
    with pytest.raises(UnknownKeywordError) as err:
        load_spec(path)
    msg = str(err.value)
    assert str(path) in msg and "units.0.dataset_params" in msg and "percentiles" in msg


def test_unknown_keys_and_bad_names(tmp_path, eurusd):
    path = tmp_path / "bad.yaml"
    path.write_text(spec_yaml(eurusd).replace("model_specs:", "model_spec:", 1))
    with pytest.raises(UnknownKeywordError, match="model_specs"):
        load_spec(path)
    with pytest.raises(ConfigError, match="name"):
        ModelSpec(name="bad name!", model="MLPClassifier")
    with pytest.raises(ConfigError, match="registered class name"):
        ModelSpec(name="m", model=print)  # a callable is never a model


def test_unknown_model_class_has_close_matches(tmp_path, eurusd):
    path = tmp_path / "m.yaml"
    path.write_text(spec_yaml(eurusd).replace("MLPClassifier", "MLPClasifier"))
    with pytest.raises(UnknownComponentError, match="MLPClassifier"):
        load_spec(path).configs()


def test_duplicate_names_are_refused(eurusd):
    unit = {
        "name": "u",
        "featureset": {},
        "data": {"filename": str(eurusd)},
        "split": {"train": ["2017-01-02", "2017-01-03"], "test": ["2017-01-03", "2017-01-04"]},
        "model_specs": [
            {"name": "a", "model": "PriorBaseline"},
            {"name": "a", "model": "PriorBaseline"},
        ],
    }
    with pytest.raises(ConfigError, match="used twice"):
        WorkSpec.from_dict({"name": "w", "units": [unit]})
