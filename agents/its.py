"""The ITS agent: routing estimates from a request point to each charging site.

A pluggable role (registry :data:`ITS_STRATEGIES`, method ``estimate``): a
:class:`RouteQuery` in, an :class:`Estimates` out; the agent :class:`ITS` answers
estimate requests by message. The built-in ``"static_routes"``
uses fixed distances and driving times: for the UCD study (seed 004 section 5.2) the
request point is near the campus entrance and each site is 2.2-2.4 km and 5-10 min away.
The arrival SOC is the SOC at the request minus the route energy (distance x consumption).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from flexcosim.agents.messages import Envelope, EstimateReply, EstimateRequest
from flexcosim.agents.processes import Role
from flexcosim.agents.registry import Guarded, Registry


@dataclass(frozen=True)
class Route:
    """A route from the request point to a site.

    Attributes
    ----------
    distance_km : driving distance [km]
    drive_s : driving time [s]
    walk_s : walking time from the site to the driver's destination [s]
    """

    distance_km: float
    drive_s: int
    walk_s: int


@dataclass(frozen=True)
class Estimate:
    """ITS estimate for one EV and one site: arrival time [s since start] and SOC [-]."""

    arrival_s: int
    arrival_soc: float


@dataclass(frozen=True)
class RouteQuery:
    """What the DSO platform asks the ITS for one EV.

    Attributes
    ----------
    request_s : time of the request [s since start]
    soc : SOC at the request [-]
    capacity_kwh : battery capacity [kWh]
    consumption_kwh_per_km : driving consumption [kWh/km]
    routes : site -> route from the request point
    """

    request_s: int
    soc: float
    capacity_kwh: float
    consumption_kwh_per_km: float
    routes: Mapping[str, Route]


@dataclass(frozen=True)
class Estimates:
    """Per site: when the EV would arrive and with which SOC if sent there now."""

    by_site: Mapping[str, Estimate]


class StaticRoutes:
    """Fixed distance and driving time per route (no traffic)."""

    def estimate(self, q: RouteQuery) -> Estimates:
        return Estimates({
            site: Estimate(
                arrival_s=q.request_s + r.drive_s,
                arrival_soc=max(0.0, q.soc - r.distance_km * q.consumption_kwh_per_km / q.capacity_kwh),
            )
            for site, r in q.routes.items()
        })


ITS_STRATEGIES: Registry[StaticRoutes] = Registry(
    "ITS strategy", "estimate", {"static_routes": StaticRoutes})


def check_estimates(decision: object, q: RouteQuery) -> str:
    """Why ``decision`` is not a valid answer to ``q`` ('' if it is)."""
    if not isinstance(decision, Estimates):
        return f"returned {type(decision).__name__}, expected Estimates"
    if set(decision.by_site) != set(q.routes):
        return f"estimates for {sorted(decision.by_site)}, expected {sorted(q.routes)}"
    for site, e in decision.by_site.items():
        if e.arrival_s < q.request_s or not 0.0 <= e.arrival_soc <= 1.0:
            return f"estimate for {site!r} out of range: {e}"
    return ""


class ITS(Role):
    """The ITS as an agent: answers each :class:`~flexcosim.agents.messages.EstimateRequest`
    with its strategy's estimates (its fallback if the strategy fails)."""

    def __init__(self, strategy: Guarded, name: str = "its") -> None:
        super().__init__(name)
        self.strategy = strategy

    def handle(self, envelope: Envelope) -> None:
        match envelope.body:
            case EstimateRequest(ev=ev, query=query):
                self.reply(envelope, EstimateReply(ev, self.strategy(query, query.request_s)))
