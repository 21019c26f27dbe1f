"""When a receding-horizon site strategy re-plans (agents.site.PlanFollower)."""

import numpy as np
import pytest

from flexcosim.agents.site import PlanFollower, Scheduled, SiteEV, SiteObservation

STEP = 900


class Counting(PlanFollower):
    """Plans 2 kW for every EV over four steps and counts its plans."""

    def __init__(self) -> None:
        super().__init__()
        self.plans: list[int] = []  # time of each plan [s]

    def _make_plan(self, obs):
        self.plans.append(obs.time_s)
        return {ev.ev: np.full(4, 2.0) for ev in obs.evs}


def ev(name: str, departure_s: int | None) -> SiteEV:
    return SiteEV(name, energy_kwh=10.0, capacity_kwh=40.0, target_kwh=30.0, max_charge_kw=11.0,
                  max_discharge_kw=0.0, departure_s=departure_s)


def obs(time_s: int, *evs: SiteEV) -> SiteObservation:
    return SiteObservation("s", time_s, STEP, evs, charger_kw=11.0, efficiency=1.0, v2g=False)


def test_an_on_time_departure_keeps_the_plan_and_everything_else_re_plans():
    a, b, c, d = ev("a", STEP), ev("b", 3 * STEP), ev("c", None), ev("d", 3 * STEP)
    s = Counting()
    s.decide(obs(0, a, b, c))
    assert s.plans == [0]
    kept = s.decide(obs(STEP, b, c))  # a leaves at its announced departure
    assert s.plans == [0] and kept.power_kw == {"b": 2.0, "c": 2.0}
    assert kept.next_decision_s == 2 * STEP  # still the first plan's step grid
    s.decide(obs(STEP + 60, b, c, d))  # an arrival
    assert s.plans == [0, STEP + 60]
    s.decide(obs(STEP + 120, c, d))  # b leaves before its announced departure
    assert s.plans == [0, STEP + 60, STEP + 120]
    s.decide(obs(STEP + 180, d))  # c leaves without having announced a departure
    assert s.plans == [0, STEP + 60, STEP + 120, STEP + 180]
    s.decide(obs(STEP + 180 + 4 * STEP, d))  # the plan has run out
    assert len(s.plans) == 5


def test_the_optimal_schedule_goes_on_unchanged_when_an_ev_leaves_on_time():
    """The rest of the plan is what a new solve gives: the LP's tail is still optimal.

    Hand check: the early EV takes 11 of the 12 kW in steps 0-1 (it needs more than it can
    get); the late one needs 6 kWh, takes the 1 kW left in step 1 (0.10), 11 kW in step 3
    (0.10) and step 2 (0.20), and its last 0.25 kWh at 0.30 in step 0, the earliest of the
    three steps at that price (the tie-break).
    """
    price = (0.30, 0.10, 0.20, 0.10, 0.30, 0.30)

    def site(time_s, *evs):
        k = time_s // STEP
        return SiteObservation("s", time_s, STEP, evs, 11.0, 1.0, False, capacity_kw=12.0,
                               capacity_forecast_kw=(12.0,) * (6 - k), price_forecast_per_kwh=price[k:])

    late = SiteEV("late", 10.0, 40.0, 16.0, 11.0, 0.0, 6 * STEP)
    kept = Scheduled("optimal")
    kept.decide(site(0, ev("early", 2 * STEP), late))
    plan = kept._plan["late"]
    np.testing.assert_allclose(plan, [1.0, 1.0, 11.0, 11.0, 0.0, 0.0], atol=1e-6)
    # at 2 x 900 s the early EV has left on time, the late one has what the plan gave it
    now = SiteEV("late", 10.0 + plan[:2].sum() * STEP / 3600, 40.0, 16.0, 11.0, 0.0, 6 * STEP)
    going_on = kept.decide(site(2 * STEP, now)).power_kw["late"]
    assert kept._plan_start_s == 0  # no new solve
    fresh = Scheduled("optimal")
    fresh.decide(site(2 * STEP, now))
    np.testing.assert_allclose(fresh._plan["late"], plan[2:], atol=1e-6)
    assert going_on == pytest.approx(plan[2])
