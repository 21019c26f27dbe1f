"""A site aggregator's book: concurrent occupancy, prices from commitments, the price curve,
and the schedule it makes spread load; the transformer's planning limit by AC power flow."""

import copy
from dataclasses import replace

import numpy as np
import pytest

from flexcosim.agents.messages import Reservation
from flexcosim.agents.optim.pricing import CongestionPricing
from flexcosim.agents.optim.site_scheduler import SCHEDULERS
from flexcosim.agents.optim.types import SiteScheduleProblem
from flexcosim.agents.site_book import PRICE_SEGMENTS, SiteBook
from flexcosim.grids.transformer_limit import planning_limit_kw
from flexcosim.grids.ucd_feeder4 import build_ucd_feeder4

STEP = 900


def book(chargers=2, base=(0.0,) * 8, rating=100.0):
    return SiteBook("site", rating, np.array(base), chargers, 11.0, 1.0, STEP,
                    CongestionPricing(0.2, 0.4, 0.5, 0.9))


def stay(ev, first, last, kw=()):
    return Reservation(ev, "site", first * STEP, last * STEP, tuple(kw), "css")


def test_a_charger_left_free_serves_a_later_ev():
    b = book(chargers=1)
    b.reserve(stay("a", 0, 3))
    assert b.free_chargers(0, 3 * STEP) == 0
    assert b.free_chargers(3 * STEP, 6 * STEP) == 1  # a has left
    b.reserve(stay("b", 4, 6))
    assert b.free_chargers(2 * STEP, 5 * STEP) == 0  # a then b: never two at once, but none free
    b2 = book(chargers=2)
    for r in (stay("a", 0, 2), stay("b", 2, 4), stay("c", 4, 6)):
        b2.reserve(r)  # three stays one after another occupy one charger at a time
    assert b2.free_chargers(0, 6 * STEP) == 1


def test_a_reservation_raises_the_price_where_it_charges():
    b = book()
    before = b.prices(0, 8).charge_price_per_kwh
    b.reserve(stay("a", 2, 4, [80.0, 80.0]))  # 80 % utilisation in steps 2-3
    after = b.prices(0, 8).charge_price_per_kwh
    assert np.all(after[[2, 3]] > before[[2, 3]]) and np.allclose(after[[0, 1, 4]], before[[0, 1, 4]])
    # the EV being scheduled does not price its own reservation
    np.testing.assert_allclose(b.prices(0, 8, ["a"]).charge_price_per_kwh, before)


def test_price_curve_is_convex_and_rises_with_commitments():
    b = book()
    b.reserve(stay("a", 2, 4, [40.0, 40.0]))
    curve = b.price_curve(0, 8)
    assert curve.shape == (8, PRICE_SEGMENTS)
    assert np.all(np.diff(curve, axis=1) >= 0)
    assert curve[2, -1] > curve[0, -1]


def test_an_elementwise_rule_prices_all_segments_in_one_call_with_the_same_curve():
    class PerSegment(CongestionPricing):  # the same rule, priced one segment at a time
        elementwise = False

    calls = []

    class Counted(PerSegment):
        def offer(self, obs):
            calls.append(obs.base_load_kw.size)
            return super().offer(obs)

    base = (10.0, 30.0, 50.0, 70.0, 20.0, 0.0, 40.0, 60.0)
    fast, slow = book(base=base), book(base=base)
    slow.pricing = Counted(0.2, 0.4, 0.5, 0.9)
    for b in (fast, slow):
        b.reserve(stay("a", 2, 4, [30.0, 30.0]))
    assert CongestionPricing.elementwise
    np.testing.assert_array_equal(fast.price_curve(STEP // 2, 7), slow.price_curve(STEP // 2, 7))
    assert calls == [7] * PRICE_SEGMENTS  # the user's rule is still called per segment


def test_schedule_under_the_curve_spreads_instead_of_pinning_at_the_limit():
    # 4 EVs want 40 kWh each over 8 steps (2 h); the limit (100 kW) would allow it in 2 h
    # of full power at the start. A flat price charges as early as possible (tie-break);
    # the price curve (8 segments of 12.5 kW) spreads the site's 80 kW average evenly:
    # every step within the segment that holds it, 75-87.5 kW.
    b = book()
    curve = b.price_curve(0, 8)
    p = SiteScheduleProblem(
        energy_kwh=np.zeros(4), target_energy_kwh=np.full(4, 40.0), capacity_kwh=np.full(4, 60.0),
        charge_max_kw=np.full(4, 25.0), discharge_max_kw=np.zeros(4), departure_step=np.full(4, 8),
        v2g=np.zeros(4, bool), capacity_limit_kw=np.full(8, 100.0), price_per_kwh=np.full(8, 0.2),
        dt_s=STEP, efficiency=1.0)  # fmt: skip
    flat = SCHEDULERS["optimal"]().schedule(p)
    spread = SCHEDULERS["optimal"]().schedule(replace(p, price_curve_per_kwh=curve))
    assert flat.power_kw.sum(axis=0).max() == pytest.approx(100.0)
    assert spread.status == "optimal" and spread.unmet_energy_kwh.sum() == pytest.approx(0.0, abs=1e-6)
    load = spread.power_kw.sum(axis=0)
    assert load.min() >= 75.0 - 1e-6 and load.max() <= 87.5 + 1e-6


def test_a_bad_price_curve_is_a_one_line_error():
    p = dict(energy_kwh=[0.0], target_energy_kwh=[1.0], capacity_kwh=[10.0], charge_max_kw=[5.0],
             discharge_max_kw=[0.0], departure_step=[2], v2g=[False], capacity_limit_kw=[10.0, 10.0],
             price_per_kwh=[0.2, 0.2], dt_s=STEP, efficiency=1.0)
    with pytest.raises(ValueError, match="price_curve_per_kwh has shape"):
        SiteScheduleProblem(**p, price_curve_per_kwh=np.array([[0.3, 0.2], [0.2, 0.3]]))


def test_planning_limit_loads_the_transformer_to_100_percent():
    import pandapower as pp

    grid = build_ucd_feeder4()
    tx = grid.transformers["richview_tx1"]
    bus = int(grid.net.trafo.lv_bus.at[tx])
    limit = planning_limit_kw(grid.net, tx)
    assert 0.95 * 200 < limit < 200  # its own losses and reactive power take the rest
    net = copy.deepcopy(grid.net)
    net.load.drop(net.load.index, inplace=True)
    pp.create_load(net, bus, p_mw=limit / 1e3)
    pp.runpp(net, numba=False)
    assert net.res_trafo.loading_percent.at[tx] == pytest.approx(100.0, abs=0.05)
