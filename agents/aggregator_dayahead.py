"""An aggregator applying the DSO's day-ahead plan during the run (seed 000 section 3).

Per slot the aggregator (1) tells each of its PV inverters an output cap: the plan's
export limit ``zeta_k,t`` times that inverter's share of the forecast it reported
(no cap where ``zeta = 1``), so the feeder's PV never exceeds what the DSO planned even
when the sun shines more than forecast; and (2) splits the planned charging power
``P^EV_k,t`` among its parked EVs, earliest departure first, each up to its charger
and the energy it still needs (:func:`dispatch_evs`); an EV that would otherwise miss
its target charges anyway (the plan is an aggregate; it cannot see single EVs). Without a
profile every parked EV charges at full power until its target (uncontrolled charging).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from flexcosim.agents.dso_dayahead import FeederPlan

#: zeta at or above this counts as "no limit" [-].
_NO_LIMIT = 1.0 - 1e-6


def dispatch_evs(
    target_kw: float | None,
    need_kwh: np.ndarray,
    departure_s: np.ndarray,
    parked: np.ndarray,
    max_kw: float,
    time_s: int,
    step_s: int,
) -> np.ndarray:
    """Battery-side power per EV [kW] following ``target_kw``, earliest departure first.

    An EV that would miss its target if it waited (its need exceeds what full power in
    its remaining slots after this one can deliver) first gets the least power that keeps
    its target reachable, even if the fleet then exceeds ``target_kw``: a driver's target
    comes before the plan. What is left of ``target_kw`` goes to the parked EVs by
    earliest departure, each up to its charger and its need.

    Parameters
    ----------
    target_kw : fleet charging power at the battery side [kW]; ``None``: every parked EV
        at full power (uncontrolled)
    need_kwh : (n,) energy each EV still needs to its target [kWh]
    departure_s : (n,) departure times [s], the priority order
    parked : (n,) whether the EV is at its charger
    max_kw : battery-side charger limit p^max eta [kW]
    time_s, step_s : start and length of this slot [s]
    """
    dt_h = step_s / 3600.0
    cap = np.where(parked, np.clip(need_kwh / dt_h, 0.0, max_kw), 0.0)
    if target_kw is None:
        return cap
    later = np.maximum(np.ceil((departure_s - time_s) / step_s) - 1, 0) * max_kw * dt_h
    power = np.minimum(np.clip((need_kwh - later) / dt_h, 0.0, None), cap)
    left = max(float(target_kw) - power.sum(), 0.0)
    for j in np.argsort(departure_s, kind="stable"):
        if left <= 0.0:
            break
        extra = min(cap[j] - power[j], left)
        power[j] += extra
        left -= extra
    return power


class PlanFollower:
    """Aggregator k during the run: holds its plan and turns it into set-points.

    Parameters
    ----------
    name : aggregator name
    pv_forecast_kw : inverter name -> (T,) its forecast available PV [kW]
    ev_ids : the aggregator's EVs
    arrival_s, departure_s : (n,) their declared arrivals and departures [s]
    arrival_kwh, target_kwh : (n,) their declared arrival and target energy [kWh]
    charger_kw, efficiency : home charger rating (grid side) [kW] and eta_ch [-]
    """

    def __init__(self, name: str, pv_forecast_kw: Mapping[str, np.ndarray], ev_ids: list[str],
                 arrival_s: np.ndarray, departure_s: np.ndarray, arrival_kwh: np.ndarray,
                 target_kwh: np.ndarray, charger_kw: float, efficiency: float) -> None:
        self.name = name
        self.pv_forecast_kw = dict(pv_forecast_kw)
        self.ev_ids = list(ev_ids)
        self.arrival_s, self.departure_s = np.asarray(arrival_s), np.asarray(departure_s)
        self.arrival_kwh, self.target_kwh = np.asarray(arrival_kwh), np.asarray(target_kwh)
        self.charger_kw, self.efficiency = charger_kw, efficiency
        self.plan: FeederPlan | None = None

    def accept(self, plan: FeederPlan) -> None:
        """Take the DSO's plan for the coming horizon."""
        self.plan = plan

    def pv_caps_kw(self, slot: int) -> dict[str, float]:
        """Output cap per inverter in ``slot`` [kW]; ``inf`` where the plan sets no limit."""
        zeta = float(self.plan.export_limit[slot])
        if zeta >= _NO_LIMIT:
            return {pv: float("inf") for pv in self.pv_forecast_kw}
        return {pv: zeta * float(f[slot]) for pv, f in self.pv_forecast_kw.items()}

    def ev_setpoints_kw(self, time_s: int, step_s: int,
                        energy_kwh: Mapping[str, float]) -> np.ndarray:
        """Grid-side charger set-point per EV (``ev_ids`` order) in the slot from ``time_s`` [kW].

        ``energy_kwh``: the EVs' stored energy as last measured [kWh]; an EV not measured
        yet has its declared arrival energy.
        """
        energy = np.array([energy_kwh.get(ev, e0) for ev, e0 in zip(self.ev_ids, self.arrival_kwh)])
        need_kwh = self.target_kwh - energy
        parked = (self.arrival_s <= time_s) & (time_s < self.departure_s)
        profile = self.plan.charging_kw
        target = None if profile is None else float(profile[time_s // step_s])
        battery = dispatch_evs(target, need_kwh, self.departure_s, parked,
                               self.charger_kw * self.efficiency, time_s, step_s)
        return battery / self.efficiency
