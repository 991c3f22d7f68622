"""Random and sequential data domains on the shared EURUSD months: Domain → Trial →
Episode invariants, seeding, wire round trip, impossible settings."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from btgym.comm import wire
from btgym.datafeed import (
    BTgymRandomDataDomain,
    BTgymSequentialDataDomain,
    Trial,
    load_bars,
)
from btgym.datafeed.timeutil import NS_PER_DAY, NS_PER_MINUTE
from btgym.errors import ConfigError, ProtocolError, SamplingError, UnknownKeywordError
from tests.datafeed.helpers import eurusd

TRIAL = {"sample_duration": {"days": 20}, "test_period": {"days": 3}, "time_gap": {"days": 15}}
EPISODE = {"sample_duration": {"hours": 8}, "time_gap": {"hours": 1}}


@pytest.fixture(scope="module")
def six_months(shared_data):
    return load_bars(eurusd(shared_data))


def _random(bars, seed=0, **kw):
    kw.setdefault("trial_params", TRIAL)
    kw.setdefault("episode_params", EPISODE)
    return BTgymRandomDataDomain(filename=bars, seed=seed, **kw)


def _check_trial_episodes(trial, full, n_each=5):
    """Train episodes precede test episodes, both lie in their part of the trial."""
    idx = trial.bars.index
    trial.reset()
    split = trial.test_interval[0]
    assert trial.train_interval == (0, split) and trial.test_interval == (split, len(trial))
    test_start = idx[split]
    # the test part holds every bar of the trial's last test_period (3 days)
    assert idx[split - 1] < idx[-1] + NS_PER_MINUTE - 3 * NS_PER_DAY
    for _ in range(n_each):
        tr, te = trial.sample(sample_type=0), trial.sample(sample_type=1)
        assert len(tr) == len(te) == 480
        assert tr.bars.index[-1] < test_start <= te.bars.index[0]
        assert te.bars.index[-1] <= idx[-1]
        for ep in (tr, te):
            m = ep.metadata
            assert full[m.source_row] == ep.bars.index[0] == idx[m.first_row]
            assert m.trial_num == trial.metadata.trial_num and m.trial_type == trial.metadata.type
            assert (ep.bars.index[-1] - ep.bars.index[0]) - 479 * NS_PER_MINUTE <= 3_600e9


def test_random_domain_trials_and_episodes(six_months):
    dom = _random(six_months, seed=4, target_period={"days": 45})
    dom.reset()
    target_start = six_months.index[-1] + NS_PER_MINUTE - 45 * NS_PER_DAY
    for i in range(25):
        kind = i % 3 == 2
        trial = dom.sample(sample_type=int(kind))
        m = trial.metadata
        assert len(trial) == 20 * 1440 == m.num_rows and m.type == int(kind) and m.trial_num == i
        assert six_months.index[m.first_row] == trial.bars.index[0]
        if kind:
            assert trial.bars.index[0] >= target_start and m.name.startswith("test_trial_")
        else:
            assert trial.bars.index[-1] < target_start
        _check_trial_episodes(trial, six_months.index)
    assert dom.sample(get_new=False) is trial


def test_random_domain_is_deterministic_by_seed(six_months):
    def run(seed):
        dom = _random(six_months, seed=seed)
        out = []
        for _ in range(5):
            trial = dom.sample()
            out.append(trial.metadata.first_row)
            out.extend(trial.sample().metadata.first_row for _ in range(5))
        return out

    assert run(9) == run(9)
    assert run(9) != run(10)


def test_trial_wire_round_trip_rebuilds_identical_episodes(six_months):
    dom = _random(six_months, seed=1)
    trial = dom.sample()
    header, arrays = trial.to_wire()
    frames = wire.encode("trial", header, arrays)
    msg = wire.decode([bytes(f) for f in frames])  # as received from a socket
    rebuilt = Trial.from_wire(msg.payload, msg.arrays)
    assert rebuilt.metadata == trial.metadata and rebuilt.params == trial.params
    assert rebuilt.seed == trial.seed
    np.testing.assert_array_equal(rebuilt.bars.index, trial.bars.index)
    for _ in range(10):
        a, b = trial.sample(), rebuilt.sample()
        assert a.metadata == b.metadata
        np.testing.assert_array_equal(
            a.bars.values["default_asset"], b.bars.values["default_asset"]
        )
    a, b = trial.sample(sample_type=1), rebuilt.sample(sample_type=1)
    assert a.metadata == b.metadata
    with pytest.raises(ProtocolError):
        Trial.from_wire({**header, "kind": "nope"}, arrays)
    with pytest.raises(ProtocolError):
        Trial.from_wire({**header, "seed": None}, arrays)


def test_trial_reset_seed_replays_its_episodes(six_months):
    trial = _random(six_months, seed=2).sample()
    trial.reset(seed=5)
    first = [trial.sample().metadata.first_row for _ in range(10)]
    trial.reset(seed=5)
    assert [trial.sample().metadata.first_row for _ in range(10)] == first


def test_sequential_sliding_walks_in_time_order_and_wraps(six_months):
    dom = BTgymSequentialDataDomain(
        filename=six_months, trial_params=TRIAL, episode_params=EPISODE, seed=0
    )
    dom.reset()
    trials = []
    while True:
        t = dom.sample()
        if t.metadata.epoch:
            break
        trials.append(t)
        _check_trial_episodes(t, six_months.index, n_each=1)
    assert len(trials) > 20
    assert trials[0].metadata.first_row == 0
    assert t.metadata.first_row == trials[0].metadata.first_row  # wrapped to the start
    full = six_months.index
    for prev, nxt in itertools.pairwise(trials):
        assert nxt.bars.index[0] > prev.bars.index[0]
        # the next trial's test part starts exactly after the previous trial's end
        test_first = nxt.bars.index[nxt.test_interval[0]]
        assert test_first == full[prev.metadata.first_row + len(prev)]
    dom.reset()
    assert dom.sample().metadata.first_row == 0 and dom.sample().metadata.trial_num == 1


def test_sequential_expanding_windows_grow_from_the_origin(six_months):
    params = {**TRIAL, "expanding": True}
    dom = BTgymSequentialDataDomain(
        filename=six_months, trial_params=params, episode_params=EPISODE, seed=0
    )
    sizes = []
    for _ in range(6):
        t = dom.sample()
        assert t.metadata.first_row == 0
        sizes.append(len(t))
        _check_trial_episodes(t, six_months.index, n_each=1)
    assert sizes == sorted(sizes) and len(set(sizes)) == 6


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    ("kw", "text"),
    [
        ({"episode_params": {"sample_duration": {"days": 25}}}, "longer than a trial"),
        ({"trial_params": {"sample_duration": {"days": 400}}}, "longer than the data"),
        ({"episode_params": {"start_weekdays": [5]}}, "valid train episode"),
    ],
)
def test_impossible_sequential_settings_raise_at_reset(six_months, kw, text):
    kw = {"trial_params": TRIAL, "episode_params": EPISODE, **kw}
    dom = BTgymSequentialDataDomain(filename=six_months, seed=0, **kw)
    with pytest.raises(SamplingError, match=text):
        dom.reset()


def test_sequential_domain_has_no_test_trials(six_months):
    dom = BTgymSequentialDataDomain(filename=six_months, trial_params=TRIAL, seed=0)
    with pytest.raises(SamplingError, match=r"trial\.sample\(sample_type=1\)"):
        dom.sample(sample_type=1)
    with pytest.raises(ConfigError, match="target_period"):
        BTgymSequentialDataDomain(filename=six_months, target_period={"days": 3})


def test_trial_rules_start_00_and_start_weekdays(six_months):
    dom = _random(
        six_months,
        seed=6,
        trial_params={**TRIAL, "start_00": True, "start_weekdays": [0]},
    )
    full = six_months.index
    starts = set()
    for _ in range(30):
        trial = dom.sample()
        row, first = trial.metadata.first_row, trial.bars.index[0]
        assert (first // NS_PER_DAY + 3) % 7 == 0  # a Monday
        assert row == 0 or full[row - 1] // NS_PER_DAY < first // NS_PER_DAY  # day's first bar
        starts.add(row)
    assert len(starts) > 5  # many Mondays, not one fixed start


def test_domain_and_trial_data_views(shared_data, six_months):
    files = eurusd(shared_data, 1)
    dom = BTgymRandomDataDomain(
        filename=files,
        trial_params={"sample_duration": {"days": 5}, "time_gap": {"days": 3}},
        episode_params={"sample_duration": {"hours": 2}},
        seed=0,
    )
    assert dom.filename == files and dom.name == "RndDataDomain" and not dom.is_ready
    assert dom.data.shape == (31500, 5) and dom.data_names == ("default_asset",)
    trial = dom.sample()
    assert dom.is_ready and trial.filename == trial.name == trial.metadata.name
    assert trial.name.startswith("train_trial_0_of_RndDataDomain_at_")
    assert trial.data.shape == (5 * 1440, 5)
    assert trial.describe().loc["count", "close"] == 5 * 1440
    np.testing.assert_array_equal(trial.data.index.asi8, trial.bars.index)
    seq = BTgymSequentialDataDomain(filename=six_months, trial_params=TRIAL, seed=0)
    assert seq.name == "SeqDataDomain"


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    ("kw", "text"),
    [
        ({"episode_params": {"sample_duration": {"days": 25}}}, "longer than a trial"),
        ({"trial_params": {"sample_duration": {"days": 400}}}, "longer than the data"),
        ({"target_period": {"days": 10}}, "target part"),
        ({"episode_params": {"start_weekdays": [5]}}, "valid train episode"),
        ({"trial_params": {**TRIAL, "test_period": {"days": 40}}}, "no valid trial"),
    ],
)
def test_impossible_domain_settings_raise_at_reset(six_months, kw, text):
    dom = _random(six_months, **kw)
    with pytest.raises(SamplingError, match=text):
        dom.reset()


def test_domain_reset_params_and_unknown_keys(six_months):
    dom = _random(six_months)
    dom.reset(episode_params={"sample_duration": {"hours": 2}})
    assert len(dom.sample().sample()) == 120
    with pytest.raises(SamplingError, match="no target_period"):
        dom.sample(sample_type=1)
    with pytest.raises(UnknownKeywordError, match="trial_param"):
        dom.reset(trial_param={})
    with pytest.raises(UnknownKeywordError, match="test_period"):
        _random(six_months, episode_params={"test_period": {"days": 1}})
    assert dom.describe().loc["count", "open"] == len(six_months)


def test_every_trial_holds_valid_episodes_under_demanding_rules(six_months):
    """The domain's reset-time check (global prefix sums) agrees with what each trial
    computes locally: every trial can give train and test episodes that obey
    start_00 / start_weekdays / time_gap relative to the full data."""
    dom = _random(
        six_months,
        seed=8,
        trial_params={
            "sample_duration": {"days": 10},
            "time_gap": {"days": 5},
            "test_period": {"days": 3},
        },
        episode_params={
            "sample_duration": {"hours": 20},
            "time_gap": {"hours": 1},
            "start_00": True,
            "start_weekdays": [0, 1],
        },
    )
    full = six_months.index
    for _ in range(60):
        trial = dom.sample()
        for kind in (0, 1):
            ep = trial.sample(sample_type=kind)
            row, idx = ep.metadata.source_row, ep.bars.index
            assert row == 0 or full[row - 1] // NS_PER_DAY < idx[0] // NS_PER_DAY
            assert (idx[0] // NS_PER_DAY + 3) % 7 in (0, 1)
            assert (idx[-1] - idx[0]) - (len(idx) - 1) * NS_PER_MINUTE <= 3_600e9


def test_domains_survive_pickling_for_spawned_processes(six_months):
    """Domains travel to a spawned data-server process by pickle (at spawn only)."""
    import pickle

    dom = _random(six_months, seed=3)
    dom.reset()
    clone = pickle.loads(pickle.dumps(dom))
    assert clone.sample().metadata == dom.sample().metadata
