"""Seed 001: Monte-Carlo congestion estimator, and the sensitivity heuristic on the 3-phase feeder."""

import numpy as np
import pytest

from flexcosim.agents.grid_optim.congestion import ReplicationOutcome, estimate_congestion
from flexcosim.agents.grid_optim.feeder_replication import (
    DayConfig,
    Household,
    agent_names,
    feeder_elements,
    replicate,
)
from flexcosim.agents.grid_optim.sensitivity import FlexAgent, OperatingLimits, resolve_violations
from flexcosim.cosim.models.grid3ph import Connection, ThreePhaseGrid
from flexcosim.grids.lv_feeder_3ph import build_lv_feeder_3ph


def _bernoulli_outcomes(p_step: np.ndarray, p_adjust: float, n: int, seed: int):
    rng = np.random.default_rng(seed)
    return [ReplicationOutcome(congested=rng.random(p_step.shape) < p_step,
                               adjustments_kw=np.where(rng.random((2, p_step.shape[1])) < p_adjust,
                                                       -1.0, 0.0))
            for _ in range(n)]


def test_probabilities_lie_in_0_1_and_the_standard_error_falls_with_n():
    # 3 elements x 8 half-hours; per step probabilities 0, 1 and 0.3
    p_step = np.array([[0.0] * 8, [1.0] * 8, [0.3] * 8])
    p_hour = 1 - (1 - 0.3) ** 2  # congested in an hour = in either of its two half-hours
    mean_se = []
    for n in (25, 100, 400):
        est = estimate_congestion(_bernoulli_outcomes(p_step, 0.25, n, seed=n), ["e0", "e1", "e2"],
                                  ["x", "y"], step_s=1800)
        assert est.probability.shape == (3, 4) and est.n_replications == n
        assert np.all((est.probability >= 0) & (est.probability <= 1))
        assert np.all(est.probability[0] == 0) and np.all(est.probability[1] == 1)
        assert np.all(est.standard_error[:2] == 0)  # a certain event has no sampling error
        p = est.probability[2]
        assert est.standard_error[2] == pytest.approx(np.sqrt(p * (1 - p) / n))
        assert np.all(np.abs(p - p_hour) < 4 * np.sqrt(p_hour * (1 - p_hour) / n))
        assert np.all(np.abs(est.adjustment_probability - (1 - 0.75**2)) < 0.35)
        assert est.adjusted_energy_kwh.shape == (n, 2)
        assert est.adjusted_energy_quantiles().shape == (2, 3)
        assert est.adjusted_energy_kwh.max() <= 8 * 0.5  # at most 1 kW in each half-hour
        mean_se.append(est.standard_error[2].mean())
    assert mean_se[0] > mean_se[1] > mean_se[2]
    assert mean_se[0] / mean_se[2] == pytest.approx(4.0, rel=0.25)  # 1 / sqrt(N)


def test_estimator_rejects_bad_input():
    out = _bernoulli_outcomes(np.full((1, 4), 0.5), 0.5, 2, seed=0)
    with pytest.raises(ValueError, match="at least one replication"):
        estimate_congestion([], ["e"], ["x", "y"], 1800)
    with pytest.raises(ValueError, match="step_s=700"):
        estimate_congestion(out, ["e"], ["x", "y"], 700)
    with pytest.raises(ValueError, match="1 element rows for 2 elements"):
        estimate_congestion(out, ["e", "f"], ["x", "y"], 1800)


def test_heuristic_on_the_three_phase_model_adjusts_the_ev_on_the_violated_phase():
    grid = build_lv_feeder_3ph()
    homes = {f"h{ph}": Connection("bus_12", ph) for ph in "abc"}
    model = ThreePhaseGrid(grid, homes)
    model.set_consumption({h: 1.0 for h in homes})
    bus = grid.buses
    agents = [FlexAgent("ev_a", bus["bus_20"], 5.0, 0.0, 5.0, phase="a"),
              FlexAgent("ev_b", bus["bus_5"], 3.0, 0.0, 3.0, phase="b")]
    res = resolve_violations(model.net, agents)
    assert res.status == "cleared" and res.power_flow == "3ph"
    worst = res.initial_violations[0]
    assert (worst.kind, worst.index, worst.phase) == ("undervoltage", bus["bus_20"], "a")
    assert list(res.adjustments_kw) == ["ev_a"] and res.adjustments_kw["ev_a"] < 0
    # independent check with the model itself: EVs as connections at the adjusted positions
    check = ThreePhaseGrid(build_lv_feeder_3ph(), homes | {"ev_a": Connection("bus_20", "a"),
                                                            "ev_b": Connection("bus_5", "b")})
    state = check.solve({"ha": 1.0, "hb": 1.0, "hc": 1.0} | res.positions_kw)
    assert 0.94 - 1e-6 <= state.min_voltage_pu() < 0.95
    # the same position with limits on the neutral current and the unbalance factor
    strict = OperatingLimits(v_min_pu=0.8, neutral_max_percent=5.0, unbalance_max_percent=2.0)
    res = resolve_violations(model.net, agents, strict)
    kinds = {v.kind for v in res.initial_violations}
    assert kinds == {"neutral_overload", "unbalance"}
    assert all(v.phase == "n" for v in res.initial_violations if v.kind == "neutral_overload")
    assert res.status == "cleared" and res.positions_kw["ev_a"] < 5.0


@pytest.mark.slow  # the default run checks this on the co-simulation (tests/test_cosim_seed001.py)
def test_no_replication_ends_with_a_violation_the_heuristic_could_have_removed():
    grid = build_lv_feeder_3ph()
    # four single-phase homes at the weak end with 3.7 kW EVs, two of them on phase a
    homes = (Household("h0", "bus_15", "a", base_peak_kw=1.0, ev_kw=3.7),
             Household("h1", "bus_17", "b", base_peak_kw=1.0, ev_kw=3.7),
             Household("h2", "bus_19", "a", base_peak_kw=1.0, ev_kw=3.7),
             Household("h3", "bus_20", "c", base_peak_kw=1.0, ev_kw=3.7, pv_kwp=4.0,
                       battery_kw=3.0, battery_kwh=6.0))
    config = DayConfig(n_steps=42, first_checked_step=34)  # check 17:00-21:00
    elements, agents = feeder_elements(grid), agent_names(homes)
    assert agents == ("h0/ev", "h1/ev", "h2/ev", "h3/ev", "h3/pv", "h3/battery")
    outcomes = {True: [], False: []}
    for seed in (2,):  # seed 2 has plain steps and steps whose power flow collapses
        free = replicate(grid, homes, seed, heuristic=False, config=config)
        run = replicate(grid, homes, seed, heuristic=True, config=config)
        assert run.elements == elements and run.agents == agents
        assert run.outcome.congested.shape == (len(elements), 8)
        assert run.removable_left == 0
        assert all(s in ("ok", "cleared", "not_cleared") or s.startswith("power_flow_failed, fallback")
                   for s in run.statuses)
        assert run.outcome.congested.sum() < free.outcome.congested.sum()
        adjusted = np.abs(run.outcome.adjustments_kw).sum(axis=1)
        # phase a is the congested one: its EVs give way, phase b's only in a fallback
        phase_a = adjusted[agents.index("h0/ev")] + adjusted[agents.index("h2/ev")]
        assert phase_a > 2 * adjusted[agents.index("h1/ev")]
        assert np.all(run.outcome.adjustments_kw[agents.index("h3/pv")] == 0)  # no PV at night
        outcomes[True].append(run.outcome)
        outcomes[False].append(free.outcome)
    without = estimate_congestion(outcomes[False], elements, agents, config.step_s)
    with_heuristic = estimate_congestion(outcomes[True], elements, agents, config.step_s)
    assert without.probability.max() == 1.0 and with_heuristic.probability.max() == 0.0
