"""Drivers who come to a campus for the day: when they ask for a site, what they drive, what they want.

For the UCD case study (seed 004 section 5.2) the seed gives the fleet size per day
(Table 1: 478 EVs at 50 % penetration), the charger type (11 kW V1G, 95 %) and the
approach (requests near the campus entrance, 2.2-2.4 km and 5-10 min to each site) but
not the arrival/departure times, battery sizes or SOCs. The distributions below are
ours, chosen as plausible for a commuter campus and documented here and in
``docs/study-ucd-campus.md``:

========================  ===============================================================
request time              normal, mean 08:45, sd 60 min, clipped to 07:00-12:30
parking duration          normal, mean 7.5 h, sd 1.5 h, clipped to 2-10.5 h (leave by 21:00)
vehicle model             40 kWh / 7.4 kW (30 %), 60 kWh / 11 kW (45 %), 77 kWh / 11 kW (25 %)
SOC at request            uniform 0.35-0.65
target SOC at departure   uniform 0.75-0.95
========================  ===============================================================
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from flexcosim.cosim.models.ev import VehicleModel

#: (vehicle, share) of the campus fleet; consumption from typical WLTP-ish figures [kWh/km].
VEHICLE_MIX: tuple[tuple[VehicleModel, float], ...] = (
    (VehicleModel("compact-40", 40.0, 7.4, 0.0, 0.155), 0.30),
    (VehicleModel("midsize-60", 60.0, 11.0, 0.0, 0.170), 0.45),
    (VehicleModel("large-77", 77.0, 11.0, 0.0, 0.190), 0.25),
)


@dataclass(frozen=True)
class Visit:
    """One EV's day on campus.

    Attributes
    ----------
    ev : EV name
    request_s : time the driver asks for a charging site (trip start) [s since midnight]
    departure_s : time the EV leaves its charger [s since midnight]
    vehicle : battery capacity, power limits, consumption
    soc_at_request : SOC when the request is sent [-]
    target_soc : SOC the driver wants at departure [-]
    """

    ev: str
    request_s: int
    departure_s: int
    vehicle: VehicleModel
    soc_at_request: float
    target_soc: float


def campus_visits(n: int, rng: np.random.Generator, grid_s: int = 1, prefix: str = "ev") -> list[Visit]:
    """Draw ``n`` campus visits (distributions in the module docstring), times on a ``grid_s`` grid.

    Parameters
    ----------
    n : number of EVs that day [-]
    rng : the scenario's stream for this fleet
    grid_s : request and departure times are rounded to it [s]; 1 = each at its own second
    prefix : EV names are ``f"{prefix}_{k:04d}"``
    """
    if n <= 0:
        raise ValueError(f"campus_visits n: {n!r} is not allowed; need > 0 EVs")
    hour = 3600.0
    request = np.clip(rng.normal(8.75 * hour, 1.0 * hour, n), 7.0 * hour, 12.5 * hour)
    stay = np.clip(rng.normal(7.5 * hour, 1.5 * hour, n), 2.0 * hour, 10.5 * hour)
    departure = np.minimum(request + stay, 21.0 * hour)
    shares = np.array([share for _, share in VEHICLE_MIX])
    model = rng.choice(len(VEHICLE_MIX), size=n, p=shares / shares.sum())
    soc = rng.uniform(0.35, 0.65, n)
    target = rng.uniform(0.75, 0.95, n)

    def on_grid(t: np.ndarray) -> np.ndarray:
        return (np.round(t / grid_s) * grid_s).astype(int)

    request_s, departure_s = on_grid(request), on_grid(departure)
    departure_s = np.maximum(departure_s, request_s + 2 * grid_s)
    return [
        Visit(
            ev=f"{prefix}_{k:04d}",
            request_s=int(request_s[k]),
            departure_s=int(departure_s[k]),
            vehicle=VEHICLE_MIX[model[k]][0],
            soc_at_request=float(soc[k]),
            target_soc=float(target[k]),
        )
        for k in range(n)
    ]
