"""Capacity sharing (seed 004 4.2.1): a hand-built two-unit negotiation checked against a hand
computation, the grid check's refusals, partner order, and bad input as recorded outcomes."""

import math

import numpy as np
import pandapower as pp
import pytest

from flexcosim.agents.optim.btm_ems import StorageUnits
from flexcosim.agents.optim.capacity_demand import CapacityDemand
from flexcosim.agents.sharing.aggregator import EnergyAggregator
from flexcosim.agents.sharing.coordinator import DSO, FTMCoordinator
from flexcosim.agents.sharing.grid_check import SharedGrid
from flexcosim.agents.sharing.incentives import CompensationRule
from flexcosim.agents.sharing.local import run_period
from flexcosim.agents.sharing.messages import (
    AcceptOffer,
    Approval,
    CapacityAllocation,
    CapacityOffer,
    CapacityRequest,
    CapacityStatus,
    Rejection,
    RejectOffer,
    Settlement,
    ValidationRequest,
    Wakeup,
)
from flexcosim.agents.sharing.record import AgreementRecord, verify_record
from flexcosim.agents.sharing.unit import UnitForecast, unit_cost

PRICE = [0.1, 0.3]  # two half-hour steps [currency/kWh]


def evs(need_kwh, energy_kwh=10.0, capacity_kwh=60.0, power_kw=22.0):
    """Charge-only EVs connected over both steps that must gain ``need_kwh`` each."""
    n = len(need_kwh)
    return StorageUnits(
        capacity_kwh=np.full(n, capacity_kwh), energy_kwh=np.full(n, energy_kwh),
        max_charge_kw=np.full(n, power_kw), max_discharge_kw=np.zeros(n),
        final_energy_kwh=energy_kwh + np.asarray(need_kwh, dtype=float),
        connected=np.ones((n, 2), dtype=bool),
    )  # fmt: skip


def unit(fixed_kw, need_kwh):
    return UnitForecast(fixed_load_kw=[fixed_kw] * 2, import_price_per_kwh=PRICE, dt_s=1800,
                        evs=evs(need_kwh), unmet_value_per_kwh=1.0)


# Provider "a": 40 kW fixed, one EV needs 11 kWh -> p̄ = 40 + 11 = 51 kW, δ⁺ = 100 - 51 = 49 kW.
# Consumer "b": 90 kW fixed, EVs need 22 + 22 + 11 kWh -> p̄ = 90 + 55 = 145 kW, δ⁻ = 45 kW.
A, B = unit(40.0, [11.0]), unit(90.0, [22.0, 22.0, 11.0])


def two_units(grid=None, *, fee=0.1, **ea):
    coordinator = FTMCoordinator({"a": 250.0, "b": 250.0}, total_kw=200.0, period_s=3600,
                                 grid=grid, service_fee=fee)
    aggregators = {u: EnergyAggregator(u, ["a", "b"], **ea) for u in ("a", "b")}
    aggregators["a"].observe(A)
    aggregators["b"].observe(B)
    return coordinator, aggregators


def feeder(line_max_i_ka=0.4):
    """20/0.4 kV 400 kVA transformer, one 100 m cable to each unit."""
    net = pp.create_empty_network()
    mv, lv = pp.create_bus(net, 20.0), pp.create_bus(net, 0.4)
    pp.create_ext_grid(net, mv)
    pp.create_transformer(net, mv, lv, "0.4 MVA 20/0.4 kV")
    buses = {}
    for name in ("a", "b"):
        buses[name] = pp.create_bus(net, 0.4, name=name)
        pp.create_line_from_parameters(net, lv, buses[name], 0.1, r_ohm_per_km=0.206,
                                       x_ohm_per_km=0.08, c_nf_per_km=0.0, max_i_ka=line_max_i_ka)
    return net, buses


def test_hand_costs_of_both_units():
    # a at 100 kW: 40 kW fixed costs 20 kWh x (0.1 + 0.3) = 8.0; EV 11 kWh in the cheap step: 1.1.
    # a at 55 kW: EV at most 15 kW -> 7.5 kWh at 0.1 + 3.5 kWh at 0.3 = 1.8, total 9.8.
    assert unit_cost(A, 100.0).total == pytest.approx(9.1)
    assert unit_cost(A, 55.0).total == pytest.approx(9.8)
    # b at 100 kW: fixed 18.0; EVs 10 kW in both steps: 5 x 0.1 + 5 x 0.3 = 2.0; 45 kWh unmet x 1.0.
    b100 = unit_cost(B, 100.0)
    assert (b100.energy_cost, b100.unmet_kwh, b100.total) == pytest.approx((20.0, 45.0, 65.0))
    # b at 145 kW: EVs flat out at 55 kW in both steps: 27.5 x (0.1 + 0.3) = 11.0, total 29.0.
    assert unit_cost(B, 145.0).total == pytest.approx(29.0)


def test_two_unit_negotiation_matches_hand_computation(tmp_path):
    net, buses = feeder()
    coordinator, eas = two_units(SharedGrid(net, buses))
    record = AgreementRecord(tmp_path / "agreements.jsonl")
    log = run_period(coordinator, eas, 0, record=record)

    # Φ = 200 kW split 250:250; b asks for its whole deficit, a offers it at its re-plan
    # cost 9.8 - 9.1 = 0.7; b gains 65.0 - 29.0 = 36.0 > 0.7 + 0.1 and accepts.
    request = next(m for m in log if isinstance(m, CapacityRequest))
    assert (request.sender, request.receiver, request.amount_kw) == ("b", "a", pytest.approx(45.0))
    offer = next(m for m in log if isinstance(m, CapacityOffer))
    assert offer.amount_kw == pytest.approx(45.0) and offer.loss == pytest.approx(0.7)
    assert sum(isinstance(m, Approval) for m in log) == 2  # one to each party
    assert coordinator.limits_kw == pytest.approx({"a": 55.0, "b": 145.0})

    a, b = (eas[u].outcomes()[0] for u in ("a", "b"))
    assert (a.allocation_kw, a.demand_kw, a.surplus_kw) == pytest.approx((100.0, 51.0, 49.0))
    assert (b.allocation_kw, b.demand_kw, b.deficit_kw) == pytest.approx((100.0, 145.0, 45.0))
    assert (a.capacity_kw, b.capacity_kw) == pytest.approx((55.0, 145.0))
    assert b.status == "covered"
    assert (a.received, b.paid) == pytest.approx((0.7, 0.8))

    # payments balance: what consumers pay = what providers and the DSO receive
    paid = [m for m in log if isinstance(m, Settlement)]
    assert sum(m.amount for m in paid) == pytest.approx(b.paid)
    assert sum(m.amount for m in paid if m.payee == DSO) == pytest.approx(0.1)
    assert sum(m.amount for m in paid if m.payee == "a") == pytest.approx(a.received)

    # no unit worse off: cost with sharing (incl. payments) <= cost without
    assert unit_cost(A, a.capacity_kw).total - a.received <= unit_cost(A, 100.0).total + 1e-9
    assert unit_cost(B, b.capacity_kw).total + b.paid < unit_cost(B, 100.0).total

    check = verify_record(record.path)
    assert check.ok and check.entries == sum(type(m).__name__ != "Wakeup" for m in log)


@pytest.mark.parametrize("share", [0.0, 0.5])
def test_no_unit_worse_off_under_the_rule(share):
    coordinator, eas = two_units(rule=CompensationRule(share=share))
    run_period(coordinator, eas, 0)
    a, b = (eas[u].outcomes()[0] for u in ("a", "b"))
    loss = unit_cost(A, a.capacity_kw).total - unit_cost(A, a.allocation_kw).total
    gain = unit_cost(B, b.allocation_kw).total - unit_cost(B, b.capacity_kw).total
    assert a.received >= loss - 1e-9
    assert b.paid < gain
    # share 0.5: the net gain 36.0 - 0.7 - 0.1 = 35.2 is split, the provider gets 0.7 + 17.6
    assert a.received == pytest.approx(0.7 + share * 35.2)


def test_thin_cable_makes_the_coordinator_reject_with_the_line_named():
    # 0.18 kA at 0.4 kV carries ~125 kVA: 100 kW fits, 145 kW does not.
    net, buses = feeder(line_max_i_ka=0.18)
    coordinator, eas = two_units(SharedGrid(net, buses))
    log = run_period(coordinator, eas, 0)
    rejection = next(m for m in log if isinstance(m, Rejection))
    assert rejection.reason.startswith("line 1 loaded") and "> 100 %" in rejection.reason
    assert coordinator.limits_kw == pytest.approx({"a": 100.0, "b": 100.0})
    a, b = (eas[u].outcomes()[0] for u in ("a", "b"))
    assert (a.capacity_kw, b.capacity_kw, a.sold_kw, b.paid) == pytest.approx((100, 100, 0, 0))
    assert b.status == "short" and "rejected by the coordinator: line 1" in b.reason
    assert not any(isinstance(m, Settlement) for m in log)


def test_ac_and_lindistflow_checks_agree_on_the_feeder():
    net, buses = feeder(line_max_i_ka=0.18)
    for limits in ({"a": 100.0, "b": 100.0}, {"a": 55.0, "b": 145.0}):
        lin = SharedGrid(net, buses).check(limits)
        ac = SharedGrid(net, buses, method="ac").check(limits)
        assert lin.ok == ac.ok
        assert lin.max_loading_pct == pytest.approx(ac.max_loading_pct, rel=0.03)


def test_a_coordinator_that_never_answers_ends_at_the_deadline():
    coordinator, eas = two_units(deadline_s=60)
    log = run_period(coordinator, eas, 0, lost=lambda m: isinstance(m, ValidationRequest))
    b = eas["b"].outcomes()[0]
    assert b.status == "deadline" and "coordinator's decision" in b.reason
    assert b.capacity_kw == pytest.approx(100.0) and b.paid == 0.0
    assert eas["a"].outcomes()[0].capacity_kw == pytest.approx(100.0)
    deadlines = [m for m in log if isinstance(m, Wakeup) and m.purpose == "deadline"]
    assert [m.at_s for m in deadlines] == [60, 60]


def test_missing_and_bad_forecasts_are_recorded_and_the_rest_goes_on():
    coordinator = FTMCoordinator({u: 250.0 for u in "abc"}, total_kw=300.0, period_s=3600)
    eas = {u: EnergyAggregator(u, list("abc")) for u in "abc"}
    eas["a"].observe(A)
    eas["b"].observe(B)
    eas["c"].observe(None)
    run_period(coordinator, eas, 0)
    c = eas["c"].outcomes()[0]
    assert (c.status, c.capacity_kw) == ("no_forecast", pytest.approx(100.0))
    assert math.isnan(c.demand_kw)
    assert eas["b"].outcomes()[0].status == "covered"

    # a forecast of 1 h for a period of 30 min
    coordinator = FTMCoordinator({u: 250.0 for u in "ab"}, total_kw=200.0, period_s=1800)
    eas = {u: EnergyAggregator(u, ["a", "b"]) for u in "ab"}
    eas["a"].observe(A)
    eas["b"].observe(B)
    run_period(coordinator, eas, 0)
    a = eas["a"].outcomes()[0]
    assert a.status == "bad_forecast" and a.capacity_kw == pytest.approx(100.0)
    assert a.reason == "forecast covers 3600 s (2 steps of 1800 s); the period is 1800 s"


def test_an_lp_that_fails_is_recorded_and_the_unit_keeps_its_capacity():
    def failing(problem):
        return CapacityDemand("infeasible", math.nan, None, None, None, None, None,
                              np.zeros(problem.n_evs), 0.0, "primal infeasible")

    coordinator = FTMCoordinator({"a": 250.0, "b": 250.0}, total_kw=200.0, period_s=3600)
    eas = {"a": EnergyAggregator("a", ["a", "b"], demand=failing),
           "b": EnergyAggregator("b", ["a", "b"])}
    eas["a"].observe(A)
    eas["b"].observe(B)
    run_period(coordinator, eas, 0)
    a, b = (eas[u].outcomes()[0] for u in ("a", "b"))
    assert (a.status, a.capacity_kw) == ("lp_failed", pytest.approx(100.0))
    assert "infeasible: primal infeasible" in a.reason
    # b hears from no surplus peer and stays short with its own Φ
    assert (b.status, b.capacity_kw) == ("short", pytest.approx(100.0))


def test_a_provider_made_short_by_an_arrival_keeps_its_commitment_and_reports_it():
    coordinator, eas = two_units()
    run_period(coordinator, eas, 0)
    # a holds 55 kW after selling 45; its first EV got 7.5 of its 11 kWh in the first half
    # hour. At 30 min a second EV arrives needing 11 kWh by the period end: over
    # [1800, 3600) p̄ = 40 + (3.5 + 11) kWh / 0.5 h = 69 kW, 14 kW above what a holds.
    rest = UnitForecast(
        fixed_load_kw=[40.0], import_price_per_kwh=[0.3], dt_s=1800, unmet_value_per_kwh=1.0,
        evs=StorageUnits(capacity_kwh=[60.0, 60.0], energy_kwh=[17.5, 10.0],
                         max_charge_kw=[22.0, 22.0], max_discharge_kw=[0.0, 0.0],
                         final_energy_kwh=[21.0, 21.0], connected=[[True], [True]]))
    assert eas["a"].update(rest, 1800) == pytest.approx(14.0)
    a = eas["a"].outcomes()[0]
    assert a.shortfall_kw == pytest.approx(14.0) and a.capacity_kw == pytest.approx(55.0)
    assert coordinator.limits_kw["a"] == pytest.approx(55.0)
    assert "rose to 69 kW, 14 kW above the 55 kW held; commitments kept" in a.reason
    # at b one EV fewer than planned (a departure): the demand falls, no shortfall
    assert eas["b"].update(unit(90.0, [22.0]), 1800) == 0.0


def test_a_consumer_whose_agreement_the_provider_refuses_moves_on():
    b = two_units()[1]["b"]
    b.handle(CapacityAllocation(sender="coordinator", receiver="b", time_s=0, period_start_s=0,
                                period_s=3600, capacity_kw=100.0, service_fee=0.1), 0)
    b.handle(CapacityStatus(sender="a", receiver="b", time_s=0, period_start_s=0,
                            demand_kw=51.0, surplus_kw=49.0, deficit_kw=0.0), 0)
    request, = b.handle(Wakeup(sender="b", receiver="b", time_s=0, at_s=1, period_start_s=0,
                               purpose="collect"), 1)
    accept, = b.handle(CapacityOffer(sender="a", receiver="b", time_s=1,
                                     request_id=request.request_id, period_start_s=0,
                                     amount_kw=45.0, loss=0.7), 1)
    assert isinstance(accept, AcceptOffer) and accept.agreement.compensation == pytest.approx(0.7)
    assert b.handle(RejectOffer(sender="a", receiver="b", time_s=1, period_start_s=0,
                                request_id=request.request_id, reason="not my offer"), 1) == []
    out = b.outcomes()[0]
    assert (out.status, out.capacity_kw, out.paid) == ("short", pytest.approx(100.0), 0.0)
    assert out.reason == "a refused the agreement: not my offer"
