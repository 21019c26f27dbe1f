"""A behind-the-meter unit as its aggregator forecasts it for one sharing period.

The same data feed two models of seed 004: the capacity-demand LP (eqs 4.1-4.5, for
``p̄_c(k)``) and the BTM EMS MILP with the cost objective (eqs 3.11-3.29 with 3.30, for
what a capacity limit costs the unit). EVs, deferrable loads (a charge-only store with a
connection window, see :mod:`flexcosim.cosim.models.flexible_load`) and stationary
batteries are all :class:`~flexcosim.agents.optim.btm_ems.StorageUnits`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from flexcosim.agents.optim.btm_ems import BTMProblem, StorageUnits, solve_btm_ems
from flexcosim.agents.optim.capacity_demand import CapacityDemandProblem
from flexcosim.agents.validation import float_array, positive_int
from flexcosim.cosim.models.flexible_load import DeferrableLoad

#: Fields of :class:`StorageUnits` that are one value per unit.
_STORE_FIELDS = ("capacity_kwh", "energy_kwh", "max_charge_kw", "max_discharge_kw",
                 "min_energy_kwh", "final_energy_kwh", "efficiency")


@dataclass(frozen=True, eq=False)
class UnitForecast:
    """One unit over the ``T`` steps of a sharing period ``[k, k + T^R)``.

    Attributes
    ----------
    fixed_load_kw : (T,) forecast net consumption of the non-flexible assets (building
        load minus PV; negative when PV exceeds the load) [kW]
    import_price_per_kwh : (T,) price of imported energy [currency/kWh]
    dt_s : step length [s]; ``T dt_s`` is ``T^R``
    evs : EVs and deferrable loads: stores with a connection window (``connected``) and a
        minimum final energy (the reference schedule's ``s*_v(k + T^R) C_v`` of eq 4.3)
    batteries : stationary batteries (always connected)
    unmet_value_per_kwh : what a kWh a store ends short of its final energy costs the
        unit (lost charging revenue or a penalty) [currency/kWh]
    export_price_per_kwh : (T,) feed-in tariff [currency/kWh]; zeros if not given
    export_limit_kw : export limit of the connection [kW]
    """

    fixed_load_kw: np.ndarray
    import_price_per_kwh: np.ndarray
    dt_s: int
    evs: StorageUnits = field(default_factory=StorageUnits.none)
    batteries: StorageUnits = field(default_factory=StorageUnits.none)
    unmet_value_per_kwh: float = 1.0
    export_price_per_kwh: np.ndarray | None = None
    export_limit_kw: float = 0.0

    def __post_init__(self) -> None:
        step = (len(np.atleast_1d(self.fixed_load_kw)),)
        export = 0.0 if self.export_price_per_kwh is None else self.export_price_per_kwh
        checked = {
            "fixed_load_kw": float_array("fixed_load_kw", self.fixed_load_kw, step),
            "import_price_per_kwh": float_array(
                "import_price_per_kwh", self.import_price_per_kwh, step
            ),
            "export_price_per_kwh": float_array("export_price_per_kwh", export, step),
            "dt_s": positive_int("dt_s", self.dt_s),
            "unmet_value_per_kwh": float(
                float_array("unmet_value_per_kwh", self.unmet_value_per_kwh, (), lo=0.0)
            ),
            "export_limit_kw": float(
                float_array("export_limit_kw", self.export_limit_kw, (), lo=0.0)
            ),
        }
        for name, value in checked.items():
            object.__setattr__(self, name, value)
        self.evs.connected_mask(step[0])

    @property
    def n_steps(self) -> int:
        return len(self.fixed_load_kw)

    def capacity_demand_problem(self) -> CapacityDemandProblem:
        """The unit as the capacity-demand LP sees it (seed 004 eqs 4.1-4.5).

        Every store connected at some step of the period is one "EV" of the LP, from its
        first to its last connected step (a gap in the window is treated as connected);
        batteries are connected throughout. A store's lower energy bound is not part of
        the LP (it only has ``0 <= e <= C``).
        """
        T = self.n_steps
        connected = np.vstack([self.batteries.connected_mask(T), self.evs.connected_mask(T)])
        keep = connected.any(axis=1)
        first = np.argmax(connected, axis=1)
        last = T - np.argmax(connected[:, ::-1], axis=1)

        def stacked(name: str) -> np.ndarray:
            both = np.concatenate([getattr(self.batteries, name), getattr(self.evs, name)])
            return both[keep]

        energy = stacked("energy_kwh")
        return CapacityDemandProblem(
            energy_kwh=energy,
            target_kwh=stacked("final_energy_kwh"),
            capacity_kwh=stacked("capacity_kwh"),
            max_charge_kw=stacked("max_charge_kw"),
            max_discharge_kw=stacked("max_discharge_kw"),
            arrival_step=first[keep],
            departure_step=last[keep],
            efficiency=stacked("efficiency"),
            fixed_load_kw=self.fixed_load_kw,
            flex_lower_kw=np.zeros((0, T)),
            flex_upper_kw=np.zeros((0, T)),
            dt_s=self.dt_s,
        )

    def btm_problem(self, import_limit_kw: float) -> BTMProblem:
        """The unit as the BTM EMS MILP sees it under an import limit [kW] (seed 004 3.11-3.29)."""
        return BTMProblem(
            fixed_load_kw=np.maximum(self.fixed_load_kw, 0.0),
            fixed_generation_kw=np.maximum(-self.fixed_load_kw, 0.0),
            import_limit_kw=max(import_limit_kw, 0.0),
            export_limit_kw=self.export_limit_kw,
            dt_s=self.dt_s,
            batteries=self.batteries,
            evs=self.evs,
            import_price_per_kwh=self.import_price_per_kwh,
            export_price_per_kwh=self.export_price_per_kwh,
        )


@dataclass(frozen=True)
class UnitCost:
    """What the unit's period costs under one import limit.

    Attributes
    ----------
    status : the MILP's status ("optimal", "time_limit", or why there is no schedule)
    energy_cost : import cost minus export revenue of the EMS schedule, eq 3.30 [currency]
    unmet_kwh : energy the stores end short of their final energies [kWh]
    total : ``energy_cost + unmet_value_per_kwh * unmet_kwh`` [currency]; ``inf`` when
        no schedule exists (the limit cannot even carry the fixed load)
    reason : the MILP's reason, empty when the targets are met
    """

    status: str
    energy_cost: float
    unmet_kwh: float
    total: float
    reason: str = ""


def unit_cost(forecast: UnitForecast, import_limit_kw: float) -> UnitCost:
    """Cost of the unit's period when it may import at most ``import_limit_kw`` [kW].

    The unit schedules with the BTM EMS MILP, objective "cost" (seed 004 eq 3.30); a
    final energy out of reach is relaxed there (soft 3.29) and valued here at
    ``unmet_value_per_kwh``.
    """
    schedule = solve_btm_ems(forecast.btm_problem(import_limit_kw), "cost")
    if not schedule.ok:
        return UnitCost(schedule.status, math.nan, math.nan, math.inf, schedule.reason)
    unmet = float(schedule.evs.unmet_kwh.sum() + schedule.batteries.unmet_kwh.sum())
    total = schedule.objective + forecast.unmet_value_per_kwh * unmet
    return UnitCost(schedule.status, schedule.objective, unmet, total, schedule.reason)


def replan_cost(forecast: UnitForecast, limit_kw: float, change_kw: float) -> float:
    """Cost change when the unit's import limit moves from ``limit_kw`` to ``limit_kw + change_kw``.

    Negative ``change_kw`` is a provider giving capacity up: the result is its loss
    (>= 0 up to solver tolerance). Positive is a consumer receiving capacity: the result
    is minus its gain. ``inf - inf`` (no schedule either way) is ``nan``. [currency]
    """
    return unit_cost(forecast, limit_kw + change_kw).total - unit_cost(forecast, limit_kw).total


def deferrable_stores(loads: Sequence[DeferrableLoad], start_s: int, dt_s: int,
                      n_steps: int) -> StorageUnits:
    """Deferrable loads as charge-only stores over the period's ``n_steps`` steps.

    A load is a store of capacity ``energy_kwh`` holding what it has received, connected in
    every step that overlaps its window (a step the window only partly covers counts as
    connected), charging at up to ``max_power_kw`` with efficiency 1 and no discharge. Its
    final energy at the period end is what it must have by then so that the rest still
    fits before the deadline at full power: ``energy - max_power x (deadline - period end)``.
    """
    end_s = start_s + n_steps * dt_s
    t0 = start_s + dt_s * np.arange(n_steps)
    n = len(loads)

    def per_load(values: list[float]) -> np.ndarray:
        return np.array(values, dtype=float).reshape(n)

    need = per_load([ld.energy_kwh for ld in loads])
    power = per_load([ld.max_power_kw for ld in loads])
    delivered = np.minimum(per_load([ld.delivered_kwh for ld in loads]), need)
    after_h = np.maximum(per_load([ld.deadline_s for ld in loads]) - end_s, 0.0) / 3600.0
    final = np.clip(need - power * after_h, delivered, need)
    connected = np.array([(t0 < ld.deadline_s) & (t0 + dt_s > ld.release_s) for ld in loads],
                         dtype=bool).reshape(n, n_steps)
    return StorageUnits(capacity_kwh=need, energy_kwh=delivered, max_charge_kw=power,
                        max_discharge_kw=np.zeros(n), final_energy_kwh=final,
                        connected=connected)


def join_stores(*parts: StorageUnits, n_steps: int) -> StorageUnits:
    """One set of stores from several (EVs and deferrable loads, say) over ``n_steps`` steps."""
    fields = {name: np.concatenate([np.broadcast_to(getattr(p, name), len(p)) for p in parts])
              for name in _STORE_FIELDS}
    connected = np.vstack([p.connected_mask(n_steps) for p in parts])
    return StorageUnits(**fields, connected=connected)
