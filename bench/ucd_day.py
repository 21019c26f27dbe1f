"""Wall time of one simulated UCD campus day, both strategies, at 1x, 2x and 4x the fleet.

``python3 bench/ucd_day.py`` prints a table; ``--json`` prints one JSON object with
``day_s_1x``, ``day_s_2x``, ``day_s_4x``: seconds per simulated day *and strategy*
(mean of baseline and optimised), measured around :func:`flexcosim.cosim.run.run_scenario`
(assemble, simulate, write results and plots). The fleet factor scales the chargers of
every site and the visitors (478 EVs at 1x); transformers and buildings stay as they are.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from flexcosim.cosim.run import run_scenario
from flexcosim.scenarios.catalog import load_scenario
from flexcosim.scenarios.sweep_points import scale_fleet

FACTORS = (1, 2, 4)


def measure(factors: tuple[int, ...] = FACTORS) -> dict:
    """Per factor and variant: wall time [s], simulate-only time [s], EVs, peak loading [%]."""
    scenario, base_dir = load_scenario("ucd-campus")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for factor in factors:
            for variant in scenario.variants:
                s = scale_fleet(scenario.variant(variant), factor)
                out = Path(tmp) / f"{factor}x-{variant}"
                t0 = time.perf_counter()
                summary = run_scenario(s, out, base_dir, progress=False)
                wall = time.perf_counter() - t0
                sim = json.loads((out / "manifest.json").read_text())["wall_time_s"]
                rows.append({"factor": factor, "variant": variant, "evs": s.visitors[0].count,
                             "chargers": sum(g.chargers for g in s.sites), "wall_s": round(wall, 2),
                             "assemble_and_simulate_s": sim,
                             "peak_loading_pct": round(summary["max_transformer_loading_pct"], 1)})
    result = {f"day_s_{f}x": round(sum(r["wall_s"] for r in rows if r["factor"] == f)
                                   / sum(1 for r in rows if r["factor"] == f), 2) for f in factors}
    result.update(unit="s per simulated day and strategy (mean of baseline and optimised)",
                  cpus=os.cpu_count(), runs=rows)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    result = measure()
    if args.json:
        print(json.dumps(result))
        return
    print(f"{'fleet':>5} {'variant':>10} {'EVs':>5} {'chargers':>8} {'wall [s]':>9} "
          f"{'assemble+sim [s]':>16} {'peak [%]':>8}")
    for r in result["runs"]:
        print(f"{r['factor']:>4}x {r['variant']:>10} {r['evs']:>5} {r['chargers']:>8} {r['wall_s']:>9.2f} "
              f"{r['assemble_and_simulate_s']:>16.2f} {r['peak_loading_pct']:>8.1f}")
    print("per day and strategy: " + ", ".join(f"{k} = {v} s" for k, v in result.items()
                                                if k.startswith("day_s_")) + f" ({result['cpus']} CPUs)")


if __name__ == "__main__":
    main()
