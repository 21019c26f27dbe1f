"""KPIs and plots of the day-ahead studies (seed 000 and seed 003), from a run's time series.

Seed 000, per aggregator (feeder): household and EV demand and their peaks (the seed's
"peak increase"), PV available / produced / curtailed / exported / self-consumed energy,
the mean export limit, EV energy delivered and unmet, and the loading of the feeder head
and the transformer from the AC power flow. A loading above 100 % is a violation; each
violating step is attributed to (a) an overload the plan itself accepted (the LP's
penalised slack OL, as the seed's aggregator 2 at critical penetration), (b) forecast
error (the plan was within the rating, and the household load's deviation from its
forecast plus the PV's excess over the planned ``zeta P^PV`` is at least the excess over
the rating), or (c) unexplained (neither: e.g. EVs charging off-plan to meet a target,
reactive power or losses the LP does not see; in an uncoordinated run every violation).

Seed 003: minimum voltage, hours below v_min, the energy the DSO rents, the payments and
the annualised costs they compete with (seed 003 eqs. 21-25).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from flexcosim.agents.grid_optim.voltage_support import (
    annualised_investment_eur,
    deferral_value_eur,
)
from flexcosim.cosim.congestion import CongestionStudy
from flexcosim.cosim.dayahead import CoordinationStudy, RentalStudy, line_rating_kva
from flexcosim.cosim.large_grid import LargeGridStudy, large_grid_summary
from flexcosim.cosim.plots import finish_figure, pyplot
from flexcosim.cosim.results import wide
from flexcosim.cosim.sharing import SharingStudy
from flexcosim.cosim.sharing_report import sharing_summary
from flexcosim.grids.network import GridNetwork

#: Loading margin before a step counts as a violation [%] (solver and rounding noise).
_LOADING_TOL_PCT = 0.5


def _sum(table: pd.DataFrame, names: list[str], index: pd.Index) -> np.ndarray:
    cols = [c for c in names if c in table.columns]
    return table[cols].sum(axis=1).reindex(index, fill_value=0.0).to_numpy() if cols \
        else np.zeros(len(index))


def feeder_series(ts: pd.DataFrame, study: CoordinationStudy) -> dict[str, pd.DataFrame]:
    """Per aggregator: time series [kW] of households, EVs, PV (available, produced) and net demand."""
    p = wide(ts, "p_kw")
    gen = wide(ts, "p_gen_kw")
    index = p.index
    slots = (index // study.step_s).to_numpy()  # a saved session may stop early
    out = {}
    for k, (name, buses) in enumerate(study.feeder_buses.items()):
        pvs = [pv for pv, f in study.inverter_feeder.items() if f == name]
        frame = pd.DataFrame({
            "households_kw": _sum(p, [f"home_{b}" for b in buses], index),
            "ev_kw": _sum(p, [f"ev_{b}" for b in buses], index),
            "pv_available_kw": sum((study.pv_available_kw[pv][slots] for pv in pvs),
                                   np.zeros(len(index))),
            "pv_kw": _sum(gen, pvs, index),
            "households_forecast_kw": study.household_forecast_kw[name][slots],
            "pv_forecast_kw": study.forecasts[k].pv_available_kw[slots],
        }, index=index)
        frame["net_kw"] = frame.households_kw + frame.ev_kw - frame.pv_kw
        out[name] = frame
    return out


def _violations(loading: pd.Series, actual_kw: np.ndarray, planned_kw: np.ndarray | None,
                overload_kw: np.ndarray | None, forecast_error_kw: np.ndarray, rating_kw: float,
                h: float) -> dict:
    """Steps above the rating and their cause (module docstring); net demand in kW."""
    over = loading.to_numpy() > 100.0 + _LOADING_TOL_PCT
    excess = np.abs(actual_kw) - rating_kw
    if planned_kw is None:  # no plan: nothing explains a violation
        planned_over = forecast = np.zeros_like(over)
    else:
        planned_over = over & (overload_kw > 1e-6)
        # the plan kept the rating and the forecast error alone is larger than the excess
        forecast = (over & ~planned_over & (np.abs(planned_kw) <= rating_kw + 1e-6)
                    & (np.abs(forecast_error_kw) >= excess - 1e-6))
    return {
        "hours_over_100": float(over.sum() * h),
        "max_loading_pct": float(loading.max()),
        "max_excess_kw": float(max(excess[over].max(), 0.0)) if over.any() else 0.0,
        "hours_planned_overload": float(planned_over.sum() * h),
        "hours_forecast_error": float(forecast.sum() * h),
        "hours_unexplained": float((over & ~planned_over & ~forecast).sum() * h),
        "times_s": [int(t) for t in loading.index[over]],
    }


def coordination_summary(ts: pd.DataFrame, study: CoordinationStudy, grid: GridNetwork,
                         out: Path) -> dict:
    """KPIs of a seed-000 run (module docstring); writes ``dayahead_feeders.csv`` and the plots."""
    h = study.step_s / 3600.0
    plan = study.plan
    res = plan.result
    loading = wide(ts, "loading_pct")
    slots = (loading.index // study.step_s).to_numpy()
    series = feeder_series(ts, study)
    pf = study.settings.power_factor
    feeders, frames, errors = {}, [], []
    for k, (name, f) in enumerate(series.items()):
        plant = study.plants[name]
        forecast = study.forecasts[k]
        zeta = plan.feeders[name].export_limit[slots]
        daylight = forecast.pv_available_kw[slots] > 0
        # household forecast error minus the PV's excess over what the plan allowed [kW]
        error = ((f.households_kw - f.households_forecast_kw)
                 - (f.pv_kw - zeta * f.pv_forecast_kw)).to_numpy()
        errors.append(error)
        exported = np.clip(-f.net_kw.to_numpy(), 0.0, None).sum() * h
        feeders[name] = {
            "participants": len(plant.evs.ids),
            "households_peak_kw": float(f.households_kw.max()),
            "peak_kw": float((f.households_kw + f.ev_kw).max()),
            "peak_increase_pct": float(((f.households_kw + f.ev_kw).max() / f.households_kw.max()
                                        - 1.0) * 100.0),
            "pv_available_kwh": float(f.pv_available_kw.sum() * h),
            "pv_kwh": float(f.pv_kw.sum() * h),
            "pv_curtailed_kwh": float((f.pv_available_kw - f.pv_kw).sum() * h),
            "pv_exported_kwh": float(exported),
            "pv_self_consumed_kwh": float(f.pv_kw.sum() * h - exported),
            "mean_export_limit": float(zeta[daylight].mean()) if daylight.any() else 1.0,
            "ev_energy_kwh": float((plant.energy_kwh - plant.evs.arrival_energy_kwh).sum()),
            "ev_unmet_kwh": plant.unmet_kwh(int(loading.index[-1]) + study.step_s),
            "head": _violations(
                loading[study.head_line[name]], f.net_kw.to_numpy(),
                None if res is None else -res.feeder_net_kw[k][slots],
                None if res is None else res.overload_kw[k][slots], error,
                line_rating_kva(grid, study.head_line[name]) * pf, h),
        }
        frames.append(f.assign(aggregator=name, export_limit=zeta,
                               planned_ev_kw=wide(ts, "planned_ev_kw")[name].to_numpy()))
    net = sum(f.net_kw.to_numpy() for f in series.values())
    tx = next(iter(grid.transformers))
    summary = {
        "plan": {"status": plan.status, "message": plan.message,
                 "solve_time_s": round(plan.solve_time_s, 4),
                 "overload_kwh": float(res.overload_kw.sum() * h) if res is not None else None},
        "aggregators": feeders,
        "transformer": _violations(
            loading[tx], net, None if res is None else -res.transformer_net_kw[slots],
            None if res is None else res.overload_kw.sum(axis=0)[slots], sum(errors),
            study.settings.transformer_rating_kva * pf, h),
    }
    pd.concat(frames).rename_axis("time_s").to_csv(out / "dayahead_feeders.csv")
    return summary


def rental_summary(ts: pd.DataFrame, study: RentalStudy) -> dict:
    """KPIs of a seed-003 battery-rental run (module docstring)."""
    spec = study.spec
    pay = study.payments
    soc = wide(ts, "soc")
    rented_kwh = float(np.abs(study.request_kw).sum())  # 1-h periods
    dso_pays = float(pay.reservation_eur.sum() + pay.activation_eur.sum())
    return {
        "plan": {"status": study.plan, "dso_lp": study.request.status,
                 "message": study.message},
        "rented_kwh_per_day": rented_kwh,
        "reserved_kwh_per_day": float(pay.reserved_kwh.sum()),
        "reservation_price_eur_per_kwh": study.price_eur_per_kwh,
        "dso_payment_eur_per_year": dso_pays,
        "aggregator_revenue_eur_per_year": {
            name: float(r + a) for name, r, a in
            zip(study.batteries, pay.reservation_eur, pay.activation_eur)},
        "aggregator_arbitrage_cost_eur_per_day": float(study.schedule.cost_eur.sum()),
        "battery_annualised_eur_per_year": annualised_investment_eur(
            spec.battery_investment_eur, spec.discount_rate, spec.lifetime_years),
        "reinforcement_deferral_value_eur_per_year": deferral_value_eur(
            spec.reinforcement_eur, spec.interest_rate, spec.inflation_rate),
        "soc_min": float(soc.min().min()),
        "soc_max": float(soc.max().max()),
    }


def plot_coordination(out: Path, name: str, variants: list[str], start: pd.Timestamp,
                      transformer_kw: float, head_kw: dict[str, float]) -> list[Path]:
    """Seed 000 Figs. 5-6 from the variants' ``dayahead_feeders.csv``.

    ``aggregator_power.png``: per aggregator, demand (households + EVs) and PV, each
    coordinated variant next to its ``_no_coordination`` twin (Fig. 5);
    ``net_power.png``: net power through the transformer and each feeder head with their
    ratings ``transformer_kw`` and ``head_kw`` (S cos phi) (Fig. 6). ``name`` is the
    scenario's, for the titles.
    """
    plt = pyplot()
    data = {v: pd.read_csv(out / v / "dayahead_feeders.csv") for v in variants
            if (out / v / "dayahead_feeders.csv").exists()}
    if not data:
        return []
    aggs = list(dict.fromkeys(next(iter(data.values())).aggregator))
    clock = lambda t: start + pd.to_timedelta(t, unit="s")  # noqa: E731
    paths = []
    fig, axes = plt.subplots(len(aggs), 2, figsize=(12, 3.2 * len(aggs)), sharex=True,
                             squeeze=False)
    for i, agg in enumerate(aggs):
        for v, d in data.items():
            f = d[d.aggregator == agg]
            style = "--" if v.endswith("no_coordination") else "-"
            axes[i, 0].plot(clock(f.time_s), f.households_kw + f.ev_kw, style, label=v)
            axes[i, 1].plot(clock(f.time_s), f.pv_kw, style, label=v)
        f = next(iter(data.values()))
        f = f[f.aggregator == agg]
        axes[i, 0].plot(clock(f.time_s), f.households_kw, color="k", lw=0.8, label="households only")
        axes[i, 0].set_ylabel(f"{agg}\ndemand [kW]")
        axes[i, 1].set_ylabel(f"{agg}\nPV produced [kW]")
    paths.append(finish_figure(fig, axes.ravel(), f"{name}: aggregator demand and PV "
                               "(seed 000 Fig. 5)", start, out / "aggregator_power.png"))

    fig, axes = plt.subplots(len(aggs) + 1, 1, figsize=(10, 2.8 * (len(aggs) + 1)), sharex=True)
    for v, d in data.items():
        style = "--" if v.endswith("no_coordination") else "-"
        total = d.groupby("time_s").net_kw.sum()
        axes[0].plot(clock(total.index), total, style, label=v)
        for i, agg in enumerate(aggs, start=1):
            f = d[d.aggregator == agg]
            axes[i].plot(clock(f.time_s), f.net_kw, style, label=v)
    axes[0].set_ylabel("transformer\nnet demand [kW]")
    for i, (agg, rating) in enumerate([("", transformer_kw)] + [(a, head_kw[a]) for a in aggs]):
        for sign in (1, -1):
            axes[i].axhline(sign * rating, color="k", ls=":", lw=1, label="rating (S cos phi)")
        if agg:
            axes[i].set_ylabel(f"{agg} feeder head\nnet demand [kW]")
    paths.append(finish_figure(fig, axes, f"{name}: net power through the transformer and the "
                               "feeder heads (seed 000 Fig. 6)", start, out / "net_power.png"))
    return paths


def plot_voltage_profiles(out: Path, name: str, variants: list[str], grid: GridNetwork) -> Path:
    """Voltage along the feeder at the first variant's lowest-voltage step, per variant.

    The buses on the path from the transformer to ``grid.feeder_end_bus``, against their
    distance along the cables [km] (as seed 003 Figs. 4-6 read); the step is the same
    for every variant.
    """
    import networkx as nx
    import pandapower.topology as top

    from flexcosim.cosim.results import read_timeseries

    net = grid.net
    root = int(net.trafo.lv_bus.iloc[0])
    graph = top.create_nxgraph(net, multi=False)
    path = nx.shortest_path(graph, root, grid.buses[grid.feeder_end_bus])
    km = np.concatenate([[0.0], np.cumsum([graph[a][b].get("weight", 0.0)
                                           for a, b in zip(path[:-1], path[1:])])])
    name_of = {idx: name for name, idx in grid.buses.items()}
    names = [name_of[b] for b in path]
    vm = {v: wide(read_timeseries(out / v / "timeseries"), "vm_pu") for v in variants}
    t = vm[variants[0]].min(axis=1).idxmin()
    fig, ax = pyplot().subplots(figsize=(10, 4))
    for v, table in vm.items():
        ax.plot(km, table.loc[t, names], marker="o", label=v)
    for x, name in zip(km, names):
        ax.annotate(name.removeprefix("bus_"), (x, 0.0), xycoords=("data", "axes fraction"),
                    xytext=(0, 3), textcoords="offset points", ha="center", fontsize=7)
    ax.axhline(0.9, color="k", ls="--", lw=1, label="0.9 p.u. limit")
    ax.set_xlabel(f"distance from the transformer to {grid.feeder_end_bus} [km]")
    ax.set_ylabel("voltage [p.u.]")
    return finish_figure(fig, ax, f"{name}: voltage along the feeder at t = {t / 3600:.2f} h "
                         f"after start ({variants[0]}'s lowest voltage)", None,
                         out / "voltage_profile.png")


def compare_plots(out: Path, scenario) -> list[Path]:
    """Cross-variant plots of ``run_variants``: seed 000 Figs. 5-6 for a ``pv_ev_coordination``
    scenario, and the voltage profile along the feeder for a single-transformer grid."""
    from flexcosim.grids import build_grid
    from flexcosim.scenarios.schema import PvEvCoordination

    variants = list(scenario.variants)
    grid = build_grid(scenario.grid.builder, **scenario.grid.params)
    paths = []
    spec = scenario.dayahead
    if isinstance(spec, PvEvCoordination):
        tx = spec.power_factor * float(grid.net.trafo.sn_mva.iloc[0]) * 1e3
        heads = {f.name: spec.power_factor * line_rating_kva(grid, f.head_line)
                 for f in spec.feeders}
        paths += plot_coordination(out, scenario.name, variants, pd.Timestamp(scenario.start), tx,
                                   heads)
    if len(grid.transformers) == 1 and grid.feeder_end_bus is not None:
        paths.append(plot_voltage_profiles(out, scenario.name, variants, grid))
    return paths


def dayahead_summary(ts: pd.DataFrame,
                     study: CoordinationStudy | RentalStudy | SharingStudy | LargeGridStudy
                     | CongestionStudy,
                     grid: GridNetwork, out: Path) -> dict:
    """The study's KPIs for ``summary.json`` (and its CSV for the comparison plots)."""
    if isinstance(study, SharingStudy):
        return sharing_summary(ts, study, out)
    if isinstance(study, LargeGridStudy):  # strategy a has no plan: it has run once it has a status
        return large_grid_summary(ts, study, grid) if study.status else {"plan": None}
    if isinstance(study, CongestionStudy):
        return study.summary()
    if study.plan is None:  # saved before the first step: nothing planned yet
        return {"plan": None}
    if isinstance(study, CoordinationStudy):
        return coordination_summary(ts, study, grid, out)
    return rental_summary(ts, study)
