"""mosaik adapter for :class:`flexcosim.cosim.models.grid.PowerFlowGrid`.

Entities: one ``Bus`` per named bus (inputs ``p_kw``/``q_kvar`` demand and
``p_gen_kw`` generation, summed over all connected sources; output ``vm_pu``), one
``Transformer`` per transformer (``loading_pct``, ``p_kw``), one ``Line`` per line
(``loading_pct``) and one ``Grid`` (``converged``; ``metered_s``, the end of the
interval the last power flow stands for [s]). mosaik-pandapower-2 has no
transformer entity, hence this adapter.

Clocked by the metering interval ``step_s`` (mosaik type hybrid: its inputs trigger
nothing, it steps every ``step_s``; hybrid only so that ``metered_s`` is an event that
wakes the DSO agent in the same second). The step at ``t`` runs one AC power
flow for the interval ``[t - step_s, t)`` that just ended, with each source's
energy-correct average over it: a :class:`~cosim.models.meter.Meter` input (chargers)
is averaged exactly, a number (buildings, PV) is already the interval's value. The
step at 0 solves the initial state (profiles at 0, no charging).
"""

from __future__ import annotations

from flexcosim.cosim.adapters.base import SteppedAdapter, meta, one_entity
from flexcosim.cosim.models.grid import PowerFlowGrid
from flexcosim.cosim.models.meter import IntervalReader, Meter

META = meta({
    "Grid": ([], ["converged", "metered_s"]),
    "Bus": (["name"], ["p_kw", "q_kvar", "p_gen_kw", "vm_pu"]),
    "Transformer": (["name"], ["loading_pct", "p_kw"]),
    "Line": (["name"], ["loading_pct"]),
}, kind="hybrid", triggers=[],
    persistent=["converged", "p_kw", "q_kvar", "p_gen_kw", "vm_pu", "loading_pct"])


class GridSim(SteppedAdapter):
    scenario_part = "Grid"

    def __init__(self) -> None:
        super().__init__(META)

    def setup(self, grid: PowerFlowGrid) -> None:
        self.grid = grid
        self.reader = IntervalReader()

    def create(self, num: int, model: str, name: str = "grid"):
        one_entity(num, model)
        self.outputs[name] = {}
        return [{"eid": name, "type": model}]

    def step(self, time: int, inputs, max_advance: int) -> int:
        p, q = {}, {}
        for bus in self.grid.bus_names:
            data = inputs.get(bus, {})
            p[bus] = self._sum(time, data, "p_kw") - self._sum(time, data, "p_gen_kw")
            q[bus] = self._sum(time, data, "q_kvar")
        state = self.grid.solve(p, q)
        self.outputs["grid"] = {"converged": state.converged, "metered_s": time}
        for bus, v in state.vm_pu.items():
            self.outputs[bus] = {"vm_pu": v}
        for tx, loading in state.trafo_loading_pct.items():
            self.outputs[tx] = {"loading_pct": loading, "p_kw": state.trafo_p_kw[tx]}
        for line, loading in state.line_loading_pct.items():
            self.outputs[line] = {"loading_pct": loading}
        return time + self.step_s

    def _sum(self, time: int, data, attr: str) -> float:
        """Sum over the sources of one input: interval averages of meters, numbers as they are."""
        out = 0.0
        for src, value in (data.get(attr) or {}).items():
            if isinstance(value, Meter):
                if time > 0:
                    out += sum(self.reader.read(f"{src}.{attr}", value, time - self.step_s, time).values())
            elif value is not None:
                out += float(value)
        return out
