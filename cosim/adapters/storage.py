"""mosaik adapter for stationary batteries (:mod:`flexcosim.cosim.models.battery`).

Entity ``Battery`` per battery: input ``setpoint_kw`` (grid side, > 0 charge; the sum
over connected sources, 0 without one); outputs ``p_kw`` (what the battery delivered
in the step, to its bus as demand), ``energy_kwh`` and ``soc`` at the end of the step.
"""

from __future__ import annotations

from collections.abc import Mapping

from flexcosim.cosim.adapters.base import SteppedAdapter, meta, total
from flexcosim.cosim.models.battery import Battery

META = meta({"Battery": (["name"], ["setpoint_kw", "p_kw", "energy_kwh", "soc"])})


class StorageSim(SteppedAdapter):
    def __init__(self) -> None:
        super().__init__(META)

    def setup(self, batteries: Mapping[str, Battery], end_s: int) -> None:
        self.end_s = end_s  # steps at or after it are skipped: nobody reads them
        self.batteries = dict(batteries)

    def create(self, num: int, model: str, name: str):
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
