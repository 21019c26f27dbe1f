"""Stationary battery: stored energy, power and energy limits, charge/discharge losses.

Energy balance per step of length ``dt`` [h] (seed 003 eq. 15 with the losses the seed
leaves out; seed 004 section 3.3 uses the same form for its BES)::

    E_{t+1} = E_t + eta_ch * P_ch * dt - P_dis * dt / eta_dis

with ``0 <= E <= capacity_kwh`` (seed 003 eq. 17) and ``0 <= P_ch, P_dis <= max_power_kw``
(eqs. 18-19); a battery either charges or discharges in a step (eq. 20). ``P`` is the
power at the grid side [kW]: ``P > 0`` consumption (charging), ``P < 0`` injection.
A set-point that the energy or power limits cannot carry is reduced to what they can;
the step reports what was delivered, never more.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class BatterySpec:
    """Ratings of one stationary battery.

    Attributes
    ----------
    capacity_kwh : usable energy SOC^max [kWh] (seed 003: 5 kWh)
    max_power_kw : charge and discharge limit at the grid side P^max [kW] (seed 003: 0.5 kW)
    charge_efficiency : eta_ch, share of grid energy stored [-]
    discharge_efficiency : eta_dis, share of stored energy delivered to the grid [-]
    """

    capacity_kwh: float
    max_power_kw: float
    charge_efficiency: float = 0.95
    discharge_efficiency: float = 0.95

    def __post_init__(self) -> None:
        for name in ("capacity_kwh", "max_power_kw"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"BatterySpec.{name}: {value!r} is not allowed; need > 0")
        for name in ("charge_efficiency", "discharge_efficiency"):
            value = getattr(self, name)
            if not 0 < value <= 1:
                raise ValueError(f"BatterySpec.{name}: {value!r} is not allowed; need 0 < eta <= 1")


class Battery:
    """One battery's state; :meth:`step` applies a set-point for one interval.

    Parameters
    ----------
    spec : ratings
    energy_kwh : stored energy at the start [kWh], within [0, capacity_kwh]
    """

    def __init__(self, spec: BatterySpec, energy_kwh: float = 0.0) -> None:
        if not 0 <= energy_kwh <= spec.capacity_kwh:
            raise ValueError(
                f"Battery energy_kwh: {energy_kwh!r} is not allowed; need 0 <= energy_kwh <= "
                f"{spec.capacity_kwh} (capacity_kwh)"
            )
        self.spec = spec
        self.energy_kwh = float(energy_kwh)

    @property
    def soc(self) -> float:
        """State of charge, stored energy / capacity [-]."""
        return self.energy_kwh / self.spec.capacity_kwh

    def feasible_kw(self, setpoint_kw: float, dt_h: float) -> float:
        """The grid power [kW] closest to ``setpoint_kw`` that the limits allow for ``dt_h`` [h]."""
        s = self.spec
        p = min(max(setpoint_kw, -s.max_power_kw), s.max_power_kw)
        if p > 0:
            return min(p, (s.capacity_kwh - self.energy_kwh) / (s.charge_efficiency * dt_h))
        return max(p, -self.energy_kwh * s.discharge_efficiency / dt_h)

    def step(self, setpoint_kw: float, dt_h: float) -> float:
        """Apply ``setpoint_kw`` [kW, > 0 charge] for ``dt_h`` [h]; returns the grid power delivered [kW]."""
        if not (math.isfinite(setpoint_kw) and dt_h > 0):
            raise ValueError(
                f"Battery.step: setpoint_kw={setpoint_kw!r}, dt_h={dt_h!r}; need finite kW and dt_h > 0"
            )
        p = self.feasible_kw(setpoint_kw, dt_h)
        s = self.spec
        if p > 0:
            self.energy_kwh += s.charge_efficiency * p * dt_h
        else:
            self.energy_kwh += p * dt_h / s.discharge_efficiency
        # rounding must never leave the physical range
        self.energy_kwh = min(max(self.energy_kwh, 0.0), s.capacity_kwh)
        return p
