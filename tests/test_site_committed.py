"""Planning an arriving EV against the site's committed plans (``replan="committed"``).

Covers the LP's ``committed_kw`` and ``arrival_share`` (agents.optim.site_scheduler) and
the strategies ``optimal_committed`` / ``optimal_soft_committed`` (agents.site.Scheduled),
each against a schedule worked out by hand.
"""

import numpy as np
import pytest

from flexcosim.agents.optim.site_scheduler import OptimalScheduler, _segments_above
from flexcosim.agents.optim.types import SiteScheduleProblem
from flexcosim.agents.site import SITE_STRATEGIES, Scheduled, SiteEV, SiteObservation

STEP = 900


def one_ev(committed, *, need_kwh=5.0, curve=((0.1, 0.5), (0.1, 0.5)), limit=10.0, **kw):
    """One V1G EV over two 1-h steps, efficiency 1, 10 kW charger, site limit ``limit``."""
    return SiteScheduleProblem(
        energy_kwh=np.array([0.0]), target_energy_kwh=np.array([need_kwh]),
        capacity_kwh=np.array([50.0]), charge_max_kw=np.array([10.0]),
        discharge_max_kw=np.array([0.0]), departure_step=np.array([2]), v2g=np.array([False]),
        capacity_limit_kw=np.full(2, limit), price_per_kwh=np.full(2, 0.1), dt_s=3600.0,
        efficiency=1.0, price_curve_per_kwh=None if curve is None else np.array(curve),
        committed_kw=None if committed is None else np.array(committed, dtype=float), **kw)


def test_the_segments_above_a_committed_load_hold_what_is_left_of_the_limit():
    rooms = _segments_above(np.array([10.0, 10.0, 10.0]), 2, np.array([0.0, 7.0, -2.0]))
    np.testing.assert_allclose(rooms, [[5.0, 5.0], [0.0, 3.0], [7.0, 5.0]])


@pytest.mark.parametrize("committed, power", [
    # nothing committed: 5 kW in step 0, the cheaper (0.1) and earlier (tie-break) step
    (None, [5.0, 0.0]),
    # step 0's cheap segment is taken: the EV moves to step 1
    ([5.0, 0.0], [0.0, 5.0]),
    # 7 kW and 4 kW taken: 1 kWh at 0.1 in step 1, then 4 kWh at 0.5: 3 in step 0 (earlier) and 1 in step 1
    ([7.0, 4.0], [3.0, 2.0]),
])
def test_an_ev_is_priced_above_the_committed_load(committed, power):
    schedule = OptimalScheduler().schedule(one_ev(committed))
    assert schedule.status == "optimal"
    np.testing.assert_allclose(schedule.power_kw[0], power, atol=1e-6)


def test_a_committed_load_at_the_hard_limit_leaves_the_ev_unmet():
    schedule = OptimalScheduler().schedule(one_ev([10.0, 8.0], curve=None))
    np.testing.assert_allclose(schedule.power_kw[0], [0.0, 2.0], atol=1e-6)
    assert schedule.unmet_energy_kwh[0] == pytest.approx(3.0)


def test_an_ev_arriving_half_way_into_the_first_step_charges_for_half_of_it():
    # 12 kWh wanted, flat price: 10 kWh in step 1; step 0 has half an hour left, so its
    # last 2 kWh take 4 kW there (the tie-break, per kW, makes step 0's kWh the dearer)
    schedule = OptimalScheduler().schedule(
        one_ev(None, need_kwh=12.0, curve=None, limit=20.0, arrival_share=np.array([0.5])))
    np.testing.assert_allclose(schedule.power_kw[0], [4.0, 10.0], atol=1e-6)
    np.testing.assert_allclose(schedule.energy_kwh[0], [0.0, 2.0, 12.0], atol=1e-6)
    assert schedule.unmet_energy_kwh[0] == 0.0


def ev(name: str, energy_kwh: float, target_kwh: float, departure_s: int) -> SiteEV:
    return SiteEV(name, energy_kwh, 40.0, target_kwh, 11.0, 0.0, departure_s)


def site(time_s: int, *evs: SiteEV) -> SiteObservation:
    """Four 900-s steps, 12 kW site limit, prices 0.1 / 0.2 / 0.3 / 0.4 per kWh."""
    k = time_s // STEP
    return SiteObservation("s", time_s, STEP, evs, 11.0, 1.0, False, capacity_kw=12.0,
                           capacity_forecast_kw=(12.0,) * (4 - k),
                           price_forecast_per_kwh=(0.1, 0.2, 0.3, 0.4)[k:])


def test_an_arrival_is_planned_alone_against_the_others_plans():
    """Hand check: ``a`` (5.5 kWh to go) takes 11 kW in the two cheapest steps. ``b``
    arrives half-way into step 1 wanting 2 kWh; 1 kW is left there (0.2/kWh) for the
    remaining 450 s (0.125 kWh), the rest (1.875 kWh) comes at 7.5 kW in step 2 (0.3)."""
    s = SITE_STRATEGIES["optimal_committed"]()
    a = ev("a", 10.0, 15.5, 4 * STEP)
    s.decide(site(0, a))
    np.testing.assert_allclose(s._plan["a"], [11.0, 11.0, 0.0, 0.0], atol=1e-6)
    a_now = ev("a", 10.0 + 11.0 * 1350 / 3600, 15.5, 4 * STEP)
    decision = s.decide(site(1350, a_now, ev("b", 10.0, 12.0, 4 * STEP)))
    assert s._plan_start_s == 0  # no joint re-plan: the first plan's steps go on
    np.testing.assert_allclose(s._plan["a"], [11.0, 11.0, 0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(s._plan["b"], [0.0, 1.0, 7.5, 0.0], atol=1e-6)
    assert decision.power_kw == pytest.approx({"a": 11.0, "b": 1.0})
    assert decision.next_decision_s == 2 * STEP


def test_an_arrival_left_short_re_plans_everyone_once_the_joint_plan_is_a_step_old():
    """``a`` takes 11 of the 12 kW in every step. ``b`` cannot get its 2 kWh from the 1 kW left:
    within the joint plan's first step its short plan is kept and every EV is re-planned at
    the step's end; a step or more after the joint plan, at once."""
    a = ev("a", 0.0, 11.0, 4 * STEP)
    s = Scheduled("optimal", replan="committed")
    s.decide(site(0, a))
    s.decide(site(100, a, ev("b", 10.0, 12.0, 4 * STEP)))
    assert s._plan_start_s == 0 and "b" in s._plan
    s.decide(site(STEP, a, ev("b", 10.0, 12.0, 4 * STEP)))  # the step's end
    assert s._plan_start_s == STEP
    s.decide(site(2 * STEP + 10, a, ev("b", 10.0, 12.0, 4 * STEP), ev("c", 10.0, 12.0, 4 * STEP)))
    assert s._plan_start_s == 2 * STEP + 10


def test_the_joint_strategies_still_re_plan_every_ev_on_an_arrival():
    s = SITE_STRATEGIES["optimal"]()
    s.decide(site(0, ev("a", 10.0, 15.5, 4 * STEP)))
    s.decide(site(1350, ev("a", 14.0, 15.5, 4 * STEP), ev("b", 10.0, 12.0, 4 * STEP)))
    assert s._plan_start_s == 1350


def test_an_unknown_replan_mode_is_refused_by_name():
    with pytest.raises(ValueError, match="replan = 'sometimes'; allowed: 'joint', 'committed'"):
        Scheduled("optimal", replan="sometimes")
