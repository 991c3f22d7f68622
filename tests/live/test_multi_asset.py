"""Several assets: MergedSource feeding a cross-asset model (common-stamp rule)."""

from __future__ import annotations

import numpy as np

from btgym.datafeed import Bars, load_bars
from btgym.live.publisher import RedisPublisher
from btgym.live.runner import LiveRunner
from btgym.live.sources import MergedSource, ReplaySource
from btgym.live.targets import ModelTarget

BTC_PARAMS = dict(
    sep=",",
    header=0,
    datetime="time",
    datetime_format="epoch_ms",
    open="open",
    high="high",
    low="low",
    close="close",
    volume="volumefrom",
    timeframe=60,
)


def test_merged_assets_serve_a_cross_asset_model(shared_redis, live_name, shared_data, tmp_path):
    from btgym.features import FeatureLabelSet, InterAssetSpread, LogReturns, compute_features
    from btgym.models import MLPClassifier

    files = {a: str(shared_data / f"{a}_USD_hour_data.csv") for a in ("BTC", "ETH")}
    crypto = load_bars(files, parsing_params=BTC_PARAMS)
    feats = [
        InterAssetSpread().hour().on("BTC").against("ETH"),
        LogReturns().hour().on("ETH").lookback(1),
        LogReturns().hour().on("BTC").lookback(1),
    ]
    fls = FeatureLabelSet(feats, [LogReturns().hour().on("BTC").lookforward(1)])
    cut = str(np.datetime64(int(crypto.index[200]), "ns"))
    ds = fls.split(
        crypto,
        train=(str(np.datetime64(int(crypto.index[0]), "ns")), cut),
        test=(cut, "2030-01-01"),
        task="classification",
    )
    model = MLPClassifier(n_features=3, n_classes=ds.n_classes, hidden_layers=(8,), seed=0)
    model.fit(ds.X_train, ds.y_train, epochs=3)
    target = ModelTarget.from_dir(model.save(tmp_path / "m", dataset=ds))

    start, gap = 250, 270  # replay rows 250.., ETH lacks row 270
    eth_keep = np.ones(len(crypto), bool)
    eth_keep[gap] = False
    btc = Bars(("BTC",), crypto.index[start:], {"BTC": crypto.values["BTC"][start:]}, 60)
    eth = Bars(
        ("ETH",),
        crypto.index[start:][eth_keep[start:]],
        {"ETH": crypto.values["ETH"][start:][eth_keep[start:]]},
        60,
    )
    merged = MergedSource(
        {"BTC": ReplaySource(bars=btc, speed=None), "ETH": ReplaySource(bars=eth, speed=None)}
    )
    seen: list = []
    runner = LiveRunner(
        target,
        merged,
        RedisPublisher(shared_redis.url, name=live_name),
        timezone="UTC",
        history=crypto.slice(0, start),
        on_signal=lambda s: seen.append((s, target.last_features.copy())),
    )
    stats = runner.run()
    n = len(crypto) - start
    assert stats.exit_code == 0 and merged.dropped == 1 and stats.signals == n - 1
    assert [s.asset for s, _ in seen][:1] == ["BTC"]
    common = Bars(
        crypto.names,
        crypto.index[eth_keep],
        {a: crypto.values[a][eth_keep] for a in crypto.names},
        60,
    )
    X = target.scaler.transform(compute_features(target.features, common, at="bars"))
    rows = X.to_numpy()[start:]
    live = np.stack([f for _, f in seen])
    np.testing.assert_allclose(live, rows, rtol=1e-12, atol=1e-12)
    after_gap = seen[gap - start][0]  # the first bar after the missing hour
    assert after_gap.status == "stale" and after_gap.prediction is None
