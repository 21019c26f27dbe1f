"""A deferrable load: an energy need with a time window and a power bound.

Seed 004 section 3.3.2 counts flexible loads (set L) among the assets a BTM EMS schedules;
eq 3.16 bounds their power, ``0 <= P_l <= P̄_l``. A deferrable load (a washing machine, a
water heater with a tank, a pool pump, a batch process) also has an energy it must get
between its release and its deadline, which makes it a charge-only store: energy
delivered ``e(t+1) = e(t) + P_l(t) Δt`` with ``e(deadline) >= energy_kwh``, the form of
eqs 3.28-3.29 with ``B_v^t = 1`` inside the window. The agents' models take it in that
form (``flexcosim.agents.sharing.unit.deferrable_stores``).

Units: kW, kWh, seconds since the start of the run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class DeferrableLoad:
    """One deferrable load and the energy it has received so far.

    Attributes
    ----------
    name : load name
    energy_kwh : energy it must receive in its window (> 0) [kWh]
    max_power_kw : power bound ``P̄_l`` (> 0) [kW]
    release_s : earliest start [s since start]
    deadline_s : the energy is due by then (> release_s) [s since start]
    delivered_kwh : energy received so far (state) [kWh]
    """

    name: str
    energy_kwh: float
    max_power_kw: float
    release_s: int
    deadline_s: int
    delivered_kwh: float = 0.0

    def __post_init__(self) -> None:
        for field_name in ("energy_kwh", "max_power_kw"):
            value = getattr(self, field_name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"DeferrableLoad {self.name!r} {field_name} = {value!r}; "
                                 "allowed: finite > 0")
        if not self.deadline_s > self.release_s:
            raise ValueError(f"DeferrableLoad {self.name!r} deadline_s = {self.deadline_s!r}; "
                             f"allowed: > release_s = {self.release_s}")
        if (self.deadline_s - self.release_s) / 3600.0 * self.max_power_kw < self.energy_kwh:
            raise ValueError(
                f"DeferrableLoad {self.name!r} energy_kwh = {self.energy_kwh!r}; allowed: at "
                f"most max_power_kw x window = "
                f"{(self.deadline_s - self.release_s) / 3600.0 * self.max_power_kw:g} kWh")

    @property
    def remaining_kwh(self) -> float:
        """Energy still due [kWh]."""
        return max(self.energy_kwh - self.delivered_kwh, 0.0)

    def available(self, time_s: int) -> bool:
        """True inside the window ``[release_s, deadline_s)``."""
        return self.release_s <= time_s < self.deadline_s

    def unmet_kwh(self, time_s: int) -> float:
        """Energy missed: what is still due once the deadline has passed, else 0 [kWh]."""
        return self.remaining_kwh if time_s >= self.deadline_s else 0.0

    def step(self, time_s: int, dt_s: int, power_kw: float) -> float:
        """Run at ``power_kw`` over ``[time_s, time_s + dt_s)``; returns the mean power drawn [kW].

        The request is clipped to ``[0, max_power_kw]``, to the part of the step inside
        the window and to the energy still due.
        """
        start, end = max(time_s, self.release_s), min(time_s + dt_s, self.deadline_s)
        if end <= start or dt_s <= 0:
            return 0.0
        power = min(max(power_kw, 0.0), self.max_power_kw)
        energy = min(power * (end - start) / 3600.0, self.remaining_kwh)
        self.delivered_kwh += energy
        return energy / (dt_s / 3600.0)

    def as_soon_as_possible_kw(self, time_s: int) -> float:
        """Uncontrolled operation: full power from the release until the energy is in [kW]."""
        return self.max_power_kw if self.available(time_s) and self.remaining_kwh > 0 else 0.0
