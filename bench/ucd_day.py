"""Wall time of one simulated UCD campus day, both strategies, at 1x, 2x and 4x the fleet.

``python3 bench/ucd_day.py`` prints a table; ``--json`` prints one JSON object with
``day_s_1x``, ``day_s_2x``, ``day_s_4x``: seconds per simulated day *and strategy*
(mean of baseline and optimised), wall time measured around
:func:`flexcosim.cosim.run.run_scenario` (assemble, simulate, write results and plots), with
events at their own second and the 900 s metering interval; each ``..._s`` figure has a
``..._cpu_s`` twin, the CPU time of this process over the same call (``time.process_time``;
on a shared machine the figure to compare); ``event_day_s_1x`` repeats the 1x figure under the issue's name,
``event_day_s_60s_metering`` is the 1x day with ``grid.step_s: 60``; ``pf_ms_ucd``,
``pf_ms_lv20`` and ``pf_ms_large`` are milliseconds per AC power flow of ``ucd_feeder4``,
``lv_feeder_20bus`` and the 890-bus ``large_feeder`` (:class:`flexcosim.cosim.models.grid.PowerFlowGrid`, loads varying by
+-20 % around ``PF_BASE_KW``, every flow converged; CPU time).
Each run also reports its agent steps and messages (from ``manifest.json``) and its
power flows. The fleet factor scales the campus as a whole (:func:`scale_campus`): the
visitors (478 EVs at 1x), every site's chargers and parking spaces, the buildings' peak
load and the transformers' ratings, so each EV meets the same site as at 1x and the
growth measured is the engine's. ``--same-transformers`` scales the visitors and chargers
only (:func:`~flexcosim.scenarios.sweep_points.scale_fleet`): at 4x the sites are then
overloaded about fivefold and the site plans re-plan jointly, a different optimisation
problem. ``--quick`` runs 1x only;
``--factors F [F ...]`` runs those factors only, without the 60 s metering day and the
power-flow times: an A/B of two checkouts runs this script with each installed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from flexcosim.cosim.models.grid import PowerFlowGrid
from flexcosim.cosim.run import run_scenario
from flexcosim.cosim.world import metering_s
from flexcosim.grids import build_grid
from flexcosim.scenarios.catalog import load_scenario
from flexcosim.scenarios.schema import Scenario, SweepLevel, parse_scenario
from flexcosim.scenarios.sweep_points import apply_level, scale_fleet

FACTORS = (1, 2, 4)
#: Load per named bus of the power-flow timing [kW]: a loaded but solvable state
#: (20 kW at every bus of the 400 V feeder does not converge).
PF_BASE_KW = {"ucd_feeder4": 200.0, "lv_feeder_20bus": 3.0, "large_feeder": 5.0}


def scale_campus(scenario: Scenario, factor: int) -> Scenario:
    """``scenario`` (UCD campus) ``factor`` times as large: visitors, chargers, parking spaces,
    building peak loads [kW] and transformer ratings (``ucd_feeder4`` ``rating_scale``)."""
    data = scenario.model_dump(mode="json")
    apply_level(data, SweepLevel(
        set={"grid.params.rating_scale": data["grid"]["params"].get("rating_scale", 1.0) * factor},
        scale={"visitors.*.count": factor, "sites.*.chargers": factor, "sites.*.parking_spaces": factor,
               "buildings.*.profile.peak_kw": factor}))
    return parse_scenario(data)


def power_flow_ms(grid_name: str, n: int = 200, seed: int = 0) -> float:
    """Mean CPU time of one AC power flow [ms] over ``n`` flows with loads varying by +-20 %."""
    grid = PowerFlowGrid(build_grid(grid_name))
    rng = np.random.default_rng(seed)
    base = {bus: PF_BASE_KW[grid_name] for bus in grid.bus_names}
    grid.solve(base, {})  # the first flow initialises; later ones start from the last result
    t0 = time.process_time()
    for _ in range(n):
        if not grid.solve({bus: kw * rng.uniform(0.8, 1.2) for bus, kw in base.items()}, {}).converged:
            raise RuntimeError(f"{grid_name}: a timed power flow did not converge")
    return (time.process_time() - t0) / n * 1e3


def run(s, out: Path, base_dir: Path, factor: int, label: str) -> dict:
    t0, c0 = time.perf_counter(), time.process_time()
    summary = run_scenario(s, out, base_dir, progress=False)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    manifest = json.loads((out / "manifest.json").read_text())
    return {"factor": factor, "variant": label, "evs": s.visitors[0].count,
            "chargers": sum(g.chargers for g in s.sites), "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
            "assemble_and_simulate_s": manifest["wall_time_s"],
            "agent_steps": sum(manifest["agent_steps"].values()),
            "messages": manifest["messages"]["total"],
            "power_flows": s.duration_s // metering_s(s) + 1,
            "peak_loading_pct": round(summary["max_transformer_loading_pct"], 1)}


def measure(factors: tuple[int, ...] = FACTORS, extras: bool = True,
            same_transformers: bool = False) -> dict:
    """Per factor and variant: wall time [s], simulate-only time [s], EVs, agent steps,
    messages, power flows, peak loading [%]; plus, with ``extras``, the 60 s metering day
    and power-flow times. ``same_transformers``: scale the fleet only (module docstring)."""
    scenario, base_dir = load_scenario("ucd-campus")
    scale = scale_fleet if same_transformers else scale_campus
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for factor in factors:
            for variant in scenario.variants:
                s = scale(scenario.variant(variant), factor)
                rows.append(run(s, Path(tmp) / f"{factor}x-{variant}", base_dir, factor, variant))
        metered = []
        for variant in scenario.variants if extras else ():
            data = scenario.variant(variant).model_dump(mode="json")
            data["grid"]["step_s"] = 60
            metered.append(run(parse_scenario(data), Path(tmp) / f"60s-{variant}", base_dir, 1,
                               f"{variant}, 60 s metering"))
    def mean(runs: list[dict], key: str) -> float:
        return round(sum(r[key] for r in runs) / len(runs), 2)

    result = {}
    for suffix, key in (("s", "wall_s"), ("cpu_s", "cpu_s")):
        for f in factors:
            result[f"day_{suffix}_{f}x"] = mean([r for r in rows if r["factor"] == f], key)
        if 1 in factors:
            result[f"event_day_{suffix}_1x"] = result[f"day_{suffix}_1x"]
        if extras:
            result[f"event_day_{suffix}_60s_metering"] = mean(metered, key)
    if extras:
        result["pf_ms_ucd"] = round(power_flow_ms("ucd_feeder4"), 2)
        result["pf_ms_lv20"] = round(power_flow_ms("lv_feeder_20bus"), 2)
        result["pf_ms_large"] = round(power_flow_ms("large_feeder"), 2)
    result.update(unit="s per simulated day and strategy (mean of baseline and optimised)",
                  scaling="fleet only" if same_transformers else "campus", cpus=os.cpu_count(),
                  runs=rows + metered)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quick", action="store_true", help="the 1x fleet only")
    parser.add_argument("--factors", type=int, nargs="+", metavar="F",
                        help="these fleet factors only, without the 60 s metering day and the "
                             "power-flow times (e.g. an A/B of two checkouts at 4x)")
    parser.add_argument("--same-transformers", action="store_true",
                        help="scale visitors and chargers only, not parking, buildings and "
                             "transformers (module docstring)")
    args = parser.parse_args()
    if args.factors and args.quick:
        parser.error("--factors and --quick: give one")
    if args.factors and min(args.factors) < 1:
        parser.error(f"--factors {args.factors}: allowed: whole numbers >= 1")
    result = (measure(tuple(args.factors), False, args.same_transformers) if args.factors
              else measure((1,) if args.quick else FACTORS, True, args.same_transformers))
    if args.json:
        print(json.dumps(result))
        return
    print(f"{'fleet':>5} {'variant':>24} {'EVs':>5} {'chargers':>8} {'wall [s]':>9} "
          f"{'assemble+sim [s]':>16} {'agent steps':>11} {'messages':>8} {'power flows':>11} "
          f"{'CPU [s]':>8} {'ms/flow*':>8} {'peak [%]':>8}")
    for r in result["runs"]:
        pf_ms = result.get("pf_ms_ucd", math.nan)
        print(f"{r['factor']:>4}x {r['variant']:>24} {r['evs']:>5} {r['chargers']:>8} {r['wall_s']:>9.2f} "
              f"{r['assemble_and_simulate_s']:>16.2f} {r['agent_steps']:>11} {r['messages']:>8} "
              f"{r['power_flows']:>11} {r['cpu_s']:>8.2f} {pf_ms:>8.2f} {r['peak_loading_pct']:>8.1f}")
    if "pf_ms_ucd" in result:
        print("* CPU ms per power flow of ucd_feeder4 measured apart (pf_ms_ucd); "
              f"lv_feeder_20bus: {result['pf_ms_lv20']} ms")
    print("per day and strategy: " + ", ".join(f"{k} = {v} s" for k, v in result.items()
                                                if k.startswith(("day_", "event_day_")))
          + f" ({result['cpus']} CPUs)")


if __name__ == "__main__":
    main()
