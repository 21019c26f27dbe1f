"""mosaik adapter for :class:`flexcosim.cosim.models.charger.ChargingSite` (one entity per site).

An event-driven (hybrid) simulator without a clock of its own: it steps when the fleet
reports the EVs parked at its sites or an agent sends set-points. It then plugs in the
EVs parked at a site (first free charger; an EV that finds no free charger waits
unplugged), unplugs those that left, and applies the last set-points clipped to charger
and EV limits (the SOC headroom is checked over one second, the engine's resolution;
the fleet steps again when an EV reaches its limit). The powers hold until its next step.

Inputs (trigger)
------
plugged : ``{site: {ev: PluggedEV}}`` from the fleet
setpoints_kw : ``{ev: kW}`` grid-side set-points from the site's agent (+ charge); kept
    until the next set-points

Outputs (persistent), each a :class:`~cosim.models.meter.Meter` (rates held from the
step on, so a metering consumer averages them exactly over its interval)
------
p_kw, q_kvar : site demand at the meter [kW], [kvar], keyed by site
battery_kw : battery-side power per EV [kW]
ev_grid_kw : grid-side power per EV [kW]
connected : EVs on a charger [-]; waiting : EVs at the site without a free charger [-]
losses_kw : charger conversion losses [kW]

ev_battery_kw (non-persistent, every step): ``{ev: kW}`` battery-side power from now on,
for the fleet
"""

from __future__ import annotations

from collections.abc import Mapping

from flexcosim.cosim.adapters.base import SteppedAdapter, merged, meta, plugged_at
from flexcosim.cosim.models.charger import ChargingSite
from flexcosim.cosim.models.meter import MeterBook

OUTPUTS = ["p_kw", "q_kvar", "battery_kw", "ev_grid_kw", "connected", "waiting", "losses_kw"]
META = meta({"Site": (["name"], ["plugged", "setpoints_kw", "ev_battery_kw", *OUTPUTS])},
            kind="hybrid", triggers=["plugged", "setpoints_kw"], persistent=OUTPUTS)


class ChargerSim(SteppedAdapter):
    def __init__(self) -> None:
        super().__init__(META)

    def setup(self, sites: Mapping[str, ChargingSite]) -> None:
        self.sites = dict(sites)
        self.present: dict[str, dict] = {name: {} for name in self.sites}
        self.wanted: dict[str, dict[str, float]] = {name: {} for name in self.sites}
        self.meters = {name: {attr: MeterBook() for attr in OUTPUTS} for name in self.sites}

    def create(self, num: int, model: str, name: str):
        self.outputs[name] = {attr: self.meters[name][attr].reading() for attr in OUTPUTS}
        return [{"eid": name, "type": model}]

    def step(self, time: int, inputs, max_advance: int) -> None:
        for name in self.outputs:
            site = self.sites[name]
            data = inputs.get(name, {})
            if "plugged" in data:
                self.present[name] = plugged_at(data["plugged"], name)
            if "setpoints_kw" in data:
                self.wanted[name] = merged(data["setpoints_kw"])
            present = self.present[name]
            for ev in list(site.connected()):
                if ev not in present:
                    site.disconnect(ev)
            for ev in present:  # dict order = fleet order, so plugging is deterministic
                if ev not in site.connected() and site.free_chargers() > 0:
                    site.connect(ev)
            on_charger = {ev: present[ev] for ev in site.connected()}
            setpoints = {ev: kw for ev, kw in self.wanted[name].items() if ev in on_charger}
            result = site.apply(setpoints, on_charger, 1)
            rates = {
                "p_kw": {name: result.grid_kw},
                "q_kvar": {name: 0.0},
                "battery_kw": dict(result.battery_kw),
                "ev_grid_kw": dict(result.ev_grid_kw),
                "connected": {name: float(len(on_charger))},
                "waiting": {name: float(len(present) - len(on_charger))},
                "losses_kw": {name: result.losses_kw},
            }
            for attr, meter in self.meters[name].items():
                meter.set_rates(time, rates[attr])
            self.outputs[name] = {attr: meter.reading() for attr, meter in self.meters[name].items()}
            self.outputs[name]["ev_battery_kw"] = rates["battery_kw"]
        return None
