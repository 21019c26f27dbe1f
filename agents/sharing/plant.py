"""What one unit's energy aggregator knows of its plant, and its BTM EMS in the loop.

A unit of the capacity-sharing study (seed 004 4.2.1) is a charging site with its
buildings and PV (non-flexible), an optional stationary battery and deferrable loads.
:class:`UnitPlant` holds the fixed facts; :class:`UnitState` the last readings (EVs
parked, battery energy, energy each load has received). From both,
:meth:`UnitPlant.forecast` builds the :class:`~flexcosim.agents.sharing.unit.UnitForecast`
that feeds the capacity-demand LP (eqs 4.1-4.5) and the BTM EMS MILP (eqs 3.10-3.30);
:meth:`UnitPlant.schedule` solves the MILP under the unit's capacity for the period
(``Φ_c`` plus approved agreements) and returns the first step's set-points.

Reference energies the period must end with (the ``s*_v(k + T^R) C_v`` of eq 4.3, which
the seed takes from a reference schedule it does not define; chosen here):

* an EV: its remaining energy spread evenly over its remaining stay, ``e + (e_target - e)
  min(1, (t_end - t) / (t_dep - t))`` (all of it if it leaves within the horizon);
* a deferrable load: what it must have so the rest fits before its deadline at full
  power (:func:`~flexcosim.agents.sharing.unit.deferrable_stores`);
* the battery: in a horizon with PV surplus, its energy plus the surplus it can store
  (it soaks up PV); otherwise its lowest planned energy (it may discharge to relieve the
  unit's draw).

Forecasts of the building load and PV are the profiles the run uses (perfect forecasts,
an assumption of the study). Units: kW, kWh, seconds since the run start.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from flexcosim.agents.optim.btm_ems import StorageUnits, solve_btm_ems
from flexcosim.agents.sharing.unit import UnitForecast, deferrable_stores, join_stores
from flexcosim.cosim.models.charger import PluggedEV
from flexcosim.cosim.models.flexible_load import DeferrableLoad


@dataclass(frozen=True)
class UnitBatterySpec:
    """The unit's stationary battery as its EMS sees it.

    capacity_kwh [kWh]; max_power_kw grid side [kW]; efficiency one-way [-];
    min_energy_kwh lowest energy the EMS plans [kWh].
    """

    capacity_kwh: float
    max_power_kw: float
    efficiency: float
    min_energy_kwh: float


@dataclass
class UnitState:
    """The unit's last readings.

    evs : EV -> what its charger reports (parked EVs only)
    battery_kwh : the battery's energy [kWh]
    delivered_kwh : deferrable load -> energy received so far [kWh]
    """

    evs: Mapping[str, PluggedEV] = field(default_factory=dict)
    battery_kwh: float = 0.0
    delivered_kwh: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class UnitSetpoints:
    """One EMS decision: EV charger powers, battery power (> 0 charge), load powers [kW]."""

    evs_kw: dict[str, float]
    battery_kw: float
    loads_kw: dict[str, float]
    import_kw: float  # the planned draw of the step [kW]


@dataclass(frozen=True, eq=False)
class UnitPlant:
    """Fixed facts of one unit (see the module docstring).

    Attributes
    ----------
    name : unit name
    step_s : the run's step (the EMS's step) [s]
    fixed_net_kw : (run steps,) building load minus PV per step [kW]
    import_price_per_kwh : (run steps,) [currency/kWh]
    connection_kw : the unit's connection rating (also its export limit) [kW]
    charger_kw, charger_efficiency : charger rating [kW] and efficiency [-]
    targets_kwh, departures_s : EV -> energy wanted at departure [kWh], departure [s]
    battery : the battery, or ``None``
    loads : the deferrable loads (their ``delivered_kwh`` is read from :class:`UnitState`)
    unmet_value_per_kwh : value of a kWh a store ends short [currency/kWh]
    """

    name: str
    step_s: int
    fixed_net_kw: np.ndarray
    import_price_per_kwh: np.ndarray
    connection_kw: float
    charger_kw: float
    charger_efficiency: float
    targets_kwh: Mapping[str, float]
    departures_s: Mapping[str, int]
    battery: UnitBatterySpec | None = None
    loads: Sequence[DeferrableLoad] = ()
    unmet_value_per_kwh: float = 1.0

    def forecast(self, state: UnitState, now_s: int, end_s: int) -> UnitForecast:
        """The unit over ``[now_s, end_s)`` in steps of ``step_s``, from the step holding ``now_s``."""
        k0 = now_s // self.step_s
        n = max(1, min(-(-(end_s - k0 * self.step_s) // self.step_s), len(self.fixed_net_kw) - k0))
        steps = slice(k0, k0 + n)
        fixed = self.fixed_net_kw[steps]
        evs = self._evs(state, now_s, end_s, n)
        loads = [replace(ld, delivered_kwh=state.delivered_kwh.get(ld.name, 0.0))
                 for ld in self.loads]
        stores = join_stores(evs, deferrable_stores(loads, k0 * self.step_s, self.step_s, n),
                             n_steps=n) if loads else evs
        return UnitForecast(
            fixed_load_kw=fixed, import_price_per_kwh=self.import_price_per_kwh[steps],
            dt_s=self.step_s, evs=stores, batteries=self._battery(state, fixed),
            unmet_value_per_kwh=self.unmet_value_per_kwh, export_limit_kw=self.connection_kw)

    def _evs(self, state: UnitState, now_s: int, end_s: int, n: int) -> StorageUnits:
        evs = list(state.evs.values())
        if not evs:
            return StorageUnits.none()
        cap = np.array([ev.capacity_kwh for ev in evs])
        energy = np.minimum([ev.soc * ev.capacity_kwh for ev in evs], cap)
        charge = np.array([min(self.charger_kw, ev.max_charge_kw / self.charger_efficiency)
                           for ev in evs])
        departure = np.array([self.departures_s.get(ev.ev, end_s) for ev in evs], dtype=float)
        target = np.minimum([self.targets_kwh.get(ev.ev, ev.capacity_kwh) for ev in evs], cap)
        share = np.clip((end_s - now_s) / np.maximum(departure - now_s, 1.0), 0.0, 1.0)
        final = np.maximum(energy, energy + (target - energy) * share)
        steps_left = np.ceil((departure - (now_s // self.step_s) * self.step_s) / self.step_s)
        connected = np.arange(n)[None, :] < np.clip(steps_left, 1, n)[:, None]
        return StorageUnits(capacity_kwh=cap, energy_kwh=energy, max_charge_kw=charge,
                            max_discharge_kw=np.zeros(len(evs)), final_energy_kwh=final,
                            efficiency=self.charger_efficiency, connected=connected)

    def _battery(self, state: UnitState, fixed_kw: np.ndarray) -> StorageUnits:
        b = self.battery
        if b is None:
            return StorageUnits.none()
        energy = min(max(state.battery_kwh, 0.0), b.capacity_kwh)
        low = min(b.min_energy_kwh, energy)
        surplus_kwh = float(np.clip(-fixed_kw, 0.0, None).sum()) * self.step_s / 3600.0
        final = min(b.capacity_kwh, energy + b.efficiency * surplus_kwh) if surplus_kwh > 0 else low
        return StorageUnits(capacity_kwh=np.array([b.capacity_kwh]), energy_kwh=np.array([energy]),
                            max_charge_kw=np.array([b.max_power_kw]),
                            max_discharge_kw=np.array([b.max_power_kw]),
                            min_energy_kwh=np.array([low]), final_energy_kwh=np.array([final]),
                            efficiency=b.efficiency)

    def schedule(self, state: UnitState, now_s: int, end_s: int,
                 capacity_kw: float) -> tuple[UnitSetpoints | None, str]:
        """The BTM EMS (cost objective, eq 3.30) under ``capacity_kw`` [kW] until ``end_s``.

        Returns the first step's set-points and ``""``, or ``None`` and why no schedule
        exists (e.g. the non-flexible load alone exceeds the capacity).
        """
        forecast = self.forecast(state, now_s, end_s)
        result = solve_btm_ems(forecast.btm_problem(capacity_kw), "cost")
        if not result.ok:
            return None, f"BTM EMS MILP {result.status}: {result.reason}"
        ev_power = result.evs.charge_kw[:, 0] - result.evs.discharge_kw[:, 0]
        n_evs = len(state.evs)
        battery = (float(result.batteries.charge_kw[0, 0] - result.batteries.discharge_kw[0, 0])
                   if self.battery is not None else 0.0)
        return UnitSetpoints(
            evs_kw={ev: float(p) for ev, p in zip(state.evs, ev_power[:n_evs])},
            battery_kw=battery,
            loads_kw={ld.name: float(p) for ld, p in zip(self.loads, ev_power[n_evs:])},
            import_kw=float(result.import_kw[0]),
        ), ""


def idle(plant: UnitPlant, state: UnitState) -> UnitSetpoints:
    """The safe fallback: every flexible asset off [kW]."""
    return UnitSetpoints({ev: 0.0 for ev in state.evs}, 0.0,
                         {ld.name: 0.0 for ld in plant.loads}, math.nan)
