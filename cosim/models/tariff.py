"""Tariffs as price series, and what a meter's power costs under them.

A tariff (``flexcosim.scenarios.schema.Tariff``) becomes a :class:`TariffSeries`: the
import and export price of every simulation step and the demand charge. The cost of a
meter's step-average power ``P_k`` [kW, + import, - export] over steps of ``dt`` [h]:

* energy cost   ``sum_k max(P_k, 0) * dt * c_k``                      [currency]
* export revenue ``sum_k max(-P_k, 0) * dt * e_k`` (V2G, PV export)      [currency]
* demand charge ``d * sum_m max_{k in month m} max(P_k, 0)``          [currency]

with ``c_k`` the import price, ``e_k`` the export price [currency/kWh] and ``d`` the
demand charge [currency/kW per month]. This is the bill structure SpiceEV and EV2Gym
use (energy + monthly peak). The energy terms are seed 004 eq. 3.30 (the behind-the-meter
EMS's cost objective: import at its tariff minus export at the feed-in tariff); the
seeds price no demand, so the demand charge is ours.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from flexcosim.cosim.models.building import load_profile_csv
from flexcosim.scenarios.schema import CsvPrice, FlatPrice, Tariff, TimeOfUsePrice


# eq=False: array fields have no single truth value
@dataclass(frozen=True, eq=False)
class TariffSeries:
    """A tariff on the simulation's steps.

    Attributes
    ----------
    import_per_kwh : (n,) price of imported energy in each step [currency/kWh]
    export_per_kwh : (n,) what exported energy earns in each step [currency/kWh]
    demand_charge_per_kw : charge per kW of each calendar month's peak import [currency/kW]
    """

    import_per_kwh: np.ndarray
    export_per_kwh: np.ndarray
    demand_charge_per_kw: float = 0.0


def tariff_series(tariff: Tariff, start: pd.Timestamp, step_s: int, n_steps: int,
                  base_dir: Path = Path(".")) -> TariffSeries:
    """Prices of ``tariff`` for the ``n_steps`` steps of ``step_s`` [s] from ``start``.

    A step's price is the price at its start. Time-of-use clock times and CSV rows are
    read in the UTC offset of ``start`` (a CSV's first row is midnight of the start
    day, as for CSV load profiles; the series repeats when it is shorter than the run).

    Raises
    ------
    ValueError
        a CSV price file that cannot be read (the message names the file and row).
    """
    clock_s = int((start - start.normalize()).total_seconds()) + step_s * np.arange(n_steps)
    energy = tariff.energy
    match energy:
        case FlatPrice():
            price = np.full(n_steps, energy.price_per_kwh)
        case TimeOfUsePrice():
            price = time_of_use(energy, clock_s)
        case CsvPrice():
            path = Path(energy.path)
            series = load_profile_csv(path if path.is_absolute() else base_dir / path, energy.column)
            price = np.array([series.at(int(t))[0] for t in clock_s])
    export = price if tariff.export_per_kwh is None else np.full(n_steps, tariff.export_per_kwh)
    return TariffSeries(price, export, tariff.demand_charge_per_kw)


def time_of_use(prices: TimeOfUsePrice, clock_s: np.ndarray) -> np.ndarray:
    """The time-of-use price at each time of ``clock_s`` [s since midnight of the start day]."""
    starts = np.array([int(p.start[:2]) * 3600 + int(p.start[3:]) * 60 for p in prices.periods])
    order = np.argsort(starts)
    starts, values = starts[order], np.array([p.price_per_kwh for p in prices.periods])[order]
    # the period before the first start of the day is the last one of the previous day
    index = np.searchsorted(starts, np.asarray(clock_s) % 86400, side="right") - 1
    return values[index]  # index -1 = the last period


def meter_cost(power_kw: np.ndarray, tariff: TariffSeries, start: pd.Timestamp,
               step_s: int) -> dict[str, float]:
    """Energy cost, export revenue and demand charge of a meter (equations in the module docstring).

    Parameters
    ----------
    power_kw : (n,) step-average power at the meter [kW], + import, - export
    tariff : prices on the same steps
    start : time of step 0 (months of the demand charge are calendar months in its offset)
    step_s : step length [s]

    Returns
    -------
    dict with ``energy_cost``, ``export_revenue``, ``demand_charge``, ``peak_import_kw``
    (highest step-average import) and ``net_cost`` (energy cost + demand charge - export
    revenue), all [currency] except the peak [kW].
    """
    p = np.asarray(power_kw, dtype=float)
    h = step_s / 3600.0
    imported, exported = np.clip(p, 0.0, None), np.clip(-p, 0.0, None)
    energy_cost = float(np.sum(imported * h * tariff.import_per_kwh[: p.size]))
    revenue = float(np.sum(exported * h * tariff.export_per_kwh[: p.size]))
    months = (start + pd.to_timedelta(step_s * np.arange(p.size), unit="s")).strftime("%Y-%m")
    peaks = pd.Series(imported).groupby(np.asarray(months)).max()
    demand = float(tariff.demand_charge_per_kw * peaks.sum())
    return {"energy_cost": energy_cost, "export_revenue": revenue, "demand_charge": demand,
            "peak_import_kw": float(imported.max(initial=0.0)),
            "net_cost": energy_cost + demand - revenue}
