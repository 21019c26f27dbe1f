"""Timing of the seed002-large-grid study: one share of strategy c, and the whole sweep.

Run from the repository root::

    python3 bench/seed002_sweep.py one                      # c at 100 % EVs, one co-simulation
    python3 bench/seed002_sweep.py sweep --out runs/seed002 --workers 2   # 3 x 21 points (resumes)

``one`` runs the point ``c_ev_share-1`` of ``scenarios/seed002-large-grid.yaml`` (96
quarter-hours: the DSO's OPF with its AC checks on the first step, then the co-simulation
with an AC power flow every step) into a temporary folder and prints its wall and CPU time
and where the time went (``--profile``: the cumulative cProfile top 25). ``sweep`` is
``flexcosim sweep run`` with wall time, the 1-min load average of the machine before and
after, and CPU time: of this process, and of every point up to its summary (each point runs
in a process of its own, forked from the pool's server, so it is not this process's child:
its CPU time is read from ``process_cpu_s`` in its ``summary.json``). The study's tables
and figures are in ``--out`` (``seed002_study.md``, ``seed002_study.png``).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import resource
import tempfile
import time
from pathlib import Path

from flexcosim.cosim.run import run_scenario
from flexcosim.scenarios.catalog import load_scenario
from flexcosim.scenarios.sweep import run_sweep
from flexcosim.scenarios.sweep_points import sweep_points

SCENARIO = "seed002-large-grid"


def _cpu_s() -> float:
    """CPU time of this process and its finished children [s]."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def one(point: str, profile: bool) -> None:
    """Run one point of the sweep and print its timing."""
    scenario, base = load_scenario(SCENARIO)
    chosen = {p.name: p for p in sweep_points(scenario)}[point]
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        prof = cProfile.Profile() if profile else None
        t0, c0 = time.perf_counter(), _cpu_s()
        if prof:
            prof.enable()
        summary = run_scenario(chosen.scenario, Path(tmp) / point, base, progress=False)
        if prof:
            prof.disable()
        wall, cpu = time.perf_counter() - t0, _cpu_s() - c0
    k = summary["dayahead"]
    print(f"{point}: wall {wall:.1f} s, CPU {cpu:.1f} s (1-min load average before: {load:.1f}); "
          f"DSO plan {k['schedule_time_s']:.1f} s wall, AC checks of the DSO {len(k['plan']['dso_ac_checks'])}; "
          f"AC power flow of the run: max loading "
          f"{100 * max(k['max_line_loading'], k['max_trafo_loading']):.1f} %, v_min {k['min_voltage_pu']:.3f} pu, "
          f"violation hours {k['violation_hours']}, unmet {k['unmet_energy_kwh']:.1f} kWh")
    if prof:
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)


def sweep(out: Path, workers: int) -> None:
    """Run (or resume) the whole sweep and print its timing."""
    scenario, base = load_scenario(SCENARIO)
    load = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), _cpu_s()
    result = run_sweep(scenario, out, base, workers=workers)
    wall, cpu = time.perf_counter() - t0, _cpu_s() - c0
    points = json.loads((out / "summary.json").read_text())["points"].values()
    by_strategy: dict[str, list[float]] = {}
    for p in points:
        by_strategy.setdefault(p["dayahead"]["strategy"], []).append(p["dayahead"]["process_cpu_s"])
    print(f"{SCENARIO}: {result['status']['ran']} points ran, {result['status']['reused']} reused, "
          f"{len(result['status']['failed'])} failed; wall {wall:.0f} s with {workers} workers "
          f"(1-min load average before {load:.1f}, after {os.getloadavg()[0]:.1f}); CPU of this "
          f"process {cpu:.0f} s; CPU of the points up to their summary: "
          + ", ".join(f"{s} {sum(c):.0f} s (max {max(c):.1f} s)" for s, c in sorted(by_strategy.items()))
          + f", total {sum(sum(c) for c in by_strategy.values()):.0f} s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_one = sub.add_parser("one", help="time one point")
    p_one.add_argument("--point", default="c_ev_share-1", help="point name (flexcosim sweep list)")
    p_one.add_argument("--profile", action="store_true", help="print the cProfile top 25")
    p_sweep = sub.add_parser("sweep", help="time the whole sweep")
    p_sweep.add_argument("--out", type=Path, required=True, help="sweep folder (resumes)")
    p_sweep.add_argument("--workers", type=int, default=2, help="points in parallel")
    args = parser.parse_args(argv)
    if args.command == "one":
        one(args.point, args.profile)
    else:
        sweep(args.out, args.workers)


if __name__ == "__main__":
    main()
