"""The campus occupancy model (flexcosim.cosim.models.arrivals): calibration and shape."""

import numpy as np
import pytest

from flexcosim.cosim.models.arrivals import SEED_KWH_PER_EV_DAY, campus_visits


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
