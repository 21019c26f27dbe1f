"""Sweeps: run every point of a scenario's ``sweep:`` section, resuming, and write the report.

A scenario with a ``sweep:`` section (:class:`~flexcosim.scenarios.schema.Sweep`) stands
for many runs; its points (``flexcosim.scenarios.sweep_points``) each run with
:func:`flexcosim.cosim.run.run_scenario` into ``out/<point>/`` on an executor
(``flexcosim.scenarios.sweep_executors``: this process, a local process pool, Dask).
Resume (``flexcosim.scenarios.sweep_state``): a point is reused only when its completion
marker matches its resolved scenario and its files; failed points are skipped unless
``retry_failed``; anything else is moved aside inside ``out`` and run again. Rules and
recipes: ``docs/sweeps.md``.

Weighted totals (seed 004 section 5.3 when the summed axis is representative days: the
day of month ``m`` stands for every weekday of ``m``): a point's energy or hours are
multiplied by its weight (the product of its levels' weights, divided by the number of
replications, so replications are averaged) and added up over the ``report.sum_over``
axis. Sections are the levels of the other axes, columns the variants. The report in
``out/``, computed over complete points only (``summary.json`` says which are not):

- ``summary.json`` -- per-point KPIs, the weighted totals (``annual``) and the ``status``
  (points reused, run, failed with their errors, missing);
- ``annual_energy.md`` / ``.csv`` -- weighted net energy supplied to EVs per site and in
  total, per section and variant, with the unmet energy (like seed 004 Table 2);
- ``loading_histograms.png`` -- per transformer, weighted hours at each loading level,
  variants overlaid, one row per section (like seed 004 Fig. 7);
- what the study named by ``report.study`` adds (:mod:`flexcosim.scenarios.sweep_studies`),
  under ``"study"`` in ``summary.json``;
- ``day_profiles.png`` -- transformer loading over the ``report.profile_levels`` points of
  the first section, variants overlaid, with the non-EV load (like Fig. 6).
"""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import yaml

from flexcosim.cosim.plots import finish_figure, pyplot
from flexcosim.cosim.results import read_timeseries, wide, write_json
from flexcosim.scenarios.schema import Scenario, ScenarioError, parse_scenario, safe_name
from flexcosim.scenarios.sweep_executors import (
    PointTask,
    default_workers,
    run_dask,
    run_in_process,
    run_local_pool,
)
from flexcosim.scenarios.sweep_points import SweepPoint, sweep_points
from flexcosim.scenarios.sweep_state import (
    failure,
    point_folder,
    point_state,
    write_atomic,
)
from flexcosim.scenarios.sweep_studies import study_report

#: The sweep scenario as run, kept in ``out`` so ``flexcosim sweep report <out>`` needs nothing else.
SWEEP_FILE = "sweep.yaml"


def run_sweep(scenario: Scenario, out: Path, base_dir: Path = Path("."), *,
              workers: int | None = None, executor: Literal["local", "dask"] = "local",
              scheduler: str | None = None, retry_failed: bool = False,
              timeout_s: float | None = None, only: list[int] | None = None,
              report: bool = True, progress: bool = True) -> dict:
    """Run the points of ``scenario.sweep`` into ``out/<point>`` (resuming) and write the report.

    Parameters
    ----------
    workers : parallel points (default: every core this process may use); 1 runs them
        in this process (``local`` without ``timeout_s``)
    executor : ``local`` (process pool) or ``dask`` (``scheduler`` address, else a LocalCluster)
    retry_failed : run only the points recorded as failed (with the current scenario)
    timeout_s : wall time after which a point's process is killed and the point failed
        (``local`` only; each point then runs in a child process) [s]
    only : indices of the points to consider (``--point K``); default all
    report : write the report afterwards (a job array's tasks leave it to ``sweep report``)

    Returns
    -------
    dict with ``annual`` (weighted totals, see the module docstring) and ``status``
    (``reused``, ``ran``, ``failed`` {point: error}, ``missing`` [points]); only ``status``
    when ``report`` is false.
    """
    if timeout_s is not None and executor != "local":
        raise ScenarioError(f"a point timeout is enforced by the local executor only; got executor {executor!r}")
    points = sweep_points(scenario)  # every point is valid before anything is written
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / SWEEP_FILE, yaml.safe_dump(scenario.model_dump(mode="json"), sort_keys=False))
    chosen = points if only is None else [points[k] for k in only]
    states = {p.name: point_state(point_folder(out, p.name), p.hash) for p in chosen}
    wanted = "failed" if retry_failed else "pending"
    todo = [p for p in chosen if states[p.name] == wanted]
    tasks = [PointTask(p.index, p.name, p.scenario.model_dump(mode="json"), p.hash,
                       str(point_folder(out, p.name)), str(Path(base_dir).resolve())) for p in todo]
    ran, failed = _execute(tasks, workers or default_workers(), executor, scheduler, timeout_s,
                           f"{scenario.name} ({len(chosen) - len(todo)} of {len(chosen)} done before)",
                           progress)
    reused = sum(1 for p in chosen if states[p.name] == "complete")
    if progress:
        print(f"{scenario.name}: {len(chosen)} points: {reused} reused, {ran} ran, "
              f"{len(failed)} failed", file=sys.stderr)
    if not report:
        return {"status": {"reused": reused, "ran": ran, "failed": failed}}
    return write_report(scenario, out, points, reused=reused, ran=ran)


def _execute(tasks: list[PointTask], workers: int, executor: str, scheduler: str | None,
             timeout_s: float | None, desc: str, progress: bool) -> tuple[int, dict[str, str]]:
    """Run ``tasks`` with one progress bar over points; returns (points run, {failed point: error})."""
    from tqdm import tqdm

    failed: dict[str, str] = {}
    if not tasks:
        return 0, failed
    workers = max(1, min(workers, len(tasks)))
    bar = tqdm(total=len(tasks), desc=desc, unit="point", disable=not progress)
    running = 0

    def started(task: PointTask) -> None:
        nonlocal running
        running += 1
        bar.set_postfix(running=min(running, workers), failed=len(failed), refresh=True)

    if executor == "dask":
        results = run_dask(tasks, workers, started, scheduler)
    elif workers == 1 and timeout_s is None:
        results = run_in_process(tasks, started)
    else:
        results = run_local_pool(tasks, workers, started, timeout_s)
    for task, outcome in results:
        running -= 1
        if not outcome.ok:
            failed[task.name] = outcome.error
        if progress:
            bar.write(f"{task.name}: " + (f"ran in {outcome.wall_s:.1f} s" if outcome.ok
                                           else f"FAILED: {outcome.error}"))
        bar.update(1)
        bar.set_postfix(running=min(running, workers), failed=len(failed), refresh=False)
    bar.close()
    return len(tasks), failed


def default_sweep_dir(scenario: Scenario, root: Path = Path("runs")) -> Path:
    """``runs/<name>``: a fixed folder, so running the same command again resumes.

    Raises
    ------
    ScenarioError
        the scenario's name is not a plain folder name (it would leave ``root``).
    """
    try:
        return root / safe_name("scenario name (the default sweep folder)", scenario.name)
    except ValueError as exc:
        raise ScenarioError(f"{exc}; or give --out") from None


def load_sweep(out: Path) -> Scenario:
    """The sweep scenario a sweep folder was run with (its ``sweep.yaml``).

    Raises
    ------
    ScenarioError
        ``out`` is not a sweep folder.
    """
    path = Path(out) / SWEEP_FILE
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        raise ScenarioError(f"sweep folder {str(out)!r}: no readable {SWEEP_FILE}; "
                            "is it the --out of a sweep?") from None
    return parse_scenario(data)


# --- report -----------------------------------------------------------------------------


def site_energy_kwh(ts: pd.DataFrame, step_s: int) -> dict[str, float]:
    """Net energy into EV batteries per charging site over the run [kWh].

    Sites are the entities reporting ``losses_kw``; battery side = grid side minus losses
    (V1G and V2G alike).
    """
    losses = wide(ts, "losses_kw")
    grid_kw = wide(ts, "p_kw", list(losses.columns))
    return {site: float((grid_kw[site] - losses[site]).sum() * step_s / 3600.0)
            for site in losses.columns}


def write_report(scenario: Scenario, out: Path, points: list[SweepPoint] | None = None,
                 reused: int | None = None, ran: int | None = None) -> dict:
    """Per-point KPIs, weighted totals, energy table and figures over the complete points of ``out``.

    Returns ``{"annual": weighted totals, "status": {...}}`` (also in ``out/summary.json``).
    """
    out = Path(out)
    points = sweep_points(scenario) if points is None else points
    states = {p.name: point_state(point_folder(out, p.name), p.hash) for p in points}
    done = [p for p in points if states[p.name] == "complete"]
    status = {
        "points": len(points), "complete": len(done), "reused": reused, "ran": ran,
        "failed": {p.name: failure(out / p.name).splitlines()[0]
                   for p in points if states[p.name] == "failed"},
        "missing": [p.name for p in points if states[p.name] == "pending"],
    }
    if len(done) < len(points):
        status["note"] = f"aggregates over the {len(done)} complete points of {len(points)} only"
    per_point, loading = {}, {}
    for p in done:
        summary = json.loads((out / p.name / "summary.json").read_text())
        ts = read_timeseries(out / p.name / "timeseries")
        loading[p.name] = wide(ts, "loading_pct", list(summary["transformers"]))
        per_point[p.name] = {
            **p.levels, "replication": p.replication, "weight": p.weight,
            "site_energy_kwh": site_energy_kwh(ts, p.scenario.step_s), **summary,
        }
    annual = annual_figures(scenario, done, per_point)
    study = scenario.sweep.report.study
    extra = {"study": study_report(study)(scenario, out, done, per_point)} if study and done else {}
    write_json(out / "summary.json", {"points": per_point, "annual": annual, "status": status, **extra})
    table_md, table_csv = energy_tables(annual, section_label(scenario))
    if "note" in status:
        table_md = f"**Incomplete sweep: {status['note']}** (see summary.json status).\n\n" + table_md
    (out / "annual_energy.md").write_text(table_md)
    (out / "annual_energy.csv").write_text(table_csv)
    if done:
        plot_histograms(scenario, done, loading, out / "loading_histograms.png")
        if scenario.sweep.report.profile_levels:
            plot_day_profiles(scenario, done, loading, out, out / "day_profiles.png")
    return {"annual": annual, "status": status}


def section_label(scenario: Scenario) -> str:
    """Name of the sections: the axes they are made of, joined by ``_`` (``section`` if none)."""
    skip = {scenario.sweep.report.sum_over}
    return "_".join(a.axis_name for a in scenario.sweep.axes if a.axis_name not in skip) or "section"


def section(scenario: Scenario, point: SweepPoint) -> str:
    """The report section of ``point``: its levels of every axis but ``sum_over`` (``all`` if none)."""
    skip = {scenario.sweep.report.sum_over, "variant"}
    return "_".join(level for axis, level in point.levels.items() if axis not in skip) or "all"


def share(scenario: Scenario, point: SweepPoint) -> float:
    """Weight of ``point`` in the weighted totals: its weight over the number of replications [-]."""
    return point.weight / scenario.sweep.replications


def annual_figures(scenario: Scenario, points: list[SweepPoint], per_point: dict[str, dict]) -> dict:
    """``{section: {variant: figures}}``, each point weighted by :func:`share`.

    Figures: ``site_energy_mwh`` {site: MWh}, ``total_energy_mwh``, ``unmet_energy_mwh``,
    ``transformers`` {name: {hours_over_100 [h, weighted], peak_loading_pct (over the points)}},
    ``points`` (complete points added up) and ``weight`` (their summed weight [-]).
    """
    annual: dict[str, dict] = {}
    for p in points:
        k = per_point[p.name]
        weight = share(scenario, p)
        fig = annual.setdefault(section(scenario, p), {}).setdefault(p.variant, {
            "site_energy_mwh": {}, "total_energy_mwh": 0.0, "unmet_energy_mwh": 0.0,
            "transformers": {}, "points": 0, "weight": 0.0})
        for site, kwh in k["site_energy_kwh"].items():
            fig["site_energy_mwh"][site] = fig["site_energy_mwh"].get(site, 0.0) + kwh * weight / 1e3
        fig["total_energy_mwh"] += sum(k["site_energy_kwh"].values()) * weight / 1e3
        fig["unmet_energy_mwh"] += k["ev_energy_unmet_kwh"] * weight / 1e3
        for tx, t in k["transformers"].items():
            agg = fig["transformers"].setdefault(tx, {"hours_over_100": 0.0, "peak_loading_pct": 0.0})
            agg["hours_over_100"] += t["hours_over_100"] * weight
            agg["peak_loading_pct"] = max(agg["peak_loading_pct"], t["peak_loading_pct"])
        fig["points"] += 1
        fig["weight"] += weight
    return annual


def energy_tables(annual: dict, label: str = "section") -> tuple[str, str]:
    """Weighted net energy supplied to EVs per site and total, with unmet: (markdown, CSV).

    ``label`` heads the CSV's section column (e.g. ``penetration``).
    """
    md = []
    rows = [(label, "site", "variant", "energy_mwh")]
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


def plot_histograms(scenario: Scenario, points: list[SweepPoint], loading: dict[str, pd.DataFrame],
                    path: Path) -> Path:
    """Per transformer (columns) and section (rows): weighted hours at each loading level.

    Each step counts ``step_s`` times its point's :func:`share`: with days weighted by their
    month's weekdays, bars are hours per year.
    """
    plt = pyplot()
    pens = list(dict.fromkeys(section(scenario, p) for p in points))
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
                chosen = [p for p in points if section(scenario, p) == pen and p.variant == variant]
                values = np.concatenate([loading[p.name][tx].to_numpy() for p in chosen])
                weights = np.concatenate([
                    np.full(len(loading[p.name]), share(scenario, p) * p.scenario.step_s / 3600.0)
                    for p in chosen])
                ax.hist(values, bins=bins, weights=weights, histtype="step", lw=1.5, label=variant)
            ax.axvline(100, color="k", ls="--", lw=1, label="rating")
            ax.set_title(f"{tx} ({pen})", fontsize=9)
            ax.set_xlabel("loading [%]")
            if c == 0:
                ax.set_ylabel("hours per year [h]" if scenario.sweep.report.sum_over else "weighted hours [h]")
    return finish_figure(fig, axes.ravel(), f"{scenario.name}: transformer loading, weighted hours",
                         None, path)


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
    """Transformer loading over the ``report.profile_levels`` points (columns) per transformer (rows).

    First section (first replication); variants overlaid with the non-EV load (like seed 004
    Fig. 6). Levels without a complete point are left out.
    """
    plt = pyplot()
    report = scenario.sweep.report
    pen = section(scenario, points[0])
    chosen_by_level = {level: [p for p in points if p.levels[report.sum_over] == level
                               and section(scenario, p) == pen and p.replication == 0]
                       for level in report.profile_levels}
    chosen_by_level = {level: chosen for level, chosen in chosen_by_level.items() if chosen}
    transformers = list(loading[points[0].name].columns)
    fig, axes = plt.subplots(len(transformers), len(chosen_by_level), squeeze=False,
                             sharex="col", figsize=(5.5 * len(chosen_by_level), 2.6 * len(transformers)))
    for c, (level, chosen) in enumerate(chosen_by_level.items()):
        non_ev = non_ev_loading_pct(chosen[0].scenario, read_timeseries(out / chosen[0].name / "timeseries"))
        for r, tx in enumerate(transformers):
            ax = axes[r, c]
            hours = non_ev.index / 3600.0
            ax.plot(hours, non_ev[tx], color="C2", label="non-EV load")
            for p in chosen:
                ax.plot(loading[p.name].index / 3600.0, loading[p.name][tx], label=p.variant)
            ax.axhline(100, color="k", ls="--", lw=1, label="rating")
            ax.set_title(f"{tx}, {level} ({pen})", fontsize=9)
            ax.set_ylabel("loading [%]")
        axes[-1, c].set_xlabel("hours since the start of the day (local time) [h]")
    return finish_figure(fig, axes.ravel(), f"{scenario.name}: transformer loading over the day",
                         None, path)
