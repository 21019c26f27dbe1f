"""Seed 001 Monte-Carlo congestion probability on the three-phase 20-bus feeder (reduced).

Run from the repository root::

    python3 bench/seed001_congestion.py --replications 20

Layout (drawn once, seed 0): one single-phase household on each of buses 11-20 of
``lv_feeder_3ph`` (the weak half; phases by ``assign_phases``), 1.0 kW base-load peak, EVs
(3.7 kW) in 50 %, PV (4 kWp) in 30 %, batteries (3 kW / 6 kWh) in 20 % of the households.
Each replication draws EV states, base load and PV (seeds 1..N) and steps 21 h at 30-min
steps, checking 17:00-21:00 (the evening peak; earlier steps only move the EVs and
batteries). The same replications run without and with the network heuristic. Prints
the elements with the highest probability of congestion, the standard error for the
first n replications (n = N/4, N/2, N), the adjustment distribution per agent, and the
time per replication.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from flexcosim.agents.grid_optim.congestion import estimate_congestion
from flexcosim.agents.grid_optim.feeder_replication import DayConfig, draw_households, replicate
from flexcosim.grids.lv_feeder_3ph import build_lv_feeder_3ph

CONFIG = DayConfig(n_steps=42, first_checked_step=34)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=20)
    args = parser.parse_args(argv)
    n = args.replications
    if n < 4:
        parser.error(f"--replications={n}: at least 4 are needed")
    warnings.simplefilter("ignore")
    grid = build_lv_feeder_3ph()
    homes = draw_households(grid, [f"bus_{i}" for i in range(11, 21)], 1, 0.5, 0.3, 0.2,
                            np.random.default_rng(0), ev_kw=3.7, base_peak_kw=1.0)
    print(f"{len(homes)} households: {sum(h.ev_kw > 0 for h in homes)} EVs, "
          f"{sum(h.pv_kwp > 0 for h in homes)} PV, {sum(h.battery_kw > 0 for h in homes)} batteries")
    runs: dict[bool, list] = {False: [], True: []}
    times: dict[bool, list[float]] = {False: [], True: []}
    for seed in range(1, n + 1):
        for heuristic in (False, True):
            t0 = time.perf_counter()
            runs[heuristic].append(replicate(grid, homes, seed, heuristic=heuristic, config=CONFIG))
            times[heuristic].append(time.perf_counter() - t0)
        print(f"replication {seed}: {times[False][-1]:.1f} s without, {times[True][-1]:.1f} s with "
              "the heuristic", flush=True)
    first = runs[True][0]
    hours = [f"{CONFIG.first_checked_step // 2 + h}:00"
             for h in range((CONFIG.n_steps - CONFIG.first_checked_step) // 2)]
    for heuristic in (False, True):
        label = "with heuristic" if heuristic else "without heuristic"
        est = estimate_congestion([r.outcome for r in runs[heuristic]], first.elements, first.agents,
                                  CONFIG.step_s)
        print(f"\n## {label}: N = {n}, {np.mean(times[heuristic]):.1f} s per replication")
        worst = np.argsort(-est.probability.max(axis=1))[:8]
        print("| element | " + " | ".join(hours) + " |")
        print("|---|" + "---|" * len(hours))
        for e in worst:
            if est.probability[e].max() == 0:
                break
            cells = [f"{p:.2f} +- {s:.2f}" for p, s in zip(est.probability[e], est.standard_error[e])]
            print(f"| {est.elements[e]} | " + " | ".join(cells) + " |")
        for k in (n // 4, n // 2, n):
            sub = estimate_congestion([r.outcome for r in runs[heuristic][:k]], first.elements,
                                      first.agents, CONFIG.step_s)
            uncertain = (sub.probability > 0) & (sub.probability < 1)
            mean_se = sub.standard_error[uncertain].mean() if uncertain.any() else 0.0
            print(f"N = {k:3d}: mean SE over cells with 0 < p < 1: {mean_se:.3f}")
        if heuristic:
            print(f"steps left with a removable violation: {sum(r.removable_left for r in runs[True])}")
            print("| agent | P(adjusted in some hour) | adjusted energy kWh: median / 90 % / max |")
            print("|---|---|---|")
            q = est.adjusted_energy_quantiles((0.5, 0.9, 1.0))
            for a, name in enumerate(est.agents):
                p_any = float((est.adjusted_energy_kwh[:, a] > 0).mean())
                if p_any > 0:
                    print(f"| {name} | {p_any:.2f} | {q[a, 0]:.2f} / {q[a, 1]:.2f} / {q[a, 2]:.2f} |")


if __name__ == "__main__":
    main()
