"""mosaik adapter of seed 002's large-grid study (:class:`flexcosim.cosim.large_grid.LargeGridStudy`).

The plain-Python study holds the DSO's plan, the chargers' plant and the base load; this
adapter steps them once per step and hands out what they did for ``[t, t + step_s)``.

DSO
    plans on its first step (day-ahead); outputs ``plan_ok`` (1, or 0 after a fallback) and
    ``planned_ev_kw`` (the plan's EV demand this step, NaN without a plan).
Fleet (one)
    outputs ``ev_kw`` (every EV's grid-side charging power) and ``unmet_kwh`` (energy missing
    at departure of the EVs gone by the step's end).
Chargers (one per bus with EVs)
    output ``p_kw``: the bus's EV demand.
BaseLoad (one per load bus)
    outputs ``p_kw`` / ``q_kvar``: the heated base load net of PV.
"""

from __future__ import annotations

import numpy as np

from flexcosim.cosim.adapters.base import SteppedAdapter, meta

META = meta({
    "DSO": ([], ["plan_ok", "planned_ev_kw"]),
    "Fleet": ([], ["ev_kw", "unmet_kwh"]),
    "Chargers": (["name", "row"], ["p_kw"]),
    "BaseLoad": (["name", "row"], ["p_kw", "q_kvar"]),
})


class LargeGridSim(SteppedAdapter):
    def __init__(self) -> None:
        super().__init__(META)
        self.rows: dict[str, tuple[str, int]] = {}  # entity -> (model, load row)

    def setup(self, study, end_s: int) -> None:
        """``study``: a :class:`~flexcosim.cosim.large_grid.LargeGridStudy`."""
        self.study, self.end_s = study, end_s

    def create(self, num: int, model: str, name: str | None = None, row: int = -1):
        name = name or model.lower()
        self.rows[name] = (model, row)
        self.outputs[name] = {}
        return [{"eid": name, "type": model}]

    def step(self, time: int, inputs, max_advance: int) -> int:
        if time >= self.end_s:  # nobody reads a step at the end
            return time + self.step_s
        study = self.study
        if study.status == "":
            study.make_plan()
        ev = study.charge(time)
        k = time // self.step_s
        for name, (model, row) in self.rows.items():
            if model == "DSO":
                self.outputs[name] = {"plan_ok": float(study.plan_ok),
                                      "planned_ev_kw": study.planned_ev_kw(time)}
            elif model == "Fleet":
                self.outputs[name] = {"ev_kw": float(np.sum(ev)),
                                      "unmet_kwh": study.plant.unmet_kwh(time + self.step_s)}
            elif model == "Chargers":
                self.outputs[name] = {"p_kw": float(ev[row])}
            else:
                self.outputs[name] = {"p_kw": float(study.base_kw[row, k]),
                                      "q_kvar": float(study.base_kvar[row, k])}
        return time + self.step_s
