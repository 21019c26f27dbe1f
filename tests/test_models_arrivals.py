"""The campus occupancy model (flexcosim.cosim.models.arrivals): calibration and shape."""

import numpy as np
import pytest

from flexcosim.cosim.models.arrivals import SEED_KWH_PER_EV_DAY, campus_chain, campus_visits


@pytest.fixture(scope="module")
def visits():
    return campus_visits(20_000, np.random.default_rng(7))


def test_energy_wanted_averages_the_seeds_kwh_per_ev_day(visits):
    need = np.array([(v.target_soc - v.soc_at_request) * v.vehicle.capacity_kwh for v in visits])
    assert SEED_KWH_PER_EV_DAY == pytest.approx(13.89, abs=0.01)
    assert need.mean() == pytest.approx(SEED_KWH_PER_EV_DAY, rel=0.02)
    assert need.min() >= 0.0


def test_arrivals_spread_over_the_day_so_chargers_are_reused(visits):
    request_h = np.array([v.request_s for v in visits]) / 3600
    stay_h = np.array([v.departure_s - v.request_s for v in visits]) / 3600
    assert (request_h >= 12).mean() > 0.2  # students arrive through the afternoon
    assert (stay_h < 4).mean() > 0.25  # short stays free a charger for a later EV
    t = np.arange(0, 86_400, 900)
    present = [sum(v.request_s <= s < v.departure_s for v in visits[:478]) for s in t]
    assert max(present) < 0.9 * 478


def test_every_visit_is_consistent(visits):
    for v in visits[:2000]:
        assert 7 * 3600 <= v.request_s < v.departure_s <= 21 * 3600
        assert 0.0 <= v.soc_at_request <= v.target_soc <= 0.95 + 1e-12
        assert 600 <= v.max_walk_s <= 1200


def test_no_visitors_is_an_error():
    with pytest.raises(ValueError, match="need > 0 EVs"):
        campus_visits(0, np.random.default_rng(0))


def test_the_chain_reproduces_the_occupancy_models_distributions(visits):
    """campus_chain: request times and stays per the module's table, seen in the draws."""
    chain = campus_chain(900)
    assert chain.states[:3] == ("moving", "away", "left")
    request_h = np.array([v.request_s for v in visits]) / 3600
    stay_h = np.array([v.departure_s - v.request_s for v in visits]) / 3600
    # request mixture: 40 % normal(8.25 h, 0.5 h) clipped to 7-10.5 h, 60 % uniform 8-15 h
    assert request_h.min() >= 7.0 and request_h.max() <= 15.0
    assert (request_h < 8.0).mean() == pytest.approx(0.4 * 0.3085, abs=0.01)
    assert (request_h >= 11.0).mean() == pytest.approx(0.6 * 4 / 7, abs=0.01)
    # stays: staff ~8.5 h, students 1.5-4 h (33 %) or 5-8 h (27 %), clipped by 21:00
    assert (stay_h < 4.25).mean() == pytest.approx(0.6 * 0.55, abs=0.015)
    assert ((stay_h > 4.25) & (stay_h < 4.75)).mean() < 0.01  # no stays between the groups'
    assert stay_h.mean() == pytest.approx(6.04, abs=0.1)  # direct draws of the table: 6.04 h
    # the expected share on campus from the chain's own matrices matches the draws
    p = np.zeros(len(chain.states))
    p[chain.index("away")] = 1.0
    on_campus = [s for s, name in enumerate(chain.states) if ":" in name]
    t = np.arange(0, 86_400, 900)
    for k in t // 900:
        p = chain.distribution(p, int(k) * 900)
        if k in (40, 48, 60):  # 10:00, 12:00, 15:00
            drawn = np.mean([v.request_s < k * 900 and v.departure_s >= (k + 1) * 900
                             for v in visits])
            assert p[on_campus].sum() == pytest.approx(drawn, abs=0.02)


def test_the_chain_needs_a_slot_that_divides_the_day():
    with pytest.raises(ValueError, match="campus_chain slot_s: 7000"):
        campus_chain(7000)
