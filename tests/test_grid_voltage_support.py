"""Voltage support by aggregator batteries and reinforcement-deferral prices (seed 003)."""

import itertools

import numpy as np
import pandapower as pp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flexcosim import grids
from flexcosim.agents.grid_optim.lindistflow import radial_network
from flexcosim.agents.grid_optim.voltage_support import (
    Batteries,
    VoltageSupportProblem,
    annualised_investment_eur,
    deferral_value_eur,
    feeder_voltage_pu,
    flexibility_payments,
    request_voltage_support,
    reservation_price_eur_per_kwh,
    schedule_batteries,
)

TOL = 1e-6


@pytest.fixture(scope="module")
def chain():
    """0.4 kV chain 0 - 1 - 2, each line 0.4 ohm (2.5 pu on 1 MVA), no reactance."""
    net = pp.create_empty_network()
    buses = [pp.create_bus(net, 0.4) for _ in range(3)]
    pp.create_ext_grid(net, buses[0], vm_pu=1.0)
    for a, b in itertools.pairwise(buses):
        pp.create_line_from_parameters(net, a, b, 1.0, 0.4, 0.0, 0.0, 1.0)
    return radial_network(net), buses


def test_cheapest_request_by_hand(chain):
    # w_2 = 1 - 2 * 5 pu * P: 19.4 kW gives 0.806 < 0.81; P <= 19 kW needs 0.4 kW less.
    # The bus-2 battery relieves both lines, so it is the one asked; cost 0.4 kWh * 2 EUR.
    network, (_b0, b1, b2) = chain
    prob = VoltageSupportProblem(
        network, [b2], [[10, 19.4]], [[0, 0]], Batteries([b1, b2], 5.0, 0.5), [1.0, 2.0]
    )
    res = request_voltage_support(prob)
    assert res.status == "optimal"
    np.testing.assert_allclose(res.request_kw, [[0, 0], [0, -0.4]], atol=TOL)
    assert res.cost_eur == pytest.approx(0.8)
    assert res.v_before_pu[2, 1] == pytest.approx(np.sqrt(0.806))
    assert res.v_after_pu.min() == pytest.approx(0.9)


def test_no_violation_needs_no_request(chain):
    network, (_b0, _b1, b2) = chain
    prob = VoltageSupportProblem(network, [b2], [[5.0]], [[0.0]], Batteries([b2], 5.0, 0.5), [1.0])
    res = request_voltage_support(prob)
    assert res.ok and res.cost_eur == 0 and not np.any(res.request_kw)


def test_unfixable_voltage_names_bus_and_period(chain):
    network, (_b0, b1, b2) = chain
    prob = VoltageSupportProblem(
        network, [b2], [[10, 30]], [[0, 0]], Batteries([b1, b2], 5.0, 0.5), [1, 2]
    )
    res = request_voltage_support(prob)
    assert res.status == "infeasible" and not res.ok
    assert f"bus {b2} at t=1" in res.message and "< 0.9 pu" in res.message


def test_energy_limited_request_is_infeasible_with_reason(chain):
    # 0.4 kW for 3 h is 1.2 kWh but the battery holds 1 kWh.
    network, (_b0, _b1, b2) = chain
    prob = VoltageSupportProblem(
        network, [b2], [[19.4] * 3], [[0] * 3], Batteries([b2], 1.0, 0.5), [1, 1, 1]
    )
    res = request_voltage_support(prob)
    assert res.status == "infeasible" and "capacity_kwh" in res.message


def test_arbitrage_around_a_fixed_request_by_hand():
    # Prices 1, 3, 2; the DSO fixes -0.4 kW in period 2. Charge 0.5 at t0 (max), then
    # only 0.1 is left for t1: cost 0.5 - 0.3 - 0.8 = -0.6 (free arbitrage would earn 1.0).
    bat = Batteries([1], 5.0, 0.5)
    free = schedule_batteries(bat, [1, 3, 2])
    assert free.cost_eur[0] == pytest.approx(-1.0)
    res = schedule_batteries(bat, [1, 3, 2], [[0, 0, -0.4]])
    assert res.status == "optimal"
    np.testing.assert_allclose(res.charge_kw, [[0.5, 0, 0]], atol=TOL)
    np.testing.assert_allclose(res.discharge_kw, [[0, 0.1, 0.4]], atol=TOL)
    np.testing.assert_allclose(res.soc_kwh, [[0, 0.5, 0.4, 0]], atol=TOL)
    assert res.cost_eur[0] == pytest.approx(-0.6)


def test_discharge_from_empty_battery_is_infeasible():
    res = schedule_batteries(Batteries([1], 5.0, 0.5), [1, 3, 2], [[-0.4, 0, 0]])
    assert res.status == "infeasible" and "batteries [0]" in res.message


def test_bad_inputs_raise(chain):
    network, (_b0, b1, b2) = chain
    with pytest.raises(ValueError, match="max_power_kw"):
        Batteries([b1], 5.0, 0.0)
    with pytest.raises(ValueError, match="load_p_kw"):
        VoltageSupportProblem(network, [b2], [[1, 2, 3]], [[0, 0]], Batteries([b2], 5, 0.5), [1, 1])
    with pytest.raises(ValueError, match="bus 99"):
        VoltageSupportProblem(network, [99], [[1]], [[0]], Batteries([b2], 5, 0.5), [1])
    with pytest.raises(ValueError, match="request_kw"):
        schedule_batteries(Batteries([b2], 5, 0.5), [1, 1], [[0, -0.7]])


def test_seed003_feeder_evening_peak_and_ac_cross_check():
    """20-bus feeder, 1.6 kW per bus 18-21 h: far end < 0.9 pu; five 5 kWh / 0.5 kW batteries fix it."""
    grid = grids.build_grid("lv_feeder_20bus")
    network = radial_network(grid.net)
    load_buses = [grid.buses[f"bus_{i}"] for i in range(1, 21)]
    hours = np.arange(24)
    p_kw = np.tile(np.where((hours >= 18) & (hours <= 21), 1.6, 0.6), (20, 1))
    q_kvar = 0.33 * p_kw
    bat = Batteries(
        [grid.buses[b] for b in ("bus_7", "bus_13", "bus_15", "bus_16", "bus_20")], 5.0, 0.5
    )
    tou = np.where((hours >= 8) & (hours < 22), 0.07, 0.09)  # seed 003 ToU prices [EUR/kWh]
    prob = VoltageSupportProblem(network, load_buses, p_kw, q_kvar, bat, 1.5 * tou)
    req = request_voltage_support(prob)
    assert req.status == "optimal"
    assert req.v_before_pu.min() < 0.9 and req.v_after_pu.min() >= 0.9 - TOL
    asked = np.flatnonzero(np.any(np.abs(req.request_kw) > TOL, axis=0))
    assert set(asked) <= {18, 19, 20, 21} and np.all(req.request_kw <= TOL)

    sched = schedule_batteries(bat, tou, req.request_kw)
    assert sched.status == "optimal"
    v_lin = feeder_voltage_pu(prob, sched.net_kw)
    assert v_lin.min() >= 0.9 - TOL  # service periods are held, arbitrage elsewhere harmless here

    # pandapower AC at the peak hour: LinDistFlow drops losses, so it is slightly optimistic
    net = grid.net
    t = 19
    for j, b in enumerate(load_buses):
        pp.create_load(net, b, p_kw[j, t] / 1000, q_kvar[j, t] / 1000)
    for j, b in enumerate(bat.bus_ids):
        pp.create_load(net, b, sched.net_kw[j, t] / 1000, 0.0)
    pp.runpp(net)
    v_ac = net.res_bus.vm_pu.loc[network.bus_ids].to_numpy()
    assert np.max(np.abs(v_ac - v_lin[:, t])) < 0.01
    assert v_ac.min() < v_lin[:, t].min()


@settings(max_examples=20, deadline=None)
@given(
    prices=st.lists(st.floats(0.01, 1.0), min_size=2, max_size=6),
    seed=st.integers(0, 2**32 - 1),
)
def test_schedule_respects_battery_limits(prices, seed):
    rng = np.random.default_rng(seed)
    n_t = len(prices)
    bat = Batteries([1, 2], rng.uniform(0.5, 3.0, 2), rng.uniform(0.2, 1.0, 2))
    request = np.zeros((2, n_t))
    t = int(rng.integers(1, n_t))
    request[:, t] = -rng.uniform(0, 1, 2) * bat.max_power_kw
    res = schedule_batteries(bat, prices, request)
    if not res.ok:
        # only too little time or capacity to charge before the service period blocks it
        need = -request[:, t]
        assert np.any((need > bat.max_power_kw * t) | (need > bat.capacity_kwh))
        return
    p = bat.max_power_kw[:, None]
    assert np.all(res.charge_kw >= -TOL) and np.all(res.charge_kw <= p + TOL)
    assert np.all(res.discharge_kw >= -TOL) and np.all(res.discharge_kw <= p + TOL)
    assert np.all(np.minimum(res.charge_kw, res.discharge_kw) <= TOL)  # eq. 20
    assert np.all(res.soc_kwh >= -TOL) and np.all(res.soc_kwh <= bat.capacity_kwh[:, None] + TOL)
    np.testing.assert_allclose(res.soc_kwh[:, [0, -1]], 0, atol=TOL)
    np.testing.assert_allclose(np.diff(res.soc_kwh, axis=1), res.net_kw, atol=1e-6)
    np.testing.assert_allclose(res.net_kw[:, t], request[:, t], atol=1e-6)


# Seed 003 section V: annualised battery cost, deferral value, reservation price, income.


def test_annualised_battery_investment_matches_seed():
    assert annualised_investment_eur(1000.0, 0.05, 8) == pytest.approx(184.68, abs=0.005)


def test_deferral_value_and_reservation_price_match_seed():
    value = deferral_value_eur(31880.0, interest_rate=0.07, inflation_rate=0.013)
    assert value == pytest.approx(1698.28, abs=0.005)
    price = reservation_price_eur_per_kwh(value, reserved_energy_kwh=4.0 * 365)
    assert round(price, 2) == 0.58


def test_payments_from_seed_table_ii():
    # Table II requests at 18-21 h for consumers 13, 15, 16, 20 [kW].
    request = np.array(
        [
            [0, 0, 0, 0],
            [0, 0, -0.5, 0],
            [-0.2703, -0.405, -0.5, 0],
            [-0.499, -0.499, -0.5, -0.146],
        ]
    )
    pay = flexibility_payments(request, 0.5, price_eur_per_kwh=0.58)
    np.testing.assert_allclose(pay.reserved_kwh, [0, 0.5, 1.5, 2.0])
    assert pay.reserved_kwh.sum() * 365 == pytest.approx(1460)  # "4 kWh each day"
    assert pay.activated_kwh[2] == pytest.approx(1.1753)
    assert pay.reservation_eur[2] == pytest.approx(317.55, abs=0.005)  # eq. 24
    assert pay.activation_eur[2] == pytest.approx(248.81, abs=0.005)  # eq. 25
