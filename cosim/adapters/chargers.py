"""mosaik adapter for :class:`flexcosim.cosim.models.charger.ChargingSite` (one entity per site).

An event-driven (hybrid) simulator: it steps when the fleet reports the EVs parked at
its sites, when an agent sends set-points, and at the second an EV on a charger reaches
its SOC limit (which it computes from the EV's last reported SOC and the energy its
meter has delivered since). It then plugs in the EVs parked at a site (first free
charger; an EV that finds no free charger waits unplugged), unplugs those that left,
and applies the last set-points clipped to charger and EV limits (the SOC headroom is
checked over one second, the engine's resolution). The powers hold until its next step.
A step recomputes only the EVs it concerns (re-reported, plugged in, given a new
set-point, within 2 s of their SOC limit or held by it); the others keep their power,
so the work of an event hardly grows with the EVs parked at the site.

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

import heapq
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
        self.present: dict[str, dict] = {name: {} for name in self.sites}
        self.wanted: dict[str, dict[str, float]] = {name: {} for name in self.sites}
        self.meters = {name: {attr: MeterBook() for attr in OUTPUTS} for name in self.sites}
        # per site: a heap of (second, EV) when a charging (discharging) EV reaches its SOC
        # limit, with stale entries; the valid second per EV; and the EVs whose non-zero
        # set-point the SOC limit already holds back, recomputed at every site step
        self.limits: dict[str, list[tuple[int, str]]] = {name: [] for name in self.sites}
        self.limit_s: dict[str, dict[str, int]] = {name: {} for name in self.sites}
        self.stalled: dict[str, set[str]] = {name: set() for name in self.sites}

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
            data = inputs.get(name, {})
            plugged = [per_site[name] for per_site in (data.get("plugged") or {}).values()
                       if name in per_site]
            if plugged or "setpoints_kw" in data or self._due(name) <= time:
                self._step_site(name, time, plugged, data.get("setpoints_kw"))
            nxt = min(nxt, self._due(name))  # without news the powers hold
        return nxt if nxt < self.end_s else None

    def _step_site(self, name: str, time: int, plugged: list[Mapping[str, PluggedEV | None]],
                   setpoints: Mapping[str, Mapping[str, float]] | None) -> None:
        """Apply one step's news at site ``name``: recompute the power of the EVs it concerns
        (re-reported, plugged in, new set-point, near or at their SOC limit), keep the others'."""
        site, meters = self.sites[name], self.meters[name]
        battery = meters["battery_kw"]
        battery.advance(time)
        present, base, left, touched = self.present[name], self.base_kwh[name], [], set()
        for changes in plugged:
            gone = apply_plugged(present, changes)
            for ev in gone:
                del base[ev]
            left += gone
            for ev, p in changes.items():
                if p is not None:  # energy now = reported energy; later = that + what the meter adds
                    base[ev] = p.soc * p.capacity_kwh - battery.total_of(ev)
                    touched.add(ev)
        if setpoints is not None:
            old, new = self.wanted[name], merged(setpoints)
            touched.update([ev for ev, kw in new.items() if old.get(ev) != kw])
            touched.update(old.keys() - new.keys())
            self.wanted[name] = new
        for ev in left:
            if site.is_connected(ev) and ev not in present:
                site.disconnect(ev)
        came = []
        if len(present) > site.n_connected() and site.free_chargers() > 0:
            # the waiting EVs, in arrival order, take the free chargers
            for ev in present:
                if not site.is_connected(ev) and site.free_chargers() > 0:
                    site.connect(ev)
                    came.append(ev)
        limits, limit_s = self.limits[name], self.limit_s[name]
        while limits and limits[0][0] <= time + 2:  # may be clipped by the 1-s SOC headroom now
            s, ev = heapq.heappop(limits)
            if limit_s.get(ev) == s:
                del limit_s[ev]
                touched.add(ev)
        touched.update(self.stalled[name])
        # recompute in plug-in order of the new EVs first, so the meters list them in that order
        redo = came + [ev for ev in touched if ev not in came and site.is_connected(ev)]
        wanted = self.wanted[name]
        setpoints_kw = {ev: wanted.get(ev, 0.0) for ev in redo}
        now = {ev: self._now(name, present[ev]) for ev, kw in setpoints_kw.items() if kw}
        result = site.update(setpoints_kw, now, 1)
        for ev in redo:
            self._schedule_limit(name, time, ev, setpoints_kw[ev], now.get(ev), result.battery_kw[ev])
        for ev in site.take_unplugged():
            limit_s.pop(ev, None)
            self.stalled[name].discard(ev)
            if not site.is_connected(ev):
                redo.append(ev)
        changes_b = {ev: result.battery_kw.get(ev) for ev in redo}
        changes_g = {ev: result.ev_grid_kw.get(ev) for ev in redo}
        n_on = site.n_connected()
        meters["battery_kw"].update_rates(time, changes_b)
        meters["ev_grid_kw"].update_rates(time, changes_g)
        rates = {"p_kw": result.grid_kw, "q_kvar": 0.0, "connected": float(n_on),
                 "waiting": float(len(present) - n_on), "losses_kw": result.losses_kw}
        for attr, rate in rates.items():
            meters[attr].set_rates(time, {name: rate})
        self.outputs[name] = {attr: meter.reading() for attr, meter in meters.items()}
        self.outputs[name].update(p_kw_now=result.grid_kw, n_connected=n_on,
                                  n_waiting=len(present) - n_on)

    def _due(self, name: str) -> float:
        """The next second an EV at site ``name`` reaches its SOC limit [s], ``inf`` if none."""
        limits, limit_s = self.limits[name], self.limit_s[name]
        while limits and limit_s.get(limits[0][1]) != limits[0][0]:
            heapq.heappop(limits)  # an entry of an EV whose power changed since
        return limits[0][0] if limits else math.inf

    def _now(self, name: str, p: PluggedEV) -> PluggedEV:
        """``p`` with the SOC it has now: last reported energy plus the metered energy since."""
        energy = self.base_kwh[name][p.ev] + self.meters[name]["battery_kw"].total_of(p.ev)
        soc = min(max(energy / p.capacity_kwh, 0.0), 1.0)
        return p if soc == p.soc else p.with_soc(soc)

    def _schedule_limit(self, name: str, time: int, ev: str, setpoint_kw: float,
                        p: PluggedEV | None, kw: float) -> None:
        """Note the first whole second at which ``ev`` (``p``, charging or discharging at
        ``kw`` [kW] battery side) reaches soc_max (soc_min), or, if the SOC limit already
        holds its non-zero set-point, that it must be recomputed at every step."""
        self.limit_s[name].pop(ev, None)
        self.stalled[name].discard(ev)
        if not setpoint_kw:
            return
        room = 0.0 if not kw else (p.soc_max - p.soc if kw > 0 else p.soc - p.soc_min) * p.capacity_kwh
        if room > 1e-6:  # a fuller battery takes only what the 1-s clip lets through
            s = time + max(1, math.ceil(room / abs(kw) * 3600.0))
            self.limit_s[name][ev] = s
            heapq.heappush(self.limits[name], (s, ev))
        else:
            self.stalled[name].add(ev)
