"""mosaik adapter hosting the agents: a simpy world of roles that talk by messages.

The adapter owns nothing but the translation: it advances the agents' simpy
environment (:class:`flexcosim.agents.processes.AgentRuntime`) to mosaik's time, hands
the physical simulators' data to the roles as readings, lets them react (messages at
zero latency are answered within the same second) and puts their decisions on its
outputs. A hybrid simulator: it steps when a reading arrives and at the next pending
simpy event (a message in flight, a deadline), so a decision leaves at the second it
is made. Entities:

SiteAggregator
    input ``plugged`` (``{site: {ev: PluggedEV}}`` from the fleet, trigger); output
    ``setpoints_kw`` (``{ev: kW}`` for the site's chargers, non-persistent: sent when
    the aggregator decided). EVs parked at the site are scheduled whether or not a
    charger was free for them; the chargers ignore set-points for EVs they do not hold.
DSOGrid
    inputs ``metered_s`` (trigger), ``loading_pct`` (transformers), ``vm_pu`` (buses)
    from the grid's power flow of the metering interval that just ended and ``p_kw``
    (the sites' meters, averaged over that interval), all over weak connections, so the
    DSO decides in the second the interval ends; output ``limit_kw`` (``{site: kW}``, persistent). Its limits reach
    the aggregators as messages, and each re-decides on a change.
Platform
    inputs ``events`` (trigger) and ``soc`` from the fleets (trip starts go to the
    EMSP); output ``routes`` (``{ev: (site, arrival_s)}``, to the fleet over a weak
    connection, non-persistent) and ``requests`` (counter meter of routes handed out).
"""

from __future__ import annotations

import math
from collections import ChainMap
from collections.abc import Mapping

from flexcosim.agents.dso import DSOGrid
from flexcosim.agents.messages import GridReading, PlantReading, TripStarted
from flexcosim.agents.platform import EMSP
from flexcosim.agents.processes import AgentRuntime
from flexcosim.agents.site_agent import SiteAgent
from flexcosim.cosim.adapters.base import SteppedAdapter, meta, one_entity, plugged_at
from flexcosim.cosim.models.ev import TripStart
from flexcosim.cosim.models.meter import IntervalReader, Meter, MeterBook

META = meta({
    "SiteAggregator": (["name"], ["plugged", "setpoints_kw"]),
    "Platform": ([], ["events", "soc", "routes", "requests"]),
    "DSOGrid": ([], ["metered_s", "loading_pct", "vm_pu", "p_kw", "limit_kw"]),
}, kind="hybrid", triggers=["plugged", "events", "metered_s"],
    persistent=["requests", "limit_kw"])


class AgentSim(SteppedAdapter):
    scenario_part = "Agents"

    def __init__(self) -> None:
        super().__init__(META)

    def setup(self, runtime: AgentRuntime, metering_s: int, end_s: int) -> None:  # noqa: D102
        """``metering_s``: the grid's metering interval [s]; ``end_s``: no own step from then on."""
        self.runtime = runtime
        self.metering_s, self.end_s = metering_s, end_s
        self.requests = MeterBook(counter=True)
        self.reader = IntervalReader()
        self.metered_s = 0  # end of the last metering interval the DSO has seen

    def create(self, num: int, model: str, name: str | None = None):
        one_entity(num, model)
        name = name or {"Platform": "platform", "DSOGrid": "dso"}[model]
        self.outputs[name] = {}
        return [{"eid": name, "type": model}]

    def step(self, time: int, inputs, max_advance: int) -> int | None:
        if not self.outputs:  # no entity here: the roles run in another simulator (capacity sharing)
            return None
        rt = self.runtime
        rt.advance(time)
        grid = inputs.get("dso", {})
        metered_s = max((grid.get("metered_s") or {}).values(), default=0)
        if "dso" in self.outputs and metered_s > self.metered_s:  # a new power flow
            self.metered_s = metered_s
            rt.sense("dso", self._grid_reading(metered_s, grid))
        if "platform" in self.outputs:
            data = inputs.get("platform", {})
            soc = ChainMap(*(data.get("soc") or {}).values())  # read for trip starts only
            for events in (data.get("events") or {}).values():
                for e in events:
                    if isinstance(e, TripStart):
                        rt.sense("emsp", TripStarted(e.ev, e.time_s, soc[e.ev]))
        rt.settle()  # limits and bookings are in place before the sites decide
        for name in self.outputs:
            role = rt.roles.get(name)
            data = inputs.get(name, {})
            site = role.aggregator.site if isinstance(role, SiteAgent) else None
            if site and any(site in per_site for per_site in (data.get("plugged") or {}).values()):
                rt.sense(name, PlantReading(plugged_at(data["plugged"], site)))
        rt.settle()
        for name in self.outputs:
            role = rt.roles.get(name)
            if isinstance(role, SiteAgent):
                self.outputs[name] = {} if role.setpoints is None else {"setpoints_kw": role.setpoints}
                role.setpoints = None
        if "platform" in self.outputs:
            emsp: EMSP = rt.roles["emsp"]
            routes, emsp.routed = emsp.routed, {}
            self.requests.add(time, {"platform": float(len(routes))})
            self.outputs["platform"] = {"requests": self.requests.reading()}
            if routes:
                self.outputs["platform"]["routes"] = routes
        if "dso" in self.outputs:
            dso: DSOGrid = rt.roles["dso"]
            self.outputs["dso"] = {"limit_kw": dso.limits_kw}
        nxt = rt.next_time()
        return math.ceil(nxt) if nxt < self.end_s else None

    def finalize(self) -> None:
        self.runtime.close()

    def _grid_reading(self, end_s: int, data: Mapping) -> GridReading:
        """The power flow of the interval ending at ``end_s`` and each site's average draw in it."""
        def by_entity(attr: str) -> dict:
            return {src.split(".", 1)[1]: v for src, v in (data.get(attr) or {}).items()}

        draw = {site: (sum(self.reader.read(site, meter, end_s - self.metering_s, end_s).values())
                       if isinstance(meter, Meter) and end_s > 0 else 0.0)
                for site, meter in by_entity("p_kw").items()}
        return GridReading(by_entity("loading_pct"), min(by_entity("vm_pu").values(), default=1.0), draw)
