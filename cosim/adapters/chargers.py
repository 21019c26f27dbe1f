"""mosaik adapter for :class:`flexcosim.cosim.models.charger.ChargingSite` (one entity per site).

An event-driven (hybrid) simulator: it steps when the fleet reports the EVs parked at
its sites, when an agent sends set-points, and at the second an EV on a charger reaches
its SOC limit (which it computes from the EV's last reported SOC and the energy its
meter has delivered since). It then plugs in the EVs parked at a site (first free
charger; an EV that finds no free charger waits unplugged), unplugs those that left,
and applies the last set-points clipped to charger and EV limits (the SOC headroom is
checked over one second, the engine's resolution). The powers hold until its next step.

Inputs (trigger)
------
plugged : ``{site: {ev: PluggedEV | None}}`` from the fleet: the EVs that came to (or
    were refreshed at) a site, ``None`` for those that left; the others are unchanged
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
and the same as plain numbers: p_kw_now [kW], n_connected, n_waiting [-]

The fleet reads ``battery_kw`` (time-shifted) and integrates each EV's energy from it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from flexcosim.cosim.adapters.base import SteppedAdapter, merged, meta, one_entity
from flexcosim.cosim.models.charger import ChargingSite, PluggedEV, apply_plugged
from flexcosim.cosim.models.meter import MeterBook

OUTPUTS = ["p_kw", "q_kvar", "battery_kw", "ev_grid_kw", "connected", "waiting", "losses_kw"]
#: JSON-safe numbers beside the meters: site power now [kW], EVs on a charger and waiting [-]
SCALARS = ["p_kw_now", "n_connected", "n_waiting"]
META = meta({"Site": (["name"], ["plugged", "setpoints_kw", *OUTPUTS, *SCALARS])},
            kind="hybrid", triggers=["plugged", "setpoints_kw"], persistent=OUTPUTS + SCALARS)


class ChargerSim(SteppedAdapter):
    scenario_part = "Chargers"

    def __init__(self) -> None:
        super().__init__(META)

    def setup(self, sites: Mapping[str, ChargingSite], end_s: int) -> None:
        """``end_s``: no own step at or after it [s]."""
        self.sites, self.end_s = dict(sites), end_s
        self.base_kwh: dict[str, dict[str, float]] = {name: {} for name in self.sites}
        self.due = {name: math.inf for name in self.sites}  # a site's next SOC-limit step [s]
        self.present: dict[str, dict] = {name: {} for name in self.sites}
        self.wanted: dict[str, dict[str, float]] = {name: {} for name in self.sites}
        self.meters = {name: {attr: MeterBook() for attr in OUTPUTS} for name in self.sites}

    def create(self, num: int, model: str, name: str):
        one_entity(num, model)
        # the site's own quantities are 0 until an EV comes, so every site is recorded
        for attr in ("p_kw", "q_kvar", "connected", "waiting", "losses_kw"):
            self.meters[name][attr].set_rates(0, {name: 0.0})
        self.outputs[name] = {attr: self.meters[name][attr].reading() for attr in OUTPUTS}
        self.outputs[name].update(dict.fromkeys(SCALARS, 0.0))
        return [{"eid": name, "type": model}]

    def step(self, time: int, inputs, max_advance: int) -> int | None:
        nxt = math.inf
        for name in self.outputs:
            site = self.sites[name]
            data = inputs.get(name, {})
            plugged = [per_site for per_site in (data.get("plugged") or {}).values() if name in per_site]
            if not plugged and "setpoints_kw" not in data and self.due[name] > time:
                nxt = min(nxt, self.due[name])  # nothing new here: the powers hold
                continue
            battery = self.meters[name]["battery_kw"]
            battery.advance(time)
            present, base, left = self.present[name], self.base_kwh[name], []
            for per_site in plugged:
                changes = per_site[name]
                gone = apply_plugged(present, changes)
                for ev in gone:
                    del base[ev]
                left += gone
                for ev, p in changes.items():
                    if p is not None:  # energy now = reported energy; later = that + what the meter adds
                        base[ev] = p.soc * p.capacity_kwh - battery.total.get(ev, 0.0)
            if "setpoints_kw" in data:
                self.wanted[name] = merged(data["setpoints_kw"])
            plugged_in = site.connected()
            for ev in left:
                if ev in plugged_in and ev not in present:
                    site.disconnect(ev)
                    del plugged_in[ev]
            if len(present) > len(plugged_in) and site.free_chargers() > 0:
                # the waiting EVs, in arrival order, take the free chargers
                for ev in present:
                    if ev not in plugged_in and site.free_chargers() > 0:
                        plugged_in[ev] = site.connect(ev)
            setpoints = {ev: kw for ev, kw in self.wanted[name].items() if kw and ev in plugged_in}
            # the SOC now of the EVs it matters for: those with a set-point
            now = {ev: self._now(name, present[ev]) for ev in setpoints}
            result = site.apply(setpoints, now, 1)
            rates = {
                "p_kw": {name: result.grid_kw},
                "q_kvar": {name: 0.0},
                "battery_kw": dict(result.battery_kw),
                "ev_grid_kw": dict(result.ev_grid_kw),
                "connected": {name: float(len(plugged_in))},
                "waiting": {name: float(len(present) - len(plugged_in))},
                "losses_kw": {name: result.losses_kw},
            }
            for attr, meter in self.meters[name].items():
                meter.set_rates(time, rates[attr])
            self.outputs[name] = {attr: meter.reading() for attr, meter in self.meters[name].items()}
            self.outputs[name].update(p_kw_now=result.grid_kw, n_connected=len(plugged_in),
                                      n_waiting=len(present) - len(plugged_in))
            self.due[name] = self._limit_s(time, now, result.battery_kw)
            nxt = min(nxt, self.due[name])
        return nxt if nxt < self.end_s else None

    def _now(self, name: str, p: PluggedEV) -> PluggedEV:
        """``p`` with the SOC it has now: last reported energy plus the metered energy since."""
        energy = self.base_kwh[name][p.ev] + self.meters[name]["battery_kw"].total.get(p.ev, 0.0)
        soc = min(max(energy / p.capacity_kwh, 0.0), 1.0)
        return p if soc == p.soc else p.with_soc(soc)

    @staticmethod
    def _limit_s(time: int, evs: Mapping[str, PluggedEV], battery_kw: Mapping[str, float]) -> float:
        """The first whole second at which a charging (discharging) EV reaches soc_max (soc_min).

        ``evs``: at least the EVs with a battery power."""
        first = math.inf
        for ev, kw in battery_kw.items():
            if not kw:
                continue
            p = evs[ev]
            room = (p.soc_max - p.soc if kw > 0 else p.soc - p.soc_min) * p.capacity_kwh
            if room > 1e-6:  # a fuller battery takes only what the 1-s clip lets through
                first = min(first, time + max(1, math.ceil(max(room, 0.0) / abs(kw) * 3600.0)))
        return first
