"""mosaik adapter hosting the day-ahead coordination agents (DSO and aggregators).

The plain-Python study object (:mod:`flexcosim.cosim.dayahead`) holds the roles and
their decisions; this adapter only calls it and hands out what it decided.

DSO
    plans on its first step (day-ahead, before any physical step uses the plan);
    output ``plan_ok`` (1 if its optimisation solved, 0 if it fell back).
Aggregator (seed 000, one per feeder)
    input ``energy_kwh`` (``{ev: kWh}`` of its EVs, previous step); outputs
    ``setpoints_kw`` (``{ev: grid kW}``), ``planned_ev_kw`` (the plan's charging power at
    the grid side) and ``export_limit`` (zeta of this slot).
Inverter (seed 000, one per PV unit)
    output ``export_limit_kw``: the cap its aggregator sets this slot (``inf``: none).
BatteryOperator (seed 003, one per battery)
    input ``energy_kwh`` (its battery, previous step); outputs ``setpoint_kw`` (grid side,
    > 0 charge) and ``requested_kw`` (the DSO's part).

All outputs are persistent (time-based); every one but ``setpoints_kw`` is a number.
From any mosaik World (JSON-safe): ``scenario=`` (a scenario with a ``dayahead``
section); flexcosim's own world passes the study object. Built from the same scenario,
the ``HomeEVs`` and ``Storage`` simulators hold the same EVs and batteries.
"""

from __future__ import annotations

import math

from flexcosim.cosim.adapters.base import SteppedAdapter, merged, meta, one_entity, total

META = meta({
    "DSO": ([], ["plan_ok"]),
    "Aggregator": (["name"], ["energy_kwh", "setpoints_kw", "planned_ev_kw", "export_limit"]),
    "Inverter": (["name"], ["export_limit_kw"]),
    "BatteryOperator": (["name"], ["energy_kwh", "setpoint_kw", "requested_kw"]),
})


class DayAheadSim(SteppedAdapter):
    scenario_part = "DayAhead"

    def __init__(self) -> None:
        super().__init__(META)
        self.models: dict[str, str] = {}

    def setup(self, study, end_s: float = math.inf) -> None:
        """``study``: a ``CoordinationStudy`` or ``RentalStudy`` of :mod:`flexcosim.cosim.dayahead`;
        ``end_s``: steps at or after it [s] are skipped (nobody reads them)."""
        self.study, self.end_s = study, end_s

    def names(self, model: str) -> list[str]:
        """The entity names the study has for ``model``."""
        study = self.study
        return {
            "DSO": ["dso"],
            "Aggregator": list(getattr(study, "aggregators", {})),
            "Inverter": [f"inv_{pv}" for pv in getattr(study, "inverter_feeder", {})],
            "BatteryOperator": [f"op_{b}" for b in getattr(study, "batteries", {})],
        }[model]

    def create(self, num: int, model: str, name: str = "dso"):
        one_entity(num, model)
        if name not in self.names(model):
            raise ValueError(f"create {model}: name {name!r} is not one of this study's; "
                             f"allowed: {', '.join(self.names(model)) or 'none'}")
        self.models[name] = model
        self.outputs[name] = {}
        return [{"eid": name, "type": model}]

    def step(self, time: int, inputs, max_advance: int) -> int:
        if time >= self.end_s:
            return time + self.step_s
        study = self.study
        if study.plan is None:
            study.make_plan()
        for name, model in self.models.items():
            if model == "DSO":
                self.outputs[name] = {"plan_ok": float(study.plan_ok)}
            elif model == "Aggregator":
                energy = merged(inputs.get(name, {}).get("energy_kwh"))
                self.outputs[name] = study.aggregator_step(name, time, energy)
        for name, model in self.models.items():
            if model == "Inverter":
                self.outputs[name] = {"export_limit_kw": study.inverter_cap_kw(name, time)}
            elif model == "BatteryOperator":
                energy = total(inputs.get(name, {}).get("energy_kwh"))
                self.outputs[name] = study.battery_step(name, time, energy)
        return time + self.step_s
