"""mosaik adapter for :class:`flexcosim.cosim.models.charger.ChargingSite` (one entity per site).

Each step the site plugs in the EVs parked at it (first free charger; an EV that
finds no free charger waits unplugged), unplugs those that left, and applies the
agent's set-points clipped to charger and EV limits.

Inputs
------
plugged : ``{site: {ev: PluggedEV}}`` from the fleet
setpoints_kw : ``{ev: kW}`` grid-side set-points from the site's agent (+ charge)

Outputs
-------
p_kw, q_kvar : site demand at the meter [kW], [kvar]
battery_kw : ``{ev: kW}`` battery-side power, for the fleet
ev_grid_kw : ``{ev: kW}`` grid-side power per EV
connected : number of EVs on a charger [-]
waiting : number of EVs at the site without a free charger [-]
losses_kw : charger conversion losses [kW]
"""

from __future__ import annotations

from collections.abc import Mapping

from flexcosim.cosim.adapters.base import SteppedAdapter, merged, meta, plugged_at
from flexcosim.cosim.models.charger import ChargingSite

ATTRS = ["plugged", "setpoints_kw", "p_kw", "q_kvar", "battery_kw", "ev_grid_kw",
         "connected", "waiting", "losses_kw"]
META = meta({"Site": (["name"], ATTRS)})


class ChargerSim(SteppedAdapter):
    def __init__(self) -> None:
        super().__init__(META)

    def setup(self, sites: Mapping[str, ChargingSite]) -> None:
        self.sites = dict(sites)

    def create(self, num: int, model: str, name: str):
        self.outputs[name] = {}
        return [{"eid": name, "type": model}]

    def step(self, time: int, inputs, max_advance: int) -> int:
        for name in self.outputs:
            site = self.sites[name]
            data = inputs.get(name, {})
            present = plugged_at(data.get("plugged"), name)
            for ev in list(site.connected()):
                if ev not in present:
                    site.disconnect(ev)
            for ev in present:  # dict order = fleet order, so plugging is deterministic
                if ev not in site.connected() and site.free_chargers() > 0:
                    site.connect(ev)
            on_charger = {ev: present[ev] for ev in site.connected()}
            wanted = merged(data.get("setpoints_kw"))
            setpoints = {ev: kw for ev, kw in wanted.items() if ev in on_charger}
            result = site.apply(setpoints, on_charger, self.step_s)
            self.outputs[name] = {
                "p_kw": result.grid_kw,
                "q_kvar": 0.0,
                "battery_kw": dict(result.battery_kw),
                "ev_grid_kw": dict(result.ev_grid_kw),
                "connected": len(on_charger),
                "waiting": len(present) - len(on_charger),
                "losses_kw": result.losses_kw,
                "plugged": None,
                "setpoints_kw": None,
            }
        return time + self.step_s
