"""EMSP and DSO platform: the charging-site selection protocol of seed 004 section 4.2.2.2.

Both are simpy roles (``flexcosim.agents.processes``) that talk only by messages
(``flexcosim.agents.messages``). For every EV that starts its trip to the campus:

1. the **EMSP** keeps the candidate sites within the driver's maximum walk
   (:func:`within_walk`), asks the **ITS** for arrival time and SOC at each and turns
   the trip start into a request (battery, limits, departure, target SOC, V2G allowance)
   from its register of the driver's preferences (pluggable: :data:`EMSP_STRATEGIES`,
   method ``request``); it sends the request to the DSO platform;
2. the **DSO platform** asks every candidate site's aggregator for an offer (free chargers over the
   stay, price signal, charger limits capped by transformer headroom) and waits until
   its deadline (``network.timeout_s``); an offer that is lost or late is left out of
   this decision and recorded. It drops insufficient offers and chooses with its
   allocation strategy;
3. it reserves a charger at the chosen site (the aggregator books the reference
   schedule as committed load, so later offers see it), waits for the confirmation and
   answers the EMSP, which routes the EV. When no site has a free charger for the whole
   stay, the EV is sent to the site with the most free chargers, parks there without a
   reservation and waits for a charger to come free.

Allocation strategies (registry :data:`ALLOCATION`): ``"css"`` solves the
charging-site selection MILP (seed 004 eqs 4.6-4.19, ``flexcosim.agents.optim.site_selection``);
``"random_share"`` is the seed's baseline: drivers pick a site at random without any
communication, each site receiving its Table-1 share (a seeded shuffle of one slot per
charger). When CSS finds no sufficient offer, or fails, the platform falls back to the
site with the most free chargers, records it, and carries on. When the platform does not
answer in time (an outage of its link, a lost message) the EMSP falls back to the
nearest site by ITS arrival time, without a reservation, and records it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
import simpy

from flexcosim.agents.its import Estimate, Route, RouteQuery, StaticRoutes
from flexcosim.agents.messages import (
    EstimateReply,
    EstimateRequest,
    OfferReply,
    OfferRequest,
    Reservation,
    ReservationConfirmed,
    ReservationWithdrawn,
    ReserveRequest,
    SiteAssignment,
    SiteSelectionRequest,
    TripStarted,
)
from flexcosim.agents.optim.site_selection import select_site
from flexcosim.agents.optim.types import SiteOffer, SiteRequest
from flexcosim.agents.processes import Role
from flexcosim.agents.registry import Fallback, Guarded, Registry
from flexcosim.cosim.models.arrivals import Visit


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
    """Seed 004 baseline: a site drawn from a shuffled list of one slot per charger.

    The next slot whose site is in the search space (within the driver's walk, with a
    free charger over the stay) is taken.
    """

    def __init__(self, slots: Sequence[str]) -> None:
        self._slots = list(slots)

    def choose(self, request, offers, step_s):
        sites = {o.site for o in offers}  # the sites within the driver's walk with a free charger
        for i in range(len(self._slots) - 1, -1, -1):
            if self._slots[i] in sites:
                return self._slots.pop(i), np.zeros(0), ""
        return None, np.zeros(0), "no charger slot of the baseline left at a site in reach"


@dataclass(frozen=True)
class Decision:
    """One request handled by the platform: inputs, choice and how it was made.

    Attributes
    ----------
    time_s : the EV's trip start, when the EMSP built the request [s since start]
    ev, site : who goes where; arrival_s : ITS arrival estimate there [s since start]
    strategy : allocation that chose, or ``"fallback: <why>"``
    offers : sufficient offers considered [-]
    decided_s : when the platform answered the EMSP [s since start]
    unanswered : sites whose offer did not arrive by the deadline (comma-separated)
    """

    time_s: int
    ev: str
    site: str
    arrival_s: int
    strategy: str
    offers: int
    decided_s: float = 0.0
    unanswered: str = ""


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




def within_walk(routes: Mapping[str, Route], max_walk_s: int | None) -> dict[str, Route]:
    """The search space of one request: sites whose walk to the destination is at most
    ``max_walk_s`` [s] (seed 004 section 4.2.2.2); ``None`` keeps every site. If no site
    is that close, the driver has no choice but the one with the shortest walk."""
    if max_walk_s is None:
        return dict(routes)
    near = {site: r for site, r in routes.items() if r.walk_s <= max_walk_s}
    if near or not routes:
        return near
    site = min(routes, key=lambda s: routes[s].walk_s)
    return {site: routes[site]}


class EMSP(Role):
    """The e-mobility service provider: turns trip starts into site requests and routes EVs.

    Parameters
    ----------
    register : EV -> its visit (vehicle, departure, target SOC), the EMSP's register
    routes : site -> route from the request point (the fallback estimate if the ITS is silent)
    strategy : the request strategy with its fallback (:data:`EMSP_STRATEGIES`)
    step_s : step length of the site-selection model [s]
    answer_timeout_s : how long it waits for the platform's answer [s]

    Attributes
    ----------
    routed : ``{ev: (site, arrival_s)}`` decided and not yet handed to the fleet
    fallbacks : every request where the ITS or the platform did not answer in time
    """

    def __init__(self, register: Mapping[str, Visit], routes: Mapping[str, Route],
                 strategy: Guarded, step_s: int, answer_timeout_s: float = 120.0,
                 name: str = "emsp", its: str = "its", platform: str = "platform") -> None:
        super().__init__(name)
        self.answer_timeout_s = answer_timeout_s
        self.register, self.routes = dict(register), dict(routes)
        self.strategy, self.step_s = strategy, step_s
        self.its, self.platform = its, platform
        self.handled: set[str] = set()  # one request per EV and day
        self.routed: dict[str, tuple[str, int]] = {}
        self.fallbacks: list[Fallback] = []

    def handle(self, envelope):
        match envelope.body:
            case TripStarted(ev=ev, time_s=now, soc=soc) if ev in self.register and ev not in self.handled:
                self.handled.add(ev)
                yield from self._request(ev, now, soc)

    def _request(self, ev: str, now: int, soc: float):
        visit = self.register[ev]
        v = visit.vehicle
        query = RouteQuery(now, soc, v.capacity_kwh, v.consumption_kwh_per_km,
                           within_walk(self.routes, visit.max_walk_s))
        reply = yield from self.ask(self.its, EstimateRequest(ev, query))
        if isinstance(reply, EstimateReply):
            estimates = reply.estimates
        else:
            estimates = StaticRoutes().estimate(query)
            self._fall_back(now, ev, "its", "no estimate from the ITS in time: static routes")
        request = self.strategy(DriverQuery(visit, now, self.step_s, estimates.by_site), now)
        answer = yield from self.ask(
            self.platform, SiteSelectionRequest(request, estimates, visit.departure_s, now),
            self.answer_timeout_s)
        if isinstance(answer, SiteAssignment):
            self.routed[ev] = (answer.reservation.site, answer.reservation.arrival_s)
            return
        site = min(estimates.by_site, key=lambda s: estimates.by_site[s].arrival_s)
        self._fall_back(now, ev, "platform", f"no answer from the DSO platform in time: nearest site {site}")
        self.routed[ev] = (site, estimates.by_site[site].arrival_s)
        self.notify(self.platform, ReservationWithdrawn(ev))  # a late booking must not hold a charger

    def _fall_back(self, now: int, ev: str, peer: str, reason: str) -> None:
        """Record that ``peer`` did not answer about ``ev``'s trip started at ``now``."""
        self.fallbacks.append(Fallback(now, self.name, peer, reason, {"ev": ev}))


class DSOPlatform(Role):
    """Allocates EVs to charging sites on request (seed 004 section 4.2.2.2).

    Parameters
    ----------
    sites : site -> the name of its aggregator (where offers are asked)
    allocation : the platform's allocation strategy
    step_s : step length [s]; horizon_end_s : end of the offers' horizon [s since start]

    Requests are served one at a time in arrival order. A withdrawn request
    (``ReservationWithdrawn`` from the EMSP) cancels its booking at the site, also when the
    withdrawal arrives before the request has been served.

    Attributes
    ----------
    decisions : every request answered, in answering order
    reservations : EV -> reservation confirmed by its site and not withdrawn
    withdrawn : EVs whose request the EMSP withdrew
    """

    def __init__(self, sites: Mapping[str, str], allocation: Allocation, step_s: int,
                 horizon_end_s: int, name: str = "platform") -> None:
        super().__init__(name)
        self.sites = dict(sites)
        self.allocation = allocation
        self.step_s, self.horizon_end_s = step_s, horizon_end_s
        self.decisions: list[Decision] = []
        self.reservations: dict[str, Reservation] = {}
        self.withdrawn: set[str] = set()

    def attach(self, runtime) -> None:
        super().attach(runtime)
        self._turn = simpy.Resource(self.env, capacity=1)

    def handle(self, envelope):
        match envelope.body:
            case SiteSelectionRequest() as body:
                # one request at a time, in arrival order: a booking is in the sites'
                # books before the next request asks for offers
                with self._turn.request() as turn:
                    yield turn
                    yield from self._select(envelope, body)
                self._release(body.request.ev_id)
            case ReservationWithdrawn(ev=ev):
                self.withdrawn.add(ev)
                self._release(ev)

    def _release(self, ev: str) -> None:
        """Cancel ``ev``'s booking at its site if the EMSP withdrew its request."""
        if ev in self.withdrawn and ev in self.reservations:
            self.notify(self.sites[self.reservations.pop(ev).site], ReservationWithdrawn(ev))

    def _select(self, envelope, body: SiteSelectionRequest):
        request, now, departure_s = body.request, body.now_s, body.departure_s
        estimates = body.estimates.by_site
        n_steps = max(1, -(-(self.horizon_end_s - now) // self.step_s))
        asked = {site: agent for site, agent in self.sites.items() if site in estimates}  # within walk
        asks = [(agent, OfferRequest(request, now, n_steps, estimates[site].arrival_s, departure_s))
                for site, agent in asked.items()]
        replies = yield from self.ask_all(asks)
        answered = {site: replies[agent] for site, agent in asked.items()
                    if isinstance(replies.get(agent), OfferReply)}
        free = {site: r.free_for_stay for site, r in answered.items()}
        offers = [r.offer for r in answered.values() if r.free_for_stay > 0]
        site, schedule, why = None, np.zeros(0), "no site has a free charger"
        if offers:
            try:
                site, schedule, why = self.allocation.choose(request, offers, self.step_s)
            except Exception as exc:  # noqa: BLE001 - a failed strategy must not end the run
                site, schedule, why = None, np.zeros(0), f"raised {type(exc).__name__}: {exc}"
        label = type(self.allocation).__name__
        if site is None:
            if free:
                site = max(free, key=free.get)
            else:
                why = "no offer arrived in time"
                site = min(estimates, key=lambda s: estimates[s].arrival_s)
            label = (f"fallback: {why}" if free.get(site) else
                     f"no free charger ({why}): parks without reservation")
        first, last = request.arrival_step[site], request.departure_step
        reference = tuple(float(x) for x in schedule[first:last]) if schedule.size else ()
        reservation = Reservation(request.ev_id, site, estimates[site].arrival_s, departure_s,
                                  reference, label)
        booked = False
        if free.get(site):
            confirmed = yield from self.ask(self.sites[site], ReserveRequest(reservation))
            booked = isinstance(confirmed, ReservationConfirmed)
            if booked:
                self.reservations[request.ev_id] = reservation
            else:
                reservation = replace(reservation, strategy=f"{label} (reservation unconfirmed)")
        self.reply(envelope, SiteAssignment(reservation, booked))
        missing = ",".join(s for s in asked if s not in answered)
        self.decisions.append(Decision(now, request.ev_id, site, reservation.arrival_s,
                                       reservation.strategy, len(offers), self.env.now, missing))
