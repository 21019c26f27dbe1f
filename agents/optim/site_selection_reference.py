"""Seed-literal pyomo form of the charging-site selection MILP (seed 004 eqs 4.6-4.19).

Kept as the reference that :func:`flexcosim.agents.optim.site_selection.select_site` is checked
against (tests) and measured against (``bench/optim.py --compare``): every variable and
constraint of the seed is written out, the model is rebuilt for every EV, and it is
solved as a MILP. It reads the same inputs with the same two readings as the fast
model (target as ``>=``, SOC bounds widened to the arrival SOC) and applies the same
sufficient-offer filter. About 70 times slower (``docs/bench-optim.md``); not for use
inside a simulation.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyomo.environ as pyo

from flexcosim.agents.optim.site_selection import why_insufficient
from flexcosim.agents.optim.types import SiteOffer, SiteRequest
from flexcosim.agents.solver import SolveResult, solve_pyomo


def select_site_reference(
    request: SiteRequest, offers: Sequence[SiteOffer], dt_s: float
) -> tuple[SolveResult, str | None]:
    """Solve the seed-literal MILP; returns the solve result and the chosen site.

    The objective value is the cost in currency; the chosen site is ``None`` when no
    offer is sufficient or the solve failed.
    """
    kept = [o for o in offers if not why_insufficient(request, o, dt_s)]
    if not kept:
        return SolveResult(status="no_sufficient_offer"), None
    model = _build(request, kept, dt_s)
    result = solve_pyomo(model)
    if result.status != "optimal":
        return result, None
    chosen = max(range(len(kept)), key=lambda c: pyo.value(model.x[c]))
    return result, kept[chosen].site


def _build(req: SiteRequest, offers: Sequence[SiteOffer], dt_s: float) -> pyo.ConcreteModel:
    dt_h = dt_s / 3600.0
    n_steps = offers[0].n_steps
    cap = req.battery_kwh
    m = pyo.ConcreteModel()
    m.C = pyo.RangeSet(0, len(offers) - 1)
    m.T = pyo.RangeSet(0, n_steps - 1)
    m.S = pyo.RangeSet(0, n_steps)

    def z(c: int, t: int) -> int:  # parked at c during step t
        return int(req.arrival_step[offers[c].site] <= t < req.departure_step)

    soc0 = {c: req.arrival_soc[o.site] for c, o in enumerate(offers)}
    m.x = pyo.Var(m.C, domain=pyo.Binary)
    m.x_plus = pyo.Var(m.T, domain=pyo.Binary)
    m.x_minus = pyo.Var(m.T, domain=pyo.Binary)
    m.p_site_plus = pyo.Var(m.C, m.T, domain=pyo.NonNegativeReals)
    m.p_site_minus = pyo.Var(m.C, m.T, domain=pyo.NonNegativeReals)
    m.p_plus = pyo.Var(m.T, domain=pyo.NonNegativeReals)
    m.p_minus = pyo.Var(m.T, domain=pyo.NonNegativeReals)
    m.s = pyo.Var(m.S)

    m.cost = pyo.Objective(  # 4.6
        expr=dt_h
        * sum(
            offers[c].charge_price_per_kwh[t] * m.p_site_plus[c, t]
            - offers[c].discharge_price_per_kwh[t] * m.p_site_minus[c, t]
            for c in m.C
            for t in m.T
        )
    )
    m.c47 = pyo.Constraint(
        m.C,
        m.T,
        rule=lambda m, c, t: (
            m.p_site_plus[c, t] <= float(offers[c].charge_limit_kw[t]) * z(c, t) * m.x[c]
        ),
    )
    v2g = float(req.v2g_allowance_kwh > 0)
    m.c48 = pyo.Constraint(
        m.C,
        m.T,
        rule=lambda m, c, t: (
            m.p_site_minus[c, t] <= float(offers[c].discharge_limit_kw[t]) * z(c, t) * v2g * m.x[c]
        ),
    )
    m.c49 = pyo.Constraint(expr=sum(m.x[c] for c in m.C) == 1)
    m.c410 = pyo.Constraint(
        m.T, rule=lambda m, t: m.p_plus[t] == sum(m.p_site_plus[c, t] for c in m.C)
    )
    m.c411 = pyo.Constraint(
        m.T, rule=lambda m, t: m.p_minus[t] == sum(m.p_site_minus[c, t] for c in m.C)
    )
    m.c412 = pyo.Constraint(m.T, rule=lambda m, t: m.p_plus[t] <= req.charge_max_kw * m.x_plus[t])
    m.c413 = pyo.Constraint(
        m.T, rule=lambda m, t: m.p_minus[t] <= req.discharge_max_kw * m.x_minus[t]
    )
    m.c414 = pyo.Constraint(m.T, rule=lambda m, t: m.x_plus[t] + m.x_minus[t] == 1)
    m.c415 = pyo.Constraint(
        m.T, rule=lambda m, t: m.s[t + 1] == m.s[t] + (m.p_plus[t] - m.p_minus[t]) * dt_h / cap
    )
    m.c416_lo = pyo.Constraint(
        m.S, rule=lambda m, t: m.s[t] >= sum(min(req.soc_min, soc0[c]) * m.x[c] for c in m.C)
    )
    m.c416_hi = pyo.Constraint(
        m.S, rule=lambda m, t: m.s[t] <= sum(max(req.soc_max, soc0[c]) * m.x[c] for c in m.C)
    )
    m.c417 = pyo.Constraint(expr=m.s[0] == sum(soc0[c] * m.x[c] for c in m.C))
    m.c418 = pyo.Constraint(expr=m.s[n_steps] >= req.target_soc)
    m.c419 = pyo.Constraint(expr=dt_h * sum(m.p_minus[t] for t in m.T) <= req.v2g_allowance_kwh)
    return m
