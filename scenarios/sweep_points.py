"""The points of a sweep: every combination of axis levels, variants and replications, each a scenario.

A point applies, in this order, its variant's overrides, each axis' level (axes in the
order of ``sweep.axes``) and its replication's seed (:class:`~flexcosim.scenarios.schema.Sweep`).
The point list is deterministic: axes combined (product: last axis fastest), then the
variants, then the replications. A point's name, ``<level>_<level>_..._<variant>[_rep<r>]``,
is its folder; its hash (SHA-256 of the resolved scenario) says whether a finished folder
still belongs to it.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from flexcosim.scenarios.schema import (
    MAX_POINTS,
    Scenario,
    ScenarioError,
    SweepAxis,
    SweepLevel,
    axis_levels,
    parse_scenario,
    safe_name,
)
from flexcosim.scenarios.sweep_calendar import first_weekday, weekdays_in_month

#: Variant name of a sweep's points when the scenario has no variants (not in point names then).
BASE = "base"

#: Names in a sweep folder that are the report's, not points'.
RESERVED = {"summary.json", "annual_energy.md", "annual_energy.csv", "sweep.yaml",
            "loading_histograms.png", "day_profiles.png"}


@dataclass(frozen=True)
class SweepPoint:
    """One run of a sweep.

    Attributes
    ----------
    index : position in the point list (``flexcosim sweep run --point K``)
    name : folder name
    levels : axis name -> level name (``variant`` last)
    replication : replication number, 0 when the sweep has none
    weight : product of the levels' weights [-]
    scenario : the point's resolved scenario (no variants, no sweep)
    hash : SHA-256 of ``scenario`` (its JSON with sorted keys)
    """

    index: int
    name: str
    levels: dict[str, str] = field(hash=False)
    replication: int
    weight: float
    scenario: Scenario = field(hash=False)
    hash: str

    @property
    def variant(self) -> str:
        """The point's variant (``base`` when the scenario has none)."""
        return self.levels["variant"]


def scenario_hash(scenario: Scenario) -> str:
    """SHA-256 of the resolved scenario's JSON (sorted keys): changes whenever any field does."""
    text = json.dumps(scenario.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def replication_seed(seed: int, replication: int) -> int:
    """Seed of replication ``replication`` of a point whose seed is ``seed``: independent streams.

    ``numpy.random.SeedSequence([seed, replication])`` hashes both into a well-mixed 32-bit
    state word, so replications do not share draws and neighbouring seeds do not correlate.
    """
    return int(np.random.SeedSequence([seed, replication]).generate_state(1)[0])


def sweep_points(scenario: Scenario) -> list[SweepPoint]:
    """Every point of ``scenario.sweep`` in run order.

    Raises
    ------
    ScenarioError
        no sweep section, an unsafe variant name, a path that is not a scenario field, or
        a point whose scenario is invalid (the message names the point).
    """
    sweep = scenario.sweep
    if sweep is None:
        raise ScenarioError(f"scenario {scenario.name!r} has no sweep section; add `sweep:` to sweep it")
    axes = [(axis, axis_levels(axis)) for axis in sweep.axes]
    if sweep.combine == "zip":
        combos = list(zip(*(levels for _, levels in axes)))
    else:
        combos = list(itertools.product(*(levels for _, levels in axes)))
    variants = list(scenario.variants) or [BASE]
    for v in variants:
        _check(safe_name, "variants", v)
    reps = range(sweep.replications)
    total = len(combos) * len(variants) * len(reps)
    if total > MAX_POINTS:
        raise ScenarioError(f"sweep: {total} points; allowed: at most {MAX_POINTS}")
    points = []
    for combo, variant, rep in itertools.product(combos, variants, reps):
        levels = {axis.axis_name: level for (axis, _), level in zip(axes, combo)}
        levels["variant"] = variant
        parts = list(combo) + ([variant] if scenario.variants else [])
        name = "_".join(parts + ([f"rep{rep}"] if sweep.replications > 1 else [])) or BASE
        if name in RESERVED:
            raise ScenarioError(f"sweep: point name {name!r} is a report file's; rename that level")
        data = (scenario.variant(variant) if scenario.variants else scenario).model_dump(
            mode="json", exclude={"sweep", "variants"})
        weight = 1.0
        for (axis, _), level in zip(axes, combo):
            weight *= _apply_axis(data, axis, level, scenario)
        if sweep.replications > 1:
            data["seed"] = replication_seed(data["seed"], rep)
        data["name"] = f"{scenario.name}/{name}"
        try:
            resolved = parse_scenario(data)
        except ScenarioError as exc:
            raise ScenarioError(f"sweep point {name!r}: {exc}") from None
        points.append(SweepPoint(len(points), name, levels, rep, weight, resolved, scenario_hash(resolved)))
    return points


def _check(func, *args):
    try:
        return func(*args)
    except ValueError as exc:
        raise ScenarioError(f"scenario: {exc}") from None


def _apply_axis(data: dict, axis: SweepAxis, level: str, scenario: Scenario) -> float:
    """Apply ``axis`` at ``level`` to the scenario ``data``; returns the level's weight."""
    where = f"sweep axis {axis.axis_name!r}"
    if axis.levels is not None:
        return apply_level(data, axis.levels[level], where)
    if axis.days is not None:
        days = axis.days
        month = next(m for m in days.months if first_weekday(days.year, m).isoformat() == level)
        day = first_weekday(days.year, month)
        clock = scenario.start.timetz().replace(tzinfo=None)
        data["start"] = datetime.combine(day, clock, ZoneInfo(days.timezone)).isoformat()
        data["seed"] = data["seed"] * 100 + month
        for path, by_month in days.scale.items():
            scale_path(data, path, by_month.get(month, 1.0), where)
        return float(weekdays_in_month(days.year, month))
    values = axis.values if axis.values is not None else axis.range.values()
    value = values[axis_levels(axis).index(level)]
    set_path(data, axis.path, value, where)
    return 1.0


def apply_level(data: dict, level: SweepLevel, where: str = "sweep level") -> float:
    """Set and scale the fields of ``level`` in scenario ``data`` (in place); returns its weight."""
    for path, value in level.set.items():
        set_path(data, path, value, where)
    for path, factor in level.scale.items():
        scale_path(data, path, factor, where)
    return level.weight


def set_path(data: dict, path: str, value: Any, where: str = "sweep") -> None:
    """Set the field at dotted ``path`` of scenario ``data``; a mapping may gain a new key."""
    for parent, key in _targets(data, path, where, create=True):
        parent[key] = value


def scale_path(data: dict, path: str, factor: float, where: str = "sweep") -> None:
    """Multiply the numbers at dotted ``path`` (``*`` = every item) by ``factor``; integers are rounded."""
    for parent, key in _targets(data, path, where, create=False):
        old = parent[key]
        if isinstance(old, bool) or not isinstance(old, (int, float)):
            raise ScenarioError(f"{where}: {path!r} is {old!r}, not a number; only numbers scale")
        parent[key] = round(old * factor) if isinstance(old, int) else old * factor


def _targets(data: Any, path: str, where: str, create: bool) -> list[tuple[Any, Any]]:
    """(container, key) pairs that dotted ``path`` names; ``*`` fans out over a list.

    With ``*``, items lacking the rest of the path are skipped (e.g. a CSV building profile
    has no ``peak_kw``), but at least one item must have it.
    """
    parts = path.split(".")
    found: list[tuple[Any, Any]] = []

    def walk(node: Any, i: int, fanned: bool) -> None:
        part = parts[i]
        last = i == len(parts) - 1
        if part == "*" and isinstance(node, list):
            for item in node:
                if last:
                    raise ScenarioError(f"{where}: path {path!r} ends in '*'; name a field")
                walk(item, i + 1, True)
            return
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ScenarioError(f"{where}: path {path!r}: {part!r} is not an index of a list "
                                    f"of {len(node)}; allowed: 0-{len(node) - 1} or '*'")
            key: Any = int(part)
        elif isinstance(node, dict):
            key = part
            if key not in node and not (last and create and not fanned):
                if fanned:
                    return
                raise ScenarioError(f"{where}: path {path!r}: no field {part!r}; allowed: "
                                    f"{', '.join(map(str, node)) or 'none'}")
        else:
            raise ScenarioError(f"{where}: path {path!r}: {'.'.join(parts[:i])!r} is a value, "
                                "it has no fields")
        if last:
            found.append((node, key))
        else:
            walk(node[key], i + 1, fanned)

    walk(data, 0, False)
    if not found:
        raise ScenarioError(f"{where}: path {path!r} matches no field")
    return found


def scale_fleet(scenario: Scenario, factor: float) -> Scenario:
    """``scenario`` with the chargers of every site and the visitors of every group times ``factor``.

    Counts are rounded; e.g. 1.5 turns seed 004 Table 1 (50 %) into 75 %.
    """
    if factor <= 0:
        raise ScenarioError(f"fleet factor {factor!r} is not allowed; need > 0")
    data = scenario.model_dump(mode="json")
    apply_level(data, SweepLevel(scale={"sites.*.chargers": factor, "visitors.*.count": factor}))
    return parse_scenario(data)
