"""Order-book features parse but are never computed on bars (§4; §13.8)."""

from __future__ import annotations

import pytest

from btgym.errors import FeatureUnavailableError
from btgym.features import BidStrength, Feature, FeatureLabelSet, FeatureStream, LogReturns
from btgym.features.orderbook import ORDER_BOOK_CLASSES


def test_acceptance_8_order_book_names_parse_and_raise(eurusd_jan):
    f = BidStrength().one_min().slippage(0)
    assert Feature.parse(f.name) == f
    assert f.name == "BidStrength(1min,slippage=0.0)"
    fls = FeatureLabelSet([LogReturns(), f], [LogReturns().lookforward(1)])
    for call in (
        lambda: fls.validate(eurusd_jan),
        lambda: fls.get_data(eurusd_jan),
        lambda: f.compute(eurusd_jan),
        lambda: FeatureStream([f], 1),
    ):
        with pytest.raises(FeatureUnavailableError, match="order-book") as err:
            call()
        assert "BidStrength(1min,slippage=0.0)" in str(err.value)


@pytest.mark.parametrize("cls", ORDER_BOOK_CLASSES, ids=lambda c: c.__name__)
def test_every_order_book_class_raises(cls, eurusd_jan):
    f = cls()
    assert Feature.parse(f.name) == f
    with pytest.raises(FeatureUnavailableError, match="order-book"):
        f.compute(eurusd_jan.slice(0, 100))
