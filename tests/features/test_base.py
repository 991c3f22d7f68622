"""The DSL: names, parsing, JSON, immutability, modifiers (features.md §2, §5; §13.1-2)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import btgym.features as F
from btgym.errors import ConfigError, FeatureSpecError
from btgym.features import (
    BidStrength,
    Feature,
    InterAssetSpread,
    LogReturns,
    MAGap,
    TimeOfDay,
    Volatility,
    parse_resolution,
    registered,
)


def one_of_each() -> list[Feature]:
    """One instance of every registered class, with non-default parameters where possible."""
    out = []
    for cls in registered().values():
        f = cls().five_min().on("EURUSD")
        keys = {p.name for p in cls.PARAMS}
        if "other" in keys:
            f = f.against("GBPUSD")
        if "window" in keys:
            f = f.window(7)
        if "lookback" in keys:
            f = f.lookback(3)
        if "slippage" in keys:
            f = f.slippage(12.5)
        if "depth" in keys:
            f = f.depth(0.1)
        if "basis" in keys:
            f = f.basis("hlc3")
        out.append(f)
    return out


def test_acceptance_1_names_parse_back_and_json_round_trips():
    assert LogReturns().one_min().lookback(1).name == "LogReturns(1min,basis=close,lookback=1)"
    feats = one_of_each()
    assert len(feats) == len(registered()) >= 27
    for f in feats:
        assert Feature.parse(f.name) == f, f.name
        assert Feature.from_dict(json.loads(json.dumps(f.to_dict()))) == f, f.name
        assert hash(Feature.parse(f.name)) == hash(f)
    labels = [LogReturns().lookforward(5), Volatility().lookforward(4), F.Price().lookforward(2)]
    for f in labels:
        assert Feature.parse(f.name) == f and f.is_label


def test_spec_examples_of_names():
    v = Volatility().on("EURUSD").five_min().window(30)
    assert v.name == "Volatility(5min,asset=EURUSD,basis=close,window=30,estimator=std)"
    s = InterAssetSpread().hour().on("BTC").against("ETH")
    assert s.name == "InterAssetSpread(1h,asset=BTC,basis=close,other=ETH)"
    assert LogReturns().lookforward(1).name == "LogReturns(1min,basis=close,lookforward=1)"
    assert BidStrength().one_min().slippage(0).name == "BidStrength(1min,slippage=0.0)"
    # a different window is a different name (the original's collision is gone)
    assert Volatility().window(15) != Volatility().window(60)


def test_acceptance_2_modifiers_return_new_objects_and_reject_misuse():
    f = LogReturns().one_min()
    before = f.name
    g = f.lookback(3)
    assert f.name == before and f == LogReturns() and g != f
    assert g.get("lookback") == 3
    with pytest.raises(FeatureSpecError):
        LogReturns().lookback(2).lookforward(1)
    with pytest.raises(FeatureSpecError):
        LogReturns().lookforward(1).lookback(2)
    with pytest.raises(FeatureSpecError, match=r"TimeOfDay.*lookback"):
        TimeOfDay().lookback(2)
    with pytest.raises(FeatureSpecError, match="Nope"):
        Feature.parse("Nope(1min)")
    with pytest.raises(FeatureSpecError, match="LogReturns"):
        Feature.parse("LogReturn(1min)")  # close match is suggested
    with pytest.raises(FeatureSpecError, match="did you mean"):
        Feature.from_dict({"class": "LogReturns", "resolution": "1min", "params": {"lookbak": 2}})
    with pytest.raises(FeatureSpecError):
        Feature.from_dict({"class": "LogReturns", "resolution": "1min", "weird": 1})
    with pytest.raises(FeatureSpecError):
        LogReturns().lookback(0)
    with pytest.raises(FeatureSpecError):
        LogReturns().basis("mid")
    with pytest.raises(FeatureSpecError):
        LogReturns().on("EUR USD")
    with pytest.raises(FeatureSpecError):
        Volatility().estimator("parkinson").lookforward(3)
    with pytest.raises(FeatureSpecError):
        Volatility().lookforward(1)  # needs n ≥ 2
    assert isinstance(FeatureSpecError("x"), ConfigError)


def test_frozen():
    f = LogReturns()
    with pytest.raises(AttributeError):
        f.asset = "X"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("token", "canonical"),
    [
        ("1min", "1min"),
        ("1m", "1min"),
        ("5m", "5min"),
        ("10m", "10min"),
        ("T", "1min"),
        ("15T", "15min"),
        ("min", "1min"),
        ("1hr", "1h"),
        ("H", "1h"),
        ("4h", "4h"),
        ("60min", "1h"),
        ("1D", "1D"),
        ("24h", "1D"),
    ],
)
def test_resolution_tokens(token, canonical):
    assert parse_resolution(token)[0] == canonical
    assert LogReturns().resolution(token).resolution == canonical


@pytest.mark.parametrize("token", ["1w", "2D", "90min", "0min", "fast", "1.5h"])
def test_bad_resolution_tokens(token):
    with pytest.raises(FeatureSpecError):
        parse_resolution(token)


def test_modifier_shortcuts_and_properties():
    assert LogReturns().five_min().resolution == "5min"
    assert LogReturns().ten_min().fifteen_min().thirty_min().resolution == "30min"
    assert LogReturns().hour().resolution == "1h" and LogReturns().four_hour().minutes == 240
    assert LogReturns().day().resolution == "1D"
    assert LogReturns().lookback(5).extent == 5 and LogReturns().lookforward(3).horizon == 3
    assert LogReturns().lookforward(3).extent == 0 and not LogReturns().is_label
    assert MAGap().kind("ema").window(50).extent == 149
    assert Volatility().window(30).extent == 30
    assert Volatility().estimator("parkinson").window(30).extent == 29


def test_key_and_digest_are_stable_across_processes():
    f = Volatility().on("EURUSD").five_min().window(30)
    assert f.key == "volatility_5min_asset_eurusd_basis_close_window_30_estimator_std"
    code = (
        "from btgym.features import Volatility;"
        "print(Volatility().on('EURUSD').five_min().window(30).digest)"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert other.stdout.strip() == f.digest and len(f.digest) == 64


def test_aliases_canonicalise():
    assert Feature.parse("Midpoint(1m)") == F.Price()
    assert Feature.parse("MidpointDiff(5m,lookback=2)") == F.PriceDiff().five_min().lookback(2)
    hourly = Feature.parse("LogReturns(1hr,lookback=1)")
    assert hourly.name == "LogReturns(1h,basis=close,lookback=1)"


def test_only_registered_classes_are_built():
    with pytest.raises(FeatureSpecError):
        Feature.from_dict({"class": "os.system", "resolution": "1min", "params": {}})
    with pytest.raises(FeatureSpecError):
        Feature.parse("Feature(1min)")


def test_reference_set_is_the_twenty_features_of_the_spec():
    from btgym.features import Feature, reference_set

    feats = reference_set()
    names = [f.name for f in feats]
    assert len(feats) == 20 and len(set(names)) == 20
    assert all(Feature.parse(n) == f for n, f in zip(names, feats))
    assert reference_set() is not reference_set() and reference_set() == feats
    assert {f.resolution for f in feats} == {"1min"} and not any(f.is_label for f in feats)
