"""Drivers who come to a campus for the day: when they ask for a site, what they drive, what they want.

For the UCD case study (seed 004 section 5.2) the seed gives the fleet size per day
(Table 1: 478 EVs at 50 % penetration), the charger type (11 kW V1G, 95 %), the
approach (requests near the campus entrance, 2.2-2.4 km and 5-10 min to each site) and
the annual EV energy (Table 2: 1952 MWh over 196 weekdays with 717 EVs at 75 %), but
not the arrival/departure times, battery sizes or SOCs. The occupancy model below is
ours, documented here and in ``docs/study-ucd-campus.md``: a campus has staff, who
come in the morning and stay the working day, and students, who come and go through the
day, some for a lecture or two, some for the day. Chargers freed by a short stay serve
a later EV.

========================  ===============================================================
group                     staff 40 %, students 60 %
request time, staff       normal, mean 08:15, sd 30 min, clipped to 07:00-10:30
stay, staff               normal, mean 8.5 h, sd 1 h, clipped to 5-10.5 h
request time, students    uniform 08:00-15:00
stay, students            short (55 %): uniform 1.5-4 h; long (45 %): uniform 5-8 h
departure                 by 21:00
vehicle model             40 kWh / 7.4 kW (30 %), 60 kWh / 11 kW (45 %), 77 kWh / 11 kW (25 %)
SOC at request            uniform 0.30-0.70
energy wanted             gamma, shape 2, mean NEED_MEAN_KWH, capped by what the EV
                          can take at 80 % of full power in the stay less 45 min, and by
                          an SOC of 0.95;
                          target SOC = SOC at request + energy wanted / battery
maximum walk              uniform 10-20 min from the site to the destination
========================  ===============================================================

The energy wanted is an *input calibration*, not a model: seed 004 Table 2 implies
1952 MWh / 196 days / 717 EVs = 13.9 kWh per EV-day, and :data:`NEED_MEAN_KWH` is set so
that the mean energy wanted after the caps is that figure (checked in
``tests/test_models_arrivals.py``).
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


#: Energy per EV-day implied by seed 004 Table 2 (1952 MWh / 196 days / 717 EVs) [kWh].
SEED_KWH_PER_EV_DAY = 1952e3 / 196 / 717
#: Mean of the energy-wanted draw before the caps [kWh]; calibrated so that the mean
#: after the caps is SEED_KWH_PER_EV_DAY (tests/test_models_arrivals.py).
NEED_MEAN_KWH = 18.4
#: Share of staff among the drivers [-]; share of short stays among students [-].
STAFF_SHARE, SHORT_STAY_SHARE = 0.40, 0.55


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
    max_walk_s : longest walk from a site to the destination the driver accepts [s];
        ``None`` = any (seed 004 section 4.2.2.2)
    """

    ev: str
    request_s: int
    departure_s: int
    vehicle: VehicleModel
    soc_at_request: float
    target_soc: float
    max_walk_s: int | None = None


def campus_visits(n: int, rng: np.random.Generator, grid_s: int = 1, prefix: str = "ev") -> list[Visit]:
    """Draw ``n`` campus visits (occupancy model in the module docstring), times on a ``grid_s`` grid.

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
    staff = rng.random(n) < STAFF_SHARE
    short = rng.random(n) < SHORT_STAY_SHARE
    request = np.where(staff,
                       np.clip(rng.normal(8.25 * hour, 0.5 * hour, n), 7.0 * hour, 10.5 * hour),
                       rng.uniform(8.0 * hour, 15.0 * hour, n))
    stay = np.where(staff,
                    np.clip(rng.normal(8.5 * hour, 1.0 * hour, n), 5.0 * hour, 10.5 * hour),
                    np.where(short, rng.uniform(1.5 * hour, 4.0 * hour, n),
                             rng.uniform(5.0 * hour, 8.0 * hour, n)))
    departure = np.minimum(request + stay, 21.0 * hour)
    shares = np.array([share for _, share in VEHICLE_MIX])
    model = rng.choice(len(VEHICLE_MIX), size=n, p=shares / shares.sum())
    capacity = np.array([VEHICLE_MIX[m][0].capacity_kwh for m in model])
    charge_kw = np.array([VEHICLE_MIX[m][0].max_charge_kw for m in model])
    soc = rng.uniform(0.30, 0.70, n)
    # the stay less 45 min (the drive, whole 15-min charging steps) at 80 % of full power,
    # which leaves room for the drive's consumption and a busy site
    reachable = 0.8 * np.maximum(departure - request - 0.75 * hour, 0.0) / hour * charge_kw
    need = np.minimum(rng.gamma(2.0, NEED_MEAN_KWH / 2.0, n), reachable)
    target = np.minimum(soc + need / capacity, 0.95)
    max_walk = rng.uniform(600.0, 1200.0, n)

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
            target_soc=float(max(target[k], soc[k])),
            max_walk_s=int(max_walk[k]),
        )
        for k in range(n)
    ]
