"""The DSO's day-ahead plan for PV export limits and EV charging per aggregator (seed 000).

Before the day, each aggregator k sends a :class:`FeederForecast` (its available PV,
the forecast demand on its main cable without EVs and PV, the cable rating and its EVs'
declared arrivals, departures and distances); the DSO turns the EVs into aggregated
energy/power boundaries (seed 000 eqs. 2-10), solves the coordination LP (eqs. 11-16,
:func:`flexcosim.agents.grid_optim.dso_coordination.coordinate_aggregators`) and answers
each aggregator with a :class:`FeederPlan`: export limit ``zeta_k,t`` and charging
profile ``P^EV_k,t`` per slot.

A failed solve (e.g. hard ratings that cannot carry the EVs' energy) is a normal event:
the plan's ``status`` is ``"fallback"``, its ``message`` says why, and every aggregator
gets the safe plan of :func:`safe_plan` instead. ``plan_uncoordinated`` is the
no-coordination baseline: no export limit, every EV charges at full power on arrival.

Pure functions: no mosaik, no messages. The run hands plans over through the agent
simulator today; they are plain data, ready to travel as messages.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from flexcosim.agents.grid_optim.dso_coordination import (
    AggregatorRequest,
    CoordinationProblem,
    CoordinationResult,
    EvFleet,
    FleetBoundaries,
    coordinate_aggregators,
    fleet_boundaries,
)


@dataclass(frozen=True)
class FeederForecast:
    """What aggregator k tells the DSO day-ahead.

    Attributes
    ----------
    name : aggregator name
    pv_available_kw : (T,) forecast available PV of its households, eq. 1 [kW]
    line_forecast_kw : (T,) forecast demand on its main cable without EVs and PV [kW]
    line_rating_kva : rating of the main cable [kVA]
    fleet : its EVs (declared arrival/departure slot, distance, battery)
    """

    name: str
    pv_available_kw: np.ndarray
    line_forecast_kw: np.ndarray
    line_rating_kva: float
    fleet: EvFleet


@dataclass(frozen=True)
class CoordinationSettings:
    """The DSO's side of the LP.

    Attributes
    ----------
    transformer_rating_kva : S^rated_Trans [kVA]
    slot_h : slot length Delta t [h] (seed: 1/6)
    charger_kw : p^max_ch of every home charger, grid side [kW] (seed: 3.7)
    charger_efficiency : eta_ch [-] (seed: 0.92)
    power_factor : cos phi of the ratings [-] (seed: 0.95)
    overload_weight, ramp_weight : omega and gamma of eq. 11 (seed: 1000 each)
    max_overload_kw : cap on the overload slack [kW]; 0 makes the ratings hard (seed: none)
    """

    transformer_rating_kva: float
    slot_h: float
    charger_kw: float
    charger_efficiency: float
    power_factor: float = 0.95
    overload_weight: float = 1000.0
    ramp_weight: float = 1000.0
    max_overload_kw: float = float("inf")


@dataclass(frozen=True)
class FeederPlan:
    """The DSO's answer to one aggregator.

    Attributes
    ----------
    name : aggregator name
    export_limit : (T,) zeta, share of the forecast available PV the aggregator may let its
        inverters produce [-]
    charging_kw : (T,) fleet charging power at the battery side P^EV [kW]; ``None`` means
        no profile (EVs charge at full power on arrival)
    """

    name: str
    export_limit: np.ndarray
    charging_kw: np.ndarray | None


@dataclass(frozen=True)
class DayAheadPlan:
    """The DSO's day-ahead decision.

    Attributes
    ----------
    status : "optimal" (LP solved), "fallback" (LP failed, safe plan) or "uncoordinated"
    message : why the LP failed (empty otherwise)
    solve_time_s : wall time of building and solving the LP [s]
    feeders : aggregator name -> its plan
    result : the LP's solution (``None`` unless solved)
    boundaries : aggregator name -> the fleet boundaries the DSO derived (eqs. 9-10)
    """

    status: str
    message: str
    solve_time_s: float
    feeders: dict[str, FeederPlan]
    result: CoordinationResult | None = None
    boundaries: dict[str, FleetBoundaries] | None = None


def _boundaries(forecasts: Sequence[FeederForecast], settings: CoordinationSettings,
                n_slots: int) -> dict[str, FleetBoundaries]:
    return {f.name: fleet_boundaries(f.fleet, n_slots, settings.slot_h, settings.charger_kw,
                                     settings.charger_efficiency) for f in forecasts}


def plan_coordinated(forecasts: Sequence[FeederForecast],
                     settings: CoordinationSettings) -> DayAheadPlan:
    """Solve the coordination LP (seed 000 eqs. 11-16); on failure fall back to :func:`safe_plan`."""
    n_slots = forecasts[0].pv_available_kw.size
    t0 = time.perf_counter()
    bounds = _boundaries(forecasts, settings, n_slots)
    problem = CoordinationProblem(
        [AggregatorRequest(f.name, f.pv_available_kw, bounds[f.name], f.line_forecast_kw,
                           f.line_rating_kva, settings.charger_efficiency) for f in forecasts],
        settings.transformer_rating_kva, settings.power_factor, settings.slot_h,
        settings.overload_weight, settings.ramp_weight, settings.max_overload_kw)
    result = coordinate_aggregators(problem)
    solve_s = time.perf_counter() - t0
    if not result.ok:
        safe = safe_plan(forecasts, settings, bounds)
        why = "; ".join([result.message, *_rating_conflicts(forecasts, settings)])
        return DayAheadPlan("fallback", f"coordination LP {result.status}: {why}",
                            solve_s, safe.feeders, None, bounds)
    feeders = {name: FeederPlan(name, result.export_limit[k], result.charging_kw[k])
               for k, name in enumerate(result.names)}
    return DayAheadPlan("optimal", "", solve_s, feeders, result, bounds)


def _rating_conflicts(forecasts: Sequence[FeederForecast],
                      settings: CoordinationSettings) -> list[str]:
    """Cables whose forecast demand alone exceeds what the LP may use (eq. 14 with OL capped)."""
    out = []
    for f in forecasts:
        limit = f.line_rating_kva * settings.power_factor + settings.max_overload_kw
        t = int(np.argmax(f.line_forecast_kw))
        if f.line_forecast_kw[t] > limit:
            out.append(f"{f.name}: forecast demand {f.line_forecast_kw[t]:.1f} kW at slot {t} "
                       f"exceeds the main cable's {limit:.1f} kW (rating x cos phi + "
                       "max_overload_kw), leaving no room to charge")
    return out


def safe_plan(forecasts: Sequence[FeederForecast], settings: CoordinationSettings,
              bounds: dict[str, FleetBoundaries] | None = None) -> DayAheadPlan:
    """The plan the DSO sends when the LP fails: each feeder on its own, no optimisation.

    * export limit: the forecast feeder export stays within the cable rating,
      ``zeta_t = min(1, (S_line cos phi + P^fc_t) / P^PV_t)`` (the cable limit of eq. 13
      with no EVs and no overload);
    * charging: every EV spreads the energy it needs evenly over its stay
      (``(e^obj - e^arr) / stay`` per slot, the lowest constant power that meets its
      target); the profile is the fleet's sum, at most the charger-limited P^upper.
    """
    n_slots = forecasts[0].pv_available_kw.size
    bounds = bounds or _boundaries(forecasts, settings, n_slots)
    feeders = {}
    for f in forecasts:
        pv = f.pv_available_kw
        room = f.line_rating_kva * settings.power_factor + f.line_forecast_kw
        zeta = np.where(pv > 0, np.clip(room / np.where(pv > 0, pv, 1.0), 0.0, 1.0), 1.0)
        fleet = f.fleet
        stay = fleet.departure_slot - fleet.arrival_slot
        reachable = (fleet.arrival_energy_kwh + settings.charger_kw * settings.charger_efficiency
                     * settings.slot_h * stay)
        need = np.clip(fleet.objective_energy_kwh, fleet.arrival_energy_kwh, reachable) \
            - fleet.arrival_energy_kwh
        rate = need / (stay * settings.slot_h)
        slots = np.arange(n_slots)[None, :]
        present = (slots >= fleet.arrival_slot[:, None]) & (slots < fleet.departure_slot[:, None])
        charging = np.minimum((rate[:, None] * present).sum(axis=0),
                              bounds[f.name].power_upper_kw)
        feeders[f.name] = FeederPlan(f.name, zeta, charging)
    return DayAheadPlan("fallback", "", 0.0, feeders, None, bounds)


def plan_uncoordinated(forecasts: Sequence[FeederForecast]) -> DayAheadPlan:
    """No coordination: no export limit and no charging profile for any aggregator."""
    return DayAheadPlan("uncoordinated", "", 0.0, {
        f.name: FeederPlan(f.name, np.ones(f.pv_available_kw.size), None) for f in forecasts})
