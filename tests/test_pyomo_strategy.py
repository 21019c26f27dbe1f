"""Strategies written as pyomo models: built by the user, solved by HiGHS, guarded like any strategy."""

import math

import numpy as np
import pyomo.environ as pyo
import pytest

from flexcosim.agents.optim.types import SiteOffer, SiteRequest
from flexcosim.agents.pyomo_strategy import PyomoAllocation, PyomoSiteStrategy, PyomoSolveError
from flexcosim.agents.registry import Guarded
from flexcosim.agents.site import (
    SITE_STRATEGIES,
    SiteEV,
    SiteObservation,
    SiteSetpoints,
    check_setpoints,
)


def observation(capacity_kw: float) -> SiteObservation:
    evs = (SiteEV("a", 10.0, 40.0, 30.0, 3.0, 0.0), SiteEV("b", 10.0, 40.0, 30.0, 5.0, 0.0))
    return SiteObservation("site", 0, 900, evs, charger_kw=11.0, efficiency=1.0, v2g=False,
                           capacity_kw=capacity_kw)


class Weighted(PyomoSiteStrategy):
    """max 2 p_a + p_b  s.t.  p_a <= 3, p_b <= 5, p_a + p_b <= capacity (hand-solvable LP)."""

    def build(self, m, obs):
        m.p = pyo.Var([ev.ev for ev in obs.evs], bounds=lambda m, ev: (0, {"a": 3, "b": 5}[ev]))
        m.cap = pyo.Constraint(expr=m.p["a"] + m.p["b"] <= obs.capacity_kw)
        m.obj = pyo.Objective(expr=2 * m.p["a"] + m.p["b"], sense=pyo.maximize)

    def setpoints(self, m, obs):
        return SiteSetpoints({ev: pyo.value(m.p[ev]) for ev in m.p})


def test_site_strategy_hand_checked_optimum_and_timing():
    strategy = Weighted()
    decision = strategy.decide(observation(capacity_kw=4.0))
    # a gets its full 3 kW (weight 2), b the remaining 1 kW
    assert decision.power_kw == pytest.approx({"a": 3.0, "b": 1.0})
    assert len(strategy.build_s) == len(strategy.solve_s) == 1
    assert strategy.build_s[0] > 0 and strategy.solve_s[0] > 0


def test_no_evs_means_no_model():
    strategy = Weighted()
    empty = SiteObservation("site", 0, 900, (), 11.0, 1.0, False)
    assert strategy.decide(empty) == SiteSetpoints({})
    assert strategy.build_s == []


def test_infeasible_model_raises_and_the_fallback_decides():
    class Infeasible(Weighted):
        def build(self, m, obs):
            super().build(m, obs)
            m.impossible = pyo.Constraint(expr=m.p["a"] >= 10)  # above its 3 kW bound

    with pytest.raises(PyomoSolveError, match="infeasible"):
        Infeasible().decide(observation(capacity_kw=4.0))
    guarded = Guarded("agg", SITE_STRATEGIES, "uncontrolled", "equal_share", check_setpoints)
    guarded.strategy = Infeasible()  # a user's model, as loaded from a file or module
    decision = guarded(observation(capacity_kw=4.0), 0)
    assert len(guarded.fallbacks) == 1 and "infeasible" in guarded.fallbacks[0].reason
    assert math.isclose(sum(decision.power_kw.values()), 4.0)  # equal_share within the capacity


class CheapestSite(PyomoAllocation):
    """One binary per site, sum = 1; cost = price x energy the EV needs (hand-checkable)."""

    def build(self, m, request, offers, step_s):
        need_kwh = request.battery_kwh * (request.target_soc - min(request.arrival_soc.values()))
        m.pick = pyo.Var(range(len(offers)), domain=pyo.Binary)
        m.one = pyo.Constraint(expr=sum(m.pick[i] for i in m.pick) == 1)
        m.cost = pyo.Objective(expr=sum(m.pick[i] * float(o.charge_price_per_kwh.mean()) * need_kwh
                                        for i, o in enumerate(offers)))

    def choice(self, m, request, offers, step_s):
        best = max(m.pick, key=lambda i: pyo.value(m.pick[i]))
        return offers[best].site, np.zeros(len(offers[best].charge_price_per_kwh)), ""


def test_allocation_picks_the_cheapest_site():
    def offer(site, price):
        return SiteOffer(site, 1, np.full(4, 7.0), np.zeros(4), np.full(4, price), np.zeros(4), 50.0)

    request = SiteRequest("ev", 40.0, 7.0, 0.0, {"x": 0.5, "y": 0.5}, {"x": 0, "y": 0}, 4, 0.9)
    site, schedule, reason = CheapestSite().choose(request, [offer("x", 0.3), offer("y", 0.2)], 900)
    assert (site, reason) == ("y", "") and schedule.shape == (4,)
    assert CheapestSite().choose(request, [], 900)[0] is None
