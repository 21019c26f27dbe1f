"""mosaik adapter hosting site aggregators (one entity per agent).

Inputs
------
plugged : ``{site: {ev: PluggedEV}}`` from the fleet, this step

Output
------
setpoints_kw : ``{ev: kW}`` for the site's chargers

EVs parked at the site are scheduled whether or not a charger was free for them;
the chargers ignore set-points for EVs they do not hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from agents.site import SiteAggregator, SiteEV, SiteObservation
from cosim.adapters.base import SteppedAdapter, meta, plugged_at

META = meta({"SiteAggregator": (["name"], ["plugged", "setpoints_kw"])})


@dataclass(frozen=True)
class SitePlant:
    """The fixed facts an aggregator knows about its site."""

    charger_kw: float
    efficiency: float
    v2g: bool


class AgentSim(SteppedAdapter):
    def __init__(self) -> None:
        super().__init__(META)

    def setup(
        self,
        agents: Mapping[str, SiteAggregator],
        plants: Mapping[str, SitePlant],
        targets_kwh: Mapping[str, float],
    ) -> None:
        self.agents = dict(agents)
        self.plants = dict(plants)
        self.targets_kwh = dict(targets_kwh)

    def create(self, num: int, model: str, name: str):
        self.outputs[name] = {}
        return [{"eid": name, "type": model}]

    def step(self, time: int, inputs, max_advance: int) -> int:
        for name in self.outputs:
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
                )
                for p in present.values()
            )
            obs = SiteObservation(
                site=agent.site, time_s=time, step_s=self.step_s, evs=evs,
                charger_kw=plant.charger_kw, efficiency=plant.efficiency, v2g=plant.v2g,
            )
            self.outputs[name] = {"setpoints_kw": dict(agent.decide(obs).power_kw)}
        return time + self.step_s
