"""The ITS agent: routing estimates from a request point to each charging site.

For the UCD study (seed 004 section 5.2) the request point is near the campus entrance
and each site is 2.2-2.4 km and 5-10 min away. The estimate of the arrival SOC is the
SOC at the request minus the route energy (distance x consumption).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


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


class ITS:
    """Estimates arrival time and arrival SOC per candidate site."""

    def __init__(self, routes: Mapping[str, Route]) -> None:
        self.routes = dict(routes)

    def estimate(self, request_s: int, soc: float, capacity_kwh: float,
                 consumption_kwh_per_km: float) -> dict[str, Estimate]:
        """Per site: when the EV would arrive and with which SOC if sent there now."""
        return {
            site: Estimate(
                arrival_s=request_s + r.drive_s,
                arrival_soc=max(0.0, soc - r.distance_km * consumption_kwh_per_km / capacity_kwh),
            )
            for site, r in self.routes.items()
        }
