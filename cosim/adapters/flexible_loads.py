"""mosaik adapter for deferrable loads (:mod:`flexcosim.cosim.models.flexible_load`).

Entity ``DeferrableLoad`` per load, time-based on ``step_s``: input ``loads_kw``
(``{load: kW}`` from its unit's EMS; the entry of its own name is its set-point, 0
without one); outputs ``p_kw`` (mean power drawn in the step, to its bus as demand),
``delivered_kwh`` (``{load: kWh}`` received so far) and ``unmet_kwh`` (energy still due
after the deadline).
"""

from __future__ import annotations

from collections.abc import Mapping

from flexcosim.cosim.adapters.base import SteppedAdapter, merged, meta
from flexcosim.cosim.models.flexible_load import DeferrableLoad

META = meta({"DeferrableLoad": (["name"], ["loads_kw", "p_kw", "delivered_kwh", "unmet_kwh"])})


class FlexibleLoadSim(SteppedAdapter):
    def __init__(self) -> None:
        super().__init__(META)

    def setup(self, loads: Mapping[str, DeferrableLoad], end_s: int) -> None:
        self.end_s = end_s  # steps at or after it are skipped: nobody reads them
        self.loads = dict(loads)

    def create(self, num: int, model: str, name: str):
        self.outputs[name] = {}
        return [{"eid": name, "type": model}]

    def step(self, time: int, inputs, max_advance: int) -> int:
        if time >= self.end_s:
            return time + self.step_s
        for name in self.outputs:
            load = self.loads[name]
            setpoint = merged(inputs.get(name, {}).get("loads_kw")).get(name, 0.0)
            p = load.step(time, self.step_s, setpoint)
            self.outputs[name] = {"p_kw": p, "delivered_kwh": {name: load.delivered_kwh},
                                  "unmet_kwh": load.unmet_kwh(time + self.step_s)}
        return time + self.step_s
