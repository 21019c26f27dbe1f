"""Charging-site selection (seed 004 eqs 4.6-4.19): hand-solved instances and properties."""

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flexcosim.agents.optim.site_selection import select_site, why_insufficient
from flexcosim.agents.optim.site_selection_reference import select_site_reference
from flexcosim.agents.optim.types import SiteOffer, SiteRequest

HOUR = 3600.0


def offer(
    site, charge_price, discharge_price=0.0, *, chargers=1, energy=100.0, rho=11.0, rho_d=0.0
):
    return SiteOffer(site, chargers, rho, rho_d, charge_price, discharge_price, energy)


def request(arrival_soc, arrival_step, departure=4, target=0.7, *, v2g_kwh=0.0, p_minus=0.0):
    return SiteRequest(
        "ev1", 40.0, 11.0, p_minus, arrival_soc, arrival_step, departure, target,
        soc_min=0.2, soc_max=1.0, v2g_allowance_kwh=v2g_kwh,
    )  # fmt: skip


def test_picks_cheaper_site_counting_arrival_soc_and_time():
    # a: 8 kWh (0.5 -> 0.7 of 40 kWh) at 0.1 in step 1 = 0.8
    # b: arrives lower (0.45, 10 kWh) and later, cheapest at 0.1 everywhere = 1.0
    offers = [offer("a", [0.3, 0.1, 0.2, 0.3]), offer("b", [0.1, 0.1, 0.1, 0.1])]
    choice = select_site(request({"a": 0.5, "b": 0.45}, {"a": 0, "b": 1}), offers, HOUR)
    assert choice.status == "optimal" and choice.site == "a"
    assert choice.cost == pytest.approx(0.8)
    assert dict(choice.site_costs) == pytest.approx({"a": 0.8, "b": 1.0})
    np.testing.assert_allclose(choice.charge_kw, [0, 8, 0, 0], atol=1e-9)
    np.testing.assert_allclose(choice.soc, [0.5, 0.5, 0.7, 0.7, 0.7], atol=1e-9)


def test_arrival_step_shuts_out_cheap_steps():
    # b is cheap only in step 0, but the EV reaches b in step 2: 8 kWh at 0.5 = 4.0
    offers = [offer("a", [0.3, 0.3, 0.3, 0.3]), offer("b", [0.01, 0.5, 0.5, 0.5])]
    choice = select_site(request({"a": 0.5, "b": 0.5}, {"a": 0, "b": 2}), offers, HOUR)
    assert choice.site == "a" and choice.cost == pytest.approx(2.4)
    assert choice.site_costs["b"] == pytest.approx(4.0)


def test_v2g_allowance_binds():
    # charge 4 kWh at 0.1 in step 0, discharge the 4 kWh allowance at 0.4 in step 2: -1.2
    site = offer("a", [0.1, 0.3, 0.3, 0.3], [0.05, 0.05, 0.4, 0.05], rho_d=11.0)
    req = request({"a": 0.5}, {"a": 0}, target=0.5, v2g_kwh=4.0, p_minus=11.0)
    choice = select_site(req, [site], HOUR)
    assert choice.cost == pytest.approx(-1.2)
    np.testing.assert_allclose(choice.charge_kw, [4, 0, 0, 0], atol=1e-9)
    np.testing.assert_allclose(choice.discharge_kw, [0, 0, 4, 0], atol=1e-9)


def test_mode_binaries_stop_charge_and_discharge_in_one_step():
    # step 1 pays 0.3 for discharge but charges only 0.1: without eq 4.14 the EV would
    # charge and discharge 2 kWh at once there (cost -0.4). With it: discharge 2 kWh in
    # step 1 (+0.6), recharge 2 kWh at 0.2 in step 0 or 2 (-0.4): cost -0.2.
    site = offer("a", [0.2, 0.1, 0.2], [0.0, 0.3, 0.0], rho_d=11.0)
    req = request({"a": 0.5}, {"a": 0}, departure=3, target=0.5, v2g_kwh=2.0, p_minus=11.0)
    choice = select_site(req, [site], HOUR)
    assert choice.status == "optimal" and choice.cost == pytest.approx(-0.2)
    assert not np.any((choice.charge_kw > 0) & (choice.discharge_kw > 0))
    assert choice.discharge_kw[1] == pytest.approx(2.0)


def test_no_sufficient_offer_gives_status_and_reasons():
    offers = [offer("a", [0.1] * 4, chargers=0), offer("b", [0.1] * 4, energy=5.0)]
    req = request({"a": 0.5, "b": 0.5}, {"a": 0, "b": 0})
    choice = select_site(req, offers, HOUR)
    assert choice.status == "no_sufficient_offer" and choice.site is None
    assert "a: no free charger" in choice.reason
    assert "b: available energy 5 kWh < required 8 kWh" in choice.reason
    assert not choice.charge_kw.any()


def test_insufficient_charging_window_is_dropped():
    # arrives in step 3: one hour at 11 kW cannot lift 40 kWh from SOC 0.2 to 0.7
    req = request({"a": 0.2}, {"a": 3})
    assert "charging power delivers 11 kWh < required 20 kWh" in why_insufficient(
        req, offer("a", [0.1] * 4), HOUR
    )
    late = request({"a": 0.5}, {"a": 4})
    assert "not before departure" in why_insufficient(late, offer("a", [0.1] * 4), HOUR)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: request({"a": 0.5}, {"a": 0}, departure=5), "departure_step = 5"),
        (lambda: request({"b": 0.5}, {"b": 0}), "no entry for offered site 'a'"),
        (lambda: request({"a": 1.5}, {"a": 0}), r"arrival_soc\['a'\] = 1.5"),
        (lambda: request({"a": 0.5}, {"a": 0}, target=0.1), "target_soc = 0.1"),
    ],
)
def test_bad_input_raises_one_line_error(make, match):
    with pytest.raises(ValueError, match=match):
        select_site(make(), [offer("a", [0.1] * 4)], HOUR)


def test_offers_with_different_horizons_are_rejected():
    with pytest.raises(ValueError, match="has 3 steps; allowed: 4"):
        select_site(
            request({"a": 0.5, "b": 0.5}, {"a": 0, "b": 0}),
            [offer("a", [0.1] * 4), offer("b", [0.1] * 3)],
            HOUR,
        )


def _random_case(seed: int) -> tuple[SiteRequest, list[SiteOffer], float]:
    rng = np.random.default_rng(seed)
    n_steps, dt_s = int(rng.integers(3, 13)), 900.0
    names = ["vet", "richview", "civil"][: int(rng.integers(1, 4))]
    offers = []
    for name in names:
        price = rng.uniform(0.05, 0.5, n_steps)
        # a quarter of the cases pay more for discharge than charge somewhere (binaries)
        pay = price * rng.uniform(0.3, 1.0 if seed % 4 else 1.5, n_steps)
        offers.append(
            SiteOffer(
                name, int(rng.integers(0, 4)), rng.uniform(0, 22, n_steps),
                rng.uniform(0, 11, n_steps) * rng.integers(0, 2), price, pay, rng.uniform(5, 80),
            )
        )  # fmt: skip
    soc_min = rng.uniform(0, 0.3)
    req = SiteRequest(
        "ev", rng.uniform(20, 80), rng.uniform(2, 22), rng.uniform(0, 11),
        {o.site: rng.uniform(0, 1) for o in offers},
        {o.site: int(rng.integers(0, n_steps // 2 + 1)) for o in offers},
        int(rng.integers(n_steps // 2, n_steps + 1)), rng.uniform(soc_min, 1), soc_min, 1.0,
        rng.uniform(0, 10) * rng.integers(0, 2),
    )  # fmt: skip
    return req, offers, dt_s


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_solution_respects_every_constraint(seed):
    req, offers, dt_s = _random_case(seed)
    choice = select_site(req, offers, dt_s)
    if choice.status == "no_sufficient_offer":
        assert all(why_insufficient(req, o, dt_s) for o in offers)
        return
    assert choice.status == "optimal"
    chosen = [o for o in offers if o.site == choice.site]
    assert len(chosen) == 1 and not why_insufficient(req, chosen[0], dt_s)
    site = chosen[0]
    dt_h, tol = dt_s / 3600.0, 1e-6
    steps = np.arange(site.n_steps)
    parked = (steps >= req.arrival_step[site.site]) & (steps < req.departure_step)
    p_plus, p_minus = choice.charge_kw, choice.discharge_kw
    assert np.all(p_plus >= 0) and np.all(p_minus >= 0)
    assert not np.any((p_plus > 0) & (p_minus > 0))  # 4.14
    assert np.all(p_plus <= np.minimum(site.charge_limit_kw, req.charge_max_kw) * parked + tol)
    assert np.all(
        p_minus <= np.minimum(site.discharge_limit_kw, req.discharge_max_kw) * parked + tol
    )
    assert p_minus.sum() * dt_h <= req.v2g_allowance_kwh + tol  # 4.19
    soc = choice.soc
    s0 = req.arrival_soc[site.site]
    assert soc[0] == pytest.approx(s0, abs=tol)  # 4.17
    np.testing.assert_allclose(np.diff(soc), (p_plus - p_minus) * dt_h / req.battery_kwh, atol=tol)
    assert np.all(soc >= min(req.soc_min, s0) - tol) and np.all(soc <= max(req.soc_max, s0) + tol)
    assert soc[-1] >= req.target_soc - tol  # 4.18
    cost = dt_h * (site.charge_price_per_kwh @ p_plus - site.discharge_price_per_kwh @ p_minus)
    assert choice.cost == pytest.approx(cost, abs=1e-7)
    assert choice.cost == pytest.approx(min(choice.site_costs.values()), abs=1e-9)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_optimum_equals_seed_literal_milp(seed):
    req, offers, dt_s = _random_case(seed)
    choice = select_site(req, offers, dt_s)
    reference, _ = select_site_reference(req, offers, dt_s)
    assert choice.status == reference.status
    if choice.status == "optimal":
        assert choice.cost == pytest.approx(reference.objective, rel=1e-5, abs=1e-6)


def test_same_input_gives_same_output_whatever_was_solved_before():
    req, offers, dt_s = _random_case(7)
    first = select_site(req, offers, dt_s)
    for soc in (0.0, 0.3, 0.9):  # other EVs through the same cached model
        other = replace(req, arrival_soc={site: soc for site in req.arrival_soc}, target_soc=1.0)
        select_site(other, offers, dt_s)
    again = select_site(req, offers, dt_s)
    assert first.site == again.site and first.status == again.status
    np.testing.assert_array_equal(first.charge_kw, again.charge_kw)
    np.testing.assert_array_equal(first.discharge_kw, again.discharge_kw)
