"""BTgymDataset on the shared EURUSD months: sampling invariants, seeding, impossible
settings."""

from __future__ import annotations

import numpy as np
import pytest

from btgym.datafeed import (
    BTgymDataset,
    DataSampleConfig,
    load_bars,
    spawn_generators,
    spawn_seeds,
)
from btgym.datafeed.timeutil import NS_PER_DAY, NS_PER_MINUTE, weekday
from btgym.errors import ConfigError, SamplingError, UnknownKeywordError
from tests.datafeed.helpers import eurusd

HOUR = 3_600_000_000_000


@pytest.fixture(scope="module")
def six_months(shared_data):
    return load_bars(eurusd(shared_data))


def _dataset(bars, **kw):
    """A dataset over already-loaded bars (a Bars object is a valid source)."""
    return BTgymDataset(filename=bars, **kw)


def test_episode_invariants_duration_gap_weekdays_start00(six_months):
    ds = _dataset(
        six_months,
        episode_duration={"days": 1, "hours": 23, "minutes": 55},
        time_gap={"hours": 5},
        start_00=True,
        start_weekdays=[0, 1, 2],
        seed=3,
    )
    ds.reset()
    full = six_months.index
    at_midnight = 0
    for i in range(300):
        ep = ds.sample()
        idx = ep.bars.index
        assert len(ep) == 2875 == ep.metadata.num_rows
        missing = (idx[-1] - idx[0]) - (len(idx) - 1) * NS_PER_MINUTE
        assert missing <= 5 * HOUR
        assert np.diff(idx).max() <= 5 * HOUR + NS_PER_MINUTE  # no weekend inside
        assert weekday(idx[:1])[0] in (0, 1, 2)
        row = ep.metadata.source_row
        assert full[row] == idx[0] and ep.metadata.sample_num == i
        assert row == 0 or full[row - 1] // NS_PER_DAY < idx[0] // NS_PER_DAY  # first of day
        at_midnight += int(idx[0] % NS_PER_DAY == 0)
        assert ep.metadata.timestamp == idx[0] / 1e9
        assert ep.metadata.last_timestamp == idx[-1] / 1e9
    assert at_midnight >= 280  # holidays (e.g. Mon 2 Jan starts 02:00) are the exception


def test_train_episodes_precede_test_episodes_and_target_is_held_out(six_months):
    ds = _dataset(
        six_months,
        test_period={"days": 14},
        target_period={"days": 7},
        start_00=False,
        start_weekdays=None,
        seed=1,
    )
    ds.reset()
    end = six_months.index[-1] + NS_PER_MINUTE
    train = [ds.sample(sample_type=0) for _ in range(200)]
    test = [ds.sample(sample_type=1) for _ in range(200)]
    assert {e.metadata.type for e in train} == {0} and {e.metadata.type for e in test} == {1}
    last_train = max(e.bars.index[-1] for e in train)
    first_test = min(e.bars.index[0] for e in test)
    last_test = max(e.bars.index[-1] for e in test)
    assert last_train < first_test
    assert last_test < end - 7 * NS_PER_DAY  # target period never sampled
    # test part: the 14 days before the held-out week
    assert first_test >= six_months.index[six_months.index < end - 7 * NS_PER_DAY][-1] - 14 * (
        NS_PER_DAY
    )


def test_same_seed_same_episodes_and_reset_seed_replays(six_months):
    a = _dataset(six_months, seed=11)
    b = _dataset(six_months, seed=11)
    c = _dataset(six_months, seed=12)
    rows_a = [a.sample().metadata.first_row for _ in range(50)]
    rows_b = [b.sample().metadata.first_row for _ in range(50)]
    rows_c = [c.sample().metadata.first_row for _ in range(50)]
    assert rows_a == rows_b and rows_a != rows_c
    a.reset(seed=11)
    assert [a.sample().metadata.first_row for _ in range(50)] == rows_a
    gen = _dataset(six_months, seed=np.random.default_rng(11))
    assert [gen.sample().metadata.first_row for _ in range(50)] == rows_a


def test_spawned_seeds_give_independent_worker_streams(six_months):
    assert [s.entropy for s in spawn_seeds(5, 3)] == [s.entropy for s in spawn_seeds(5, 3)]
    streams = []
    for seed in spawn_seeds(5, 4):
        ds = _dataset(six_months, start_00=False, start_weekdays=None, seed=seed)
        streams.append([ds.sample().metadata.first_row for _ in range(100)])
    for i in range(4):
        for j in range(i + 1, 4):
            same = sum(x == y for x, y in zip(streams[i], streams[j]))
            assert same <= 2, (i, j, same)
            assert not set(streams[i][10:20]) <= set(streams[j])  # not a shifted copy
    gens = spawn_generators(5, 2)
    assert gens[0].random() != gens[1].random()


def test_beta_weighting_skews_train_starts_to_recent_data(six_months):
    ds = _dataset(six_months, start_00=False, start_weekdays=None, seed=0)
    uniform = np.mean([ds.sample().metadata.first_row for _ in range(400)])
    recent = np.mean([ds.sample(b_alpha=10, b_beta=1).metadata.first_row for _ in range(400)])
    n = len(six_months)
    assert 0.35 * n < uniform < 0.6 * n
    assert recent > 0.8 * n


def test_timestamp_bounds_samples_and_get_new_false_reuses(six_months):
    ds = _dataset(six_months, seed=2)
    bound = float(np.datetime64("2017-02-01T00:00", "s").astype(np.int64))
    for _ in range(100):
        ep = ds.sample(timestamp=bound)
        assert ep.metadata.last_timestamp < bound
    assert ds.sample(get_new=False) is ep
    with pytest.raises(SamplingError, match="before the given timestamp"):
        ds.sample(timestamp=float(np.datetime64("2017-01-03", "s").astype(np.int64)))
    cfg = DataSampleConfig(sample_type=0, b_alpha=2.0)
    assert ds.sample(**cfg.to_dict()).metadata.type == 0


def test_bad_sample_requests(six_months):
    ds = _dataset(six_months, seed=0)
    with pytest.raises(SamplingError, match="no test period"):
        ds.sample(sample_type=1)
    with pytest.raises(ConfigError):
        ds.sample(sample_type=2)
    with pytest.raises(ConfigError):
        ds.sample(b_alpha=0)
    with pytest.raises(ConfigError):
        DataSampleConfig(sample_type=3)
    with pytest.raises(UnknownKeywordError, match="get_newest"):
        DataSampleConfig.from_dict({"get_newest": True})
    with pytest.raises(UnknownKeywordError, match="episode_durration"):
        ds.reset(episode_durration={"days": 1})


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    ("kw", "text"),
    [
        ({"episode_duration": {"days": 400}}, "longer than the data"),
        ({"test_period": {"days": 400}}, "train part holds 0 bars"),
        ({"test_period": {"minutes": 30}}, "test part holds"),
        ({"start_weekdays": [3], "time_gap": {"hours": 5}}, "within time_gap"),
        ({"start_weekdays": [5]}, "on start_weekdays"),
        ({"start_weekdays": [4], "time_gap": {"hours": 1}}, "meets every rule"),
    ],
)
def test_impossible_settings_raise_at_reset(six_months, kw, text):
    ds = _dataset(six_months, seed=0, **kw)
    with pytest.raises(SamplingError, match=text):
        ds.reset()


def test_reset_applies_new_params(six_months):
    ds = _dataset(six_months, seed=0)
    ds.reset(episode_duration={"hours": 2}, start_00=False)
    assert len(ds.sample()) == 120
    assert ds.episode_duration == {"days": 0, "hours": 2, "minutes": 0}


def test_dataset_data_describe_and_filename(shared_data):
    files = eurusd(shared_data, 1)
    ds = BTgymDataset(filename=files, seed=0)
    assert ds.filename == files and not ds.is_ready
    assert ds.data.shape == (31500, 5)
    stats = ds.describe()
    assert stats.loc["count", "close"] == 31500
    ds.reset()
    assert ds.is_ready and ds.sample().name.startswith("train_episode_0_of_base_data_at_")
