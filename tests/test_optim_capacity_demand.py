"""Capacity-demand LP (seed 004 eqs 4.1-4.5): hand-checked optima, a cross-check against
an independent pyomo formulation, and properties of the returned schedules."""

import numpy as np
import pyomo.environ as pyo
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flexcosim.agents.optim.capacity_demand import (
    CapacityDemandProblem,
    capacity_demand,
    random_capacity_demand_problem,
)
from flexcosim.agents.solver import solve_pyomo

TOL = 1e-5  # stage 2 may use the peak plus 1e-7 relative


def one_ev(
    fixed_load_kw,
    *,
    energy=0.0,
    target=0.0,
    capacity=60.0,
    charge=10.0,
    discharge=0.0,
    arrival=0,
    departure=None,
    efficiency=1.0,
    flex_lower=None,
    flex_upper=None,
):
    n_steps = len(fixed_load_kw)
    no_flex = np.zeros((0, n_steps))
    return CapacityDemandProblem(
        energy_kwh=[energy],
        target_kwh=[target],
        capacity_kwh=[capacity],
        max_charge_kw=[charge],
        max_discharge_kw=[discharge],
        arrival_step=[arrival],
        departure_step=[n_steps if departure is None else departure],
        efficiency=[efficiency],
        fixed_load_kw=fixed_load_kw,
        flex_lower_kw=no_flex if flex_lower is None else flex_lower,
        flex_upper_kw=no_flex if flex_upper is None else flex_upper,
        dt_s=3600,
    )


def test_charging_fills_the_valleys_of_the_fixed_load():
    # 30 kWh over 4 h at <= 10 kW beside a fixed load [10, 0, 0, 10]: the valleys take
    # 10 kW each, the shoulders P - 10 each, 20 + 2 (P - 10) = 30 -> P = 15.
    res = capacity_demand(one_ev([10.0, 0.0, 0.0, 10.0], target=30.0))
    assert res.status == "optimal" and res.reason == ""
    assert res.peak_kw == pytest.approx(15.0)
    np.testing.assert_allclose(res.ev_charge_kw[0], [5.0, 10.0, 10.0, 5.0], atol=TOL)
    np.testing.assert_allclose(res.ev_energy_kwh[0], [0.0, 5.0, 15.0, 25.0, 30.0], atol=TOL)
    np.testing.assert_allclose(res.net_load_kw, [15.0, 10.0, 10.0, 15.0], atol=TOL)


def test_v2g_discharge_shaves_the_peak_without_needless_recharge():
    # 20 kWh aboard, 10 kWh committed: discharging 10 kW in the 20 kW hour gives peak 10;
    # recharging in hour 2 would not lower it, so stage 2 leaves the battery at 10 kWh.
    res = capacity_demand(one_ev([20.0, 0.0], energy=20.0, target=10.0, discharge=10.0))
    assert res.peak_kw == pytest.approx(10.0)
    np.testing.assert_allclose(res.ev_discharge_kw[0], [10.0, 0.0], atol=TOL)
    np.testing.assert_allclose(res.ev_charge_kw[0], [0.0, 0.0], atol=TOL)
    np.testing.assert_allclose(res.ev_energy_kwh[0], [20.0, 10.0, 10.0], atol=TOL)


def test_charging_losses_raise_the_grid_side_demand():
    # 9 kWh into the battery at 90 % efficiency is 10 kWh from the grid over 2 h.
    res = capacity_demand(one_ev([0.0, 0.0], target=9.0, efficiency=0.9))
    assert res.peak_kw == pytest.approx(5.0)
    np.testing.assert_allclose(res.ev_charge_kw[0], [5.0, 5.0], atol=TOL)


def test_flexible_assets_sit_at_their_lower_bound():
    res = capacity_demand(
        one_ev([0.0, 0.0], target=4.0, flex_lower=[[5.0, -5.0]], flex_upper=[[10.0, 10.0]])
    )
    # Net floor [5, -5]; 4 kWh fit under 5 kW in hour 2 without raising the peak.
    assert res.peak_kw == pytest.approx(5.0)
    np.testing.assert_allclose(res.flex_power_kw, [[5.0, -5.0]])
    assert res.net_load_kw.max() <= 5.0 + TOL


def test_no_evs_gives_the_peak_of_the_fixed_load():
    empty = np.zeros(0)
    problem = CapacityDemandProblem(
        energy_kwh=empty,
        target_kwh=empty,
        capacity_kwh=empty,
        max_charge_kw=empty,
        max_discharge_kw=empty,
        arrival_step=empty.astype(int),
        departure_step=empty.astype(int),
        efficiency=empty,
        fixed_load_kw=[3.0, 7.0, -2.0],
        flex_lower_kw=np.zeros((0, 3)),
        flex_upper_kw=np.zeros((0, 3)),
        dt_s=900,
    )
    assert capacity_demand(problem).peak_kw == pytest.approx(7.0)


def test_unreachable_target_is_capped_and_reported():
    # At most 2 h x 10 kW = 20 kWh of the 50 kWh target.
    res = capacity_demand(one_ev([0.0, 0.0], target=50.0))
    assert res.status == "optimal"
    assert res.unmet_energy_kwh == pytest.approx([30.0])
    assert "EV 0" in res.reason and "30 kWh" in res.reason
    assert res.peak_kw == pytest.approx(10.0)


def test_target_applies_at_departure_and_energy_is_held_outside_the_stay():
    res = capacity_demand(one_ev([0.0] * 5, energy=10.0, target=30.0, arrival=1, departure=3))
    np.testing.assert_allclose(res.ev_charge_kw[0], [0.0, 10.0, 10.0, 0.0, 0.0], atol=TOL)
    np.testing.assert_allclose(res.ev_energy_kwh[0], [10.0, 10.0, 20.0, 30.0, 30.0, 30.0], atol=TOL)


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("capacity", -1.0, r"capacity_kwh\[0\] = -1.0"),
        ("efficiency", 1.5, r"efficiency\[0\] = 1.5"),
        ("target", 70.0, r"target_kwh\[0\] = 70.0 > capacity_kwh\[0\] = 60.0"),
        ("departure", 0, r"departure_step"),
        ("arrival", 4, r"arrival_step\[0\] = 4; allowed: integers in \[0, 3\]"),
    ],
)
def test_bad_input_names_the_field(field, value, match):
    with pytest.raises(ValueError, match=match):
        one_ev([0.0] * 4, **{field: value})


def test_wrong_shape_names_the_field():
    with pytest.raises(ValueError, match=r"fixed_load_kw|flex_lower_kw has shape"):
        one_ev([0.0, 0.0], flex_lower=[1.0, 2.0], flex_upper=[[1.0, 2.0]])


def pyomo_peak(problem: CapacityDemandProblem, target_kwh: np.ndarray) -> float:
    """Eqs 4.1-4.5 written out scalar by scalar, energy tracked for every EV and step."""
    T, dt_h = problem.n_steps, problem.dt_s / 3600.0
    m = pyo.ConcreteModel()
    m.V, m.T, m.A = (
        pyo.RangeSet(0, problem.n_evs - 1),
        pyo.RangeSet(0, T - 1),
        pyo.RangeSet(0, problem.flex_lower_kw.shape[0] - 1),
    )
    m.T1 = pyo.RangeSet(0, T)

    def on(v, t):
        return problem.arrival_step[v] <= t < problem.departure_step[v]

    m.ch = pyo.Var(m.V, m.T, bounds=lambda _, v, t: (0, problem.max_charge_kw[v] * on(v, t)))
    m.dis = pyo.Var(m.V, m.T, bounds=lambda _, v, t: (0, problem.max_discharge_kw[v] * on(v, t)))
    m.e = pyo.Var(m.V, m.T1, bounds=lambda _, v, t: (0, problem.capacity_kwh[v]))
    m.pa = pyo.Var(
        m.A, m.T, bounds=lambda _, a, t: (problem.flex_lower_kw[a, t], problem.flex_upper_kw[a, t])
    )
    m.peak = pyo.Var()
    m.obj = pyo.Objective(expr=m.peak)
    m.c42 = pyo.Constraint(
        m.T,
        rule=lambda m, t: (
            problem.fixed_load_kw[t]
            + sum(m.pa[a, t] for a in m.A)
            + sum(m.ch[v, t] - m.dis[v, t] for v in m.V)
            <= m.peak
        ),
    )
    m.c0 = pyo.Constraint(m.V, rule=lambda m, v: m.e[v, 0] == problem.energy_kwh[v])
    eta = problem.efficiency
    m.c44 = pyo.Constraint(
        m.V,
        m.T,
        rule=lambda m, v, t: (
            m.e[v, t + 1] == m.e[v, t] + (eta[v] * m.ch[v, t] - m.dis[v, t] / eta[v]) * dt_h
        ),
    )
    deadline = np.minimum(problem.departure_step, T)
    m.c43 = pyo.Constraint(m.V, rule=lambda m, v: m.e[v, int(deadline[v])] >= target_kwh[v])
    assert solve_pyomo(m).status == "optimal"
    return pyo.value(m.peak)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_evs=st.integers(1, 6), n_steps=st.integers(2, 12))
def test_peak_matches_an_independent_pyomo_formulation(seed, n_evs, n_steps):
    problem = random_capacity_demand_problem(n_evs, n_steps, np.random.default_rng(seed), dt_s=1800)
    res = capacity_demand(problem)
    target = problem.target_kwh - res.unmet_energy_kwh
    assert res.peak_kw == pytest.approx(pyomo_peak(problem, target), abs=1e-5)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_evs=st.integers(0, 30), n_steps=st.integers(1, 48))
def test_schedule_is_physical_and_meets_the_capped_targets(seed, n_evs, n_steps):
    problem = random_capacity_demand_problem(n_evs, n_steps, np.random.default_rng(seed))
    res = capacity_demand(problem)
    assert res.ok
    ch, dis, energy = res.ev_charge_kw, res.ev_discharge_kw, res.ev_energy_kwh
    steps = np.arange(problem.n_steps)
    connected = (problem.arrival_step[:, None] <= steps) & (steps < problem.departure_step[:, None])
    assert np.all(ch >= -TOL) and np.all(dis >= -TOL)
    assert np.all(ch <= problem.max_charge_kw[:, None] * connected + TOL)
    assert np.all(dis <= problem.max_discharge_kw[:, None] * connected + TOL)
    assert not np.any((ch > 1e-6) & (dis > 1e-6)), "charging and discharging in one step"
    assert np.all(energy >= -TOL) and np.all(energy <= problem.capacity_kwh[:, None] + TOL)
    # Energy follows eq 4.4 from the arrival energy.
    eta = problem.efficiency[:, None]
    np.testing.assert_allclose(
        np.diff(energy, axis=1), (eta * ch - dis / eta) * problem.dt_s / 3600.0, atol=1e-6
    )
    deadline = np.minimum(problem.departure_step, problem.n_steps)
    final = energy[np.arange(problem.n_evs), deadline]
    assert np.all(final + res.unmet_energy_kwh >= problem.target_kwh - 1e-6)
    assert np.all(res.unmet_energy_kwh >= 0.0)
    # p̄_c bounds the net load (4.2), is attained, and is at least the average net need.
    assert res.net_load_kw.max() == pytest.approx(res.peak_kw, abs=1e-4)
    need = (problem.target_kwh - res.unmet_energy_kwh - problem.energy_kwh).sum()
    floor = problem.fixed_load_kw + problem.flex_lower_kw.sum(axis=0)
    assert res.peak_kw >= floor.mean() + need / (problem.n_steps * problem.dt_s / 3600.0) - 1e-6


def test_benchmark_size_solves():
    problem = random_capacity_demand_problem(242, 96, np.random.default_rng(7))
    res = capacity_demand(problem)
    assert res.status == "optimal"
    assert res.peak_kw >= problem.fixed_load_kw.max() - problem.max_discharge_kw.sum()
