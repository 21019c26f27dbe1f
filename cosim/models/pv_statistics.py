"""Household PV as a statistical model: per-slot mean and spread, and draws from it (seed 000).

Seed 000 (section 2.1, section 5 and Fig. 1) describes a 5 kWp single-phase PV system by
the mean and standard deviation of its output in every 10-min slot of the day, derived
from a year of measured irradiance, and draws each household's output from a normal
distribution with that mean and deviation; the aggregate is eq. 1.

flexcosim has no measured weather, so :func:`pv_slot_statistics` derives the per-slot
statistics from :func:`flexcosim.cosim.models.pv.pv_profile` over ``days`` days centred
on the study day, each day with its own cloudiness drawn uniformly from [0, 1] (a proxy
for the spread of a month's weather). :func:`draw_household_pv` draws
``p_i,t = clip(mean_t + sd_t z_i,t, 0, clear_t)`` with
``z_i,t = sqrt(rho) w_t + sqrt(1 - rho) e_i,t``: ``e`` independent per household and slot
as in the seed (``rho = 0``), ``w`` an AR(1) weather signal shared by every household
(30-min correlation) so that the aggregate can miss its forecast as a cloudy day does.
The forecast an aggregator gives the DSO is the mean (eq. 1 with expected values).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from flexcosim.cosim.models.noise import ar1
from flexcosim.cosim.models.pv import CLOUD_CORRELATION_S, PVSystem, pv_profile


def pv_slot_statistics(
    system: PVSystem,
    latitude_deg: float,
    longitude_deg: float,
    start: pd.Timestamp,
    step_s: int,
    n_steps: int,
    rng: np.random.Generator,
    days: int = 30,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-step mean, standard deviation and clear-sky output of one system [kW], each (n_steps,).

    Parameters
    ----------
    system, latitude_deg, longitude_deg, start, step_s, n_steps : as for ``pv_profile``
    rng : draws each day's cloudiness and clouds
    days : days around ``start`` the statistics are taken over [-]
    """
    if int(days) != days or days < 2:
        raise ValueError(f"pv_slot_statistics days: {days!r} is not allowed; need an integer >= 2")
    offsets = np.arange(days) - days // 2
    samples = np.array([
        pv_profile(system, latitude_deg, longitude_deg, start + pd.Timedelta(days=int(d)), step_s,
                   n_steps, rng, float(rng.uniform(0.0, 1.0)))
        for d in offsets])
    clear = pv_profile(system, latitude_deg, longitude_deg, start, step_s, n_steps, rng, 0.0)
    return samples.mean(axis=0), samples.std(axis=0), clear


def draw_household_pv(
    mean_kw: np.ndarray,
    sd_kw: np.ndarray,
    clear_kw: np.ndarray,
    n_households: int,
    step_s: int,
    rng: np.random.Generator,
    weather_correlation: float = 0.0,
) -> np.ndarray:
    """(n_households, n_steps) PV output drawn around ``mean_kw`` (module docstring) [kW].

    ``weather_correlation`` is rho in [0, 1]: 0 draws every household and slot
    independently (seed 000), 1 moves all households together.
    """
    if not 0.0 <= weather_correlation <= 1.0:
        raise ValueError(
            f"draw_household_pv weather_correlation: {weather_correlation!r} is not allowed; need 0..1")
    n_steps = np.asarray(mean_kw).size
    weather = ar1(n_steps, step_s, CLOUD_CORRELATION_S, rng)
    own = rng.standard_normal((n_households, n_steps))
    z = np.sqrt(weather_correlation) * weather + np.sqrt(1.0 - weather_correlation) * own
    return np.clip(mean_kw + sd_kw * z, 0.0, clear_kw)
