"""mosaik adapter for :class:`flexcosim.cosim.models.ev.EVFleet` (one entity per fleet group).

A hybrid simulator: it steps at its own next event (a trip start, an arrival or a
departure of the mobility model; the next decision tick of ``step_s`` while any EV is
parked at a charging site) and when the platform sends routes.

Outputs
-------
plugged : ``{site: {ev: PluggedEV | None}}`` the changes of the EVs parked at charging
    sites (non-persistent): at a decision tick every site, with every EV parked there now;
    between ticks only the sites an EV arrived at or left, with those EVs and the EVs
    there that wait for a charger (not on one, by the chargers' meter). ``None``:
    the EV left. A consumer that applies each change
    (:func:`~cosim.models.charger.apply_plugged`) knows every parked EV; an EV's SOC is
    refreshed at its arrival and at every tick, so a fleet step costs what changed, not
    every EV at the site
events : list of :class:`~cosim.models.ev.EVEvent` of this second (non-persistent)
n_events : number of events of this second (non-persistent)
soc : :class:`SocReading`, a read-only mapping ``{ev: soc}`` [-] (persistent); entity
    ``EV`` (one per EV of a fleet): ``soc`` [-]
unmet_kwh : counter :class:`~cosim.models.meter.Meter` of the energy missing to the
    target SOC of the EVs that left each site [kWh] (persistent)

Inputs
------
battery_kw : a :class:`~cosim.models.meter.Meter` per charging site, battery-side energy
    per EV (time-shifted, not a trigger): the energy an EV got between two fleet steps
    is read from it exactly, since a charger changes power only at events.
routes : ``{ev: (site, arrival_s)}`` where the DSO platform sent EVs (trigger,
    time-shifted by one second).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence

import numpy as np

from flexcosim.cosim.adapters.base import SteppedAdapter, meta, one_entity
from flexcosim.cosim.models.charger import PluggedEV
from flexcosim.cosim.models.ev import Arrival, Departure, EVFleet
from flexcosim.cosim.models.meter import MeterBook

META = meta({"Fleet": (["name"], ["battery_kw", "routes", "plugged", "events", "n_events", "soc",
                                  "unmet_kwh"]),
             "EV": (["fleet"], ["soc"])},
            kind="hybrid", triggers=["routes"], persistent=["soc", "unmet_kwh"])


class FleetSim(SteppedAdapter):
    scenario_part = "Fleet"

    def __init__(self) -> None:
        super().__init__(META)

    def setup(self, fleets: Mapping[str, tuple[EVFleet, Sequence[Mapping[str, str]], np.ndarray]],
              end_s: int, grid_s: int | None = None) -> None:
        """``fleets[group] = (fleet, site_of_place, target_soc)``.

        ``site_of_place[i]`` maps a place name of EV i to the site where it charges;
        ``target_soc[i]`` is the SOC its driver wants at departure [-]. ``end_s``: no own
        step at or after it [s]; ``grid_s``: own steps are rounded up to this grid [s].
        """
        self.fleets = dict(fleets)
        self.end_s, self.grid_s = end_s, grid_s
        self.evs: dict[str, list[str]] = {}  # created fleet entity -> its EV entities
        self.last_s: int | None = None
        self.index = {g: {ev: i for i, ev in enumerate(f.ids)} for g, (f, _, _) in self.fleets.items()}
        self.sites = {g: sorted({site for places in site_of for site in places.values()})
                      for g, (_, site_of, _) in self.fleets.items()}
        # per site: kWh of each EV of the group read from the site's meter at the last step,
        # and (key list, fleet index per meter key, -1 for other groups' EVs)
        self.read_kwh = {g: {site: np.zeros(len(f.ids)) for site in self.sites[g]}
                         for g, (f, _, _) in self.fleets.items()}
        self.slot_ev: dict[str, dict[str, tuple[list[str], np.ndarray]]] = {g: {} for g in self.fleets}
        # EVs on a charger as of the chargers' last readings
        self.on_charger = {g: np.zeros(len(f.ids), dtype=bool) for g, (f, _, _) in self.fleets.items()}
        self.unmet = {g: MeterBook(counter=True) for g in self.fleets}
        self.reported = {g: {} for g in self.fleets}  # EV -> its last PluggedEV (see plugged_evs)
        # site_at[g][i, state]: index in self.sites[g] of the site where EV i parked in that
        # state charges, -1 if none
        self.site_at = {g: np.array([[self.sites[g].index(places[s]) if s in places else -1
                                      for s in f.mobility.states] for places in site_of], dtype=np.intp)
                        for g, (f, site_of, _) in self.fleets.items()}

    def create(self, num: int, model: str, name: str | None = None, fleet: str | None = None):
        """``Fleet`` (one per call, ``name``: a fleet group) or ``EV`` (``fleet``: a created
        fleet group; num = its size: one entity per EV, named by the EV)."""
        if model == "Fleet":
            one_entity(num, model)
            self.outputs[name] = {}
            self.evs[name] = []
            return [{"eid": name, "type": model}]
        ids = self.fleets[fleet][0].ids if fleet in self.evs else None
        if ids is None or num != len(ids):
            raise ValueError(f"create EV: need fleet= a created Fleet ({sorted(self.evs)}) and "
                             f"num = its EVs ({len(ids) if ids else '-'}); got {fleet!r}, num={num}")
        self.evs[fleet] = list(ids)
        for ev in ids:
            self.outputs[ev] = {}
        return [{"eid": ev, "type": model} for ev in ids]

    def step(self, time: int, inputs, max_advance: int) -> int | None:
        nxt = math.inf
        for name in self.evs:
            fleet, site_of_place, target_soc = self.fleets[name]
            index = self.index[name]
            data = inputs.get(name, {})
            out: dict = {}
            dt = 0 if self.last_s is None else time - self.last_s
            charged_kw = self._read_meters(name, data.get("battery_kw"), time, dt)
            events = fleet.step(time, dt, charged_kw)
            site_now = self.site_at[name][np.arange(len(fleet.ids)), fleet.state]
            at_site = np.flatnonzero(site_now >= 0)
            if events:
                out["events"] = events
                out["n_events"] = len(events)
            unmet: dict[str, float] = {}
            energy = fleet.energy_kwh()
            for e in events:
                if isinstance(e, Departure) and e.place in site_of_place[index[e.ev]]:
                    i = index[e.ev]
                    site = site_of_place[i][e.place]
                    short = max(0.0, float(target_soc[i] * fleet.capacity_kwh[i] - energy[i]))
                    unmet[site] = unmet.get(site, 0.0) + short
            self.unmet[name].add(time, unmet)
            plugged = self._plugged(name, time, events, site_now, at_site, charged_kw)
            if plugged:
                out["plugged"] = plugged
            for routes in (data.get("routes") or {}).values():
                for ev, (site, arrival_s) in routes.items():
                    if ev in index:  # routes from the platform cover every fleet group
                        # a route that comes after the estimated arrival: the EV arrives next second
                        fleet.mobility.route(index[ev], 0, site, max(arrival_s, time + 1))
            out["soc"] = SocReading(index, fleet.soc)
            for ev in self.evs[name]:
                self.outputs[ev] = {"soc": out["soc"][ev]}
            out["unmet_kwh"] = self.unmet[name].reading()
            self.outputs[name] = out
            nxt = min(nxt, self._next_s(time, fleet, bool(at_site.size)))
        self.last_s = time
        # a step at end_s still counts: the last metering interval records the SOC it leaves
        return int(nxt) if nxt <= self.end_s else None

    def _plugged(self, name: str, time: int, events: Sequence, site_now: np.ndarray,
                 at_site: np.ndarray, charged_kw: np.ndarray) -> dict[str, dict[str, PluggedEV | None]]:
        """The ``plugged`` output of this step (module docstring), sites in name order.

        ``site_now[i]``: index in ``self.sites[name]`` of the site where EV i is parked, -1
        if none; ``at_site``: the EVs parked at a site; ``charged_kw``: battery power of
        each EV since the last step [kW]. Between ticks the EVs at a touched site that did
        not charge since the last step and wait for a charger are read again too, so an
        aggregator does not take them as charging at its set-point.
        """
        fleet, site_of_place, _ = self.fleets[name]
        index, sites = self.index[name], self.sites[name]
        tick = time % self.step_s == 0
        out: dict[str, dict[str, PluggedEV | None]] = {site: {} for site in sites} if tick else {}
        came = set()
        for e in events:
            site = site_of_place[index[e.ev]].get(e.place) if isinstance(e, (Arrival, Departure)) else None
            if site is not None:
                changes = out.setdefault(site, {})
                if isinstance(e, Departure):
                    changes[e.ev] = None
                else:
                    came.add(index[e.ev])
        if tick:
            parked = at_site
        else:
            touched = [sites.index(site) for site in out]
            idle = at_site[np.isin(site_now[at_site], touched) & (charged_kw[at_site] == 0.0)
                           & ~self.on_charger[name][at_site]]
            parked = np.union1d(idle, [i for i in came if site_now[i] >= 0]).astype(np.intp)
        for site, evs in plugged_evs(fleet, parked, [sites[k] for k in site_now[parked]],
                                     self.reported[name]).items():
            out.setdefault(site, {}).update(evs)
        return dict(sorted(out.items()))

    def _read_meters(self, name: str, meters, time: int, dt: int) -> np.ndarray:
        """Average battery power per EV since the last step [kW], from the chargers' meters.

        Each EV of the group in a site's meter is read at ``time`` (``Meter.totals``, all
        keys at once); an EV whose total moved since its last reading there charged.
        Also notes the EVs on a charger (``self.on_charger``).
        """
        power = np.zeros(len(self.index[name]))
        if not meters or not dt:
            return power
        on_charger = self.on_charger[name]
        on_charger[:] = False
        by_site = {src.split(".", 1)[-1]: meter for src, meter in meters.items()}
        for site in self.sites[name]:
            meter = by_site.get(site)
            if meter is None:
                continue
            keys, total, _, held = meter.arrays()
            evs = self._fleet_index(name, site, keys, len(total))
            mine = evs >= 0
            evs, kwh = evs[mine], meter.totals(time)[mine]
            read = self.read_kwh[name][site]
            moved = kwh != read[evs]
            power[evs[moved]] = (kwh[moved] - read[evs[moved]]) * 3600.0 / dt
            read[evs[moved]] = kwh[moved]
            on_charger[evs[held[mine]]] = True
        return power

    def _fleet_index(self, name: str, site: str, keys: list[str], n: int) -> np.ndarray:
        """The fleet index of each of the first ``n`` ``keys`` of ``site``'s meter, -1 for an
        EV of another group; cached while the meter keeps its key list."""
        cached_keys, evs = self.slot_ev[name].get(site, (None, None))
        if cached_keys is not keys:
            evs = np.zeros(0, dtype=np.intp)
        if len(evs) < n:
            index = self.index[name]
            evs = np.concatenate([evs, [index.get(k, -1) for k in keys[len(evs):n]]]).astype(np.intp)
            self.slot_ev[name][site] = (keys, evs)
        return evs[:n]

    def _next_s(self, time: int, fleet: EVFleet, parked: bool) -> float:
        """The fleet's next own step: mobility event or decision tick."""
        mobility = fleet.next_event_s(time)
        nxt = math.inf if mobility is None else mobility
        if self.grid_s:
            nxt = -(-nxt // self.grid_s) * self.grid_s if nxt < math.inf else nxt
        if parked:
            nxt = min(nxt, (time // self.step_s + 1) * self.step_s)
        return nxt


class SocReading(Mapping[str, float]):
    """The state of charge of every EV of a fleet at one step [-], by EV name.

    A copy of the fleet's array, so a fleet of any size hands its SOC out at the cost of
    one array copy per step, and a consumer converts only the EVs it reads.
    """

    def __init__(self, index: Mapping[str, int], soc: np.ndarray) -> None:
        self._index, self._soc = index, soc.copy()

    def __getitem__(self, ev: str) -> float:
        return float(self._soc[self._index[ev]])

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)


def plugged_evs(f: EVFleet, parked: Sequence[int], site_of: Sequence[str],
                reported: dict[str, PluggedEV]) -> dict[str, dict[str, PluggedEV]]:
    """The EVs ``parked`` (fleet indices, in fleet order; ``site_of[k]`` the charging site
    where EV ``parked[k]`` is) as ``{site: {ev: PluggedEV}}``.

    ``reported``: each EV's last ``PluggedEV``, reused while its SOC is the same (an EV
    that did not charge), so a consumer can tell an unchanged EV by identity; updated.
    """
    out: dict[str, dict[str, PluggedEV]] = {}
    for i, site in zip(parked, site_of):
        ev = f.ids[i]
        soc = float(f.soc[i])
        p = reported.get(ev)
        if p is None or p.soc != soc:
            p = reported[ev] = PluggedEV(
                ev=ev,
                soc=soc,
                capacity_kwh=float(f.capacity_kwh[i]),
                max_charge_kw=float(f.max_charge_kw[i]),
                max_discharge_kw=float(f.max_discharge_kw[i]),
                soc_min=float(f.soc_min),
                soc_max=float(f.soc_max),
            )
        out.setdefault(site, {})[ev] = p
    return out
