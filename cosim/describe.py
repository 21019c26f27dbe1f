"""``flexcosim describe <scenario>``: what a scenario builds and what will run, as text.

Builds the grid (to list its bus, transformer and line names) but nothing else, so it
answers in about the time the grid takes to build.
"""

from __future__ import annotations

import pandas as pd

from flexcosim.cosim.world import ROLE_DEFAULTS, entity_names
from flexcosim.grids import build_grid
from flexcosim.scenarios.schema import Scenario, ScenarioError


def describe_scenario(scenario: Scenario) -> str:
    """Grid, buses, sites, fleets, agents with their strategies, and what ``run`` will do.

    Raises
    ------
    ScenarioError
        the grid cannot be built from ``scenario.grid``.
    """
    s = scenario
    try:
        grid = build_grid(s.grid.builder, **s.grid.params)
    except ValueError as exc:
        raise ScenarioError(f"scenario field 'grid': {exc}") from None
    start = pd.Timestamp(s.start)
    lines = [
        f"scenario  {s.name}",
        f"time      {start.isoformat()} + {s.duration_s / 3600:g} h in steps of {s.step_s} s "
        f"({s.duration_s // s.step_s} steps), seed {s.seed}",
        f"grid      {grid.name}: {len(grid.buses)} buses, {len(grid.lines)} lines, "
        f"transformers {', '.join(grid.transformers) or 'none'}",
        f"buses     {', '.join(grid.buses)}",
    ]
    for g in s.buildings:
        lines.append(f"buildings {g.name}: {len(g.buses)} x {g.profile.kind} at {', '.join(g.buses)}")
    for g in s.pv:
        lines.append(f"pv        {g.name}: {len(g.buses)} x {g.peak_kw:g} kWp at {', '.join(g.buses)}")
    for g in s.sites:
        names = [name for name, _ in entity_names(g.name, g.buses)]
        limit = f", limit from {g.transformer}" if g.transformer else ""
        v2g = ", V2G" if g.v2g else ""
        lines.append(f"sites     {g.name}: {len(names)} site(s) x {g.chargers} charger(s) of "
                     f"{g.rated_kw:g} kW{v2g}{limit}: {', '.join(names)}")
    for g in s.fleet:
        lines.append(f"fleet     {g.name}: {g.count} x {g.vehicle.name} ({g.vehicle.capacity_kwh:g} kWh) "
                     f"home at {g.home_sites}, target SOC {g.target_soc:g}")
    for g in s.visitors:
        lines.append(f"visitors  {g.name}: {g.count} EVs routed to {', '.join(g.routes)}")
    for a in s.agents:
        strategy, fallback = ROLE_DEFAULTS[a.role]
        serves = f" for {a.sites}" if a.sites else ""
        lines.append(f"agent     {a.role}{serves}: strategy {a.strategy or strategy}, "
                     f"fallback {a.fallback or fallback or 'none'}")
    lines.append(f"will run  {_what_runs(s)}")
    return "\n".join(lines)


def _what_runs(s: Scenario) -> str:
    if s.sweep is not None:
        from flexcosim.scenarios.sweep import sweep_points

        return (f"a sweep of {len(sweep_points(s))} points (months {s.sweep.months} x penetrations "
                f"{list(s.sweep.penetrations)} x variants {list(s.variants) or ['base']})")
    if s.variants:
        return f"{len(s.variants)} variants, each into its own folder: {', '.join(s.variants)}"
    return "one run"
