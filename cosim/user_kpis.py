"""KPIs a driver or a site operator asks for: what the energy cost, and what each EV got.

Read from a run's tidy time series (``flexcosim.cosim.results``) and its assembly:

* **costs** per site meter and per grid connection (transformer) under the scenario's
  tariffs (:func:`flexcosim.cosim.models.tariff.meter_cost`), and per EV: the energy its
  charger drew at the site's import price, what its discharging (V2G) earned;
* **charging sessions** per EV: a session is a run of consecutive steps on a charger.
  Requested energy is ``max(0, E_target - E_plug)`` at plug-in; the energy the EV holds
  at the end is ``E_plug + sum_k P_batt,k dt`` (a parked EV does not drive), so the
  energy still missing at the session's end is ``max(0, E_target - E_end)``, and the
  share of the request delivered is ``1 - missing / requested`` summed over sessions
  (clipped to [0, 1]: with V2G an EV may leave with less than it came with);
* **waiting**: EV-hours spent parked at a site while every charger was taken.

Only steps at or after ``warmup_s`` count (the series are cut before these functions
see them), so a session running across the warm-up's end starts at its end.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from flexcosim.cosim.models.tariff import TariffSeries, meter_cost
from flexcosim.cosim.results import wide
from flexcosim.cosim.world import Assembly, metering_s

#: Shortfalls below this are rounding, not missing energy [kWh].
MISSING_TOL_KWH = 1e-9


def ev_sessions(ts: pd.DataFrame, assembly: Assembly) -> pd.DataFrame:
    """One row per charging session: EV, site, plug-in and last step, energies [kWh].

    Columns ``ev``, ``site``, ``plugin_s``, ``last_step_s`` [s since start],
    ``requested_kwh``, ``delivered_kwh`` (battery side, net of V2G discharge),
    ``discharged_kwh`` (battery side), ``missing_kwh`` (short of the target when the
    session ends), ``ended_by_horizon`` (still on the charger at the run's last step).
    """
    step_s = metering_s(assembly.scenario)  # the recorded interval
    h = step_s / 3600.0
    battery = wide(ts, "battery_kw", list(_ev_site(assembly)))
    soc = wide(ts, "soc", list(battery.columns))
    capacity, site_of = _capacities(assembly), _ev_site(assembly)
    targets = assembly.targets_kwh
    last_s = int(ts.time_s.max())
    rows = []
    for ev in battery.columns:
        on = battery[ev].dropna()
        if on.empty:
            continue
        times = on.index.to_numpy()
        breaks = np.flatnonzero(np.diff(times) != step_s) + 1
        for chunk in np.split(np.arange(times.size), breaks):
            t0, t1 = int(times[chunk[0]]), int(times[chunk[-1]])
            power = on.to_numpy()[chunk]
            # a row stamped t averages the power over [t, t + step) and holds the SOC at its
            # end (the fleet steps at every decision tick while EVs are parked), so the energy
            # at the start of the session's first row is that row's SOC less what it delivered
            e_plug = float(soc.at[t0, ev]) * capacity[ev] - float(power[0] * h)
            e_end = e_plug + float(power.sum() * h)
            target = targets[ev]
            missing = target - e_end
            rows.append({
                "ev": ev, "site": site_of[ev], "plugin_s": t0, "last_step_s": t1,
                "requested_kwh": max(0.0, target - e_plug),
                "delivered_kwh": e_end - e_plug,
                "discharged_kwh": float(np.clip(-power, 0.0, None).sum() * h),
                "missing_kwh": missing if missing > MISSING_TOL_KWH else 0.0,
                "ended_by_horizon": t1 == last_s,
            })
    return pd.DataFrame(rows, columns=["ev", "site", "plugin_s", "last_step_s", "requested_kwh",
                                       "delivered_kwh", "discharged_kwh", "missing_kwh",
                                       "ended_by_horizon"])


def ev_table(ts: pd.DataFrame, assembly: Assembly, sessions: pd.DataFrame) -> pd.DataFrame:
    """One row per EV that charged: sessions, energies [kWh] and, with a tariff, money.

    Columns: ``site``, ``sessions``, ``requested_kwh``, ``delivered_kwh``,
    ``discharged_kwh``, ``missing_kwh``, ``missing_at_horizon_kwh``, ``share_delivered``
    [-] and, if the EV's site has a tariff, ``energy_cost`` (grid-side import at the
    site's import price) and ``v2g_revenue`` (grid-side export at its export price)
    [currency].
    """
    if sessions.empty:
        return pd.DataFrame(columns=["ev", "site", "sessions", "requested_kwh", "delivered_kwh",
                                     "discharged_kwh", "missing_kwh", "missing_at_horizon_kwh",
                                     "share_delivered"]).set_index("ev")
    at_end = sessions.missing_kwh.where(sessions.ended_by_horizon, 0.0)
    table = sessions.assign(missing_at_horizon_kwh=at_end).groupby("ev").agg(
        site=("site", "first"), sessions=("plugin_s", "size"),
        requested_kwh=("requested_kwh", "sum"), delivered_kwh=("delivered_kwh", "sum"),
        discharged_kwh=("discharged_kwh", "sum"), missing_kwh=("missing_kwh", "sum"),
        missing_at_horizon_kwh=("missing_at_horizon_kwh", "sum"))
    table["share_delivered"] = _share(table.requested_kwh, table.missing_kwh)
    grid = wide(ts, "ev_grid_kw", list(table.index)).fillna(0.0)
    h = metering_s(assembly.scenario) / 3600.0  # the recorded interval
    costs = {}
    k = (grid.index.to_numpy() // assembly.scenario.step_s).astype(int)  # the tariff's step
    for ev in table.index:
        tariff = assembly.plants[table.at[ev, "site"]].tariff
        if tariff is None or ev not in grid.columns:
            continue
        p = grid[ev].to_numpy()
        costs[ev] = (float(np.sum(np.clip(p, 0, None) * h * tariff.import_per_kwh[k])),
                     float(np.sum(np.clip(-p, 0, None) * h * tariff.export_per_kwh[k])))
    if costs:
        table["energy_cost"] = pd.Series({ev: c[0] for ev, c in costs.items()})
        table["v2g_revenue"] = pd.Series({ev: c[1] for ev, c in costs.items()})
    return table


def user_kpis(ts: pd.DataFrame, assembly: Assembly, sessions: pd.DataFrame,
              evs: pd.DataFrame) -> dict:
    """Fleet-wide and per-site user KPIs, and costs if the scenario has tariffs.

    Returns
    -------
    dict with ``ev_energy_requested_kwh``, ``share_of_requested_energy_delivered`` [-],
    ``ev_energy_missing_at_horizon_kwh`` (short of target on the chargers at the run's
    end), ``charging_sessions``, ``waiting_ev_hours`` (parked, no free charger [h]) and
    ``costs`` {``sites``: {site: meter cost}, ``grid_connection``: {transformer: meter
    cost}, ``evs``: {energy_cost, v2g_revenue} totals} when there is a tariff.
    """
    h = metering_s(assembly.scenario) / 3600.0  # the recorded interval
    waiting = wide(ts, "waiting", list(assembly.sites))
    out = {
        "ev_energy_requested_kwh": float(sessions.requested_kwh.sum()),
        "share_of_requested_energy_delivered": _share(sessions.requested_kwh.sum(),
                                                      sessions.missing_kwh.sum()),
        "ev_energy_missing_at_horizon_kwh": float(sessions.missing_kwh[sessions.ended_by_horizon].sum()),
        "charging_sessions": len(sessions),
        "waiting_ev_hours": float(waiting.sum().sum() * h),
        "waiting_ev_hours_per_site": {site: float(waiting[site].sum() * h) for site in waiting},
    }
    costs = cost_kpis(ts, assembly)
    if costs:
        if "energy_cost" in evs:
            costs["evs"] = {"energy_cost": float(evs.energy_cost.sum()),
                            "v2g_revenue": float(evs.v2g_revenue.sum())}
        out["costs"] = costs
    return out


def cost_kpis(ts: pd.DataFrame, assembly: Assembly) -> dict:
    """Meter cost (:func:`~flexcosim.cosim.models.tariff.meter_cost`) per site with a tariff
    and per transformer under the scenario's tariff; ``{}`` if there is no tariff."""
    s = assembly.scenario
    start = pd.Timestamp(s.start) + pd.Timedelta(seconds=int(ts.time_s.min()))
    out: dict[str, dict] = {}
    sites = {name: plant.tariff for name, plant in assembly.plants.items() if plant.tariff is not None}
    if sites:
        meter = wide(ts, "p_kw", list(sites))
        out["sites"] = {site: _cost(meter[site], tariff, start, s.step_s, metering_s(s))
                        for site, tariff in sites.items()}
    if assembly.tariff is not None:
        tx = wide(ts, "p_kw", list(assembly.grid.transformers))
        out["grid_connection"] = {name: _cost(tx[name], assembly.tariff, start, s.step_s, metering_s(s))
                                  for name in tx.columns}
    return out


def _cost(power_kw: pd.Series, tariff: TariffSeries, start: pd.Timestamp, step_s: int,
          interval_s: int) -> dict:
    """Meter cost of ``power_kw`` recorded every ``interval_s`` under a tariff of ``step_s`` steps."""
    k = (power_kw.index.to_numpy() // step_s).astype(int)  # the tariff step of each recorded row
    kept = TariffSeries(tariff.import_per_kwh[k], tariff.export_per_kwh[k], tariff.demand_charge_per_kw)
    return meter_cost(power_kw.to_numpy(), kept, start, interval_s)


def _share(requested: float | pd.Series, missing: float | pd.Series):
    """``1 - missing / requested`` in [0, 1]; 1 where nothing was requested.

    0 also when V2G left an EV with less than it arrived with (missing > requested).
    """
    requested = np.asarray(requested, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(requested > 0, np.clip(1.0 - np.asarray(missing) / requested, 0.0, 1.0), 1.0)
    return float(share) if share.ndim == 0 else share


def _capacities(assembly: Assembly) -> dict[str, float]:
    out = {}
    for fleet, _, _ in assembly.fleets.values():
        out.update(zip(fleet.ids, fleet.capacity_kwh.tolist()))
    return out


def _ev_site(assembly: Assembly) -> dict[str, str]:
    """The one site each EV charges at: its home site, or where the platform sent it."""
    out = {}
    for fleet, site_of_place, _ in assembly.fleets.values():
        for ev, places in zip(fleet.ids, site_of_place):
            if len(places) == 1:
                out[ev] = next(iter(places.values()))
    if assembly.platform is not None:
        out.update({d.ev: d.site for d in assembly.platform.decisions})
    return out
