"""Rooftop/campus PV output from clear-sky irradiance and a seeded cloud model.

Output per step k [kW]:

    P_k = peak_kw * G_poa,k / (1000 W/m2) * PR * c_k

* ``G_poa`` is the plane-of-array irradiance [W/m2] at the step's midpoint: pvlib
  clear-sky GHI/DNI/DHI (Ineichen with the Linke turbidity climatology), solar
  position (SPA) and Hay-Davies transposition with ground albedo 0.25.
* ``PR`` is the performance ratio [-] (inverter, temperature, soiling, wiring losses).
* ``c_k`` is the cloud attenuation [-]: ``c_k = 1 - cloudiness (1 - c_min) Phi(z_k)``
  where ``z`` is a stationary AR(1) Gaussian with 30-min correlation time
  (:func:`flexcosim.cosim.models.noise.ar1`), ``Phi`` the standard normal CDF (so ``Phi(z)`` is
  uniform on [0, 1]) and ``c_min = 0.2`` the attenuation of a thick overcast. Both
  numbers are invented, chosen so that ``cloudiness = 1`` gives a broken-to-overcast
  day with mean clear-sky index 0.6. ``cloudiness = 0`` is the clear sky.

Seed 000 (section 2.1, Fig. 1) draws PV from yearly measured irradiance instead; this
model needs no weather data and is exact only for the clear-sky envelope.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pvlib
from scipy.stats import norm

from flexcosim.cosim.models.noise import ar1

CLOUD_MIN_FACTOR = 0.2
CLOUD_CORRELATION_S = 1800.0
ALBEDO = 0.25


@dataclass(frozen=True)
class PVSystem:
    """A PV array.

    Attributes
    ----------
    peak_kw : DC rating at 1000 W/m2 [kWp]
    tilt_deg : surface tilt from horizontal [deg]
    azimuth_deg : surface azimuth, clockwise from north (180 = south) [deg]
    performance_ratio : AC energy / (rated energy at the plane-of-array irradiance) [-]
    """

    peak_kw: float
    tilt_deg: float = 30.0
    azimuth_deg: float = 180.0
    performance_ratio: float = 0.85

    def __post_init__(self) -> None:
        if not (math.isfinite(self.peak_kw) and self.peak_kw > 0):
            raise ValueError(f"PVSystem.peak_kw: {self.peak_kw!r} is not allowed; need > 0 [kWp]")
        if not 0 <= self.tilt_deg <= 90:
            raise ValueError(
                f"PVSystem.tilt_deg: {self.tilt_deg!r} is not allowed; need 0 <= tilt_deg <= 90"
            )
        if not 0 <= self.azimuth_deg < 360:
            raise ValueError(
                f"PVSystem.azimuth_deg: {self.azimuth_deg!r} is not allowed; need 0 <= azimuth_deg < 360"
            )
        if not 0 < self.performance_ratio <= 1:
            raise ValueError(
                f"PVSystem.performance_ratio: {self.performance_ratio!r} is not allowed; need 0 < ratio <= 1"
            )


def pv_profile(
    system: PVSystem,
    latitude_deg: float,
    longitude_deg: float,
    start: pd.Timestamp,
    resolution_s: int,
    n_steps: int,
    rng: np.random.Generator,
    cloudiness: float = 0.0,
) -> np.ndarray:
    """(n_steps,) mean PV output per step [kW] from ``start`` on (module docstring).

    Parameters
    ----------
    system : the array
    latitude_deg, longitude_deg : site [deg], north and east positive
    start : tz-aware time of the first step's start
    resolution_s : step length [s]
    n_steps : number of steps
    rng : draws the cloud series (not used when ``cloudiness == 0``)
    cloudiness : 0 (clear sky) .. 1 (broken to overcast) [-]
    """
    if start.tzinfo is None:
        raise ValueError(
            f"pv_profile start: {start} has no time zone; need a tz-aware pandas.Timestamp"
        )
    if not -90 <= latitude_deg <= 90 or not -180 <= longitude_deg <= 180:
        raise ValueError(
            f"pv_profile site: ({latitude_deg!r}, {longitude_deg!r}) is not a latitude/longitude in degrees"
        )
    if int(resolution_s) != resolution_s or resolution_s <= 0:
        raise ValueError(
            f"pv_profile resolution_s: {resolution_s!r} is not allowed; need an integer > 0 [s]"
        )
    if int(n_steps) != n_steps or n_steps < 0:
        raise ValueError(f"pv_profile n_steps: {n_steps!r} is not allowed; need an integer >= 0")
    if not 0 <= cloudiness <= 1:
        raise ValueError(
            f"pv_profile cloudiness: {cloudiness!r} is not allowed; need 0 <= cloudiness <= 1"
        )
    # the step's mean is approximated by its midpoint value
    times = start + pd.to_timedelta((np.arange(n_steps) + 0.5) * resolution_s, unit="s")
    site = pvlib.location.Location(latitude_deg, longitude_deg, tz=str(start.tz))
    sun = site.get_solarposition(times)
    sky = site.get_clearsky(times, model="ineichen", solar_position=sun)
    poa = pvlib.irradiance.get_total_irradiance(
        surface_tilt=system.tilt_deg,
        surface_azimuth=system.azimuth_deg,
        solar_zenith=sun["apparent_zenith"],
        solar_azimuth=sun["azimuth"],
        dni=sky["dni"],
        ghi=sky["ghi"],
        dhi=sky["dhi"],
        dni_extra=pvlib.irradiance.get_extra_radiation(times),
        model="haydavies",
        albedo=ALBEDO,
    )["poa_global"]
    g = np.nan_to_num(poa.to_numpy(dtype=float), nan=0.0)
    g = np.where(sun["apparent_zenith"].to_numpy() < 90.0, np.maximum(g, 0.0), 0.0)
    power = system.peak_kw * g / 1000.0 * system.performance_ratio
    if cloudiness > 0 and n_steps > 0:
        clouds = norm.cdf(ar1(n_steps, resolution_s, CLOUD_CORRELATION_S, rng))
        power = power * (1.0 - cloudiness * (1.0 - CLOUD_MIN_FACTOR) * clouds)
    return power


def clip_export(p_kw: float, export_limit_kw: float | None) -> float:
    """PV power [kW] after an export limit [kW] (seed 000's aggregator limit); ``None`` = no limit."""
    if export_limit_kw is None:
        return p_kw
    if not export_limit_kw >= 0:
        raise ValueError(
            f"clip_export export_limit_kw: {export_limit_kw!r} is not allowed; need >= 0 [kW] or None"
        )
    return min(p_kw, export_limit_kw)
