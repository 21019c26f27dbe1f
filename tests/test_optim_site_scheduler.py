"""Site schedulers: hand-solved LPs, heuristics, and a contract over every registered one."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flexcosim.agents.optim.site_scheduler import SCHEDULERS, SiteScheduler, _SiteLP
from flexcosim.agents.optim.types import SiteScheduleProblem
from flexcosim.agents.solver import solve

HOUR = 3600.0


def problem(energy, target, departure, limit, price, *, eff=1.0, v2g=False, p_max=10.0, cap=40.0):
    n = len(energy)
    return SiteScheduleProblem(
        energy_kwh=energy, target_energy_kwh=target, capacity_kwh=np.full(n, cap),
        charge_max_kw=np.full(n, p_max), discharge_max_kw=np.full(n, p_max),
        departure_step=departure, v2g=np.full(n, v2g), capacity_limit_kw=limit,
        price_per_kwh=price, dt_s=HOUR, efficiency=eff,
    )  # fmt: skip


def optimal(p):
    return SCHEDULERS["optimal"]().schedule(p)


def test_single_ev_charges_in_cheapest_step_with_losses():
    # 9 kWh into the battery at 90 % = 10 kWh from the grid, all in the 0.1 step: cost 1.0
    sched = optimal(problem([10.0], [19.0], [4], [20] * 4, [0.4, 0.1, 0.2, 0.3], eff=0.9))
    assert sched.status == "optimal"
    np.testing.assert_allclose(sched.power_kw, [[0, 10, 0, 0]], atol=1e-7)
    np.testing.assert_allclose(sched.energy_kwh, [[10, 10, 19, 19, 19]], atol=1e-7)
    assert sched.unmet_energy_kwh[0] == 0.0


def test_site_limit_shares_steps_by_deadline():
    # A leaves after step 0, so it takes step 0; B takes the next cheapest step 1
    sched = optimal(problem([0.0, 0.0], [10.0, 10.0], [1, 3], [10] * 3, [0.1, 0.2, 0.3]))
    np.testing.assert_allclose(sched.power_kw, [[10, 0, 0], [0, 10, 0]], atol=1e-7)
    price = np.array([0.1, 0.2, 0.3])
    assert sched.power_kw.sum(axis=0) @ price == pytest.approx(3.0)


def test_too_tight_limit_curtails_and_reports_unmet_energy():
    sched = optimal(problem([0.0], [10.0], [2], [4, 4], [0.2, 0.2]))
    assert sched.status == "optimal"
    np.testing.assert_allclose(sched.power_kw, [[4, 4]], atol=1e-7)
    assert sched.unmet_energy_kwh[0] == pytest.approx(2.0)


def test_v2g_round_trip_pays_efficiency_twice():
    # charge 10 kW at 0.1 (battery +9 kWh), discharge those 9 kWh at 0.5 (grid gets 8.1 kW)
    p = problem([20.0], [20.0], [2], [50, 50], [0.1, 0.5], eff=0.9, v2g=True)
    sched = optimal(p)
    np.testing.assert_allclose(sched.power_kw, [[10, -8.1]], atol=1e-6)
    np.testing.assert_allclose(sched.energy_kwh, [[20, 29, 20]], atol=1e-6)
    assert sched.power_kw[0] @ p.price_per_kwh == pytest.approx(1.0 - 4.05, abs=1e-6)


def test_ev_leaving_now_reports_its_whole_gap():
    sched = optimal(problem([5.0, 5.0], [15.0, 15.0], [0, 2], [10, 10], [0.1, 0.1]))
    np.testing.assert_allclose(sched.unmet_energy_kwh, [10, 0], atol=1e-7)
    assert not sched.power_kw[0].any()


def test_llf_serves_least_laxity_first():
    # A needs 2 full steps and leaves after 2 (laxity 0); B needs 1 of 3 (laxity 2)
    sched = SCHEDULERS["llf"]().schedule(problem([0, 0], [20, 10], [2, 3], [10] * 3, [0.1] * 3))
    assert sched.status == "ok"
    np.testing.assert_allclose(sched.power_kw, [[10, 10, 0], [0, 0, 10]])
    assert not sched.unmet_energy_kwh.any()


def test_uncontrolled_charges_flat_out_and_flags_the_overload():
    sched = SCHEDULERS["uncontrolled"]().schedule(
        problem([0, 0], [10, 15], [3, 3], [15] * 3, [0.1] * 3)
    )
    assert sched.status == "limit_exceeded"
    assert "exceeded by up to 5 kW in 1 steps" in sched.reason
    np.testing.assert_allclose(sched.power_kw, [[10, 0, 0], [10, 5, 0]])


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("capacity_limit_kw", [-1.0, 5.0], r"capacity_limit_kw\[0\] = -1.0"),
        ("price_per_kwh", [0.1, -0.2], r"price_per_kwh\[1\] = -0.2"),
        ("efficiency", 0.0, "efficiency = 0.0"),
        ("energy_kwh", [50.0], r"energy_kwh\[0\] = 50.0 > .*capacity_kwh"),
        ("departure_step", [1.5], "must hold integers"),
        ("capacity_limit_kw", [1.0, 2.0, 3.0], r"has shape \(3,\); expected \(2,\)"),
        ("unmet_penalty_per_kwh", 0.1, "unmet_penalty_per_kwh = 0.1"),
    ],
)
def test_bad_input_raises_one_line_error(field, value, match):
    fields = {
        "energy_kwh": [5.0],
        "target_energy_kwh": [10.0],
        "capacity_kwh": [40.0],
        "charge_max_kw": [10.0],
        "discharge_max_kw": [10.0],
        "departure_step": [2],
        "v2g": [False],
        "capacity_limit_kw": [10.0, 10.0],
        "price_per_kwh": [0.1, 0.2],
        "dt_s": HOUR,
        "efficiency": 0.9,
    }
    fields[field] = value
    with pytest.raises(ValueError, match=match):
        SiteScheduleProblem(**fields)


def _random_problem(seed: int) -> SiteScheduleProblem:
    rng = np.random.default_rng(seed)
    n, t = int(rng.integers(1, 9)), int(rng.integers(1, 13))
    cap = rng.uniform(20, 80, n)
    energy = cap * rng.uniform(0.1, 0.9, n)
    e_min = energy * rng.uniform(0, 1, n) * rng.integers(0, 2, n)
    price = rng.uniform(0, 0.5, t)
    return SiteScheduleProblem(
        energy_kwh=energy, target_energy_kwh=cap * rng.uniform(0, 1, n), capacity_kwh=cap,
        charge_max_kw=rng.uniform(0, 22, n), discharge_max_kw=rng.uniform(0, 11, n),
        departure_step=rng.integers(0, t + 3, n), v2g=rng.random(n) < 0.5,
        capacity_limit_kw=rng.uniform(0, 60, t) * (rng.random(t) < 0.9), price_per_kwh=price,
        dt_s=float(rng.choice([300.0, 900.0, 3600.0])), efficiency=rng.uniform(0.8, 1.0),
        energy_min_kwh=e_min,
    )  # fmt: skip


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_contract_every_scheduler(name, seed):
    p = _random_problem(seed)
    scheduler = SCHEDULERS[name]()
    assert isinstance(scheduler, SiteScheduler)
    sched = scheduler.schedule(p)
    tol = 1e-6
    power, energy = sched.power_kw, sched.energy_kwh
    assert power.shape == (p.n_evs, p.n_steps) and energy.shape == (p.n_evs, p.n_steps + 1)
    assert sched.status in {"optimal", "ok", "limit_exceeded"}
    assert not power[~p.parked].any()
    assert np.all(power <= p.charge_max_kw[:, None] + tol)
    assert np.all(-power <= (p.discharge_max_kw * p.v2g)[:, None] + tol)
    assert np.all(energy >= p.energy_min_kwh[:, None] - tol)
    assert np.all(energy <= p.capacity_kwh[:, None] + tol)
    final = energy[np.arange(p.n_evs), p.target_step]
    assert np.all(
        final <= np.maximum(p.target_energy_kwh, p.energy_kwh) + tol
    )  # not over-delivered
    np.testing.assert_allclose(
        sched.unmet_energy_kwh, np.maximum(p.target_energy_kwh - final, 0), atol=tol
    )
    if sched.status != "limit_exceeded":
        assert np.all(sched.site_power_kw <= p.capacity_limit_kw + tol)
    else:
        assert name == "uncontrolled"
    again = scheduler.schedule(p)
    np.testing.assert_array_equal(again.power_kw, power)
    np.testing.assert_array_equal(again.unmet_energy_kwh, sched.unmet_energy_kwh)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_optimal_lp_never_charges_and_discharges_at_once(seed):
    p = _random_problem(seed)
    lp = _SiteLP(p)
    result = solve(lp.cost, lp.A, lp.row_lo, lp.row_hi, lp.col_lo, lp.col_hi)
    assert result.status == "optimal"
    ev, _ = np.nonzero(p.parked)
    k, kd = ev.size, int(p.v2g[ev].sum())
    charge = result.x[:k][p.v2g[ev]]
    discharge = result.x[k : k + kd]
    assert np.all(np.minimum(charge, discharge) <= 1e-7)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_optimal_meets_every_target_that_uncontrolled_meets_within_limits(seed):
    p = _random_problem(seed)
    baseline = SCHEDULERS["uncontrolled"]().schedule(p)
    sched = optimal(p)
    if baseline.status == "ok":
        assert sched.unmet_energy_kwh.sum() <= baseline.unmet_energy_kwh.sum() + 1e-6
        cost = (sched.site_power_kw @ p.price_per_kwh) * p.dt_s / HOUR
        base_cost = (baseline.site_power_kw @ p.price_per_kwh) * p.dt_s / HOUR
        if baseline.unmet_energy_kwh.sum() == 0:
            assert cost <= base_cost + 1e-6
