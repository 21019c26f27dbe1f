"""Sweeps: one scenario over representative days, penetration levels and its variants.

A scenario with a ``sweep:`` section (:class:`~scenarios.schema.Sweep`) stands for many
runs. Each *point* is one (day, penetration, variant); it is an ordinary scenario run
with :func:`flexcosim.cosim.run.run_scenario` into ``out/<point>/``. The point list is
deterministic (days in the order of ``months``, then penetrations, then variants).

Resume: a point whose folder holds ``summary.json`` is done and skipped; a folder
without it was interrupted and is rerun from scratch.

Annual figures (seed 004 section 5.3): the day of month ``m`` stands for every weekday
of ``m``, so a day's energy or hours are multiplied by the month's weekday count
(computed from the calendar). The report in ``out/``:

- ``summary.json`` -- per-point KPIs and the annual aggregates;
- ``annual_energy.md`` / ``.csv`` -- annual net energy supplied to EVs per site and in
  total, per penetration and variant, with the unmet energy (like seed 004 Table 2);
- ``loading_histograms.png`` -- per transformer, hours per year at each loading level,
  variants overlaid, one row per penetration (like seed 004 Fig. 7);
- ``day_profiles.png`` -- transformer loading over the day of each ``profile_months``
  day at the first penetration, variants overlaid, with the non-EV load (like Fig. 6).
"""

from __future__ import annotations

import calendar
import csv
import io
import json
import shutil
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from flexcosim.cosim.results import read_timeseries, wide, write_json
from flexcosim.cosim.run import run_scenario
from flexcosim.scenarios.schema import Penetration, Scenario, parse_scenario

#: Variant name of the single point per (day, penetration) when the scenario has no variants.
BASE = "base"


@dataclass(frozen=True)
class SweepPoint:
    """One run of a sweep.

    Attributes
    ----------
    name : folder name, ``<day>_<penetration>_<variant>``
    month : month the day stands for (1-12)
    day : the simulated day (first weekday of ``month``)
    penetration : penetration level name
    variant : variant name (``BASE`` when the scenario has none)
    weekdays : weekdays (Mon-Fri) of the month, the day's weight in annual figures [-]
    scenario : the point's scenario (no variants, no sweep)
    """

    name: str
    month: int
    day: date
    penetration: str
    variant: str
    weekdays: int
    scenario: Scenario


def first_weekday(year: int, month: int) -> date:
    """The first Monday-to-Friday day of ``month``."""
    day = date(year, month, 1)
    while day.weekday() >= 5:
        day = day.replace(day=day.day + 1)
    return day


def weekdays_in_month(year: int, month: int) -> int:
    """Number of Monday-to-Friday days of ``month`` (e.g. 23 for January 2019)."""
    weeks = calendar.Calendar().monthdayscalendar(year, month)
    return sum(1 for week in weeks for wd, d in enumerate(week) if d and wd < 5)


def sweep_points(scenario: Scenario) -> list[SweepPoint]:
    """Every point of ``scenario.sweep``, days x penetrations x variants, in run order."""
    sweep = scenario.sweep
    if sweep is None:
        raise ValueError(f"scenario {scenario.name!r} has no sweep section; add `sweep:` to sweep it")
    variants = list(scenario.variants) or [BASE]
    points = []
    for month in sweep.months:
        day = first_weekday(sweep.year, month)
        for pen_name, pen in sweep.penetrations.items():
            for variant in variants:
                name = f"{day.isoformat()}_{pen_name}_{variant}"
                points.append(SweepPoint(
                    name, month, day, pen_name, variant, weekdays_in_month(sweep.year, month),
                    point_scenario(scenario, variant, day, pen, name)))
    return points


def point_scenario(scenario: Scenario, variant: str, day: date, penetration: Penetration,
                   name: str) -> Scenario:
    """``scenario`` (its ``variant``) moved to ``day`` and scaled to ``penetration``.

    The start keeps its clock time and takes the UTC offset of ``sweep.timezone`` on
    ``day``; synthetic building peaks are scaled by the month's ``building_peak_factor``;
    chargers and visitors by ``fleet_factor`` (rounded); ``site_strategy`` replaces every
    site aggregator's strategy. The seed is ``seed * 100 + month``, so days draw
    different visitors while the variants and penetrations of one day share the draws.
    """
    sweep = scenario.sweep
    assert sweep is not None
    base = scenario.variant(variant) if scenario.variants else scenario
    data = base.model_dump(mode="json", exclude={"sweep"})
    clock = scenario.start.timetz().replace(tzinfo=None)
    data["start"] = datetime.combine(day, clock, ZoneInfo(sweep.timezone)).isoformat()
    data["seed"] = scenario.seed * 100 + day.month
    data["name"] = f"{scenario.name}/{name}"
    factor = sweep.building_peak_factor.get(day.month, 1.0)
    for group in data["buildings"]:
        if "peak_kw" in group["profile"]:
            group["profile"]["peak_kw"] *= factor
    _scale_fleet(data, penetration.fleet_factor)
    if penetration.site_strategy is not None:
        for agent in data["agents"]:
            if agent["role"] == "site_aggregator":
                agent["strategy"] = penetration.site_strategy
    return parse_scenario(data)


def scale_fleet(scenario: Scenario, factor: float) -> Scenario:
    """``scenario`` with the chargers of every site and the visitors of every group times ``factor``.

    Counts are rounded (at least 1); e.g. 1.5 turns seed 004 Table 1 (50 %) into 75 %.
    """
    if factor <= 0:
        raise ValueError(f"fleet factor {factor!r} is not allowed; need > 0")
    data = scenario.model_dump(mode="json")
    _scale_fleet(data, factor)
    return parse_scenario(data)


def _scale_fleet(data: dict, factor: float) -> None:
    for site in data["sites"]:
        site["chargers"] = max(1, round(site["chargers"] * factor))
    for group in data["visitors"]:
        group["count"] = max(1, round(group["count"] * factor))


def run_sweep(scenario: Scenario, out: Path, base_dir: Path = Path("."),
              progress: bool = True) -> dict:
    """Run every point of ``scenario.sweep`` into ``out/<point>`` (resuming) and write the report.

    Returns the annual aggregates (also in ``out/summary.json`` with the per-point KPIs).
    """
    from tqdm import tqdm

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    points = sweep_points(scenario)
    bar = tqdm(points, desc=scenario.name, unit="run", disable=not progress)
    for point in bar:
        status = run_point(point, out / point.name, base_dir)
        if progress:
            bar.write(f"{point.name}: {status}")
    return write_report(scenario, points, out)


def run_point(point: SweepPoint, folder: Path, base_dir: Path) -> str:
    """Run one point unless ``folder`` already holds its ``summary.json``; returns what happened."""
    if (folder / "summary.json").exists():
        return "done before, skipped"
    if folder.exists():
        shutil.rmtree(folder)  # interrupted: its time series parts would mix with a new run's
    summary = run_scenario(point.scenario, folder, base_dir, progress=False)
    wall = json.loads((folder / "manifest.json").read_text())["wall_time_s"]
    return f"ran in {wall:.1f} s, peak loading {summary['max_transformer_loading_pct']:.1f} %"


# --- annual report ----------------------------------------------------------------------


def site_energy_kwh(ts: pd.DataFrame, step_s: int) -> dict[str, float]:
    """Net energy into EV batteries per charging site over the run [kWh].

    Sites are the entities reporting ``losses_kw``; battery side = grid side minus losses
    (V1G and V2G alike).
    """
    losses = wide(ts, "losses_kw")
    grid_kw = wide(ts, "p_kw", list(losses.columns))
    return {site: float((grid_kw[site] - losses[site]).sum() * step_s / 3600.0)
            for site in losses.columns}


def write_report(scenario: Scenario, points: list[SweepPoint], out: Path) -> dict:
    """Per-point KPIs, annual aggregates, energy table and figures of a finished sweep."""
    per_point, loading = {}, {}
    for p in points:
        summary = json.loads((out / p.name / "summary.json").read_text())
        ts = read_timeseries(out / p.name / "timeseries")
        loading[p.name] = wide(ts, "loading_pct", list(summary["transformers"]))
        per_point[p.name] = {
            "day": p.day.isoformat(), "month": p.month, "weekdays": p.weekdays,
            "penetration": p.penetration, "variant": p.variant,
            "site_energy_kwh": site_energy_kwh(ts, p.scenario.step_s), **summary,
        }
    annual = annual_figures(points, per_point)
    write_json(out / "summary.json", {"points": per_point, "annual": annual})
    table_md, table_csv = energy_tables(annual)
    (out / "annual_energy.md").write_text(table_md)
    (out / "annual_energy.csv").write_text(table_csv)
    plot_histograms(points, loading, out / "loading_histograms.png")
    if scenario.sweep is not None and scenario.sweep.profile_months:
        plot_day_profiles(scenario, points, loading, out, out / "day_profiles.png")
    return annual


def annual_figures(points: list[SweepPoint], per_point: dict[str, dict]) -> dict:
    """``{penetration: {variant: figures}}``, each day weighted by its month's weekdays.

    Figures: ``site_energy_mwh`` {site: MWh}, ``total_energy_mwh``, ``unmet_energy_mwh``,
    ``transformers`` {name: {hours_over_100 [h/year], peak_loading_pct (over the days)}}.
    """
    annual: dict[str, dict] = {}
    for p in points:
        k = per_point[p.name]
        fig = annual.setdefault(p.penetration, {}).setdefault(p.variant, {
            "site_energy_mwh": {}, "total_energy_mwh": 0.0, "unmet_energy_mwh": 0.0,
            "transformers": {}, "days": 0, "weekdays": 0})
        for site, kwh in k["site_energy_kwh"].items():
            fig["site_energy_mwh"][site] = fig["site_energy_mwh"].get(site, 0.0) + kwh * p.weekdays / 1e3
        fig["total_energy_mwh"] += sum(k["site_energy_kwh"].values()) * p.weekdays / 1e3
        fig["unmet_energy_mwh"] += k["ev_energy_unmet_kwh"] * p.weekdays / 1e3
        for tx, t in k["transformers"].items():
            agg = fig["transformers"].setdefault(tx, {"hours_over_100": 0.0, "peak_loading_pct": 0.0})
            agg["hours_over_100"] += t["hours_over_100"] * p.weekdays
            agg["peak_loading_pct"] = max(agg["peak_loading_pct"], t["peak_loading_pct"])
        fig["days"] += 1
        fig["weekdays"] += p.weekdays
    return annual


def energy_tables(annual: dict) -> tuple[str, str]:
    """Annual net energy supplied to EVs per site and total, with unmet: (markdown, CSV)."""
    md = []
    rows = [("penetration", "site", "variant", "energy_mwh")]
    for pen, variants in annual.items():
        names = list(variants)
        sites = list(next(iter(variants.values()))["site_energy_mwh"])
        md += [f"### {pen}", "", "| site | " + " | ".join(f"{v} [MWh]" for v in names) + " |",
               "|---|" + "---:|" * len(names)]
        lines = [(site, [variants[v]["site_energy_mwh"][site] for v in names]) for site in sites]
        lines += [("**total supplied**", [variants[v]["total_energy_mwh"] for v in names]),
                  ("unmet (short of target SOC)", [variants[v]["unmet_energy_mwh"] for v in names])]
        for label, values in lines:
            md.append(f"| {label} | " + " | ".join(f"{x:.1f}" for x in values) + " |")
            key = label.strip("*").split(" (")[0].replace(" ", "_")
            rows += [(pen, key, v, f"{x:.3f}") for v, x in zip(names, values)]
        md.append("")
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return "\n".join(md), buffer.getvalue()


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_histograms(points: list[SweepPoint], loading: dict[str, pd.DataFrame], path: Path) -> Path:
    """Per transformer (columns) and penetration (rows): hours per year at each loading level.

    Each step counts ``step_s`` times its month's weekdays, so bars are hours per year.
    """
    plt = _pyplot()
    pens = list(dict.fromkeys(p.penetration for p in points))
    variants = list(dict.fromkeys(p.variant for p in points))
    transformers = list(loading[points[0].name].columns)
    top = max(float(frame.max().max()) for frame in loading.values())
    bins = np.arange(0.0, 5.0 * np.ceil(top / 5.0) + 5.0, 5.0)
    fig, axes = plt.subplots(len(pens), len(transformers), squeeze=False,
                             figsize=(4.2 * len(transformers), 3.0 * len(pens)))
    for r, pen in enumerate(pens):
        for c, tx in enumerate(transformers):
            ax = axes[r, c]
            for variant in variants:
                chosen = [p for p in points if p.penetration == pen and p.variant == variant]
                values = np.concatenate([loading[p.name][tx].to_numpy() for p in chosen])
                weights = np.concatenate([
                    np.full(len(loading[p.name]), p.weekdays * p.scenario.step_s / 3600.0)
                    for p in chosen])
                ax.hist(values, bins=bins, weights=weights, histtype="step", lw=1.5, label=variant)
            ax.axvline(100, color="k", ls="--", lw=1)
            ax.set_title(f"{tx} ({pen})", fontsize=9)
            ax.set_xlabel("loading [%]")
            if c == 0:
                ax.set_ylabel("hours per year [h]")
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def non_ev_loading_pct(scenario: Scenario, ts: pd.DataFrame) -> pd.DataFrame:
    """Building load under each transformer in % of its rating (power factor 1), time x transformer."""
    from flexcosim.cosim.world import entity_names
    from flexcosim.grids import build_grid

    grid = build_grid(scenario.grid.builder, **scenario.grid.params)
    trafo = grid.net.trafo
    bus_name = dict(zip(grid.net.bus.index, grid.net.bus.name))
    buildings = wide(ts, "p_kw", [e for g in scenario.buildings for e, _ in entity_names(g.name, g.buses)])
    bus_of = {e: bus for g in scenario.buildings for e, bus in entity_names(g.name, g.buses)}
    out = {}
    for tx, idx in grid.transformers.items():
        lv = bus_name[trafo.lv_bus.at[idx]]
        cols = [e for e in buildings.columns if bus_of[e] == lv]
        out[tx] = buildings[cols].sum(axis=1) / (trafo.sn_mva.at[idx] * 1e3) * 100.0
    return pd.DataFrame(out)


def plot_day_profiles(scenario: Scenario, points: list[SweepPoint], loading: dict[str, pd.DataFrame],
                      out: Path, path: Path) -> Path:
    """Transformer loading over the ``profile_months`` days (columns) per transformer (rows).

    First penetration; variants overlaid with the non-EV load (like seed 004 Fig. 6).
    """
    plt = _pyplot()
    sweep = scenario.sweep
    assert sweep is not None
    pen = next(iter(sweep.penetrations))
    transformers = list(loading[points[0].name].columns)
    fig, axes = plt.subplots(len(transformers), len(sweep.profile_months), squeeze=False,
                             sharex="col", figsize=(5.5 * len(sweep.profile_months), 2.6 * len(transformers)))
    for c, month in enumerate(sweep.profile_months):
        chosen = [p for p in points if p.month == month and p.penetration == pen]
        non_ev = non_ev_loading_pct(chosen[0].scenario, read_timeseries(out / chosen[0].name / "timeseries"))
        for r, tx in enumerate(transformers):
            ax = axes[r, c]
            hours = non_ev.index / 3600.0
            ax.plot(hours, non_ev[tx], color="C2", label="non-EV load")
            for p in chosen:
                ax.plot(loading[p.name].index / 3600.0, loading[p.name][tx], label=p.variant)
            ax.axhline(100, color="k", ls="--", lw=1)
            ax.set_title(f"{tx}, {chosen[0].day.isoformat()} ({pen})", fontsize=9)
            ax.set_ylabel("loading [%]")
            ax.legend(fontsize=7, loc="upper left")
        axes[-1, c].set_xlabel("hours since start of day [h]")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
