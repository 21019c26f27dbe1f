"""Wall time of the UCD annual sweep with 1 and 2 local workers and a Dask LocalCluster of 2 workers.

``python3 bench/sweep.py`` runs ``ucd-campus-annual`` (36 points) three times into fresh
temporary folders and prints wall time and speed-up over one worker; ``--months 4 10``
runs only those months' days (4 points per month), ``--rounds R`` repeats the three
interleaved and reports medians, ``--json`` prints one JSON object (as the last line:
HiGHS prints its banner to stdout from the worker processes).
The load average before and after each configuration is printed too: on a shared machine
the speed-up says as much about the neighbours as about the sweep.

Per-point times (the points' own ``manifest.json`` wall time: assemble, simulate, write)
of the one-worker run are the basis of the wall-time estimates in ``docs/sweeps.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from flexcosim.scenarios.catalog import load_scenario
from flexcosim.scenarios.schema import parse_scenario
from flexcosim.scenarios.sweep import run_sweep

#: (label, executor, workers)
CONFIGS = (("local-1", "local", 1), ("local-2", "local", 2), ("dask-2", "dask", 2))


def measure(months: list[int] | None = None, configs=CONFIGS, rounds: int = 1) -> dict:
    """Per configuration: wall time [s], speed-up over ``local-1`` and the load average around it.

    With ``rounds`` > 1 the configurations run interleaved (1, 2, dask, 1, 2, dask, ...) so a
    drifting background load hits each alike; each row is then the median over the rounds.
    """
    scenario, base_dir = load_scenario("ucd-campus-annual")
    if months:
        data = scenario.model_dump(mode="json")
        data["sweep"]["axes"][0]["days"]["months"] = months
        data["sweep"]["report"]["profile_levels"] = [
            level for level in data["sweep"]["report"]["profile_levels"] if int(level[5:7]) in months]
        scenario = parse_scenario(data)
    runs: dict[str, list[dict]] = {label: [] for label, _, _ in configs}
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(rounds):
            for label, executor, workers in configs:
                out = Path(tmp) / f"{label}-{k}"
                load_before = os.getloadavg()[0]
                t0 = time.perf_counter()
                result = run_sweep(scenario, out, base_dir, workers=workers, executor=executor,
                                   progress=False)
                wall = time.perf_counter() - t0
                point_s = [json.loads(p.read_text())["wall_time_s"] for p in out.glob("*/manifest.json")]
                runs[label].append({
                    "config": label, "points": result["status"]["complete"],
                    "failed": len(result["status"]["failed"]), "wall_s": round(wall, 1),
                    "mean_point_s": round(statistics.mean(point_s), 2),
                    "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2)})
    rows = [{**sorted(rs, key=lambda r: r["wall_s"])[len(rs) // 2], "rounds": [r["wall_s"] for r in rs]}
            for rs in runs.values()]
    base = rows[0]["wall_s"]
    for row in rows:
        row["speedup"] = round(base / row["wall_s"], 2)
    return {"scenario": scenario.name, "points": rows[0]["points"], "cpus": os.cpu_count(),
            "months": months or "all", "runs": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--months", type=int, nargs="+", help="only these months' days (default: all 9)")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved repetitions (median)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    result = measure(args.months, rounds=args.rounds)
    if args.json:
        print(json.dumps(result))
        return
    print(f"{result['scenario']}: {result['points']} points, {result['cpus']} CPUs")
    print(f"{'config':>8} {'wall [s]':>9} {'speed-up':>8} {'mean point [s]':>14} {'load before/after':>18}")
    for r in result["runs"]:
        print(f"{r['config']:>8} {r['wall_s']:>9.1f} {r['speedup']:>8.2f} {r['mean_point_s']:>14.2f} "
              f"{r['load_before']:>8.2f} / {r['load_after']:<8.2f}")


if __name__ == "__main__":
    main()
