"""EMSP and DSO platform: the charging-site selection protocol of seed 004 section 4.2.2.2.

For every EV that starts its trip to the campus:

1. the **EMSP** turns the trip start into a request (battery, limits, departure,
   target SOC, V2G allowance) from its register of the driver's preferences
   (pluggable: :data:`EMSP_STRATEGIES`, method ``request``);
2. the **DSO platform** asks the **ITS** (``flexcosim.agents.its``, pluggable) for arrival time and
   SOC per candidate site,
   asks each site's aggregator for an offer (free chargers over the stay, price signal,
   charger limits capped by transformer headroom), drops insufficient offers, and
   chooses with its allocation strategy;
3. it reserves a charger at the chosen site (the aggregator books the reference
   schedule as committed load, so later offers see it) and the EMSP tells the EV where
   to drive. When no site has a free charger for the whole stay, the EV is sent to the
   first site, parks there without a reservation and waits for a charger to come free.

Allocation strategies (registry :data:`ALLOCATION`): ``"css"`` solves the
charging-site selection MILP (seed 004 eqs 4.6-4.19, ``flexcosim.agents.optim.site_selection``);
``"random_share"`` is the seed's baseline: drivers pick a site at random without any
communication, each site receiving its Table-1 share (a seeded shuffle of one slot per
charger). When CSS finds no sufficient offer, or fails, the platform falls back to the
site with the most free chargers, records it, and carries on. A platform outage
(:meth:`DSOPlatform.outage_until`) sends every request to the fallback.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from flexcosim.agents.its import Estimate, Route, RouteQuery
from flexcosim.agents.optim.site_selection import select_site
from flexcosim.agents.optim.types import SiteOffer, SiteRequest
from flexcosim.agents.registry import Guarded, Registry
from flexcosim.cosim.models.arrivals import Visit


@dataclass(frozen=True)
class Reservation:
    """A charger booked for one EV.

    Attributes
    ----------
    ev, site : who and where
    arrival_s, departure_s : the booked stay [s since start]
    charge_kw : (steps of the stay,) reference grid-side schedule from the selection [kW]
    strategy : the allocation that made it ("css", "random_share", or "fallback: <why>")
    """

    ev: str
    site: str
    arrival_s: int
    departure_s: int
    charge_kw: tuple[float, ...]
    strategy: str


class SiteDesk(Protocol):
    """What the platform needs from a site aggregator."""

    site: str

    def offer(self, request: SiteRequest, now_s: int, n_steps: int) -> SiteOffer: ...

    def reserve(self, reservation: Reservation) -> None: ...

    def free_chargers(self, arrival_s: int, departure_s: int) -> int: ...


class Allocation(Protocol):
    """Chooses a site for one request; ``None`` means no choice (the platform falls back)."""

    def choose(self, request: SiteRequest, offers: Sequence[SiteOffer], step_s: int
               ) -> tuple[str | None, np.ndarray, str]: ...


ALLOCATION: Registry[Allocation] = Registry("allocation strategy", "choose")


@ALLOCATION.register("css")
class ChargingSiteSelection:
    """Cost-optimal site and schedule from the site-selection MILP (seed 004 eqs 4.6-4.19)."""

    def choose(self, request, offers, step_s):
        choice = select_site(request, offers, step_s)
        if choice.site is None:
            return None, np.zeros(0), f"{choice.status}: {choice.reason}"
        return choice.site, choice.charge_kw - choice.discharge_kw, ""


class RandomShare:
    """Seed 004 baseline: a site drawn from a shuffled list of one slot per charger."""

    def __init__(self, slots: Sequence[str]) -> None:
        self._slots = list(slots)

    def choose(self, request, offers, step_s):
        if not self._slots:
            return None, np.zeros(0), "every charger slot of the baseline is taken"
        return self._slots.pop(), np.zeros(0), ""


@dataclass(frozen=True)
class Decision:
    """One request handled by the platform: inputs, choice and how it was made."""

    time_s: int
    ev: str
    site: str
    arrival_s: int
    strategy: str
    offers: int  # sufficient offers considered


@dataclass(frozen=True)
class DriverQuery:
    """What the EMSP knows when it turns a trip start into a site request.

    Attributes
    ----------
    visit : the driver's registered vehicle and wishes (departure, target SOC)
    now_s : time of the trip start [s since start]; step_s : step length [s]
    estimates : ITS arrival time and SOC per candidate site
    v2g_allowance_kwh : V2G energy the driver allows [kWh]
    """

    visit: Visit
    now_s: int
    step_s: int
    estimates: Mapping[str, Estimate]
    v2g_allowance_kwh: float = 0.0


class DriverPreferences:
    """The EMSP's built-in request: the driver's registered wishes, times in steps from now."""

    def request(self, q: DriverQuery) -> SiteRequest:
        v = q.visit.vehicle
        return SiteRequest(
            ev_id=q.visit.ev,
            battery_kwh=v.capacity_kwh,
            charge_max_kw=v.max_charge_kw,
            discharge_max_kw=v.max_discharge_kw,
            arrival_soc={site: e.arrival_soc for site, e in q.estimates.items()},
            arrival_step={site: -(-(e.arrival_s - q.now_s) // q.step_s)
                          for site, e in q.estimates.items()},
            departure_step=max(1, (q.visit.departure_s - q.now_s) // q.step_s),
            target_soc=q.visit.target_soc,
            v2g_allowance_kwh=q.v2g_allowance_kwh,
        )


EMSP_STRATEGIES: Registry[DriverPreferences] = Registry(
    "EMSP strategy", "request", {"driver_preferences": DriverPreferences})


def check_request(decision: object, q: DriverQuery) -> str:
    """Why ``decision`` is not a valid request for ``q`` ('' if it is)."""
    if not isinstance(decision, SiteRequest):
        return f"returned {type(decision).__name__}, expected SiteRequest"
    if decision.ev_id != q.visit.ev or set(decision.arrival_step) != set(q.estimates):
        return "request for another EV or other sites than estimated"
    return ""


class DSOPlatform:
    """Allocates EVs to charging sites on request (seed 004 section 4.2.2.2).

    Parameters
    ----------
    register : the EMSP's register: EV -> its visit (vehicle, departure, target SOC)
    routes : site -> route from the request point, for the ITS
    its, emsp : the ITS and EMSP roles, each a strategy with its fallback
    sites : site -> its aggregator's desk (offers, reservations)
    allocation : the platform's allocation strategy
    step_s : step length [s]; horizon_end_s : end of the offers' horizon [s since start]
    """

    def __init__(self, register: Mapping[str, Visit], routes: Mapping[str, Route],
                 its: Guarded, emsp: Guarded, sites: Mapping[str, SiteDesk],
                 allocation: Allocation, step_s: int, horizon_end_s: int) -> None:
        self.register, self.routes = dict(register), dict(routes)
        self.its, self.emsp, self.sites = its, emsp, dict(sites)
        self.allocation = allocation
        self.step_s, self.horizon_end_s = step_s, horizon_end_s
        self.decisions: list[Decision] = []
        self.reservations: dict[str, Reservation] = {}
        self.handled: set[str] = set()  # one request per EV and day
        self.outage_until_s = -1

    def outage_until(self, time_s: int) -> None:
        """The platform is unreachable until ``time_s``: requests go to the fallback."""
        self.outage_until_s = time_s

    def handle(self, ev: str, now_s: int, soc: float) -> Reservation:
        """Process one trip start; returns where the EV goes (a reservation unless no charger is free)."""
        visit = self.register[ev]
        v = visit.vehicle
        query = RouteQuery(now_s, soc, v.capacity_kwh, v.consumption_kwh_per_km, self.routes)
        estimates = self.its(query, now_s).by_site
        request = self.emsp(DriverQuery(visit, now_s, self.step_s, estimates), now_s)
        n_steps = max(1, -(-(self.horizon_end_s - now_s) // self.step_s))
        departure_s = visit.departure_s
        if now_s < self.outage_until_s:
            site, schedule, why = None, np.zeros(0), "DSO platform outage"
            offers = []
        else:
            offers = [
                desk.offer(request, now_s, n_steps) for desk in self.sites.values()
                if desk.free_chargers(estimates[desk.site].arrival_s, departure_s) > 0
            ]
            try:
                site, schedule, why = (self.allocation.choose(request, offers, self.step_s)
                                       if offers else (None, np.zeros(0), "no site has a free charger"))
            except Exception as exc:  # noqa: BLE001 - a failed strategy must not end the run
                site, schedule, why = None, np.zeros(0), f"raised {type(exc).__name__}: {exc}"
        label = type(self.allocation).__name__
        if site is None:
            free = {s: d.free_chargers(estimates[s].arrival_s, departure_s)
                    for s, d in self.sites.items()}
            site = max(free, key=free.get)
            label = f"fallback: {why}" if free[site] else "no free charger: parks without reservation"
        arrival_s = estimates[site].arrival_s
        first = request.arrival_step[site]
        last = request.departure_step
        reference = tuple(float(x) for x in schedule[first:last]) if schedule.size else ()
        reservation = Reservation(ev, site, arrival_s, departure_s, reference, label)
        if not label.startswith("no free charger"):
            self.sites[site].reserve(reservation)
            self.reservations[ev] = reservation
        self.decisions.append(Decision(now_s, ev, site, arrival_s, label, len(offers)))
        self.handled.add(ev)
        return reservation
