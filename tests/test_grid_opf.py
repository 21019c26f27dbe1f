"""Seed-002 multi-period EV OPF: hand-checked optima, properties, infeasibility, AC correction."""

import itertools

import numpy as np
import pandapower as pp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flexcosim.agents.grid_optim.ac_check import ac_check, solve_ac_feasible
from flexcosim.agents.grid_optim.lindistflow import radial_network
from flexcosim.agents.grid_optim.opf import EVSessions, OPFProblem, soc, solve_opf
from flexcosim.grids import build_grid


def _two_bus(s_max_kva: float):
    """0.4 kV slack -- 10 m line -- EV bus; the line carries ``s_max_kva`` at 1 pu."""
    net = pp.create_empty_network()
    b0, b1 = pp.create_bus(net, 0.4), pp.create_bus(net, 0.4)
    pp.create_ext_grid(net, b0, vm_pu=1.0)
    i_max_ka = s_max_kva / 1000 / (np.sqrt(3) * 0.4)
    pp.create_line_from_parameters(net, b0, b1, 0.01, 0.1, 0.05, 0.0, i_max_ka)
    return net


def _evs(bus, arrival, departure, p_max_kw, need_kwh, capacity_kwh=50.0, efficiency=1.0):
    bus = np.atleast_1d(bus)
    capacity = np.full(len(bus), capacity_kwh)
    return EVSessions(bus=bus, arrival_step=np.atleast_1d(arrival), departure_step=np.atleast_1d(departure),
                      p_max_kw=np.atleast_1d(np.asarray(p_max_kw, dtype=float)), capacity_kwh=capacity,
                      soc_arrival=1 - np.atleast_1d(need_kwh) / capacity, soc_target=np.ones(len(bus)),
                      efficiency=efficiency)


def _problem(net, evs, price, base_kw=0.0, **kw):
    network = radial_network(net)
    T = len(price)
    base = np.zeros((network.n_buses, T))
    base[1:] = base_kw / 1000
    return OPFProblem(network=network, base_p_mw=base, base_q_mvar=np.zeros_like(base),
                      price_per_mwh=np.asarray(price, dtype=float), evs=evs, step_s=3600,
                      loss_proxy=False, **kw)


def test_hand_checked_optima_of_a_b_c():
    # one EV needs 10 kWh, 10 kW charger, 1 h steps, prices 40/10/30/20 per MWh
    net = _two_bus(s_max_kva=6.0)
    problem = _problem(net, _evs(1, 0, 4, 10.0, 10.0), [40, 10, 30, 20])
    a = solve_opf(problem, "a")  # all at arrival: 10 kWh x 0.04
    assert a.ev_power_kw[0] == pytest.approx([10, 0, 0, 0])
    assert a.ev_cost == pytest.approx(0.40)
    assert a.violations and "line 0 at step 0" in a.violations[0]
    b = solve_opf(problem, "b")  # cheapest hour
    assert b.status == "optimal"
    assert b.ev_power_kw[0] == pytest.approx([0, 10, 0, 0], abs=1e-6)
    assert b.ev_cost == pytest.approx(0.10)
    c = solve_opf(problem, "c")  # 6 kW line: 6 kWh in the cheapest, 4 kWh in the next cheapest
    assert c.status == "optimal"
    assert c.ev_power_kw[0] == pytest.approx([0, 6, 0, 4], abs=1e-6)
    assert c.ev_cost == pytest.approx(0.06 + 0.08)
    assert c.violations == ()
    assert c.unmet_energy_kwh == pytest.approx([0.0], abs=1e-9)


def test_unmet_energy_is_soft_and_reported():
    # 2 h plugged at 5 kW, efficiency 0.9: 9 kWh of 12 kWh possible
    net = _two_bus(s_max_kva=100.0)
    problem = _problem(net, _evs(1, 1, 3, 5.0, 12.0, efficiency=0.9), [10, 10, 10, 10])
    for strategy in "abc":
        res = solve_opf(problem, strategy)
        assert res.unmet_energy_kwh == pytest.approx([3.0], abs=1e-6)
        assert res.ev_power_kw[0] == pytest.approx([0, 5, 5, 0], abs=1e-6)
    assert soc(problem, res.ev_power_kw)[0, -1] == pytest.approx(1 - 12 / 50 + 9 / 50)


def test_transformer_too_small_for_the_base_load_is_a_named_status():
    net = pp.create_empty_network()
    hv, lv = pp.create_bus(net, 20.0), pp.create_bus(net, 0.4)
    pp.create_ext_grid(net, hv)
    pp.create_transformer(net, hv, lv, "0.25 MVA 20/0.4 kV")
    problem = _problem(net, _evs(1, 0, 2, 11.0, 5.0), [10, 20], base_kw=300.0)
    res = solve_opf(problem, "c")
    assert res.status == "infeasible"
    assert "trafo 0 at step" in res.reason
    feasible = solve_ac_feasible(problem, net)
    assert not feasible.ok
    assert feasible.opf.status == "infeasible" and "trafo 0" in feasible.opf.reason


@st.composite
def instances(draw):
    n_lines = draw(st.integers(1, 4))
    T = draw(st.integers(2, 8))
    n_evs = draw(st.integers(1, 6))
    net = pp.create_empty_network()
    buses = [pp.create_bus(net, 0.4) for _ in range(n_lines + 1)]
    pp.create_ext_grid(net, buses[0], vm_pu=1.0)
    for a, b in itertools.pairwise(buses):
        kva = draw(st.floats(8.0, 60.0))
        pp.create_line_from_parameters(net, a, b, draw(st.floats(0.01, 0.2)), 0.3, 0.08, 0.0,
                                       kva / 1000 / (np.sqrt(3) * 0.4))
    arrival = np.array(draw(st.lists(st.integers(0, T - 1), min_size=n_evs, max_size=n_evs)))
    stay = np.array(draw(st.lists(st.integers(1, T), min_size=n_evs, max_size=n_evs)))
    evs = EVSessions(
        bus=np.array(draw(st.lists(st.integers(1, n_lines), min_size=n_evs, max_size=n_evs))),
        arrival_step=arrival, departure_step=np.minimum(arrival + stay, T),
        p_max_kw=np.array(draw(st.lists(st.sampled_from([2.3, 3.7, 11.0]), min_size=n_evs, max_size=n_evs))),
        capacity_kwh=np.full(n_evs, 40.0),
        soc_arrival=np.array(draw(st.lists(st.floats(0.0, 1.0), min_size=n_evs, max_size=n_evs))),
        soc_target=np.array(draw(st.lists(st.floats(0.0, 1.0), min_size=n_evs, max_size=n_evs))),
        efficiency=0.95,
    )
    network = radial_network(net)
    base = np.zeros((network.n_buses, T))
    base[1:] = np.array(draw(st.lists(st.floats(0.0, 0.004), min_size=T, max_size=T)))
    price = np.array(draw(st.lists(st.floats(-20.0, 300.0), min_size=T, max_size=T)))
    return OPFProblem(network=network, base_p_mw=base, base_q_mvar=0.3 * base, price_per_mwh=price,
                      evs=evs, step_s=900, unmet_penalty_per_kwh=5.0)


@settings(max_examples=25, deadline=None)
@given(instances())
def test_schedules_respect_limits_energy_bounds_and_targets(problem):
    evs, T = problem.evs, problem.n_steps
    results = {s: solve_opf(problem, s) for s in "abc"}
    for res in results.values():
        power = res.ev_power_kw
        assert np.all(power >= -1e-9)
        assert np.all(power <= evs.p_max_kw[:, None] + 1e-6)
        assert np.all(power[~evs.plugged(T)] == 0)
        stored = power.sum(axis=1) * evs.efficiency * problem.step_h
        assert np.all(stored <= evs.headroom_kwh + 1e-6)
        assert np.all(stored + res.unmet_energy_kwh >= evs.energy_need_kwh - 1e-6)
        assert np.all(soc(problem, power) <= 1 + 1e-9)
    c = results["c"]
    if c.status == "optimal":
        # the LP bounds |S| at the sending end; ``loading`` is current-based (|S| / v)
        v_from = c.v_pu[problem.network.from_bus]
        assert (c.loading * v_from).max() <= 1 + 1e-6
        assert c.v_pu.min() >= problem.v_min_pu - 1e-6
        assert results["b"].objective <= c.objective + 1e-6  # grid limits only cost
    assert results["b"].objective <= results["a"].objective + 1e-6  # a is one of b's options


def test_ac_correction_clears_the_overload_on_the_seed003_feeder():
    # 20 houses of 0.8 kW and 8 EVs of 11 kW, 250 kVA transformer: the cheap hours are
    # overbooked by b, and the LinDistFlow limit of c alone is optimistic in AC.
    grid = build_grid("lv_feeder_20bus")
    net = grid.net
    network = radial_network(net)
    T = 8
    base = np.zeros((network.n_buses, T))
    houses = network.bus_positions(np.array(list(grid.buses.values())))
    base[houses] = 0.0008
    evs = EVSessions(bus=houses[np.arange(8) * 2], arrival_step=np.zeros(8, dtype=int),
                     departure_step=np.full(8, T), p_max_kw=np.full(8, 11.0),
                     capacity_kwh=np.full(8, 60.0), soc_arrival=np.full(8, 0.5),
                     soc_target=np.full(8, 0.9))
    problem = OPFProblem(network=network, base_p_mw=base, base_q_mvar=0.3 * base,
                         price_per_mwh=np.array([90, 80, 20, 10, 15, 60, 70, 95.0]), evs=evs,
                         step_s=3600, v_min_pu=0.85)
    b = solve_opf(problem, "b")
    assert not ac_check(problem, b, net).ok
    res = solve_ac_feasible(problem, net, max_iterations=4)
    assert res.ok, res.check.violations
    assert res.check.max_voltage_error_pu < 0.02
    assert res.opf.unmet_energy_kwh.sum() == pytest.approx(0.0, abs=1e-6)
