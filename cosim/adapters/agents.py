"""mosaik adapter hosting the agents: a simpy world of roles that talk by messages.

The adapter owns nothing but the translation: it advances the agents' simpy
environment (:class:`flexcosim.agents.processes.AgentRuntime`) to mosaik's time, hands
the physical simulators' data to the roles as readings, lets them react (messages at
zero latency are answered within the same second) and puts their decisions on its
outputs. Entities:

SiteAggregator
    input ``plugged`` (``{site: {ev: PluggedEV}}`` from the fleet); output
    ``setpoints_kw`` (``{ev: kW}`` for the site's chargers). EVs parked at the site are
    scheduled whether or not a charger was free for them; the chargers ignore set-points
    for EVs they do not hold.
DSOGrid
    inputs ``loading_pct`` (transformers), ``vm_pu`` (buses) and ``p_kw`` (sites) of the
    previous step (time-shifted); output ``limit_kw`` (``{site: kW}``). Its reading is
    handled before the aggregators decide, and its limits reach them as messages.
Platform
    inputs ``events`` and ``soc`` from the fleets (trip starts go to the EMSP); output
    ``routes`` (``{ev: (site, arrival_s)}``, to the fleet over a time-shifted
    connection) and ``requests`` (routes handed out this step).
"""

from __future__ import annotations

from collections.abc import Mapping

from flexcosim.agents.dso import DSOGrid
from flexcosim.agents.messages import GridReading, PlantReading, TripStarted
from flexcosim.agents.platform import EMSP
from flexcosim.agents.processes import AgentRuntime
from flexcosim.agents.site_agent import SiteAgent
from flexcosim.cosim.adapters.base import SteppedAdapter, merged, meta, plugged_at
from flexcosim.cosim.models.ev import TripStart

META = meta({
    "SiteAggregator": (["name"], ["plugged", "setpoints_kw"]),
    "Platform": ([], ["events", "soc", "routes", "requests"]),
    "DSOGrid": ([], ["loading_pct", "vm_pu", "p_kw", "limit_kw"]),
})


class AgentSim(SteppedAdapter):
    def __init__(self) -> None:
        super().__init__(META)

    def setup(self, runtime: AgentRuntime) -> None:
        self.runtime = runtime

    def create(self, num: int, model: str, name: str | None = None):
        name = name or {"Platform": "platform", "DSOGrid": "dso"}[model]
        self.outputs[name] = {}
        return [{"eid": name, "type": model}]

    def step(self, time: int, inputs, max_advance: int) -> int:
        rt = self.runtime
        rt.advance(time)
        if "dso" in self.outputs:
            rt.sense("dso", _grid_reading(inputs.get("dso", {})))
        if "platform" in self.outputs:
            data = inputs.get("platform", {})
            soc = merged(data.get("soc"))
            for events in (data.get("events") or {}).values():
                for e in events:
                    if isinstance(e, TripStart):
                        rt.sense("emsp", TripStarted(e.ev, e.time_s, soc[e.ev]))
        rt.settle()  # limits and bookings are in place before the sites decide
        for name in self.outputs:
            role = rt.roles.get(name)
            if isinstance(role, SiteAgent):
                present = plugged_at(inputs.get(name, {}).get("plugged"), role.aggregator.site)
                rt.sense(name, PlantReading(present))
        rt.settle()
        for name in self.outputs:
            role = rt.roles.get(name)
            if isinstance(role, SiteAgent):
                self.outputs[name] = {"setpoints_kw": role.setpoints or {}}
                role.setpoints = None
        if "platform" in self.outputs:
            emsp: EMSP = rt.roles["emsp"]
            routes, emsp.routed = emsp.routed, {}
            self.outputs["platform"] = {"routes": routes, "requests": len(routes)}
        if "dso" in self.outputs:
            dso: DSOGrid = rt.roles["dso"]
            self.outputs["dso"] = {"limit_kw": dso.limits_kw}
        return time + self.step_s

    def finalize(self) -> None:
        self.runtime.close()


def _grid_reading(data: Mapping) -> GridReading:
    def by_entity(attr: str) -> dict[str, float]:
        return {src.split(".", 1)[1]: v for src, v in (data.get(attr) or {}).items()}

    return GridReading(by_entity("loading_pct"), min(by_entity("vm_pu").values(), default=1.0),
                       by_entity("p_kw"))
