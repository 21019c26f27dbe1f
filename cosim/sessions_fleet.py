"""A fleet from charging-session data: the scenario's ``sessions`` section.

Each session of the file (read by :mod:`flexcosim.cosim.models.sessions`) becomes one
EV on a :class:`~cosim.models.mobility.TripPlan`: away until its arrival second, then
parked at its site (a zero-length trip: it arrives with the session's arrival SOC, no
driving is simulated) until its departure second, when it leaves for good. Its driver
wants ``target_soc`` at departure, i.e. the session's energy, battery side [kWh], and
announces the departure to the site's agent. Sessions outside the scenario's period
are left out (the reader counts them).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from flexcosim.cosim.models.ev import EVFleet, VehicleModel
from flexcosim.cosim.models.mobility import MOVING, TripPlan
from flexcosim.cosim.models.sessions import SessionTable, read_acn_json, read_sessions_csv
from flexcosim.scenarios.schema import Scenario, ScenarioError, SessionsGroup

#: Away before arrival and after departure.
AWAY = "away"
#: Driving consumption of a session EV [kWh/km]; unused (no trip is driven), but a
#: vehicle model needs one (seed 000: 0.1778 for a Nissan Leaf).
CONSUMPTION_KWH_PER_KM = 0.1778


def read_group(g: SessionsGroup, s: Scenario, base_dir: Path, field: str) -> SessionTable:
    """The group's sessions on the scenario's clock; a bad file is a :class:`ScenarioError`."""
    path = Path(g.path)
    path = path if path.is_absolute() else base_dir / path
    start = pd.Timestamp(s.start)
    try:
        if g.format == "csv":
            return read_sessions_csv(path, start, s.duration_s, g.battery_kwh, g.max_power_kw,
                                     g.target_soc)
        return read_acn_json(path, start, s.duration_s, g.battery_kwh, g.max_power_kw,
                             g.target_soc, requested=g.requested)
    except (OSError, ValueError) as exc:
        raise ScenarioError(f"scenario field {field + '.path'!r}: {exc}") from None


def sessions_fleet(g: SessionsGroup, s: Scenario, base_dir: Path, sites: list[str],
                   field: str) -> tuple[tuple[EVFleet, list[dict[str, str]], np.ndarray], dict[str, int]]:
    """The fleet of one ``sessions`` group and each EV's departure [s].

    Returns
    -------
    ((fleet, site_of_place, target SOC per EV), EV -> departure [s since start])

    Raises
    ------
    ScenarioError
        an unreadable file, a site that is not a site of the scenario, no session inside
        the scenario's period.
    """
    table = read_group(g, s, base_dir, field)
    if not table.sessions:
        raise ScenarioError(f"scenario field {field + '.path'!r}: no session lies inside the "
                            f"scenario's period ({table.outside_period} outside)")
    at = [g.site or x.site for x in table.sessions]
    for k, site in enumerate(at):
        if site not in sites:
            where = "site" if g.site else "path"
            raise ScenarioError(f"scenario field '{field}.{where}': session {k + 1} is at "
                                f"{site!r}, not a site; allowed: {', '.join(sites)}")
    ids = [f"{g.name}_{k:04d}" for k in range(len(table.sessions))]
    places = list(dict.fromkeys(at))
    trips = [[(x.arrival_s, x.arrival_s, site), (x.departure_s, x.departure_s, AWAY)]
             for x, site in zip(table.sessions, at)]
    vehicles = [VehicleModel(name="session", capacity_kwh=x.battery_kwh,
                             max_charge_kw=x.max_power_kw, max_discharge_kw=0.0,
                             consumption_kwh_per_km=CONSUMPTION_KWH_PER_KM)
                for x in table.sessions]
    fleet = EVFleet(ids, vehicles, np.array([x.arrival_soc for x in table.sessions]),
                    TripPlan((AWAY, MOVING, *places), trips), np.zeros(len(ids), dtype=int))
    site_of_place = [{site: site for site in places}] * len(ids)
    departures = {ev: x.departure_s for ev, x in zip(ids, table.sessions)}
    return (fleet, site_of_place, np.array([x.target_soc for x in table.sessions])), departures
