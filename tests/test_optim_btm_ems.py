"""BTM EMS MILP (seed 004 eqs 3.10-3.30): hand-checked optima per objective, the
fallbacks, and properties of schedules on random feasible sites."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flexcosim.agents.optim.btm_ems import BTMProblem, StorageUnits, solve_btm_ems

TOL = 1e-6


def battery(capacity, energy, power, **kw):
    return StorageUnits(
        capacity_kwh=[capacity], energy_kwh=[energy], max_charge_kw=[power],
        max_discharge_kw=[power], **kw,
    )  # fmt: skip


def site(load, gen=None, *, imp=100.0, exp=100.0, **kw):
    gen = np.zeros(len(load)) if gen is None else gen
    return BTMProblem(
        fixed_load_kw=load, fixed_generation_kw=gen, import_limit_kw=imp, export_limit_kw=exp,
        dt_s=3600, **kw,
    )  # fmt: skip


def close(actual, expected):
    np.testing.assert_allclose(actual, expected, atol=TOL)


def test_exchange_battery_shifts_pv_surplus_to_the_evening():
    res = solve_btm_ems(
        site([0.0, 10.0], [10.0, 0.0], batteries=battery(20.0, 0.0, 10.0)), "exchange"
    )
    assert res.status == "optimal" and res.reason == ""
    assert res.objective == pytest.approx(0.0, abs=TOL)
    close(res.batteries.charge_kw, [[10.0, 0.0]])
    close(res.batteries.discharge_kw, [[0.0, 10.0]])
    close(res.batteries.energy_kwh, [[0.0, 10.0, 0.0]])


def test_exchange_with_a_power_limited_battery():
    # 5 kW battery: export 5 of the 10 kWh surplus, import 5 of the 10 kWh evening load.
    res = solve_btm_ems(
        site([0.0, 10.0], [10.0, 0.0], batteries=battery(20.0, 0.0, 5.0)), "exchange"
    )
    assert res.objective == pytest.approx(10.0)
    close(res.import_kw, [0.0, 5.0])
    close(res.export_kw, [5.0, 0.0])


def test_cost_buys_cheap_and_discharges_when_dear():
    problem = site(
        [10.0, 10.0], batteries=battery(10.0, 0.0, 10.0),
        import_price_per_kwh=[0.1, 0.3], export_price_per_kwh=[0.05, 0.05],
    )  # fmt: skip
    res = solve_btm_ems(problem, "cost")
    # 20 kWh at 0.1 instead of 10 at 0.1 and 10 at 0.3.
    assert res.objective == pytest.approx(2.0)
    close(res.import_kw, [20.0, 0.0])
    close(res.batteries.discharge_kw, [[0.0, 10.0]])


def test_cost_cannot_import_and_export_at_once():
    # A feed-in tariff above the import price would pay for importing to export at the
    # same time; the binaries of 3.14, 3.15, 3.24 forbid it.
    problem = site([0.0], import_price_per_kwh=[0.1], export_price_per_kwh=[0.2])
    res = solve_btm_ems(problem, "cost")
    assert res.objective == pytest.approx(0.0, abs=TOL)
    close(res.import_kw, [0.0])
    close(res.export_kw, [0.0])


def test_deviation_from_a_flat_reference():
    # Reference 5 kW; the 2 kW battery can only bring 10 -> 8 kW and 0 -> 2 kW: 3 + 3 kWh.
    problem = site(
        [10.0, 0.0], batteries=battery(20.0, 10.0, 2.0), reference_exchange_kw=[5.0, 5.0]
    )
    res = solve_btm_ems(problem, "deviation")
    assert res.objective == pytest.approx(6.0)
    close(res.import_kw, [8.0, 2.0])
    close(res.batteries.discharge_kw, [[2.0, 0.0]])
    close(res.batteries.charge_kw, [[0.0, 2.0]])


def test_unidirectional_units_absorb_and_supply():
    problem = site(
        [0.0, 7.0], [10.0, 0.0],
        flex_load_max_kw=[6.0], multi_energy_consumer_max_kw=[2.0],
        flex_generation_max_kw=[3.0], multi_energy_injector_max_kw=[4.0],
    )  # fmt: skip
    res = solve_btm_ems(problem, "exchange")
    assert res.objective == pytest.approx(2.0)  # 10 - 6 - 2 exported at noon
    close(res.flex_load_kw, [[6.0, 0.0]])
    close(res.multi_energy_consumer_kw, [[2.0, 0.0]])
    close(res.flex_generation_kw, [[0.0, 3.0]])
    close(res.multi_energy_injector_kw, [[0.0, 4.0]])


def test_ev_charges_only_while_connected():
    ev = StorageUnits(
        capacity_kwh=[60.0], energy_kwh=[0.0], max_charge_kw=[11.0], max_discharge_kw=[11.0],
        final_energy_kwh=[10.0], connected=[[False, True, False]],
    )  # fmt: skip
    res = solve_btm_ems(site([0.0, 0.0, 0.0], evs=ev), "exchange")
    assert res.objective == pytest.approx(10.0)
    close(res.evs.charge_kw, [[0.0, 10.0, 0.0]])
    close(res.evs.energy_kwh, [[0.0, 0.0, 10.0, 10.0]])


def test_v2g_is_bounded_by_the_minimum_final_energy():
    # 20 kWh aboard, 18 kWh must remain (3.29): 2 kW of the 5 kW load from the EV.
    ev = StorageUnits(
        capacity_kwh=[60.0], energy_kwh=[20.0], max_charge_kw=[11.0], max_discharge_kw=[11.0],
        final_energy_kwh=[18.0], connected=[[True]],
    )  # fmt: skip
    res = solve_btm_ems(site([5.0], evs=ev), "exchange")
    assert res.objective == pytest.approx(3.0)
    close(res.evs.discharge_kw, [[2.0]])


def test_unreachable_final_energy_is_reported_not_failed():
    ev = StorageUnits(
        capacity_kwh=[60.0], energy_kwh=[0.0], max_charge_kw=[10.0], max_discharge_kw=[0.0],
        final_energy_kwh=[50.0],
    )  # fmt: skip
    res = solve_btm_ems(site([0.0, 0.0], evs=ev), "exchange")
    assert res.status == "optimal"
    close(res.evs.unmet_kwh, [30.0])
    close(res.evs.charge_kw, [[10.0, 10.0]])
    assert res.objective == pytest.approx(20.0)  # penalty not included
    assert "EV 0 ends 30 kWh short" in res.reason


def test_import_limit_below_fixed_load_is_infeasible_with_a_reason():
    res = solve_btm_ems(
        site([10.0, 80.0], imp=50.0, batteries=battery(10.0, 5.0, 10.0)), "exchange"
    )
    # 5 kWh aboard plus 5 kWh charged at step 0 (capacity 10) cover 10 of the 30 kW
    # missing at step 1.
    assert res.status == "infeasible" and not res.ok
    assert "import limit 50 kW is 20 kW short" in res.reason and "step 1" in res.reason


def test_full_battery_cannot_burn_surplus_by_cycling():
    # Charging and discharging at once at 90 % efficiency would dump the 10 kW surplus;
    # the binaries of 3.18-3.21, 3.25 forbid it, so the zero export limit cannot hold.
    full = battery(5.0, 5.0, 20.0, efficiency=0.9)
    res = solve_btm_ems(site([0.0], [10.0], exp=0.0, batteries=full), "exchange")
    assert res.status == "infeasible"
    assert "export limit 0 kW leaves 10 kW of surplus at step 0" in res.reason


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: solve_btm_ems(site([1.0]), "cost"), "needs import_price_per_kwh"),
        (lambda: solve_btm_ems(site([1.0]), "deviation"), "needs reference_exchange_kw"),
        (lambda: solve_btm_ems(site([1.0]), "peak"), "objective = 'peak'"),
        (lambda: battery(10.0, 12.0, 5.0), r"energy_kwh\[0\] = 12.0 > capacity_kwh\[0\] = 10.0"),
        (lambda: site([-1.0]), r"fixed_load_kw\[0\] = -1.0"),
        (lambda: site([1.0], imp=-5.0), "import_limit_kw = -5.0; allowed"),
        (
            lambda: site([1.0, 1.0], evs=battery(10.0, 0.0, 5.0, connected=[[True]])),
            "connected has 1 steps; expected n_steps = 2",
        ),
    ],
)
def test_bad_input_names_the_field(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def storage(draw, n, n_steps, mobile):
    cap = draw(st.lists(st.floats(5.0, 80.0), min_size=n, max_size=n))
    soc = draw(st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n))
    final = draw(st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n))
    conn = draw(st.lists(st.booleans(), min_size=n * n_steps, max_size=n * n_steps))
    cap = np.array(cap)
    return StorageUnits(
        capacity_kwh=cap,
        energy_kwh=np.minimum(cap * (0.1 + 0.9 * np.array(soc)), cap),
        max_charge_kw=draw(st.lists(st.floats(0.0, 22.0), min_size=n, max_size=n)),
        max_discharge_kw=draw(st.lists(st.floats(0.0, 22.0), min_size=n, max_size=n)),
        min_energy_kwh=0.1 * cap,
        final_energy_kwh=cap * np.array(final),
        efficiency=draw(st.lists(st.floats(0.85, 1.0), min_size=n, max_size=n)),
        connected=np.reshape(conn, (n, n_steps)) if mobile else None,
    )


@st.composite
def feasible_sites(draw):
    T = draw(st.integers(1, 6))
    floats = st.floats(0.0, 50.0)
    load = np.array(draw(st.lists(floats, min_size=T, max_size=T)))
    gen = np.array(draw(st.lists(floats, min_size=T, max_size=T)))
    batteries = storage(draw, draw(st.integers(0, 2)), T, mobile=False)
    evs = storage(draw, draw(st.integers(0, 3)), T, mobile=True)
    units = {
        name: draw(st.lists(st.floats(0.0, 10.0), max_size=2))
        for name in ("flex_load_max_kw", "flex_generation_max_kw",
                     "multi_energy_consumer_max_kw", "multi_energy_injector_max_kw")
    }  # fmt: skip
    # Limits that cover every load with everything charging: always feasible.
    charge = batteries.max_charge_kw.sum() + evs.max_charge_kw.sum()
    discharge = batteries.max_discharge_kw.sum() + evs.max_discharge_kw.sum()
    imp = (
        load.max() + charge + sum(units["flex_load_max_kw"] + units["multi_energy_consumer_max_kw"])
    )
    exp = (
        gen.max()
        + discharge
        + sum(units["flex_generation_max_kw"] + units["multi_energy_injector_max_kw"])
    )
    prices = draw(st.lists(st.floats(-0.1, 0.5), min_size=2 * T, max_size=2 * T))
    return BTMProblem(
        fixed_load_kw=load, fixed_generation_kw=gen, import_limit_kw=imp + 1.0,
        export_limit_kw=exp + 1.0, dt_s=draw(st.sampled_from([900, 3600])),
        batteries=batteries, evs=evs, import_price_per_kwh=prices[:T],
        export_price_per_kwh=prices[T:], reference_exchange_kw=load - gen, **units,
    )  # fmt: skip


@settings(max_examples=30, deadline=None)
@given(problem=feasible_sites(), objective=st.sampled_from(["exchange", "cost", "deviation"]))
def test_schedule_respects_every_limit(problem, objective):
    res = solve_btm_ems(problem, objective)
    assert res.ok, res.reason
    eps = 1e-6
    imp, exp = res.import_kw, res.export_kw
    assert np.all((imp <= eps) | (exp <= eps)), "import and export in the same step"
    assert np.all(imp <= problem.import_limit_kw + eps) and np.all(
        exp <= problem.export_limit_kw + eps
    )
    assert np.all(imp >= -eps) and np.all(exp >= -eps)
    consumed = res.flex_load_kw.sum(axis=0) + res.multi_energy_consumer_kw.sum(axis=0)
    injected = res.flex_generation_kw.sum(axis=0) + res.multi_energy_injector_kw.sum(axis=0)
    for units, rating in [
        (res.flex_load_kw, problem.flex_load_max_kw),
        (res.flex_generation_kw, problem.flex_generation_max_kw),
        (res.multi_energy_consumer_kw, problem.multi_energy_consumer_max_kw),
        (res.multi_energy_injector_kw, problem.multi_energy_injector_max_kw),
    ]:
        assert np.all(units >= -eps) and np.all(units <= rating[:, None] + eps)
    dt_h = problem.dt_s / 3600.0
    for units, sched in [(problem.batteries, res.batteries), (problem.evs, res.evs)]:
        ch, dis, e = sched.charge_kw, sched.discharge_kw, sched.energy_kwh
        conn = units.connected_mask(problem.n_steps)
        assert not np.any((ch > eps) & (dis > eps)), "charging and discharging in one step"
        assert np.all(ch <= units.max_charge_kw[:, None] * conn + eps) and np.all(ch >= -eps)
        assert np.all(dis <= units.max_discharge_kw[:, None] * conn + eps) and np.all(dis >= -eps)
        assert np.all(e >= units.min_energy_kwh[:, None] - eps)
        assert np.all(e <= units.capacity_kwh[:, None] + eps)
        eta = units.efficiency[:, None]
        np.testing.assert_allclose(np.diff(e, axis=1), (eta * ch - dis / eta) * dt_h, atol=1e-5)
        assert np.all(e[:, -1] + sched.unmet_kwh >= units.final_energy_kwh - 1e-5)
        assert np.all(sched.unmet_kwh >= 0.0)
        consumed = consumed + ch.sum(axis=0)
        injected = injected + dis.sum(axis=0)
    # Balance 3.11.
    np.testing.assert_allclose(
        problem.fixed_generation_kw + injected + imp,
        problem.fixed_load_kw + consumed + exp,
        atol=1e-5,
    )
