"""mosaik adapter for stationary batteries (:mod:`flexcosim.cosim.models.battery`).

Entity ``Battery`` per battery: input ``setpoint_kw`` (grid side, > 0 charge; the sum
over connected sources, 0 without one); outputs ``p_kw`` (what the battery delivered
in the step, to its bus as demand), ``energy_kwh`` and ``soc`` at the end of the step
(all numbers, persistent as a time-based simulator's outputs are).

From any mosaik World (JSON-safe): ``scenario=`` (the batteries of its ``battery_rental``
study), or ``step_s=`` and ``batteries={name: {capacity_kwh, max_power_kw,
charge_efficiency, discharge_efficiency, energy_kwh}}`` (the fields of
:class:`~cosim.models.battery.BatterySpec`, efficiencies and the initial energy [kWh]
optional). flexcosim's own world passes :class:`~cosim.models.battery.Battery` objects.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from flexcosim.cosim.adapters.base import SteppedAdapter, meta, one_entity, total
from flexcosim.cosim.models.battery import Battery, BatterySpec

META = meta({"Battery": (["name"], ["setpoint_kw", "p_kw", "energy_kwh", "soc"])})


def battery_from(name: str, spec: Battery | Mapping[str, Any]) -> Battery:
    """``spec`` as a :class:`Battery`: itself, or built from its JSON-safe fields."""
    if isinstance(spec, Battery):
        return spec
    fields = dict(spec)
    energy_kwh = fields.pop("energy_kwh", 0.0)
    try:
        return Battery(BatterySpec(**fields), energy_kwh)
    except TypeError as exc:
        raise ValueError(f"StorageSim: batteries.{name}: {exc}; allowed keys: capacity_kwh, "
                         "max_power_kw, charge_efficiency, discharge_efficiency, energy_kwh") from None


class StorageSim(SteppedAdapter):
    scenario_part = "Storage"

    def __init__(self) -> None:
        super().__init__(META)

    def setup(self, batteries: Mapping[str, Battery | Mapping[str, Any]],
              end_s: float = math.inf) -> None:
        """``end_s``: steps at or after it [s] are skipped (nobody reads them)."""
        self.end_s = end_s
        self.batteries = {name: battery_from(name, b) for name, b in batteries.items()}

    def create(self, num: int, model: str, name: str):
        one_entity(num, model)
        if name not in self.batteries:
            raise ValueError(f"create Battery: name {name!r} is not a battery of this simulator; "
                             f"allowed: {', '.join(self.batteries)}")
        self.outputs[name] = {}
        return [{"eid": name, "type": model}]

    def step(self, time: int, inputs, max_advance: int) -> int:
        if time >= self.end_s:
            return time + self.step_s
        dt_h = self.step_s / 3600.0
        for name in self.outputs:
            battery = self.batteries[name]
            p = battery.step(total(inputs.get(name, {}).get("setpoint_kw")), dt_h)
            self.outputs[name] = {"p_kw": p, "energy_kwh": battery.energy_kwh, "soc": battery.soc}
        return time + self.step_s
