"""Site strategy ``"btm_ems"``: the behind-the-meter EMS MILP of seed 004 section 3.3.2 in the loop.

The site's EVs are the storage units ``V`` of the MILP (eqs 3.19, 3.21, 3.26, 3.28, 3.29
with the charger efficiency); what the site may draw in each step, the observation's
capacity forecast (transformer rating minus building load, or ``Φ_c`` plus approved
agreements in capacity sharing), is the import limit. The MILP's limit ``P̄_ti`` is one
number, so a limit that changes over the horizon is written exactly as a constant limit
``L = max_t limit(t)`` against a background load ``L - limit(t)`` (eq 3.11's ``P_Ftc``).

Objectives (the seed's third, deviation from a reference exchange, needs a reference the
site observation does not carry):

``"cost"`` (default)
    eq 3.30 with the site's price signal for import and export (a flat price when the site
    has none, which minimises the energy bought); the background load adds a constant.
``"exchange"``
    eq 3.10. With a varying limit and V2G the background load makes a discharge that
    offsets it count as less exchange; for V1G sites the optimum is the true one.

A :class:`flexcosim.agents.site.PlanFollower`: it plans when an EV arrives (or leaves
early) and follows its plan otherwise; it also re-plans when the plan would draw more
than the capacity of the step (a new ``Φ_c``). A plan that cannot be made raises, so the
aggregator records it and its fallback decides the step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import numpy as np

from flexcosim.agents.optim.btm_ems import BTMProblem, StorageUnits, solve_btm_ems
from flexcosim.agents.site import PlanFollower, SiteObservation

#: Slack when comparing a planned step with the capacity [kW].
_TOL_KW = 1e-6


class BTMEMSStrategy(PlanFollower):
    """Schedules the site's EVs with the BTM EMS MILP (seed 004 eqs 3.10-3.30).

    Parameters
    ----------
    objective : "cost" or "exchange"
    time_limit_s : HiGHS wall-time limit per plan [s]
    """

    def __init__(self, objective: Literal["cost", "exchange"] = "cost",
                 time_limit_s: float = 10.0) -> None:
        if objective not in ("cost", "exchange"):
            raise ValueError(f"objective = {objective!r}; allowed: 'cost', 'exchange'")
        super().__init__()
        self.objective = objective
        self.time_limit_s = time_limit_s

    def _must_replan(self, obs: SiteObservation, k: int, gone: Mapping[str, int | None]) -> bool:
        """Also when the plan's step would draw more than the step's capacity (a new limit)."""
        return super()._must_replan(obs, k, gone) or (
            self._planned_kw()[k] > obs.capacity_kw + _TOL_KW)

    def _make_plan(self, obs: SiteObservation) -> dict[str, np.ndarray]:
        if not obs.evs:
            return {}
        problem = btm_problem(obs)
        schedule = solve_btm_ems(problem, self.objective, time_limit_s=self.time_limit_s)
        if not schedule.ok:
            raise RuntimeError(f"BTM EMS MILP {schedule.status}: {schedule.reason}")
        power = schedule.evs.charge_kw - schedule.evs.discharge_kw
        if not obs.v2g:  # the solver's round-off (-2e-14 kW) is no discharge order
            power = np.maximum(power, 0.0)
        return {ev.ev: power[i] for i, ev in enumerate(obs.evs)}


def btm_problem(obs: SiteObservation) -> BTMProblem:
    """The site's EVs under its capacity forecast as a BTM EMS problem.

    Horizon: the capacity forecast's steps (one step when there is none); the first step's
    limit is also capped by ``obs.capacity_kw``. EVs without an announced departure stay to
    the horizon end; a negative limit (building load above the rating) is 0.
    """
    n = max(len(obs.capacity_forecast_kw), len(obs.price_forecast_per_kwh), 1)
    evs = obs.evs
    charge_kw = np.array([min(obs.charger_kw, ev.max_charge_kw / obs.efficiency) for ev in evs])
    discharge_kw = np.array([ev.max_discharge_kw if obs.v2g else 0.0 for ev in evs])
    limit = np.full(n, np.inf)
    limit[: len(obs.capacity_forecast_kw)] = obs.capacity_forecast_kw
    limit[0] = min(limit[0], obs.capacity_kw)
    # the EVs can never draw more than their chargers: that bounds an unlimited site
    limit = np.clip(limit, 0.0, charge_kw.sum())
    top = float(limit.max())
    departure = np.array([
        n if ev.departure_s is None else -(-(ev.departure_s - obs.time_s) // obs.step_s)
        for ev in evs
    ])
    connected = np.arange(n)[None, :] < np.clip(departure, 1, n)[:, None]
    capacity = np.array([ev.capacity_kwh for ev in evs])
    price = np.ones(n)
    price[: len(obs.price_forecast_per_kwh)] = obs.price_forecast_per_kwh
    return BTMProblem(
        fixed_load_kw=top - limit,
        fixed_generation_kw=np.zeros(n),
        import_limit_kw=top,
        export_limit_kw=float(discharge_kw.sum()),
        dt_s=obs.step_s,
        evs=StorageUnits(
            capacity_kwh=capacity,
            energy_kwh=np.minimum([ev.energy_kwh for ev in evs], capacity),
            max_charge_kw=charge_kw,
            max_discharge_kw=discharge_kw,
            final_energy_kwh=np.minimum([ev.target_kwh for ev in evs], capacity),
            efficiency=obs.efficiency,
            connected=connected,
        ),
        import_price_per_kwh=price,
        export_price_per_kwh=price,
    )
