"""Seed 002's charging study on the large feeder: inputs and the KPIs of one EV share.

A sweep point of the seed-002 study (strategy x EV share) is one call of
:func:`evaluate_share`: data in (the OPF problem, the pandapower net, the strategy,
the price days to cost it with) -> :class:`ShareKPIs` out. The schedule comes from
:mod:`flexcosim.agents.grid_optim.opf` (a, b) or, for c, from
:func:`~flexcosim.agents.grid_optim.ac_check.solve_ac_feasible`; every KPI is measured
with the pandapower AC power flow of :func:`~flexcosim.agents.grid_optim.ac_check.ac_check`.

KPIs (seed 002 Tables 3, 4 and F.9):

* energy [MWh]: energy imported at the slack, ``sum_t P_slack,t dt`` (seed: "daily energy
  consumption", i.e. total production);
* losses [MWh]: ``sum_t (P_slack,t - sum_j p_j,t) dt`` from the AC power flow;
* cost [currency]: ``sum_t mu_t P_slack,t dt`` per price day (seed eq. 4 with the slack
  paying for losses, assumption viii);
* max line / transformer loading [-], min voltage [pu];
* violation hours [h]: quarter-hours with any AC limit violation, times 0.25 h.

Inputs (seed 002 section 4.4, Appendix D.2, Table D.7) are built by
:func:`large_feeder_problem`; the price days are synthetic (the seed prints no price
series): ``PRICE_NO3`` a flat hydro winter day with the seed's 2000 NOK/MWh spike at
08:00 (section 5.3), ``PRICE_DK2`` a volatile wind day with its lowest price at
03:00-04:00 (section 5.3.1, Fig. 6c), both hourly from 12:00 to 11:00 [NOK/MWh].
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandapower as pp

from flexcosim.agents.grid_optim.ac_check import ACCheck, ac_check, ac_net, solve_ac_feasible
from flexcosim.agents.grid_optim.lindistflow import radial_network
from flexcosim.agents.grid_optim.opf import (
    TOLERANCE,
    EVSessions,
    OPFProblem,
    OPFResult,
    Strategy,
    solve_opf,
)
from flexcosim.grids.large_feeder import HEATING_SCALE, SEED_WINDOW, load_profiles
from flexcosim.grids.network import GridNetwork

#: Seed 002 assumption vii: 1.3 EVs per consumer.
EVS_PER_LOAD_POINT = 1.3
#: Hourly spot price 12:00 .. 11:00 next day [NOK/MWh], stylised NO3 winter day (flat,
#: hydro) with the seed's 2000 NOK/MWh spike at 08:00 (seed 002 section 5.3).
PRICE_NO3 = np.array([
    420, 415, 410, 415, 430, 460, 470, 455, 430, 400, 380, 360,
    340, 330, 325, 325, 335, 380, 520, 900, 2000, 700, 520, 460,
], dtype=float)
#: Hourly price 12:00 .. 11:00 [NOK/MWh], stylised DK2 day with large variations (wind):
#: evening and morning peaks, the lowest (negative) price at 03:00-04:00 (seed 002
#: section 5.3.1). Mean 296 NOK/MWh, standard deviation 193 NOK/MWh (seed Table E.8,
#: DK2 2019: 392 / 125 over a whole year, so this day is more volatile than average).
PRICE_DK2 = np.array([
    360, 340, 320, 330, 400, 540, 620, 500, 380, 280, 200, 130,
    80, 40, 10, -40, -10, 70, 240, 460, 580, 500, 410, 360,
], dtype=float)
PRICE_DAYS: dict[str, np.ndarray] = {"NO3": PRICE_NO3, "DK2": PRICE_DK2}


def seed002_sessions(bus_positions: np.ndarray, n_evs: int, n_steps: int = 96,
                     seed: int = 2) -> EVSessions:
    """Draw ``n_evs`` EV sessions as in seed 002 Table D.7 for a noon-to-noon day.

    Daily distance N(52 km, 22 km) (clipped at 5 km); 80 % of EVs use 17 kWh/100 km with a
    40 kWh battery, 20 % use 21 kWh/100 km with 75 kWh (battery sizes are ours, the seed
    gives none); chargers 2.3 kW (70 %), 3.7 kW (20 %), 11 kW (10 %); arrival
    N(17:00, 90 min), plugged in 14.5 h (departure 9.5 h before the next arrival); target
    SOC 100 %. The first ``k`` of a draw of ``n`` equal a draw of ``k``, so an EV-share
    sweep adds EVs and never reshuffles them. EVs arriving after the window's end (a window
    shorter than the day) are left out.

    Parameters
    ----------
    bus_positions : bus positions of the load points (consumers) EVs are placed at
    n_evs : number of EVs drawn, at most ``ceil(1.3 len(bus_positions))``
    n_steps : quarter-hours from 12:00
    seed : random seed
    """
    rng = np.random.default_rng(seed)
    total = int(np.ceil(EVS_PER_LOAD_POINT * len(bus_positions)))
    if not 0 <= n_evs <= total:
        raise ValueError(f"n_evs={n_evs}: must lie in 0..{total} (1.3 EVs per load point)")
    order = np.concatenate([rng.permutation(bus_positions), rng.choice(bus_positions, total)])[:total]
    km = np.clip(rng.normal(52, 22, total), 5, None)
    heavy = rng.random(total) < 0.2
    kwh_per_km = np.where(heavy, 0.21, 0.17)
    capacity = np.where(heavy, 75.0, 40.0)
    charger = rng.choice([2.3, 3.7, 11.0], size=total, p=[0.7, 0.2, 0.1])
    arrival_h = np.clip(rng.normal(17.0, 1.5, total), 12.25, 23.75)
    arrival = np.round((arrival_h - 12.0) * 4).astype(int)
    departure = np.minimum(arrival + 58, n_steps)  # 14.5 h plugged in
    soc_arrival = np.clip(1.0 - km * kwh_per_km / capacity, 0.05, 1.0)
    sl = np.flatnonzero(arrival[:n_evs] < n_steps)  # a window shorter than the day: who arrives in it
    return EVSessions(bus=order[sl], arrival_step=arrival[sl], departure_step=departure[sl],
                      p_max_kw=charger[sl], capacity_kwh=capacity[sl], soc_arrival=soc_arrival[sl],
                      soc_target=np.ones(len(sl)), efficiency=0.95)


def large_feeder_problem(grid: GridNetwork, heating_scale: float | None = HEATING_SCALE,
                         price_per_mwh: np.ndarray = PRICE_NO3,
                         window: tuple[int, int] = SEED_WINDOW, seed: int = 2) -> OPFProblem:
    """The seed-002 OPF problem on ``grid`` (from ``build_large_feeder``) with every EV
    (1.3 per load point), the calibrated heating base load and an hourly price.

    Parameters
    ----------
    grid : the large feeder
    heating_scale : see :func:`~flexcosim.grids.large_feeder.load_profiles`; ``None`` keeps
        SimBench's household profiles (no electric heating)
    price_per_mwh : hourly prices [currency/MWh], one per hour of the window
    window : (first quarter-hour of the SimBench year, number of quarter-hours)
    seed : random seed of the EV sessions
    """
    first_step, n_steps = window
    price = np.asarray(price_per_mwh, dtype=float)
    if len(price) * 4 != n_steps:
        raise ValueError(f"price_per_mwh: {len(price)} hourly values for {n_steps} quarter-hours")
    net = grid.net
    network = radial_network(net)
    p, q = load_profiles(net, first_step, n_steps, heating_scale=heating_scale)
    pos = network.bus_positions(p.columns.to_numpy())
    base_p = np.zeros((network.n_buses, n_steps))
    base_q = np.zeros((network.n_buses, n_steps))
    base_p[pos] = p.to_numpy().T
    base_q[pos] = q.to_numpy().T
    load_points = network.bus_positions(np.asarray(sorted(net.load.bus.unique())))
    n_evs = int(round(EVS_PER_LOAD_POINT * len(load_points)))
    return OPFProblem(network=network, base_p_mw=base_p, base_q_mvar=base_q,
                      price_per_mwh=np.repeat(price, 4),
                      evs=seed002_sessions(load_points, n_evs, n_steps, seed), unmet_penalty_per_kwh=20.0)


def with_share(problem: OPFProblem, share: float) -> OPFProblem:
    """``problem`` with the first ``share`` (0..1) of its EVs."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"share={share}: must lie in [0, 1]")
    k = int(round(share * problem.evs.n_evs))
    evs = problem.evs
    cut = {f.name: getattr(evs, f.name)[:k] for f in dataclasses.fields(evs) if f.name != "efficiency"}
    return dataclasses.replace(problem, evs=EVSessions(**cut, efficiency=evs.efficiency))


def with_price(problem: OPFProblem, price_per_mwh: np.ndarray) -> OPFProblem:
    """``problem`` optimised against another hourly price [currency/MWh]."""
    return dataclasses.replace(problem, price_per_mwh=np.repeat(np.asarray(price_per_mwh, float), 4))


@dataclass(frozen=True)
class ShareKPIs:
    """AC-measured outcome of one strategy at one EV share (see module docstring).

    Attributes
    ----------
    strategy : "a", "b" or "c"
    ev_share : share of the full EV population [-]
    n_evs : number of EVs
    status : the schedule's status ("uncontrolled", "optimal", or why it failed)
    ac_ok : every AC power flow converged and no limit is violated
    energy_mwh, ev_energy_mwh, losses_mwh : slack import, EV charging energy, AC losses [MWh]
    cost : price-day name -> ``sum mu_t P_slack,t dt`` [currency]
    max_line_loading, max_trafo_loading : [-] (1.0 = 100 %)
    min_voltage_pu : [pu]
    violation_hours : hours with at least one AC limit violation [h]
    unmet_energy_kwh : energy missing at departure, all EVs [kWh]
    schedule_time_s : time to compute the schedule incl. the AC correction of c [s]
    total_time_s : schedule plus AC evaluation [s]
    """

    strategy: str
    ev_share: float
    n_evs: int
    status: str
    ac_ok: bool
    energy_mwh: float
    ev_energy_mwh: float
    losses_mwh: float
    cost: dict[str, float]
    max_line_loading: float
    max_trafo_loading: float
    min_voltage_pu: float
    violation_hours: float
    unmet_energy_kwh: float
    schedule_time_s: float
    total_time_s: float

    @property
    def overloaded(self) -> bool:
        """A line or transformer is loaded above 100 % in AC."""
        return max(self.max_line_loading, self.max_trafo_loading) > 1.0 + TOLERANCE


def evaluate_share(problem: OPFProblem, net: pp.pandapowerNet, strategy: Strategy, share: float,
                   cost_prices: Mapping[str, np.ndarray] | None = None,
                   ac: pp.pandapowerNet | None = None, workers: int = 1) -> ShareKPIs:
    """Schedule the first ``share`` of the EVs of ``problem`` with ``strategy`` and measure
    the KPIs in AC.

    Parameters
    ----------
    problem : the OPF problem with the full EV population (its price is the one strategies
        b and c optimise)
    net : the pandapower net ``problem.network`` was derived from
    strategy : "a" uncontrolled, "b" cost-optimal without grid, "c" cost-optimal with
        grid limits, AC-corrected (:func:`solve_ac_feasible`)
    share : EV share (0..1) of the population in ``problem`` [-]
    cost_prices : price-day name -> hourly prices [currency/MWh] to cost the result with;
        default ``{"opt": the problem's own price}``
    ac : a net from :func:`ac_net` to reuse across calls (saves a deep copy)
    workers : processes for the AC power flows

    Never raises for a failed or infeasible schedule: ``status`` says what happened,
    the schedule returned with it (no charging for a failed LP) is what gets measured.
    """
    t0 = time.perf_counter()
    problem = with_share(problem, share)
    hours = problem.n_steps * problem.step_h
    prices = {"opt": problem.price_per_mwh} if cost_prices is None else {}
    for name, hourly in (cost_prices or {}).items():
        if len(hourly) != round(hours):
            raise ValueError(f"cost_prices[{name!r}]: {len(hourly)} hourly values for {hours:g} h")
        prices[name] = np.repeat(np.asarray(hourly, dtype=float), round(3600 / problem.step_s))
    ac = ac_net(problem, net) if ac is None else ac
    check: ACCheck | None = None
    if problem.evs.n_evs == 0:  # nothing to schedule (and HiGHS rejects an empty LP)
        result = dataclasses.replace(solve_opf(problem, "a"), strategy=strategy, status="no EVs")
    elif strategy == "c":
        feasible = solve_ac_feasible(problem, net, workers=workers)
        result: OPFResult = feasible.opf
        check = feasible.check
    else:
        result = solve_opf(problem, strategy)
    schedule_s = time.perf_counter() - t0
    if check is None:
        check = ac_check(problem, result, net, workers=workers, ac=ac)
    step_h = problem.step_h
    load_mw = problem.base_p_mw.sum(axis=0) + result.ev_power_kw.sum(axis=0) / 1000.0
    slack = check.slack_p_mw
    loading = np.nan_to_num(check.loading)
    v = check.v_pu
    bad_step = ((loading > 1 + TOLERANCE).any(axis=0) | (v < problem.v_min_pu - TOLERANCE).any(axis=0)
                | (v > problem.v_max_pu + TOLERANCE).any(axis=0) | np.isnan(v).any(axis=0))
    return ShareKPIs(
        strategy=strategy, ev_share=float(share), n_evs=problem.evs.n_evs,
        status=f"{result.status}: {result.reason}" if result.reason else result.status,
        ac_ok=check.ok,
        energy_mwh=float(np.nansum(slack) * step_h),
        ev_energy_mwh=float(result.ev_power_kw.sum() * step_h / 1000.0),
        losses_mwh=float(np.nansum(slack - load_mw) * step_h),
        cost={name: float(np.nansum(mu * slack) * step_h) for name, mu in prices.items()},
        max_line_loading=check.max_line_loading, max_trafo_loading=check.max_trafo_loading,
        min_voltage_pu=float(np.nanmin(v)), violation_hours=float(bad_step.sum() * step_h),
        unmet_energy_kwh=float(result.unmet_energy_kwh.sum()),
        schedule_time_s=schedule_s, total_time_s=time.perf_counter() - t0,
    )


def first_overload_share(kpis: list[ShareKPIs], strategy: str) -> float | None:
    """Smallest EV share at which ``strategy`` overloads a line or transformer in AC
    (``None`` if no share does)."""
    hits = [k.ev_share for k in kpis if k.strategy == strategy and k.overloaded]
    return min(hits) if hits else None


__all__ = [
    "EVS_PER_LOAD_POINT",
    "PRICE_DAYS",
    "PRICE_DK2",
    "PRICE_NO3",
    "ShareKPIs",
    "evaluate_share",
    "first_overload_share",
    "large_feeder_problem",
    "seed002_sessions",
    "with_price",
    "with_share",
]
