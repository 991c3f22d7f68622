"""Resolution of a ``unit × model_spec`` pair into a plain-JSON run config (spec §3).

Every default is filled (``dataset_params``, model hyperparameters), layer tokens
``"n"``, ``"2n"``, ``"4n"`` become ints, data paths become absolute: the stored config
alone says what ran.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from btgym.errors import ConfigError
from btgym.experiments.config import to_jsonable
from btgym.experiments.spec import DATASET_DEFAULTS, LAYER_TOKENS, ModelSpec, WorkSpec, WorkUnit


def featureset_object(featureset: Any) -> Any:
    """A ``FeatureLabelSet`` from an object or its dict form."""
    if not isinstance(featureset, Mapping):
        return featureset
    from btgym.features import FeatureLabelSet

    return FeatureLabelSet.from_dict(dict(featureset))


def featureset_dict(featureset: Any) -> dict[str, Any]:
    """The canonical JSON form of a featureset (object or dict)."""
    return to_jsonable(featureset_object(featureset).to_dict(), "featureset")


def _n_features(featureset: Any) -> int:
    return len(featureset_object(featureset).feature_names)


def resolve_layer_tokens(value: Any, n_features: int, where: str) -> Any:
    """``"n"``, ``"2n"``, ``"4n"`` (alone or in a list) → ints."""
    if isinstance(value, str) and value in LAYER_TOKENS:
        return LAYER_TOKENS[value] * n_features
    if isinstance(value, (list, tuple)):
        return [resolve_layer_tokens(v, n_features, f"{where}.{i}") for i, v in enumerate(value)]
    return value


def resolve_model(
    name: str, params: Mapping[str, Any], n_features: int, where: str = "model"
) -> dict[str, Any]:
    """``{"class", "params"}`` with the class's defaults filled and layer tokens resolved.

    Raises:
        UnknownComponentError: ``name`` is not a registered model class.
        UnknownKeywordError: a hyperparameter the class does not take.
    """
    from btgym.errors import check_keywords
    from btgym.models.base import model_class

    cls = model_class(name)
    given = dict(params)
    window = given.pop("window", None)
    check_keywords(given, cls.defaults, f"{where}.params")
    merged = {**cls.defaults, **given}
    resolved = {
        k: resolve_layer_tokens(v, n_features, f"{where}.params.{k}") for k, v in merged.items()
    }
    if window is not None:
        resolved["window"] = int(window)
    return {"class": cls.__name__, "params": to_jsonable(resolved, f"{where}.params")}


def _iso(value: Any, where: str) -> str:
    import pandas as pd

    try:
        return pd.Timestamp(value).isoformat()
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{where}: {value!r} is not a time stamp ({exc})") from None


def resolve_split(split: Mapping[str, Any], where: str) -> dict[str, list[str]]:
    """Split ranges as ISO ``[start, end]`` pairs in train, val, test order."""
    return {
        k: [_iso(split[k][0], f"{where}.{k}.0"), _iso(split[k][1], f"{where}.{k}.1")]
        for k in ("train", "val", "test")
        if k in split
    }


def resolve_run_config(
    ws: WorkSpec, unit: WorkUnit, ms: ModelSpec, *, experiment: str
) -> dict[str, Any]:
    """The run config of one ``unit × model_spec`` pair of ``ws``."""
    import btgym

    where = f"{ws.name}.{unit.name}.{ms.name}"
    fs = featureset_dict(unit.featureset)
    n_features = _n_features(unit.featureset)
    model = resolve_model(ms.model, ms.params, n_features, f"{where}.model")
    # one place for epochs: the top level (a sweep path), the spec's value or the class's
    class_epochs = model["params"].pop("epochs", None)
    epochs = int(ms.epochs) if ms.epochs is not None else class_epochs
    return {
        "kind": "supervised",
        "experiment": experiment,
        "workspec": ws.name,
        "unit": unit.name,
        "model_spec": ms.name,
        "tags": to_jsonable(dict(ms.tags)),
        "resources": to_jsonable(dict(ms.resources)),
        "data": unit.data.resolved(ws.base_dir),
        "featureset": fs,
        "split": resolve_split(unit.split, f"{where}.split"),
        "dataset_params": to_jsonable({**DATASET_DEFAULTS, **dict(unit.dataset_params)}),
        "model": model,
        "epochs": epochs,
        "seed": int(ms.seed),
        "btgym": btgym.__version__,
    }
