"""mosaik adapter hosting the capacity-sharing roles (:mod:`flexcosim.agents.sharing.roles`).

A hybrid simulator that owns the sharing roles' simpy environment
(:class:`~flexcosim.agents.processes.AgentRuntime`): it advances it to mosaik's time,
hands the plant readings to the units, lets the messages flow and, on every step tick,
lets each unit's EMS decide. It steps at every tick (``step_s``), at the next pending
simpy event (a message in flight, a period's ``Φ_c``, a negotiation timer) and when EVs
arrive or leave. Entity ``Unit`` per unit:

inputs
    ``plugged`` (``{site: {ev: PluggedEV | None}}`` changes from the fleets, trigger), ``energy_kwh``
    (its battery, time-shifted), ``delivered_kwh`` (``{load: kWh}`` from its deferrable
    loads, time-shifted)
outputs
    ``setpoints_kw`` (``{ev: kW}`` for its site's chargers, sent on each decision),
    ``battery_kw`` (battery set-point, > 0 charge), ``loads_kw`` (``{load: kW}``),
    ``capacity_kw`` (the capacity the unit decided under: ``Φ_c`` plus approved
    agreements), ``planned_kw`` (the EMS's planned draw), all persistent
"""

from __future__ import annotations

import math

from flexcosim.agents.processes import AgentRuntime
from flexcosim.agents.sharing.roles import UnitRole
from flexcosim.cosim.adapters.base import SteppedAdapter, merged, meta, one_entity, plugged_at
from flexcosim.cosim.models.charger import apply_plugged

META = meta({"Unit": (["name"], ["plugged", "energy_kwh", "delivered_kwh", "setpoints_kw",
                                 "battery_kw", "loads_kw", "capacity_kw", "planned_kw"])},
            kind="hybrid", triggers=["plugged"],
            persistent=["battery_kw", "loads_kw", "capacity_kw", "planned_kw"])


class SharingSim(SteppedAdapter):
    def __init__(self) -> None:
        super().__init__(META)

    def setup(self, runtime: AgentRuntime, sites: dict[str, str], end_s: int) -> None:  # noqa: D102
        """``sites``: unit -> its charging site; ``end_s``: no own step from then on."""
        self.runtime, self.sites, self.end_s = runtime, sites, end_s

    def create(self, num: int, model: str, name: str):
        one_entity(num, model)
        self.outputs[name] = {}
        return [{"eid": name, "type": model}]

    def step(self, time: int, inputs, max_advance: int) -> int | None:
        rt = self.runtime
        rt.advance(time)
        arrivals = set()
        for name in self.outputs:
            unit: UnitRole = rt.roles[name]
            data = inputs.get(name, {})
            if data.get("plugged") and any(self.sites[name] in p for p in data["plugged"].values()):
                changes = plugged_at(data["plugged"], self.sites[name])
                evs = dict(unit.state.evs)
                apply_plugged(evs, changes)
                if set(evs) - set(unit.state.evs):
                    arrivals.add(name)
                unit.state.evs = evs
            if "energy_kwh" in data:
                unit.state.battery_kwh = sum(data["energy_kwh"].values())
            if "delivered_kwh" in data:
                unit.state.delivered_kwh = merged(data["delivered_kwh"])
        rt.settle()
        tick = time % self.step_s == 0 and time < self.end_s
        for name in self.outputs:
            unit = rt.roles[name]
            if tick:
                unit.tick(time)
                sp = unit.setpoints
                self.outputs[name] = {"setpoints_kw": sp.evs_kw, "battery_kw": sp.battery_kw,
                                      "loads_kw": sp.loads_kw, "capacity_kw": unit.capacity_kw,
                                      "planned_kw": sp.import_kw}
            else:
                self.outputs[name].pop("setpoints_kw", None)
                if name in arrivals:
                    unit.arrived(time)
        rt.settle()
        nxt = min(rt.next_time(), time - time % self.step_s + self.step_s)
        return math.ceil(nxt) if nxt < self.end_s else None

    def finalize(self) -> None:
        self.runtime.close()
