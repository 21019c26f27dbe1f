"""EVs charging at home on a single charger each (seed 000 sections 2.2 and 4).

:func:`draw_home_evs` draws the seed's population: arrival time from a truncated normal
(16:00, sigma 3 h, within 11:00-23:00), daily distance from a log-normal
(mu_ln 2.89257, sigma_ln 0.91779) [km], arrival energy ``SOC^max BC - ECR d`` (seed 000
eq. 2, floored at 0 kWh) and objective energy ``SOC^obj BC`` (eq. 3). The seed does not
give departure times; here they are a truncated normal next morning (07:00, sigma 1 h,
within 05:00-09:30), a choice documented in ``docs/study-seed000.md``.

:class:`HomeChargers` is the plant: every EV's stored energy, integrated per step as
``E += P_grid * eta * dt`` with ``0 <= P_grid <= p_max`` while the EV is parked
(``arrival_s <= t < departure_s``) and never beyond its objective energy (the charger
stops at the target SOC the driver set).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import truncnorm


@dataclass(frozen=True)
class HomeEVs:
    """A population of home-charging EVs; every array has one entry per EV.

    Attributes
    ----------
    ids : EV names
    bus : grid bus of the EV's home
    arrival_s, departure_s : parked interval [s since scenario start]
    distance_km : distance driven before arrival d [km]
    battery_kwh : BC [kWh]
    consumption_kwh_per_km : ECR [kWh/km]
    soc_max : SOC^max [-] (arrival energy reference, seed: 0.95)
    soc_target : SOC^obj [-] (seed: 0.95)
    """

    ids: tuple[str, ...]
    bus: tuple[str, ...]
    arrival_s: np.ndarray
    departure_s: np.ndarray
    distance_km: np.ndarray
    battery_kwh: float
    consumption_kwh_per_km: float
    soc_max: float
    soc_target: float

    @property
    def arrival_energy_kwh(self) -> np.ndarray:
        """e^arr = SOC^max BC - ECR d (seed 000 eq. 2), at least 0 [kWh]."""
        return np.maximum(self.soc_max * self.battery_kwh
                          - self.consumption_kwh_per_km * self.distance_km, 0.0)

    @property
    def target_energy_kwh(self) -> np.ndarray:
        """e^obj = SOC^obj BC (seed 000 eq. 3) [kWh]."""
        return np.full(len(self.ids), self.soc_target * self.battery_kwh)


def _truncated_normal(mean: float, sd: float, lo: float, hi: float, n: int,
                      rng: np.random.Generator) -> np.ndarray:
    return truncnorm.rvs((lo - mean) / sd, (hi - mean) / sd, loc=mean, scale=sd, size=n,
                         random_state=rng)


def draw_home_evs(
    name: str,
    buses: list[str],
    start_hour: float,
    rng: np.random.Generator,
    battery_kwh: float = 24.0,
    consumption_kwh_per_km: float = 0.1778,
    soc_max: float = 0.95,
    soc_target: float = 0.95,
    arrival_h: tuple[float, float, float, float] = (16.0, 3.0, 11.0, 23.0),
    departure_h: tuple[float, float, float, float] = (31.0, 1.0, 29.0, 33.5),
    distance_lognormal: tuple[float, float] = (2.89257, 0.91779),
) -> HomeEVs:
    """One EV per entry of ``buses`` (its home), drawn as in seed 000 section 4.

    Parameters
    ----------
    name : prefix of the EV names (``<name>_<k>``)
    buses : home bus of each EV
    start_hour : clock hour of the scenario start [h], converts clock times to seconds
    rng : random stream
    battery_kwh, consumption_kwh_per_km : Nissan Leaf of the seed (24 kWh, 0.1778 kWh/km)
    soc_max, soc_target : SOC^max and SOC^obj [-]
    arrival_h, departure_h : (mean, sd, min, max) of the truncated normals [clock hours;
        > 24 is the next day]
    distance_lognormal : (mu_ln, sigma_ln) of the daily distance [ln km]
    """
    n = len(buses)
    arrival = _truncated_normal(*arrival_h, n, rng)
    departure = _truncated_normal(*departure_h, n, rng)
    distance = rng.lognormal(*distance_lognormal, size=n)
    arrival_s = np.round((arrival - start_hour) * 3600.0).astype(int)
    departure_s = np.round((departure - start_hour) * 3600.0).astype(int)
    return HomeEVs(tuple(f"{name}_{k:03d}" for k in range(n)), tuple(buses), arrival_s,
                   departure_s, distance, battery_kwh, consumption_kwh_per_km, soc_max,
                   soc_target)


class HomeChargers:
    """The plant: stored energy of every EV of a :class:`HomeEVs` population.

    Parameters
    ----------
    evs : the population
    charger_kw : p^max_ch at the grid side [kW] (seed: 3.7), or one per EV
    efficiency : eta_ch [-] (seed: 0.92)
    """

    def __init__(self, evs: HomeEVs, charger_kw: float, efficiency: float) -> None:
        if not np.all(np.asarray(charger_kw) > 0) or not 0 < efficiency <= 1:
            raise ValueError(f"HomeChargers: charger_kw={charger_kw!r}, efficiency={efficiency!r}; "
                             "need charger_kw > 0 and 0 < efficiency <= 1")
        self.evs, self.charger_kw, self.efficiency = evs, charger_kw, efficiency
        self.energy_kwh = evs.arrival_energy_kwh.copy()
        self.target_kwh = np.maximum(evs.target_energy_kwh, self.energy_kwh)

    def parked(self, t_s: int) -> np.ndarray:
        """Which EVs are at their charger at ``t_s`` [s]."""
        return (self.evs.arrival_s <= t_s) & (t_s < self.evs.departure_s)

    def step(self, t_s: int, dt_s: int, setpoint_kw: np.ndarray) -> np.ndarray:
        """Charge for ``[t_s, t_s + dt_s)`` at the grid-side set-points [kW]; returns grid kW per EV."""
        dt_h = dt_s / 3600.0
        room_kw = (self.target_kwh - self.energy_kwh) / (self.efficiency * dt_h)
        p = np.clip(setpoint_kw, 0.0, np.minimum(self.charger_kw, np.maximum(room_kw, 0.0)))
        p = np.where(self.parked(t_s), p, 0.0)
        self.energy_kwh = self.energy_kwh + p * self.efficiency * dt_h
        return p

    def unmet_kwh(self, t_s: int) -> float:
        """Energy missing to the target of every EV that has left by ``t_s`` [kWh]."""
        gone = self.evs.departure_s <= t_s
        return float(np.sum((self.target_kwh - self.energy_kwh)[gone]))
