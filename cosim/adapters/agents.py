"""mosaik adapter hosting the agents: site aggregators (one entity each) and the DSO platform.

Site aggregator
    input ``plugged`` (``{site: {ev: PluggedEV}}`` from the fleet, this step); output
    ``setpoints_kw`` (``{ev: kW}`` for the site's chargers). EVs parked at the site are
    scheduled whether or not a charger was free for them; the chargers ignore set-points
    for EVs they do not hold. Sites with a book (transformer, reservations) also see
    their capacity and price forecast to the horizon end.
DSOGrid
    inputs ``loading_pct`` (transformers), ``vm_pu`` (buses) and ``p_kw`` (sites) of the
    previous step (time-shifted); output ``limit_kw`` (``{site: kW}``). It steps first
    and sets the capacity limit each site aggregator observes from this step on.
Platform
    inputs ``events`` and ``soc`` from the fleets; output ``routes``
    (``{ev: (site, arrival_s)}``, to the fleet over a time-shifted connection). It steps
    before the aggregators, so a reservation made at ``t`` is in their books at ``t``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from flexcosim.agents.dso import DSOGridAgent
from flexcosim.agents.platform import DSOPlatform
from flexcosim.agents.site import SiteAggregator, SiteEV, SiteObservation
from flexcosim.agents.site_book import SiteBook
from flexcosim.cosim.adapters.base import SteppedAdapter, merged, meta, plugged_at
from flexcosim.cosim.models.ev import TripStart
from flexcosim.cosim.models.tariff import TariffSeries

META = meta({
    "SiteAggregator": (["name"], ["plugged", "setpoints_kw"]),
    "Platform": ([], ["events", "soc", "routes", "requests"]),
    "DSOGrid": ([], ["loading_pct", "vm_pu", "p_kw", "limit_kw"]),
})


@dataclass(frozen=True)
class SitePlant:
    """The fixed facts an aggregator knows about its site."""

    charger_kw: float
    efficiency: float
    v2g: bool
    tariff: TariffSeries | None = None  # the site meter's prices over the whole run


class AgentSim(SteppedAdapter):
    def __init__(self) -> None:
        super().__init__(META)

    def setup(
        self,
        agents: Mapping[str, SiteAggregator],
        plants: Mapping[str, SitePlant],
        targets_kwh: Mapping[str, float],
        departures_s: Mapping[str, int],
        books: Mapping[str, SiteBook],
        platform: DSOPlatform | None,
        horizon_end_s: int,
        dso: DSOGridAgent | None = None,
    ) -> None:
        self.agents = dict(agents)
        self.plants = dict(plants)
        self.targets_kwh = dict(targets_kwh)
        self.departures_s = dict(departures_s)
        self.books = dict(books)
        self.platform = platform
        self.horizon_end_s = horizon_end_s
        self.dso = dso

    def create(self, num: int, model: str, name: str | None = None):
        name = name or {"Platform": "platform", "DSOGrid": "dso"}[model]
        self.outputs[name] = {}
        return [{"eid": name, "type": model}]

    def step(self, time: int, inputs, max_advance: int) -> int:
        if "dso" in self.outputs:
            self._dso(time, inputs.get("dso", {}))
        if "platform" in self.outputs:
            self._platform(time, inputs.get("platform", {}))
        n = max(1, (self.horizon_end_s - time) // self.step_s)
        for name in self.outputs:
            if name in ("platform", "dso"):
                continue
            agent = self.agents[name]
            plant = self.plants[agent.site]
            present = plugged_at(inputs.get(name, {}).get("plugged"), agent.site)
            evs = tuple(
                SiteEV(
                    ev=p.ev,
                    energy_kwh=p.soc * p.capacity_kwh,
                    capacity_kwh=p.capacity_kwh,
                    target_kwh=self.targets_kwh[p.ev],
                    max_charge_kw=p.max_charge_kw,
                    max_discharge_kw=p.max_discharge_kw,
                    departure_s=self.departures_s.get(p.ev),
                )
                for p in present.values()
            )
            book = self.books.get(agent.site)
            forecast = {}
            if book is not None:
                capacity = book.capacity_kw(time, n)
                forecast = {
                    "capacity_kw": float(capacity[0]),
                    "capacity_forecast_kw": tuple(capacity.tolist()),
                    "price_forecast_per_kwh":
                        tuple(book.prices(time, n).charge_price_per_kwh.tolist()),
                }
            if plant.tariff is not None:
                k = time // self.step_s
                forecast["tariff_forecast_per_kwh"] = tuple(plant.tariff.import_per_kwh[k:k + n].tolist())
            obs = SiteObservation(
                site=agent.site, time_s=time, step_s=self.step_s, evs=evs,
                charger_kw=plant.charger_kw, efficiency=plant.efficiency, v2g=plant.v2g,
                **forecast,
            )
            self.outputs[name] = {"setpoints_kw": dict(agent.decide(obs).power_kw)}
        return time + self.step_s

    def _platform(self, time: int, data: Mapping) -> None:
        soc = merged(data.get("soc"))
        routes = {}
        for events in (data.get("events") or {}).values():
            for e in events:
                if (isinstance(e, TripStart) and e.ev in self.platform.register
                        and e.ev not in self.platform.handled):
                    r = self.platform.handle(e.ev, time, soc[e.ev])
                    routes[e.ev] = (r.site, r.arrival_s)
        self.outputs["platform"] = {"routes": routes, "requests": len(routes)}

    def _dso(self, time: int, data: Mapping) -> None:
        def by_entity(attr: str) -> dict[str, float]:
            return {src.split(".", 1)[1]: v for src, v in (data.get(attr) or {}).items()}

        voltages = by_entity("vm_pu").values()
        limits = self.dso.decide(time, by_entity("loading_pct"),
                                 min(voltages, default=1.0), by_entity("p_kw"))
        for agent in self.agents.values():
            agent.capacity_kw = limits.get(agent.site, math.inf)
        self.outputs["dso"] = {"limit_kw": limits}
