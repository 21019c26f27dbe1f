"""mosaik adapter for :class:`flexcosim.cosim.models.grid.PowerFlowGrid`.

Entities: one ``Bus`` per named bus (inputs ``p_kw``/``q_kvar`` demand and
``p_gen_kw`` generation, summed over all connected sources; output ``vm_pu``), one
``Transformer`` per transformer (``loading_pct``, ``p_kw``), one ``Line`` per line
(``loading_pct``) and one ``Grid`` (``converged``). mosaik-pandapower-2 has no
transformer entity, hence this adapter. One AC power flow runs per step.
"""

from __future__ import annotations

from flexcosim.cosim.adapters.base import SteppedAdapter, meta, total
from flexcosim.cosim.models.grid import PowerFlowGrid

META = meta({
    "Grid": ([], ["converged"]),
    "Bus": (["name"], ["p_kw", "q_kvar", "p_gen_kw", "vm_pu"]),
    "Transformer": (["name"], ["loading_pct", "p_kw"]),
    "Line": (["name"], ["loading_pct"]),
})


class GridSim(SteppedAdapter):
    def __init__(self) -> None:
        super().__init__(META)

    def setup(self, grid: PowerFlowGrid) -> None:
        self.grid = grid

    def create(self, num: int, model: str, name: str = "grid"):
        self.outputs[name] = {}
        return [{"eid": name, "type": model}]

    def step(self, time: int, inputs, max_advance: int) -> int:
        p, q = {}, {}
        for bus in self.grid.bus_names:
            data = inputs.get(bus, {})
            p[bus] = total(data.get("p_kw")) - total(data.get("p_gen_kw"))
            q[bus] = total(data.get("q_kvar"))
        state = self.grid.solve(p, q)
        self.outputs["grid"] = {"converged": state.converged}
        for bus, v in state.vm_pu.items():
            self.outputs[bus] = {"vm_pu": v}
        for tx, loading in state.trafo_loading_pct.items():
            self.outputs[tx] = {"loading_pct": loading, "p_kw": state.trafo_p_kw[tx]}
        for line, loading in state.line_loading_pct.items():
            self.outputs[line] = {"loading_pct": loading}
        return time + self.step_s
