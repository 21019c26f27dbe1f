"""Seed 000 day-ahead planning and plan following, without mosaik."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flexcosim.agents.aggregator_dayahead import PlanFollower, dispatch_evs
from flexcosim.agents.dso_dayahead import (
    CoordinationSettings,
    FeederForecast,
    FeederPlan,
    plan_coordinated,
    plan_uncoordinated,
    safe_plan,
)
from flexcosim.agents.grid_optim.dso_coordination import EvFleet
from flexcosim.cosim.world import assemble
from flexcosim.grids import build_grid
from flexcosim.scenarios.catalog import load_scenario
from flexcosim.scenarios.schema import ScenarioError, parse_scenario


def _forecast(line_kva=100.0, fc=10.0, pv=0.0, n_slots=6):
    # two EVs, 1-h slots: EV 0 needs 4 kWh in slots 0-3, EV 1 needs 2 kWh in slots 2-5
    fleet = EvFleet([10.0, 10.0], [0.1, 0.1], [40.0, 20.0], [0, 2], [4, 6], [0.9, 0.9], 0.9)
    return FeederForecast("a", np.full(n_slots, pv), np.full(n_slots, fc), line_kva, fleet)


SETTINGS = CoordinationSettings(transformer_rating_kva=200.0, slot_h=1.0, charger_kw=2.0,
                                charger_efficiency=1.0, power_factor=1.0)


def test_coordinated_plan_meets_the_fleet_energy_and_the_limits():
    plan = plan_coordinated([_forecast()], SETTINGS)
    assert plan.status == "optimal" and plan.solve_time_s > 0
    p = plan.feeders["a"].charging_kw
    assert p.sum() == pytest.approx(6.0, abs=1e-6)  # 4 + 2 kWh at 1-h slots
    assert np.all(p <= plan.boundaries["a"].power_upper_kw + 1e-9)


def test_hard_ratings_that_cannot_carry_the_evs_fall_back_to_the_safe_plan():
    # the cable is fully used by the base load: no room to charge and no overload allowed
    settings = CoordinationSettings(200.0, 1.0, 2.0, 1.0, 1.0, max_overload_kw=0.0)
    plan = plan_coordinated([_forecast(line_kva=10.0, fc=10.0)], settings)
    assert plan.status == "fallback" and "infeasible" in plan.message
    assert plan.result is None
    # flat charging: EV 0 at 1 kW in slots 0-3, EV 1 at 0.5 kW in slots 2-5
    np.testing.assert_allclose(plan.feeders["a"].charging_kw, [1, 1, 1.5, 1.5, 0.5, 0.5])


def test_safe_export_limit_keeps_the_forecast_export_within_the_cable():
    # 50 kW PV against 10 kW load on a 30 kW cable: 40 kW of PV may run -> zeta 0.8
    plan = safe_plan([_forecast(line_kva=30.0, fc=10.0, pv=50.0)], SETTINGS)
    np.testing.assert_allclose(plan.feeders["a"].export_limit, 0.8)


def test_uncoordinated_plan_has_no_limit_and_no_profile():
    plan = plan_uncoordinated([_forecast(pv=5.0)])
    assert plan.status == "uncoordinated" and plan.feeders["a"].charging_kw is None
    np.testing.assert_allclose(plan.feeders["a"].export_limit, 1.0)


def test_dispatch_by_earliest_departure_and_must_run():
    need = np.array([1.0, 5.0, 1.0])
    departure = np.array([10800, 7200, 36000])
    parked = np.array([True, True, False])
    # 2 kW target, 1-h slots: EV 1 must get 2 kW now (5 kWh; its one later slot at 3 kW
    # gives 3 kWh); nothing is left for EV 0; EV 2 is not parked. With 4 kW EV 1 leaves
    # first, so it gets 1 kW more, and EV 0 the last 1 kW
    p = dispatch_evs(2.0, need, departure, parked, 3.0, 0, 3600)
    np.testing.assert_allclose(p, [0.0, 2.0, 0.0])
    p = dispatch_evs(4.0, need, departure, parked, 3.0, 0, 3600)
    np.testing.assert_allclose(p, [1.0, 3.0, 0.0])
    np.testing.assert_allclose(dispatch_evs(None, need, departure, parked, 3.0, 0, 3600),
                               [1.0, 3.0, 0.0])


def test_plan_follower_caps_inverters_only_under_a_limit():
    agg = PlanFollower("a", {"pv_x": np.array([4.0, 4.0])}, ["e"], np.array([0]),
                       np.array([7200]), np.array([5.0]), np.array([20.0]), 3.7, 0.92)
    agg.accept(FeederPlan("a", np.array([1.0, 0.5]), np.array([0.0, 0.0])))
    assert agg.pv_caps_kw(0) == {"pv_x": math.inf}
    assert agg.pv_caps_kw(1) == {"pv_x": pytest.approx(2.0)}
    # no profile: the parked EV charges at the charger's rating (grid side)
    agg.accept(FeederPlan("a", np.array([1.0, 1.0]), None))
    np.testing.assert_allclose(agg.ev_setpoints_kw(0, 3600, {}), [3.7])
    np.testing.assert_allclose(agg.ev_setpoints_kw(7200, 3600, {}), [0.0])  # gone


def test_seed000_grid_ratings_from_the_seed():
    grid = build_grid("seed000_two_feeders")
    net = grid.net
    assert float(net.trafo.sn_mva.iloc[0]) == pytest.approx(0.35)
    head = net.line.loc[grid.lines["f2_head"]]
    assert math.sqrt(3) * 0.4 * head.max_i_ka * 1e3 == pytest.approx(149.0)
    assert {"lv", "f1_b1", "f2_b5"} <= set(grid.buses)
    with pytest.raises(ValueError, match="line_rating_kva"):
        build_grid("seed000_two_feeders", line_rating_kva=0)


@pytest.mark.parametrize("edit, expected", [
    (lambda d: d["ev"].update(arrival_h=[16, 0, 11, 23]), "dayahead.ev.arrival_h"),
    (lambda d: d["feeders"][1].update(buses=["f1_b1"]), "a bus is listed twice"),
    (lambda d: d.update(penetration=1.5), "dayahead.pv_ev_coordination.penetration"),
])
def test_bad_dayahead_fields_are_one_line_errors(edit, expected):
    scenario, _ = load_scenario("seed000-pv-ev")
    data = scenario.model_dump(mode="json", exclude={"variants"})
    edit(data["dayahead"])
    with pytest.raises(ScenarioError, match=expected) as err:
        parse_scenario(data)
    assert "\n" not in str(err.value)


def test_unknown_feeder_bus_is_a_scenario_error_naming_the_field():
    scenario, base = load_scenario("seed000-pv-ev")
    data = scenario.model_dump(mode="json", exclude={"variants"})
    data["dayahead"]["feeders"][0]["head_line"] = "f9_head"
    with pytest.raises(ScenarioError, match="dayahead.feeders.0.head_line.*f9_head"):
        assemble(parse_scenario(data), base)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6).flatmap(lambda n: st.tuples(
    st.one_of(st.none(), st.floats(0, 30)),
    st.lists(st.floats(0, 20), min_size=n, max_size=n),
    st.lists(st.integers(1, 10), min_size=n, max_size=n),
    st.lists(st.booleans(), min_size=n, max_size=n))))
def test_dispatch_stays_within_chargers_and_needs(case):
    target, need, slots_left, parked = case
    need, parked = np.array(need), np.array(parked)
    departure = np.array(slots_left) * 3600
    p = dispatch_evs(target, need, departure, parked, 3.4, 0, 3600)
    assert np.all(p >= 0) and np.all(p <= 3.4 + 1e-9)
    assert np.all(p <= need + 1e-9) and np.all(p[~parked] == 0)
    # beyond the target only what EVs must take now to keep their target reachable
    must = np.where(parked, np.clip(need - (np.array(slots_left) - 1) * 3.4, 0, 3.4), 0)
    if target is not None:
        assert p.sum() <= max(target, must.sum()) + 1e-9
        assert np.all(p >= must - 1e-9)
