"""mosaik adapter for time-series sources: buildings (non-EV load) and PV systems.

Time-based on the metering interval ``step_s``: the step at ``t`` outputs the value of
the interval ``[t - step_s, t)`` that just ended (at 0: the value at 0), the same
interval the grid's power flow at ``t`` stands for.

Building outputs ``p_kw``/``q_kvar`` (demand, [kW]/[kvar]). PV outputs ``p_gen_kw``
(generation [kW], >= 0) after its export limit, which may come as an input
``export_limit_kw`` from an agent or stay at the scenario's fixed value.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from flexcosim.cosim.adapters.base import SteppedAdapter, meta, one_entity
from flexcosim.cosim.models.building import LoadProfile
from flexcosim.cosim.models.pv import clip_export

META = meta({
    "Building": (["name"], ["p_kw", "q_kvar"]),
    "PV": (["name"], ["p_gen_kw", "export_limit_kw"]),
})


class ProfileSim(SteppedAdapter):
    scenario_part = "Profiles"

    def __init__(self) -> None:
        super().__init__(META)

    def setup(
        self,
        buildings: Mapping[str, LoadProfile],
        pv: Mapping[str, tuple[np.ndarray, float | None]],
        series_step_s: int,
    ) -> None:
        """``pv[name] = (kW per series step, fixed export limit kW or None)``;
        ``series_step_s``: the PV series' step [s]."""
        self.buildings = dict(buildings)
        self.pv = dict(pv)
        self.series_step_s = series_step_s

    def create(self, num: int, model: str, name: str):
        one_entity(num, model)
        self.outputs[name] = {}
        return [{"eid": name, "type": model}]

    def step(self, time: int, inputs, max_advance: int) -> int:
        start = max(0, time - self.step_s)
        k = start // self.series_step_s
        for name in self.outputs:
            if name in self.buildings:
                p, q = self.buildings[name].at(start)
                self.outputs[name] = {"p_kw": p, "q_kvar": q}
            else:
                series, fixed_limit = self.pv[name]
                limits = list(inputs.get(name, {}).get("export_limit_kw", {}).values())
                limit = min(limits) if limits else fixed_limit
                self.outputs[name] = {
                    "p_gen_kw": clip_export(float(series[k]), limit),
                    "export_limit_kw": limit,
                }
        return time + self.step_s
