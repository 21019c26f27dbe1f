"""Seed 002 EV-share sweep: strategies a, b, c x EV share 0-100 % on the heated large feeder.

Run from the repository root (takes minutes; resumes from ``--out`` if interrupted)::

    python3 bench/seed002_sweep.py --out seed002_sweep.jsonl          # sweep + tables
    python3 bench/seed002_sweep.py --out seed002_sweep.jsonl --table  # tables only

Every point is one call of :func:`flexcosim.agents.grid_optim.charging_study.evaluate_share`
on the problem of :func:`~flexcosim.agents.grid_optim.charging_study.large_feeder_problem`
(calibrated electric-heating base load, seed-002 EV data, NO3-like price), costed with
the NO3-like and the DK2 price day. Strategies b and c are then re-optimised against the
DK2 day at 100 % (seed 002 Table F.9). Each result is appended to ``--out`` as one JSON
line as soon as it is measured; points already in the file are skipped.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
import warnings
from pathlib import Path

import numpy as np

from flexcosim.agents.grid_optim.ac_check import ac_net
from flexcosim.agents.grid_optim.charging_study import (
    PRICE_DAYS,
    PRICE_DK2,
    ShareKPIs,
    evaluate_share,
    first_overload_share,
    large_feeder_problem,
    with_price,
)
from flexcosim.grids.large_feeder import build_large_feeder

SHARES = np.round(np.arange(0.0, 1.0001, 0.05), 2)
#: Seed 002 Table 4 (NO3 price) and Table F.9 (DK2 price): energy [MWh], loss [MWh],
#: cost [NOK] per method; hosting capacity from Table 4.
SEED_TABLE_4 = {"a": (118.83, 2.24, 75927.1, "20 %"), "b": (118.74, 2.15, 73973.5, "36 %"),
                "c": (118.74, 2.15, 73974.5, "100 %")}
SEED_TABLE_F9 = {"a": 36087.05, "b": 33143.26, "c": 33155.35}


def _key(row: dict) -> tuple[str, float, str]:
    return row["strategy"], round(row["ev_share"], 2), row["opt_price"]


def run(out: Path) -> None:
    """Measure every missing point and append it to ``out``."""
    done = {_key(json.loads(line)) for line in out.read_text().splitlines()} if out.exists() else set()
    grid = build_large_feeder()
    problems = {"NO3": large_feeder_problem(grid)}
    problems["DK2"] = with_price(problems["NO3"], PRICE_DK2)
    ac = ac_net(problems["NO3"], grid.net)
    # a and b first, then what Table 4 / F.9 need, then c's lower shares
    points = [(s, float(x), "NO3") for s in "ab" for x in SHARES]
    points += [("c", 1.0, "NO3"), ("b", 1.0, "DK2"), ("c", 1.0, "DK2")]
    points += [("c", float(x), "NO3") for x in SHARES[::-1][1:]]
    for strategy, share, opt in points:
        if (strategy, round(share, 2), opt) in done:
            continue
        load_before = os.getloadavg()[0]
        kpi = evaluate_share(problems[opt], grid.net, strategy, share, PRICE_DAYS, ac=ac)
        row = dataclasses.asdict(kpi) | {"opt_price": opt, "load_avg_1min": round(load_before, 2)}
        with out.open("a") as f:
            f.write(json.dumps(row) + "\n")
        print(f"{strategy} {share:4.2f} {opt}: {kpi.total_time_s:6.1f} s, max loading "
              f"{100 * max(kpi.max_line_loading, kpi.max_trafo_loading):5.1f} %, "
              f"v_min {kpi.min_voltage_pu:.3f}, {kpi.status[:60]}", flush=True)


def tables(out: Path) -> str:
    """Markdown tables of the measured points."""
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    kpis = [ShareKPIs(**{k: v for k, v in r.items() if k not in ("opt_price", "load_avg_1min")})
            for r in rows if r["opt_price"] == "NO3"]
    lines = ["| strategy | EV share | EVs | energy [MWh] | EV energy [MWh] | losses [MWh] | "
             "cost NO3 [NOK] | cost DK2 [NOK] | max line [%] | max trafo [%] | min v [pu] | "
             "violation h | unmet [kWh] | time [s] |", "|" + "---|" * 14]
    for r in sorted(rows, key=lambda r: (r["opt_price"], r["strategy"], r["ev_share"])):
        if r["opt_price"] != "NO3":
            continue
        lines.append(
            f"| {r['strategy']} | {100 * r['ev_share']:.0f} % | {r['n_evs']} | {r['energy_mwh']:.2f} | "
            f"{r['ev_energy_mwh']:.2f} | {r['losses_mwh']:.3f} | {r['cost']['NO3']:.0f} | "
            f"{r['cost']['DK2']:.0f} | {100 * r['max_line_loading']:.1f} | "
            f"{100 * r['max_trafo_loading']:.1f} | {r['min_voltage_pu']:.3f} | "
            f"{r['violation_hours']:.2f} | {r['unmet_energy_kwh']:.1f} | {r['total_time_s']:.1f} |")
    lines += ["", "First AC overload (line or transformer > 100 %) at EV share: "
              + ", ".join(f"{s}: {first_overload_share(kpis, s)}" for s in "abc"), ""]
    full = {(r["strategy"], r["opt_price"]): r for r in rows if r["ev_share"] == 1.0}
    lines += ["| method | energy [MWh] ours / seed | losses [MWh] ours / seed | cost NO3 [NOK] ours / seed "
              "| cost DK2 (optimised for DK2) [NOK] ours / seed | hosting capacity ours / seed |",
              "|---|---|---|---|---|---|"]
    for s in "abc":
        r = full.get((s, "NO3"))
        dk = full.get((s, "DK2"), r)
        if r is None:
            continue
        first = first_overload_share(kpis, s)
        hosting = "100 %" if first is None else f"{100 * (first - 0.05):.0f} %"
        e, loss, cost, cap = SEED_TABLE_4[s]
        lines.append(f"| {s} | {r['energy_mwh']:.2f} / {e} | {r['losses_mwh']:.3f} / {loss} | "
                     f"{r['cost']['NO3']:.0f} / {cost} | {dk['cost']['DK2']:.0f} / {SEED_TABLE_F9[s]} | "
                     f"{hosting} / {cap} |")
    c_times = [r["total_time_s"] for r in rows if r["strategy"] == "c" and r["opt_price"] == "NO3"]
    loads = [r["load_avg_1min"] for r in rows]
    if c_times:
        lines += ["", f"Strategy c per share: median {np.median(c_times):.1f} s, max {max(c_times):.1f} s "
                  f"(1-min load average of the 2-core machine during the sweep: "
                  f"{min(loads):.1f}-{max(loads):.1f})."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="JSON-lines file of results")
    parser.add_argument("--table", action="store_true", help="only print the tables of --out")
    args = parser.parse_args(argv)
    if not args.table:
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            run(args.out)
        print(f"sweep wall time {time.perf_counter() - t0:.0f} s")
    print(tables(args.out))


if __name__ == "__main__":
    main()
