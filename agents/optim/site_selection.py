"""Charging-site selection for one arriving EV (seed 004 section 4.2.2, eqs 4.6-4.19).

The seed's model is one MILP: a binary site choice ``x_{v,c}`` (4.9), per-site power
variables switched on by it (4.7, 4.8) and a binary charge/discharge mode per step
(4.12-4.14). It is solved here exactly but faster, in two steps:

1. **Decomposition over sites.** With exactly one site chosen (4.9), the optimum is the
   cheapest of the per-site optima, each a small model with the site's arrival SOC (4.17)
   and window fixed. The per-site models are independent, so they are stacked
   block-diagonally into one solve; every block's part of the solution is optimal for
   that block, and the chosen site is the cheapest sufficient block.
2. **Mode binaries only where they can matter.** Where the charge price is at least the
   discharge pay, charging and discharging at once never lowers the cost (lowering both
   by their minimum keeps the SOC and saves ``(omega^+ - omega^-) dt`` per kW), so the
   LP is solved and the overlap netted out afterwards: an optimal solution of the MILP.
   Only steps where an offer pays more for discharging than it charges get the binaries
   of 4.12-4.14 (then the model is rebuilt as a MILP; it never happens with the built-in
   price rules of :mod:`flexcosim.agents.optim.pricing`).

The LP's constraint matrix depends only on ``(number of offers, number of steps, dt)``;
it is built once per shape and kept in a :class:`~agents.solver.PersistentModel`, and
each EV only updates costs and bounds. ``bench/optim.py`` compares this with the
seed-literal pyomo MILP (:mod:`flexcosim.agents.optim.site_selection_reference`).

Two deliberate readings of the seed: the target (4.18) is ``s_v(D) >= s_v^T``, so an EV
arriving above its target is not forced to discharge; and the SOC bounds (4.16) are
widened to the arrival SOC when the EV arrives outside them, so a low arrival estimate
makes no offer infeasible. Energies are kept in kWh (``e = s C_v``) so that the matrix
does not depend on the battery.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from flexcosim.agents.optim.types import SiteChoice, SiteOffer, SiteRequest
from flexcosim.agents.solver import PersistentModel, SolveResult, solve

#: Powers below this are solver noise [kW].
_ZERO_KW = 1e-9
#: Energy shortfall tolerated by the sufficiency check, against rounding [kWh].
_ENERGY_TOL_KWH = 1e-9


def select_site(request: SiteRequest, offers: Sequence[SiteOffer], dt_s: float) -> SiteChoice:
    """Charging-site selection MILP (seed 004 eqs 4.6-4.19) for one EV.

    Parameters
    ----------
    request : the EV's battery [kWh], power limits [kW], per-site arrival SOC [-] and
        step, departure step, target and bound SOCs [-], V2G allowance [kWh]
    offers : one offer per candidate site, all over the same ``n_steps`` steps; the
        request must hold an arrival estimate for every offered site
    dt_s : step length [s]

    Returns
    -------
    SiteChoice
        status "optimal" with the cheapest site and its schedule (battery-side powers),
        or "no_sufficient_offer" with the reasons each offer was dropped, or the
        solver's status and message. Ties go to the earlier offer.
    """
    _check(request, offers, dt_s)
    n_steps = offers[0].n_steps
    shortfalls = [why_insufficient(request, offer, dt_s) for offer in offers]
    sufficient = np.array([not why for why in shortfalls])
    if not sufficient.any():
        reasons = "; ".join(f"{o.site}: {why}" for o, why in zip(offers, shortfalls))
        return _no_choice(n_steps, "no_sufficient_offer", f"no sufficient offer ({reasons})", 0.0)

    data = _BlockData.of(request, offers, sufficient, dt_s)
    if data.mode_steps.any():
        result = _solve_with_modes(data)
    else:
        result = _model(len(offers), n_steps, float(dt_s)).solve(
            data.cost, data.row_lo, data.row_hi, data.col_lo, data.col_hi
        )
    if not result.ok:
        return _no_choice(n_steps, result.status, result.message, result.solve_time_s)

    blocks = result.x[: data.cost.size].reshape(len(offers), -1)
    charge, discharge = _netted(blocks[:, :n_steps], blocks[:, n_steps : 2 * n_steps])
    dt_h = dt_s / 3600.0
    costs = dt_h * (
        (data.charge_price * charge).sum(axis=1) - (data.discharge_price * discharge).sum(axis=1)
    )
    best = int(np.argmin(np.where(sufficient, costs, np.inf)))
    return SiteChoice(
        status="optimal",
        site=offers[best].site,
        charge_kw=charge[best],
        discharge_kw=discharge[best],
        soc=blocks[best, 2 * n_steps :] / request.battery_kwh,
        cost=float(costs[best]),
        solve_time_s=result.solve_time_s,
        site_costs={o.site: float(c) for o, c, ok in zip(offers, costs, sufficient) if ok},
    )


def why_insufficient(request: SiteRequest, offer: SiteOffer, dt_s: float) -> str:
    """Why ``offer`` cannot serve ``request`` (seed 004 section 4.2.2.2), or ``""`` if it can.

    An offer is sufficient when a charger is free, the EV arrives before it leaves, and
    both the offered energy ``E_{c,v}`` and the charging power over the parking window
    cover the energy from the arrival SOC to the target.
    """
    if offer.free_chargers < 1:
        return "no free charger"
    arrival = request.arrival_step[offer.site]
    if arrival >= request.departure_step:
        return f"arrival step {arrival} is not before departure step {request.departure_step}"
    need_kwh = max(request.target_soc - request.arrival_soc[offer.site], 0.0) * request.battery_kwh
    if offer.available_energy_kwh < need_kwh - _ENERGY_TOL_KWH:
        return (
            f"available energy {offer.available_energy_kwh:.3g} kWh < required {need_kwh:.3g} kWh"
        )
    window = offer.charge_limit_kw[arrival : request.departure_step]
    deliverable_kwh = np.minimum(window, request.charge_max_kw).sum() * dt_s / 3600.0
    if deliverable_kwh < need_kwh - _ENERGY_TOL_KWH:
        return f"charging power delivers {deliverable_kwh:.3g} kWh < required {need_kwh:.3g} kWh"
    return ""


def block_matrix(n_sites: int, n_steps: int, dt_s: float) -> sp.csc_matrix:
    """Constraint matrix of the stacked per-site models.

    Columns per site: ``p^+`` (n_steps), ``p^-`` (n_steps), energy ``e`` (n_steps + 1)
    [kW, kW, kWh]. Rows per site: SOC dynamics (4.15) ``e[t+1] - e[t] - dt p^+[t] +
    dt p^-[t] = 0`` (n_steps rows) and the V2G allowance (4.19) ``dt sum p^- <= delta``.
    """
    dt_h = dt_s / 3600.0
    eye = sp.identity(n_steps, format="csr")
    step = sp.diags([-np.ones(n_steps), np.ones(n_steps)], [0, 1], shape=(n_steps, n_steps + 1))
    dynamics = sp.hstack([-dt_h * eye, dt_h * eye, step])
    v2g = sp.hstack(
        [sp.csr_matrix((1, n_steps)), dt_h * np.ones((1, n_steps)), sp.csr_matrix((1, n_steps + 1))]
    )
    block = sp.vstack([dynamics, v2g])
    return sp.kron(sp.identity(n_sites), block, format="csc")


@functools.lru_cache(maxsize=32)
def _model(n_sites: int, n_steps: int, dt_s: float) -> PersistentModel:
    # One persistent HiGHS instance per shape; not thread-safe (one simulation per process).
    return PersistentModel(block_matrix(n_sites, n_steps, dt_s), presolve=False)


@dataclass(frozen=True, eq=False)
class _BlockData:
    """Costs and bounds of the stacked per-site models for one request (flat, site-major)."""

    n_sites: int
    n_steps: int
    dt_s: float
    cost: np.ndarray
    col_lo: np.ndarray
    col_hi: np.ndarray
    row_lo: np.ndarray
    row_hi: np.ndarray
    charge_price: np.ndarray
    discharge_price: np.ndarray
    p_plus_hi: np.ndarray
    p_minus_hi: np.ndarray
    mode_steps: np.ndarray

    @classmethod
    def of(
        cls, req: SiteRequest, offers: Sequence[SiteOffer], sufficient: np.ndarray, dt_s: float
    ) -> _BlockData:
        n_sites, n_steps = len(offers), offers[0].n_steps
        dt_h = dt_s / 3600.0
        steps = np.arange(n_steps)
        arrival = np.array([req.arrival_step[o.site] for o in offers])
        soc0 = np.array([req.arrival_soc[o.site] for o in offers])
        # z_{c,v}(t) x_{v,c} of 4.7/4.8: parked at c, and c still a candidate
        window = (steps >= arrival[:, None]) & (steps < req.departure_step) & sufficient[:, None]
        rho_plus = np.stack([o.charge_limit_kw for o in offers])
        rho_minus = np.stack([o.discharge_limit_kw for o in offers])
        p_plus_hi = np.where(window, np.minimum(rho_plus, req.charge_max_kw), 0.0)  # 4.7, 4.12
        v2g_ok = req.v2g_allowance_kwh > 0
        p_minus_hi = np.where(window & v2g_ok, np.minimum(rho_minus, req.discharge_max_kw), 0.0)
        charge_price = np.stack([o.charge_price_per_kwh for o in offers])
        discharge_price = np.stack([o.discharge_price_per_kwh for o in offers])

        cap = req.battery_kwh
        e_lo = np.minimum(req.soc_min, soc0) * cap  # 4.16, widened to the arrival SOC
        e_hi = np.maximum(req.soc_max, soc0) * cap
        e_lo = np.repeat(e_lo[:, None], n_steps + 1, axis=1)
        e_hi = np.repeat(e_hi[:, None], n_steps + 1, axis=1)
        e_lo[:, 0] = e_hi[:, 0] = soc0 * cap  # 4.17
        e_lo[:, -1] = np.maximum(e_lo[:, -1], req.target_soc * cap)  # 4.18
        e_lo[~sufficient] = e_hi[~sufficient] = 0.0  # dropped offers: an empty block

        col_lo = np.concatenate([np.zeros((n_sites, 2 * n_steps)), e_lo], axis=1)
        col_hi = np.concatenate([p_plus_hi, p_minus_hi, e_hi], axis=1)
        cost = np.concatenate(
            [dt_h * charge_price, -dt_h * discharge_price, np.zeros((n_sites, n_steps + 1))], axis=1
        )  # 4.6
        row_lo = np.zeros((n_sites, n_steps + 1))
        row_lo[:, -1] = -np.inf
        row_hi = np.zeros((n_sites, n_steps + 1))
        row_hi[:, -1] = req.v2g_allowance_kwh  # 4.19
        return cls(
            n_sites=n_sites,
            n_steps=n_steps,
            dt_s=dt_s,
            cost=cost.ravel(),
            col_lo=col_lo.ravel(),
            col_hi=col_hi.ravel(),
            row_lo=row_lo.ravel(),
            row_hi=row_hi.ravel(),
            charge_price=charge_price,
            discharge_price=discharge_price,
            p_plus_hi=p_plus_hi,
            p_minus_hi=p_minus_hi,
            # steps where charging and discharging at once would pay: 4.14 needs binaries
            mode_steps=(discharge_price > charge_price) & (p_plus_hi > 0) & (p_minus_hi > 0),
        )


def _solve_with_modes(data: _BlockData) -> SolveResult:
    """The stacked model with binaries ``y = x^+`` (``x^- = 1 - y``, 4.14) at ``mode_steps``.

    Adds per mode step ``p^+ - P^+ y <= 0`` (4.12) and ``p^- + P^- y <= P^-`` (4.13),
    with ``P^+``/``P^-`` the column bounds of that step.
    """
    n_cols = data.cost.size
    block_cols = 3 * data.n_steps + 1
    site, step = np.nonzero(data.mode_steps)
    k = site.size
    plus_col = site * block_cols + step
    minus_col = plus_col + data.n_steps
    pos = np.arange(k)
    rows = np.concatenate([pos, k + pos, pos, k + pos])
    cols = np.concatenate([plus_col, minus_col, n_cols + pos, n_cols + pos])
    vals = np.concatenate(
        [np.ones(k), np.ones(k), -data.p_plus_hi[site, step], data.p_minus_hi[site, step]]
    )
    modes = sp.csr_matrix((vals, (rows, cols)), shape=(2 * k, n_cols + k))
    base = block_matrix(data.n_sites, data.n_steps, data.dt_s)
    A = sp.vstack([sp.hstack([base, sp.csr_matrix((base.shape[0], k))]), modes])
    return solve(
        np.concatenate([data.cost, np.zeros(k)]),
        A,
        np.concatenate([data.row_lo, np.full(2 * k, -np.inf)]),
        np.concatenate([data.row_hi, np.zeros(k), data.p_minus_hi[site, step]]),
        np.concatenate([data.col_lo, np.zeros(k)]),
        np.concatenate([data.col_hi, np.ones(k)]),
        integer=np.concatenate([np.zeros(n_cols, dtype=bool), np.ones(k, dtype=bool)]),
    )


def _netted(charge: np.ndarray, discharge: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Remove simultaneous charge and discharge (same SOC, cost not higher; see module doc)."""
    charge = np.where(charge > _ZERO_KW, charge, 0.0)
    discharge = np.where(discharge > _ZERO_KW, discharge, 0.0)
    both = np.minimum(charge, discharge)
    return charge - both, discharge - both


def _no_choice(n_steps: int, status: str, reason: str, solve_time_s: float) -> SiteChoice:
    return SiteChoice(
        status=status,
        site=None,
        charge_kw=np.zeros(n_steps),
        discharge_kw=np.zeros(n_steps),
        soc=np.full(n_steps + 1, np.nan),
        cost=float("nan"),
        solve_time_s=solve_time_s,
        reason=reason,
    )


def _check(request: SiteRequest, offers: Sequence[SiteOffer], dt_s: float) -> None:
    if not np.isfinite(dt_s) or dt_s <= 0:
        raise ValueError(f"dt_s = {dt_s!r}; allowed: a finite number of seconds > 0")
    if not offers:
        raise ValueError("offers is empty; allowed: at least one SiteOffer")
    sites = [o.site for o in offers]
    if len(set(sites)) != len(sites):
        raise ValueError(f"offers name sites {sites}; allowed: each site at most once")
    n_steps = offers[0].n_steps
    for o in offers:
        if o.n_steps != n_steps:
            raise ValueError(
                f"SiteOffer[{o.site!r}] has {o.n_steps} steps; allowed: {n_steps} like the first"
            )
        for field in ("arrival_soc", "arrival_step"):
            if o.site not in getattr(request, field):
                raise ValueError(f"SiteRequest.{field} has no entry for offered site {o.site!r}")
    if request.departure_step > n_steps:
        raise ValueError(
            f"SiteRequest.departure_step = {request.departure_step}; allowed: <= n_steps "
            f"= {n_steps} of the offers"
        )
