"""Capacity-sharing roles one at a time: the coordinator's splits and checks, the partner
order, the compensation rule, and a unit without EVs."""

from dataclasses import replace

import numpy as np
import pytest

from flexcosim.agents.optim.btm_ems import StorageUnits
from flexcosim.agents.sharing.aggregator import EnergyAggregator
from flexcosim.agents.sharing.coordinator import (
    CAPACITY_SPLITS,
    FTMCoordinator,
    SplitObservation,
)
from flexcosim.agents.sharing.incentives import CompensationRule
from flexcosim.agents.sharing.local import run_period
from flexcosim.agents.sharing.messages import (
    AcceptOffer,
    Agreement,
    Approval,
    CapacityAllocation,
    CapacityRequest,
    Rejection,
    RejectOffer,
    ValidationRequest,
)
from flexcosim.agents.sharing.unit import UnitForecast

PRICE = [0.2, 0.2]


def forecast(fixed_kw, need_kwh=()):
    n = len(need_kwh)
    stores = StorageUnits(
        capacity_kwh=np.full(n, 60.0), energy_kwh=np.full(n, 10.0),
        max_charge_kw=np.full(n, 22.0), max_discharge_kw=np.zeros(n),
        final_energy_kwh=10.0 + np.asarray(need_kwh, dtype=float),
        connected=np.ones((n, 2), dtype=bool),
    )  # fmt: skip
    return UnitForecast(fixed_load_kw=[fixed_kw] * 2, import_price_per_kwh=PRICE, dt_s=1800,
                        evs=stores)


def test_proportional_split_and_the_cap_at_the_connection():
    obs = SplitObservation(300.0, {"a": 100.0, "b": 200.0, "c": 300.0})
    assert CAPACITY_SPLITS.create("proportional").split(obs) == pytest.approx(
        {"a": 50.0, "b": 100.0, "c": 150.0})
    small = SplitObservation(1000.0, {"a": 100.0, "b": 300.0})
    assert CAPACITY_SPLITS.create("proportional").split(small) == pytest.approx(
        {"a": 100.0, "b": 300.0})


def test_previous_use_split_falls_back_to_connections_without_history():
    split = CAPACITY_SPLITS.create("previous_use")
    conn = {"a": 250.0, "b": 250.0}
    assert split.split(SplitObservation(200.0, conn, {"a": 30.0, "b": 90.0})) == pytest.approx(
        {"a": 50.0, "b": 150.0})
    assert split.split(SplitObservation(200.0, conn)) == pytest.approx({"a": 100.0, "b": 100.0})


def test_a_split_that_breaks_the_total_is_replaced_and_recorded(tmp_path):
    (tmp_path / "greedy.py").write_text(
        "class Greedy:\n    def split(self, obs):\n"
        "        return {u: obs.total_kw for u in obs.connection_kw}\n")
    coordinator = FTMCoordinator({"a": 250.0, "b": 250.0}, 200.0, 900,
                                 split=str(tmp_path / "greedy.py") + ":Greedy")
    allocations = coordinator.start_period(0)
    assert [m.capacity_kw for m in allocations] == [100.0, 100.0]
    assert "split sums to 400 kW > total 200 kW" in coordinator.fallbacks[0].reason


def agreement(**kw):
    fields = dict(agreement_id="x", period_start_s=0, period_s=900, provider="a", consumer="b",
                  amount_kw=10.0, compensation=0.0, service_fee=0.1)
    return Agreement(**(fields | kw))


@pytest.mark.parametrize(("change", "reason"), [
    ({"amount_kw": 150.0}, "'a' has 100 kW left, cannot give 150 kW"),
    ({"amount_kw": -1.0}, "amount -1.0 kW; allowed: finite > 0"),
    ({"consumer": "z"}, "consumer 'z' is not a unit behind this transformer"),
    ({"period_start_s": 900}, "period 900 s is not the current period (0 s)"),
    ({"service_fee": 0.0}, "service fee 0.0; the DSO's fee is 0.1"),
    ({"amount_kw": 60.0, "provider": "c"}, "'b' would get 110 kW > its connection rating 100 kW"),
])
def test_coordinator_refuses_inconsistent_agreements(change, reason):
    # Φ: a 100, b 50, c 100 kW
    coordinator = FTMCoordinator({"a": 200.0, "b": 100.0, "c": 200.0}, 250.0, 900)
    coordinator.start_period(0)
    out = coordinator.handle(
        ValidationRequest(sender="b", receiver="coordinator", time_s=5,
                          agreement=agreement(**change)), 5)
    assert [type(m) for m in out] == [Rejection, Rejection]
    assert out[0].reason == reason
    assert coordinator.limits_kw == {"a": 100.0, "b": 50.0, "c": 100.0}


def test_coordinator_approval_moves_the_capacity_and_settles():
    coordinator = FTMCoordinator({"a": 250.0, "b": 250.0}, 200.0, 900)
    coordinator.start_period(0)
    out = coordinator.handle(ValidationRequest(sender="b", receiver="coordinator", time_s=5,
                                               agreement=agreement(compensation=0.3)), 5)
    assert [m.receiver for m in out if isinstance(m, Approval)] == ["a", "b"]
    assert [(m.payer, m.payee, m.amount) for m in out[2:]] == [("b", "a", 0.3),
                                                                ("b", "dso", 0.1)]
    assert coordinator.limits_kw == {"a": 90.0, "b": 110.0}


@pytest.mark.parametrize(("order", "first_partner"), [("largest_surplus", "p30"),
                                                       ("best_fit", "p20")])
def test_partner_order(order, first_partner):
    # Φ = 100 kW each; p30 needs 70 kW (δ⁺ 30), p20 80 kW (δ⁺ 20), the consumer 90 kW fixed
    # plus 25 kWh of EVs in 1 h (δ⁻ 15): both peers could cover it alone.
    units = {"p30": forecast(70.0), "p20": forecast(80.0), "c": forecast(90.0, [22.0, 3.0])}
    coordinator = FTMCoordinator({u: 250.0 for u in units}, 300.0, 3600)
    eas = {u: EnergyAggregator(u, list(units), order=order) for u in units}
    for u, f in units.items():
        eas[u].observe(f)
    log = run_period(coordinator, eas, 0)
    requests = [m for m in log if isinstance(m, CapacityRequest)]
    assert [(m.receiver, m.amount_kw) for m in requests] == [(first_partner, pytest.approx(15.0))]
    assert eas[first_partner].outcomes()[0].capacity_kw == pytest.approx(85.0)
    assert eas["c"].outcomes()[0].capacity_kw == pytest.approx(115.0)


def test_a_deficit_larger_than_one_surplus_is_covered_by_two_agreements():
    units = {"p30": forecast(70.0), "p20": forecast(80.0), "c": forecast(90.0, [22.0, 22.0])}
    coordinator = FTMCoordinator({u: 250.0 for u in units}, 300.0, 3600)
    eas = {u: EnergyAggregator(u, list(units)) for u in units}
    for u, f in units.items():
        eas[u].observe(f)
    log = run_period(coordinator, eas, 0)
    # δ⁻ = 90 + 44 - 100 = 34 kW: 30 from p30, then the 4 kW left from p20
    assert [(m.receiver, m.amount_kw) for m in log if isinstance(m, CapacityRequest)] == [
        ("p30", pytest.approx(34.0)), ("p20", pytest.approx(4.0))]
    assert coordinator.limits_kw == pytest.approx({"p30": 70.0, "p20": 96.0, "c": 134.0})
    assert eas["c"].outcomes()[0].paid == pytest.approx(0.2)  # two fees, no loss to cover


def test_compensation_rule():
    rule = CompensationRule()
    assert rule.compensation(loss=0.7, gain=36.0, service_fee=0.1) == pytest.approx(0.7)
    assert rule.compensation(loss=0.7, gain=0.8, service_fee=0.1) is None  # not better off
    assert rule.compensation(loss=-0.2, gain=1.0, service_fee=0.1) == 0.0  # no negative pay
    assert rule.compensation(loss=0.7, gain=float("inf"), service_fee=0.1) == pytest.approx(0.7)
    assert rule.compensation(loss=float("inf"), gain=5.0, service_fee=0.1) is None
    assert CompensationRule(share=0.5).compensation(1.0, 3.0, 0.0) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="share = 1.0; allowed: 0 <= share < 1"):
        CompensationRule(share=1.0)


def test_two_requests_at_once_share_one_surplus_without_overselling():
    # p has δ⁺ 30 kW; c1 and c2 each miss 20 kW and ask p at the same time
    units = {"p": forecast(70.0), "c1": forecast(90.0, [22.0, 8.0]),
             "c2": forecast(90.0, [22.0, 8.0])}
    coordinator = FTMCoordinator({u: 250.0 for u in units}, 300.0, 3600)
    eas = {u: EnergyAggregator(u, list(units)) for u in units}
    for u, f in units.items():
        eas[u].observe(f)
    run_period(coordinator, eas, 0)
    out = {u: eas[u].outcomes()[0] for u in units}
    assert out["p"].sold_kw == pytest.approx(30.0)
    assert sorted(o.bought_kw for u, o in out.items() if u != "p") == pytest.approx([10.0, 20.0])
    assert sorted(o.status for u, o in out.items() if u != "p") == ["covered", "short"]
    assert sum(coordinator.limits_kw.values()) == pytest.approx(300.0)
    assert {u: o.capacity_kw for u, o in out.items()} == pytest.approx(coordinator.limits_kw)


def provider_with_an_offer():
    """A provider with δ⁺ = 30 kW that has offered 15 kW (at its re-plan cost 0) on request "r"."""
    provider = EnergyAggregator("p", ["p", "c"])
    provider.observe(forecast(70.0))
    provider.handle(CapacityAllocation(sender="coordinator", receiver="p", time_s=0,
                                       period_start_s=0, period_s=3600, capacity_kw=100.0,
                                       service_fee=0.1), 0)
    offer, = provider.handle(CapacityRequest(sender="c", receiver="p", time_s=1,
                                             request_id="r", period_start_s=0,
                                             amount_kw=15.0), 1)
    assert (offer.amount_kw, offer.loss) == pytest.approx((15.0, 0.0))
    return provider


MATCHING = agreement(agreement_id="r", provider="p", consumer="c", amount_kw=15.0,
                     period_s=3600)


def test_the_provider_sends_a_matching_agreement_to_the_coordinator():
    out = provider_with_an_offer().handle(
        AcceptOffer(sender="c", receiver="p", time_s=1, agreement=MATCHING), 1)
    assert [(type(m), m.receiver) for m in out] == [(ValidationRequest, "coordinator")]


@pytest.mark.parametrize(("change", "reason"), [
    ({"amount_kw": 25.0}, "amount 25 kW > the 15 kW offered"),
    ({"compensation": -1.0}, "compensation -1 < the offer's price 0"),
    ({"agreement_id": "other"}, "no open offer of mine with this id"),
])
def test_the_provider_refuses_an_agreement_that_is_not_its_offer(change, reason):
    out = provider_with_an_offer().handle(
        AcceptOffer(sender="c", receiver="p", time_s=1, agreement=replace(MATCHING, **change)), 1)
    assert [(type(m), m.receiver) for m in out] == [(RejectOffer, "c")]
    assert out[0].reason == reason
