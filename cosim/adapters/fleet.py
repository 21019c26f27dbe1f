"""mosaik adapter for :class:`flexcosim.cosim.models.ev.EVFleet` (one entity per fleet group).

Outputs
-------
plugged : ``{site: {ev: PluggedEV}}`` EVs parked at a charging site now
events : list of :class:`~cosim.models.ev.EVEvent` emitted at this step
soc : ``{ev: soc}`` [-]
unmet_kwh : ``{site: kWh}`` energy missing to the target SOC of the EVs that left each
site this step (sites without departures are absent)

Inputs
------
battery_kw : ``{ev: kW}`` battery-side power over the previous step, from the chargers
(a time-shifted connection, so it is applied when the interval has passed).
routes : ``{ev: (site, arrival_s)}`` where the DSO platform sent EVs whose trip started
at the previous step (time-shifted); applied to the trip plan before moving the fleet.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from flexcosim.cosim.adapters.base import SteppedAdapter, merged, meta
from flexcosim.cosim.models.charger import PluggedEV
from flexcosim.cosim.models.ev import Departure, EVFleet

META = meta({"Fleet": (["name"], ["battery_kw", "routes", "plugged", "events", "soc", "unmet_kwh"])})


class FleetSim(SteppedAdapter):
    def __init__(self) -> None:
        super().__init__(META)

    def setup(self, fleets: Mapping[str, tuple[EVFleet, Sequence[Mapping[str, str]], np.ndarray]]) -> None:
        """``fleets[group] = (fleet, site_of_place, target_soc)``.

        ``site_of_place[i]`` maps a place name of EV i to the site where it charges;
        ``target_soc[i]`` is the SOC its driver wants at departure [-].
        """
        self.fleets = dict(fleets)

    def create(self, num: int, model: str, name: str):
        self.outputs[name] = {}
        return [{"eid": name, "type": model}]

    def step(self, time: int, inputs, max_advance: int) -> int:
        for name in self.outputs:
            fleet, site_of_place, target_soc = self.fleets[name]
            index = {ev: i for i, ev in enumerate(fleet.ids)}
            power = np.zeros(len(fleet.ids))
            for ev, kw in merged(inputs.get(name, {}).get("battery_kw")).items():
                power[index[ev]] = kw
            for ev, (site, arrival_s) in merged(inputs.get(name, {}).get("routes")).items():
                if ev in index:  # routes from the platform cover every fleet group
                    fleet.mobility.route(index[ev], 0, site, arrival_s)
            events = fleet.step(time, self.step_s if time > 0 else 0, power)
            energy = fleet.energy_kwh()
            unmet: dict[str, float] = {}
            for e in events:
                if isinstance(e, Departure) and e.place in site_of_place[index[e.ev]]:
                    i = index[e.ev]
                    site = site_of_place[i][e.place]
                    short = max(0.0, float(target_soc[i] * fleet.capacity_kwh[i] - energy[i]))
                    unmet[site] = unmet.get(site, 0.0) + short
            self.outputs[name] = {
                "plugged": plugged_evs(fleet, site_of_place),
                "events": events,
                "soc": dict(zip(fleet.ids, fleet.soc.tolist())),
                "unmet_kwh": unmet,
                "battery_kw": None,
                "routes": None,
            }
        return time + self.step_s


def plugged_evs(f: EVFleet, site_of_place: Sequence[Mapping[str, str]]) -> dict[str, dict[str, PluggedEV]]:
    """EVs parked where they can charge, as ``{site: {ev: PluggedEV}}``."""
    out: dict[str, dict[str, PluggedEV]] = {}
    for i, ev in enumerate(f.ids):
        place = f.place(i)
        site = site_of_place[i].get(place) if place is not None else None
        if site is None:
            continue
        out.setdefault(site, {})[ev] = PluggedEV(
            ev=ev,
            soc=float(f.soc[i]),
            capacity_kwh=float(f.capacity_kwh[i]),
            max_charge_kw=float(f.max_charge_kw[i]),
            max_discharge_kw=float(f.max_discharge_kw[i]),
            soc_min=float(f.soc_min),
            soc_max=float(f.soc_max),
        )
    return out
