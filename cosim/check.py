"""``flexcosim check <run-folder>``: the invariants every run folder must satisfy.

Checked on what the run wrote (``scenario.yaml``, ``manifest.json``, ``summary.json``,
``timeseries/``), not on what the agents intended:

* ``steps``: every step from 0 to ``simulated_until_s`` is recorded, none twice;
* ``duplicates``: no (time, entity, quantity) row appears twice;
* ``soc``: every SOC is in [0, 1];
* ``ev_energy``: per fleet EV and charging step, the energy into the battery equals
  battery power x step length (``capacity x delta SOC = battery_kw x step_s / 3600``,
  the charge arriving one step later, as the fleet applies it);
* ``charger_power``: per site and step, ``|p_kw| <= rated_kw x connected``;
* ``site_energy``: per step, the sites' meter power equals the EVs' battery power plus
  the charger losses (summed over sites, since the time series does not say which site
  an EV is at) [kW];
* ``summary``: ``summary.json`` equals the KPIs recomputed from the time series.

Energies and powers are compared with an absolute tolerance of :data:`TOL_KW` kW
(:data:`TOL_KW` x 1 h in kWh).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from flexcosim.cosim.results import json_safe, read_timeseries, summarise
from flexcosim.cosim.world import metering_s
from flexcosim.scenarios.schema import Scenario, ScenarioError, parse_scenario

#: Absolute tolerance of power and energy comparisons [kW] (float sums over many EVs).
TOL_KW = 1e-6


@dataclass(frozen=True)
class Violation:
    """One broken invariant: its name and what was found (one line)."""

    invariant: str
    detail: str


def check_run(folder: Path) -> list[Violation]:
    """Every invariant of the module docstring on run folder ``folder``; empty if all hold.

    Raises
    ------
    ScenarioError
        ``folder`` is not a run folder (a file of the run is missing or unreadable).
    """
    from flexcosim.cosim.world import entity_names

    folder = Path(folder)
    try:
        import yaml

        scenario = parse_scenario(yaml.safe_load((folder / "scenario.yaml").read_text()))
        manifest = json.loads((folder / "manifest.json").read_text())
        summary = json.loads((folder / "summary.json").read_text())
    except (OSError, ValueError) as exc:
        raise ScenarioError(f"{str(folder)!r} is not a finished run folder: {exc}") from None
    ts = read_timeseries(folder / "timeseries")
    until_s = int(manifest.get("simulated_until_s", scenario.duration_s))
    sites = {name: g for g in scenario.sites for name, _ in entity_names(g.name, g.buses)}
    found = [*_steps(ts, metering_s(scenario), until_s), *_duplicates(ts)]
    ts = ts.drop_duplicates(["time_s", "entity", "quantity"])  # the checks below need one row each
    found += [
        *_soc(ts),
        *_ev_energy(ts, scenario),
        *_charger_power(ts, sites),
        *_site_energy(ts, list(sites)),
        *_summary(ts, scenario, until_s, summary, list(sites)),
    ]
    return found


def _steps(ts: pd.DataFrame, step_s: int, until_s: int) -> list[Violation]:
    expected = set(range(0, until_s, step_s))
    present = set(ts.time_s.unique().tolist())
    missing, extra = sorted(expected - present), sorted(present - expected)
    out = []
    if missing:
        out.append(Violation("steps", f"{len(missing)} steps missing, first t={missing[0]} s"))
    if extra:
        out.append(Violation("steps", f"{len(extra)} steps outside [0, {until_s}) or off the "
                             f"{step_s} s grid, first t={extra[0]} s"))
    return out


def _duplicates(ts: pd.DataFrame) -> list[Violation]:
    dup = ts[ts.duplicated(["time_s", "entity", "quantity"], keep=False)]
    if dup.empty:
        return []
    row = dup.iloc[0]
    return [Violation("duplicates", f"{len(dup)} duplicated rows, e.g. t={row.time_s} s "
                      f"{row.entity} {row.quantity}")]


def _soc(ts: pd.DataFrame) -> list[Violation]:
    soc = ts[ts.quantity == "soc"]
    bad = soc[~soc.value.between(-1e-9, 1 + 1e-9)]
    if bad.empty:
        return []
    row = bad.iloc[0]
    return [Violation("soc", f"{len(bad)} SOC values outside [0, 1], e.g. {row.entity} at "
                      f"t={row.time_s} s: {row.value}")]


def _ev_energy(ts: pd.DataFrame, scenario: Scenario) -> list[Violation]:
    h = metering_s(scenario) / 3600.0  # the recorded interval
    soc = ts[ts.quantity == "soc"].pivot(index="time_s", columns="entity", values="value")
    battery = ts[ts.quantity == "battery_kw"].pivot(index="time_s", columns="entity", values="value")
    out = []
    for g in scenario.fleet:
        evs = [ev for ev in soc.columns if ev.startswith(f"{g.name}_") and ev in battery.columns]
        if not evs:
            continue
        # row t holds the power over [t, t + step) and the SOC at its end
        gained = soc[evs].diff() * g.vehicle.capacity_kwh
        delivered = battery[evs].reindex(gained.index) * h
        charging = (delivered.abs() > 0) & gained.notna()
        error = (gained - delivered).abs().where(charging)
        worst = error.max().max() if charging.any().any() else 0.0
        if worst > TOL_KW * h * 10:
            t, ev = error.stack().idxmax()
            out.append(Violation("ev_energy", f"{ev} at t={t} s: battery got "
                                 f"{gained.at[t, ev]:.6f} kWh, battery power x time is "
                                 f"{delivered.at[t, ev]:.6f} kWh"))
    return out


def _charger_power(ts: pd.DataFrame, sites: dict) -> list[Violation]:
    out = []
    for site, g in sites.items():
        rows = ts[ts.entity == site]
        p = rows[rows.quantity == "p_kw"].set_index("time_s").value
        n = rows[rows.quantity == "connected"].set_index("time_s").value.reindex(p.index)
        over = p.abs() - g.rated_kw * n
        if (over > TOL_KW).any():
            t = over.idxmax()
            out.append(Violation("charger_power", f"{site} at t={t} s: {p[t]:.3f} kW with "
                                 f"{n[t]:g} EVs connected at {g.rated_kw} kW each"))
    return out


def _site_energy(ts: pd.DataFrame, sites: list[str]) -> list[Violation]:
    at_sites = ts[ts.entity.isin(sites)]
    meter = at_sites[at_sites.quantity == "p_kw"].groupby("time_s").value.sum()
    losses = at_sites[at_sites.quantity == "losses_kw"].groupby("time_s").value.sum()
    battery = ts[ts.quantity == "battery_kw"].groupby("time_s").value.sum()
    balance = (meter - losses.reindex(meter.index, fill_value=0.0)
               - battery.reindex(meter.index, fill_value=0.0)).abs()
    if balance.empty or balance.max() <= TOL_KW * max(1, len(sites)):
        return []
    t = balance.idxmax()
    return [Violation("site_energy", f"t={t} s: sites draw {meter[t]:.6f} kW, EVs get "
                      f"{battery.get(t, 0.0):.6f} kW plus {losses.get(t, 0.0):.6f} kW losses")]


def _summary(ts: pd.DataFrame, scenario: Scenario, until_s: int, summary: dict,
             sites: list[str]) -> list[Violation]:
    recomputed = json_safe(summarise(ts, metering_s(scenario), list(summary.get("transformers", {})),
                                     sites, until_s=until_s))
    out = []
    for key, value in recomputed.items():
        problem = _differs(summary.get(key), value, key)
        if problem:
            out.append(Violation("summary", problem))
    return out


def _differs(saved: object, recomputed: object, where: str) -> str:
    if isinstance(recomputed, dict):
        if not isinstance(saved, dict):
            return f"{where}: summary has {saved!r}, recomputed a mapping"
        for key, value in recomputed.items():
            problem = _differs(saved.get(key), value, f"{where}.{key}")
            if problem:
                return problem
        return ""
    if isinstance(recomputed, float) and isinstance(saved, (int, float)):
        ok = math.isclose(saved, recomputed, rel_tol=1e-9, abs_tol=1e-9)
    else:
        ok = saved == recomputed
    return "" if ok else f"{where}: summary has {saved!r}, recomputed {recomputed!r}"


def report(folder: Path) -> tuple[int, str]:
    """Exit status and text of ``flexcosim check``: 0 and one line if every invariant holds."""
    violations = check_run(folder)
    if not violations:
        steps = len(read_timeseries(Path(folder) / "timeseries").time_s.unique())
        return 0, f"ok: every invariant holds over {steps} steps ({folder})"
    lines = [f"{v.invariant}: {v.detail}" for v in violations]
    return 1, "\n".join([f"{len(violations)} invariant(s) broken in {folder}:", *lines])


__all__ = ["TOL_KW", "Violation", "check_run", "report"]
