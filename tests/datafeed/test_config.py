"""DataConfig → make_domain, and the data samples shipped in the package."""

from __future__ import annotations

import pytest

from btgym.datafeed import (
    BTgymDataset,
    BTgymRandomDataDomain,
    BTgymSequentialDataDomain,
    DataConfig,
    load_bars,
    make_domain,
    sample_data_path,
)
from btgym.errors import ConfigError, DataFileNotFoundError, UnknownKeywordError


def test_unknown_keyword_is_named_with_close_matches():
    with pytest.raises(UnknownKeywordError, match="episode_duration") as err:
        DataConfig.from_kwargs(filename="x.csv", episod_duration={"days": 1})
    assert err.value.key == "episod_duration"
    with pytest.raises(UnknownKeywordError):
        make_domain({"filename": "x.csv", "drawdown_call": 50})
    with pytest.raises(ConfigError):
        DataConfig(domain="fancy")


def test_make_domain_builds_each_class_with_btgym_keywords():
    path = str(sample_data_path("eurusd"))
    ds = make_domain(
        DataConfig(
            filename=path,
            episode_duration={"hours": 20},
            start_00=False,
            start_weekdays=[0, 1, 2, 3, 4],
            test_period={"days": 2},
            seed=1,
        )
    )
    assert isinstance(ds, BTgymDataset) and ds.filename == path
    ep = ds.sample()
    assert len(ep) == 1200 and ds.sample(sample_type=1).metadata.type == 1
    dom = make_domain(
        dict(
            filename=path,
            domain="random",
            episode_duration={"hours": 3},
            time_gap={"hours": 1},
            trial_params={"sample_duration": {"days": 5}, "time_gap": {"days": 3}},
            test_period={"days": 1},
            seed=2,
            name="dom",
        )
    )
    assert isinstance(dom, BTgymRandomDataDomain) and dom.name == "dom"
    assert dom.episode_params.sample_duration == {"days": 0, "hours": 3, "minutes": 0}
    assert dom.trial_params.test_period == {"days": 1, "hours": 0, "minutes": 0}
    trial = dom.sample()
    assert len(trial.sample(sample_type=1)) == 180
    seq = make_domain(
        DataConfig(
            filename=path,
            domain="BTgymSequentialDataDomain",
            trial_params={"sample_duration": {"days": 3}},
            episode_params={"sample_duration": {"hours": 2}},
        )
    )
    assert isinstance(seq, BTgymSequentialDataDomain)
    with pytest.raises(ConfigError, match="twice"):
        make_domain(
            DataConfig(
                filename=path, domain="random", start_00=True, episode_params={"start_00": False}
            )
        )
    with pytest.raises(ConfigError, match="domain='random'"):
        make_domain(DataConfig(filename=path, trial_params={"sample_duration": {"days": 3}}))


def test_shipped_samples_load_and_the_demo_dataset_samples():
    eurusd = load_bars(str(sample_data_path("eurusd")))
    assert len(eurusd) == 13813
    sine = load_bars(str(sample_data_path("sine")), parsing_params={"header": 0})
    assert len(sine) == 10_000
    total = sample_data_path("eurusd").stat().st_size + sample_data_path("sine").stat().st_size
    assert total < 2_000_000
    with pytest.raises(DataFileNotFoundError, match="known"):
        sample_data_path("gold")
    demo = BTgymDataset(filename=str(sample_data_path()), seed=0)  # BTGym defaults
    ep = demo.sample()
    assert len(ep) == 2875 and ep.data.index[0].hour in (0, 2)
