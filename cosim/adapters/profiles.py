"""mosaik adapter for time-series sources: buildings (non-EV load) and PV systems.

Building outputs ``p_kw``/``q_kvar`` (demand, [kW]/[kvar]). PV outputs ``p_gen_kw``
(generation [kW], >= 0) after its export limit, which may come as an input
``export_limit_kw`` from an agent or stay at the scenario's fixed value.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from flexcosim.cosim.adapters.base import SteppedAdapter, meta
from flexcosim.cosim.models.building import LoadProfile
from flexcosim.cosim.models.pv import clip_export

META = meta({
    "Building": (["name"], ["p_kw", "q_kvar"]),
    "PV": (["name"], ["p_gen_kw", "export_limit_kw"]),
})


class ProfileSim(SteppedAdapter):
    def __init__(self) -> None:
        super().__init__(META)

    def setup(
        self,
        buildings: Mapping[str, LoadProfile],
        pv: Mapping[str, tuple[np.ndarray, float | None]],
    ) -> None:
        """``pv[name] = (kW per step, fixed export limit kW or None)``."""
        self.buildings = dict(buildings)
        self.pv = dict(pv)

    def create(self, num: int, model: str, name: str):
        self.outputs[name] = {}
        return [{"eid": name, "type": model}]

    def step(self, time: int, inputs, max_advance: int) -> int:
        k = time // self.step_s
        for name in self.outputs:
            if name in self.buildings:
                p, q = self.buildings[name].at(time)
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
