"""Site price signals: hand-computed prices, monotonicity, registry and offer glue."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flexcosim.agents.optim.pricing import (
    PRICING,
    CongestionPricing,
    FlatPricing,
    SitePricing,
    site_offer,
)
from flexcosim.agents.optim.types import SiteForecast


def observation(base, committed=0.0, rating=100.0, dt_s=900.0, chargers=3):
    base = np.asarray(base, dtype=float)
    return SiteForecast(
        "civil", base, np.broadcast_to(committed, base.shape), rating, dt_s, chargers
    )


def test_congestion_price_by_hand():
    # utilisation 0.2, 0.6, 0.8, 1.0, 1.2 with knee 0.6: premium shares 0, 0, 0.25, 1, 2.25
    obs = observation([20, 40, 80, 100, 120], committed=[0, 20, 0, 0, 0])
    offer = CongestionPricing(0.2, 0.4, 0.6, discharge_share=0.5).offer(obs)
    np.testing.assert_allclose(offer.charge_price_per_kwh, [0.2, 0.2, 0.3, 0.6, 1.1])
    np.testing.assert_allclose(offer.discharge_price_per_kwh, [0.1, 0.1, 0.15, 0.3, 0.55])
    np.testing.assert_allclose(offer.headroom_kw, [80, 40, 20, 0, 0])
    assert offer.available_energy_kwh == pytest.approx(140 * 0.25)


def test_flat_price_ignores_loading():
    offer = FlatPricing(0.3, discharge_share=1.0).offer(observation([10, 90, 150]))
    np.testing.assert_allclose(offer.charge_price_per_kwh, 0.3)
    np.testing.assert_allclose(offer.discharge_price_per_kwh, 0.3)
    np.testing.assert_allclose(offer.headroom_kw, [90, 10, 0])


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.floats(-50, 200), min_size=2, max_size=24),
    st.floats(0, 1),
    st.floats(0, 0.95),
    st.floats(0, 1),
)
def test_more_loading_never_lowers_the_price(loads, premium, knee, share):
    rule = CongestionPricing(0.1, premium, knee, share)
    order = np.argsort(loads, kind="stable")
    offer = rule.offer(observation(loads))
    price = offer.charge_price_per_kwh[order]
    assert np.all(np.diff(price) >= -1e-12)
    assert np.all(price >= 0.1 - 1e-12)
    assert np.all(offer.discharge_price_per_kwh <= offer.charge_price_per_kwh)


@pytest.mark.parametrize("name", sorted(PRICING))
def test_every_registered_rule_is_a_site_pricing(name):
    rule = PRICING[name]()
    assert isinstance(rule, SitePricing)
    offer = rule.offer(observation([30, 70, 95]))
    assert offer.charge_price_per_kwh.shape == (3,)
    same = rule.offer(observation([30, 70, 95]))
    np.testing.assert_array_equal(offer.charge_price_per_kwh, same.charge_price_per_kwh)


def test_site_offer_caps_charger_by_headroom():
    obs = observation([20, 95, 120])
    offer = site_offer(obs, CongestionPricing().offer(obs), charger_kw=11.0)
    np.testing.assert_allclose(offer.charge_limit_kw, [11, 5, 0])
    np.testing.assert_allclose(offer.discharge_limit_kw, 0)
    assert offer.site == "civil" and offer.free_chargers == 3
    assert offer.available_energy_kwh == pytest.approx(85 * 0.25)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: CongestionPricing(knee_utilisation=1.0), "knee_utilisation = 1.0"),
        (lambda: CongestionPricing(premium_per_kwh=-1), "premium_per_kwh = -1"),
        (lambda: FlatPricing(discharge_share=1.5), "discharge_share = 1.5"),
        (lambda: observation([10, 20], rating=0), r"rating_kw = 0.0"),
        (lambda: observation([10, np.nan]), r"base_load_kw\[1\] = nan"),
    ],
)
def test_bad_parameters_raise_one_line_error(make, match):
    with pytest.raises(ValueError, match=match):
        make()
