"""DSO coordination LP of PV export limits and EV charging (seed 000 eqs. 1-16)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flexcosim.agents.grid_optim.dso_coordination import (
    AggregatorRequest,
    CoordinationProblem,
    EvFleet,
    FleetBoundaries,
    coordinate_aggregators,
    fleet_boundaries,
)

TOL = 1e-6


def one_ev_request(**kw) -> AggregatorRequest:
    """Two 1-h slots, 10 kW PV in the first, one EV needing 4 kWh at up to 4 kW."""
    ev = FleetBoundaries(
        energy_upper_kwh=[0, 4, 4], energy_lower_kwh=[0, 0, 4], power_upper_kw=[4, 4]
    )
    args = {
        "name": "a",
        "pv_available_kw": [10, 0],
        "ev": ev,
        "line_forecast_kw": [0, 0],
        "line_rating_kva": 5,
    }
    args.update(kw)
    return AggregatorRequest(**args)


def problem(aggs, **kw) -> CoordinationProblem:
    args = {"transformer_rating_kva": 100, "power_factor": 1.0, "slot_h": 1.0}
    args.update(kw)
    return CoordinationProblem(aggs, **args)


def no_ev(n: int) -> FleetBoundaries:
    return FleetBoundaries(np.zeros(n + 1), np.zeros(n + 1), np.zeros(n))


def test_charging_moves_into_pv_surplus_when_ramps_are_cheap():
    # Export 10 zeta - P0 <= 5: charging all 4 kWh in slot 0 lets zeta = 0.9.
    # f = 9 + 4 - 0.1 * (|4 - 0| + |0 - 4|) = 12.2 beats the even split (7 + 4 - 0.2).
    res = coordinate_aggregators(problem([one_ev_request()], ramp_weight=0.1))
    assert res.status == "optimal"
    np.testing.assert_allclose(res.charging_kw, [[4, 0]], atol=TOL)
    np.testing.assert_allclose(res.export_limit, [[0.9, 1.0]], atol=TOL)
    np.testing.assert_allclose(res.overload_kw, 0, atol=TOL)
    assert res.objective == pytest.approx(12.2)


def test_seed_ramp_weight_flattens_charging():
    # gamma = 1000: ramps cost more than curtailment, so P = [2, 2] (ramp 2), zeta = 0.7.
    res = coordinate_aggregators(problem([one_ev_request()], ramp_weight=1000))
    np.testing.assert_allclose(res.charging_kw, [[2, 2]], atol=TOL)
    np.testing.assert_allclose(res.export_limit[0, 0], 0.7, atol=TOL)
    assert res.objective == pytest.approx(7 + 4 - 2000)


def test_base_load_above_cable_rating_is_reported_as_overload():
    agg = AggregatorRequest("a", [0, 0], no_ev(2), line_forecast_kw=[8, 1], line_rating_kva=5)
    res = coordinate_aggregators(problem([agg]))
    np.testing.assert_allclose(res.overload_kw, [[3, 0]], atol=TOL)
    np.testing.assert_allclose(res.feeder_net_kw, [[-8, -1]], atol=TOL)
    assert res.objective == pytest.approx(-3000)


def test_transformer_limits_the_summed_export():
    aggs = [
        AggregatorRequest(n, [10], no_ev(1), line_forecast_kw=[0], line_rating_kva=20)
        for n in ("a", "b")
    ]
    res = coordinate_aggregators(problem(aggs, transformer_rating_kva=15, power_factor=0.8))
    assert res.transformer_net_kw[0] == pytest.approx(12)  # 15 kVA * 0.8
    assert res.pv_kw.sum() == pytest.approx(12)
    np.testing.assert_allclose(res.overload_kw, 0, atol=TOL)


def test_charger_efficiency_raises_grid_power():
    # 2 kWh must be stored in one slot at eta = 0.5: the cable carries 4 kW > 3 kW rating.
    ev = FleetBoundaries([0, 2], [0, 2], [2])
    agg = AggregatorRequest("a", [0], ev, [0], line_rating_kva=3, charger_efficiency=0.5)
    res = coordinate_aggregators(problem([agg]))
    assert res.charging_kw[0, 0] == pytest.approx(2)
    assert res.feeder_net_kw[0, 0] == pytest.approx(-4)
    assert res.overload_kw[0, 0] == pytest.approx(1)


def test_fleet_boundaries_by_hand():
    # EV 0: e_arr = 0.95*24 - 0.1778*20 = 19.244 kWh, slots 1..5; EV 1: 13.91 kWh, slots 2..3.
    # r = 3.7*0.92 = 3.404 kW; EV 1 reaches only 13.91 + 2 r = 20.718 < 22.8 kWh.
    fleet = EvFleet(
        battery_kwh=[24, 24],
        consumption_kwh_per_km=[0.1778, 0.1778],
        distance_km=[20, 50],
        arrival_slot=[1, 2],
        departure_slot=[6, 4],
        soc_target=[0.95, 0.95],
    )
    b = fleet_boundaries(
        fleet, n_slots=6, slot_h=1.0, charger_power_kw=3.7, charger_efficiency=0.92
    )
    np.testing.assert_allclose(fleet.arrival_energy_kwh, [19.244, 13.91])
    np.testing.assert_allclose(b.power_upper_kw, [0, 3.404, 6.808, 6.808, 3.404, 3.404])
    e0 = 19.244 + 13.91
    np.testing.assert_allclose(
        b.energy_upper_kwh,
        [e0, e0, e0 + 3.404, 22.8 + 13.91 + 3.404, 22.8 + 20.718, 43.518, 43.518],
    )
    np.testing.assert_allclose(
        b.energy_lower_kwh,
        [e0, e0, e0, 19.244 + 17.314, 19.244 + 20.718, 22.8 - 3.404 + 20.718, 43.518],
    )
    assert b.shortfall_kwh == pytest.approx(22.8 - 20.718)


def test_unreachable_energy_is_infeasible_with_reason():
    ev = FleetBoundaries([0, 1, 5], [0, 0, 5], [1, 1])
    agg = AggregatorRequest("north", [0, 0], ev, [0, 0], line_rating_kva=10)
    res = coordinate_aggregators(problem([agg]))
    assert res.status == "infeasible" and not res.ok
    assert "'north'" in res.message and "energy_lower_kwh" in res.message


def test_too_tight_ramp_limit_is_named():
    agg = one_ev_request(ramp_limit_kw=1.0)
    res = coordinate_aggregators(problem([agg]))
    assert res.status == "infeasible"
    assert "ramp_limit_kw" in res.message and "'a'" in res.message


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"line_rating_kva": 0}, "line_rating_kva"),
        ({"pv_available_kw": [1, -1]}, "pv_available_kw"),
        ({"line_forecast_kw": [0]}, "line_forecast_kw"),
        ({"charger_efficiency": 1.5}, "charger_efficiency"),
    ],
)
def test_bad_request_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        one_ev_request(**kwargs)


def test_bad_fleet_raises():
    with pytest.raises(ValueError, match="departure_slot"):
        EvFleet([24], [0.2], [10], arrival_slot=[3], departure_slot=[3], soc_target=[0.9])
    with pytest.raises(ValueError, match="energy_upper_kwh"):
        FleetBoundaries([1, 2], [0, 2], [1])


@st.composite
def instances(draw):
    n_t = draw(st.integers(3, 8))
    n_agg = draw(st.integers(1, 2))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    aggs = []
    for k in range(n_agg):
        n_ev = int(rng.integers(1, 5))
        arrival = rng.integers(0, n_t - 1, n_ev)
        fleet = EvFleet(
            battery_kwh=rng.uniform(20, 60, n_ev),
            consumption_kwh_per_km=rng.uniform(0.15, 0.2, n_ev),
            distance_km=rng.lognormal(2.89, 0.92, n_ev),
            arrival_slot=arrival,
            departure_slot=arrival + rng.integers(1, n_t + 2, n_ev),
            soc_target=np.full(n_ev, 0.95),
        )
        eta = 0.92
        aggs.append(
            AggregatorRequest(
                name=f"agg{k}",
                pv_available_kw=rng.uniform(0, 30, n_t),
                ev=fleet_boundaries(fleet, n_t, 1.0, 7.4, eta),
                line_forecast_kw=rng.uniform(0, 20, n_t),
                line_rating_kva=float(rng.uniform(10, 40)),
                charger_efficiency=eta,
                ramp_limit_kw=float(draw(st.sampled_from([np.inf, 30.0]))),
            )
        )
    return problem(aggs, transformer_rating_kva=float(rng.uniform(20, 60)), power_factor=0.95)


@settings(max_examples=25, deadline=None)
@given(instances())
def test_solution_respects_every_limit(prob):
    res = coordinate_aggregators(prob)
    if not res.ok:
        # only a finite ramp limit can make these instances infeasible
        assert "ramp_limit_kw" in res.message
        return
    pf = prob.power_factor
    for k, agg in enumerate(prob.aggregators):
        p = res.charging_kw[k]
        assert np.all(res.export_limit[k] >= -TOL) and np.all(res.export_limit[k] <= 1 + TOL)
        assert np.all(p >= -TOL) and np.all(p <= agg.ev.power_upper_kw + TOL)
        energy = agg.ev.initial_energy_kwh + np.cumsum(p) * prob.slot_h
        assert np.all(energy >= agg.ev.energy_lower_kwh[1:] - 1e-5)
        assert np.all(energy <= agg.ev.energy_upper_kwh[1:] + 1e-5)
        ol = res.overload_kw[k]
        assert np.all(np.abs(res.feeder_net_kw[k]) <= agg.line_rating_kva * pf + ol + 1e-5)
        steps = np.abs(np.diff(np.concatenate(([agg.previous_charging_kw], p))))
        charging = agg.ev.power_upper_kw > 0
        assert np.all(steps[charging] <= agg.ramp_limit_kw + 1e-5)
        assert np.all(steps[charging] <= res.ramp_kw[k][charging] + 1e-5)
    total_ol = res.overload_kw.sum(axis=0)
    assert np.all(
        np.abs(res.transformer_net_kw) <= prob.transformer_rating_kva * pf + total_ol + 1e-5
    )
