"""Benchmark: site-side optimisation models on the UCD campus case (seed 004 section 5).

Run from the repository root::

    PYTHONPATH=. python3 bench/optim.py              # table
    PYTHONPATH=. python3 bench/optim.py --json       # one JSON object
    PYTHONPATH=. python3 bench/optim.py --compare    # also the rejected alternatives

Rows (median, min, max over repetitions; wall time, and CPU time of this process where
the machine may be shared):

* charging-site selection, 3 sites x 96 quarter-hours, for 478 consecutive EVs of one
  day (seed 004 Table 1: vet_college 1600 kVA / 170 chargers, richview 200 kVA / 66,
  civil_engineering 1000 kVA / 242; 11 kW V1G chargers). Each EV gets fresh offers from
  the congestion price rule on the building load plus the EVs already committed. The
  time is one :func:`select_site` call: pre-filter, model update, solve, read-out.
* site scheduler, 242 connected EVs x 96 steps at civil_engineering (1000 kW minus the
  building load), every registered scheduler; the LP also with 40 % V2G EVs.
* capacity-demand LP of :mod:`flexcosim.agents.optim.capacity_demand` for 242 EVs x 96 steps.

``--compare`` re-solves the first ``--compare-n`` site selections with the alternatives
rejected: the same LP rebuilt for every EV (matrices straight to highspy, no persistent
model), and the seed-literal MILP in pyomo rebuilt for every EV (the optimum is checked
equal). Building loads are synthetic day shapes (the UCD 2019 transformer
measurements are not shipped); EV requests are drawn from a seeded generator.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import numpy as np

from flexcosim.agents.optim.pricing import CongestionPricing, site_offer
from flexcosim.agents.optim.site_scheduler import SCHEDULERS
from flexcosim.agents.optim.site_selection import (
    _BlockData,
    block_matrix,
    select_site,
    why_insufficient,
)
from flexcosim.agents.optim.site_selection_reference import select_site_reference
from flexcosim.agents.optim.types import (
    SiteForecast,
    SiteOffer,
    SiteRequest,
    SiteScheduleProblem,
)
from flexcosim.agents.solver import solve

DT_S = 900.0
STEPS = 96
CHARGER_KW = 11.0
EFFICIENCY = 0.95
#: site -> (transformer rating [kW], chargers, night and midday building utilisation [-])
SITES = {
    "vet_college": (1600.0, 170, 0.20, 0.45),
    "richview": (200.0, 66, 0.35, 0.75),
    "civil_engineering": (1000.0, 242, 0.10, 0.35),
}
N_EVS = 478


def building_load_kw(site: str) -> np.ndarray:
    """(2 * STEPS,) synthetic workday load, two days so a horizon may run past midnight."""
    rating, _, night, midday = SITES[site]
    hour = np.arange(2 * STEPS) * DT_S / 3600.0 % 24.0
    hump = np.exp(-0.5 * ((hour - 13.0) / 3.0) ** 2)
    return rating * (night + (midday - night) * hump)


def ev_requests(seed: int = 4) -> list[tuple[int, SiteRequest]]:
    """(request step, request) for the day's EVs, in order of request."""
    rng = np.random.default_rng(seed)
    request_step = np.sort(np.clip(np.round(rng.normal(9.0, 1.5, N_EVS) * 4), 24, 64)).astype(int)
    stay_steps = rng.integers(16, 41, N_EVS)  # 4-10 h
    battery = rng.uniform(40.0, 80.0, N_EVS)
    onboard = rng.choice([7.4, 11.0], N_EVS)
    soc_start = rng.uniform(0.2, 0.6, N_EVS)
    target = rng.uniform(0.6, 0.9, N_EVS)
    v2g = np.where(rng.random(N_EVS) < 0.3, rng.uniform(2.0, 10.0, N_EVS), 0.0)
    out = []
    for v in range(N_EVS):
        # 2.2-2.4 km at 0.18 kWh/km to each site, 5-10 min drive (0 or 1 quarter-hour)
        drive_kwh = {s: 0.18 * rng.uniform(2.2, 2.4) for s in SITES}
        arrival = {s: int(rng.integers(0, 2)) for s in SITES}
        out.append(
            (
                int(request_step[v]),
                SiteRequest(
                    ev_id=f"ev{v:03d}",
                    battery_kwh=float(battery[v]),
                    charge_max_kw=float(onboard[v]),
                    discharge_max_kw=float(onboard[v]),
                    arrival_soc={s: soc_start[v] - drive_kwh[s] / battery[v] for s in SITES},
                    arrival_step=arrival,
                    departure_step=int(1 + stay_steps[v]),
                    target_soc=float(target[v]),
                    soc_min=0.2,
                    v2g_allowance_kwh=float(v2g[v]),
                ),
            )
        )
    return out


def site_selection_day(
    pricing: CongestionPricing,
) -> tuple[
    list[float], list[float], dict[str, int], list[tuple[SiteRequest, list[SiteOffer], float]]
]:
    """Run the day's requests; returns per-EV wall and CPU times [s], choices, instances."""
    committed = {s: np.zeros(2 * STEPS) for s in SITES}
    leaving = {s: [] for s in SITES}  # departure steps of the reserved EVs
    load = {s: building_load_kw(s) for s in SITES}
    times, cpu, counts, instances = [], [], {s: 0 for s in [*SITES, "none"]}, []
    for now, req in ev_requests():
        horizon = slice(now, now + STEPS)
        offers = []
        for site, (rating, chargers, _, _) in SITES.items():
            busy = sum(d > now for d in leaving[site])
            obs = SiteForecast(
                site, load[site][horizon], committed[site][horizon], rating, DT_S, chargers - busy
            )
            offers.append(site_offer(obs, pricing.offer(obs), CHARGER_KW))
        t0, c0 = time.perf_counter(), time.process_time()
        choice = select_site(req, offers, DT_S)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        instances.append((req, offers, choice.cost))
        if choice.status != "optimal":
            counts["none"] += 1
            continue
        counts[choice.site] += 1
        committed[choice.site][horizon] += choice.power_kw
        leaving[choice.site].append(now + req.departure_step)
    return times, cpu, counts, instances


def rebuilt_lp(req: SiteRequest, offers: list[SiteOffer], dt_s: float) -> float:
    """The fast model's LP rebuilt from scratch (no persistent model); returns the cost."""
    sufficient = np.array([not why_insufficient(req, o, dt_s) for o in offers])
    if not sufficient.any():
        return float("nan")
    data = _BlockData.of(req, offers, sufficient, dt_s)
    A = block_matrix(len(offers), offers[0].n_steps, dt_s)
    res = solve(data.cost, A, data.row_lo, data.row_hi, data.col_lo, data.col_hi, presolve=False)
    return res.objective


def site_problem(
    v2g_share: float, last_departure: int, *, flat_price: bool = False, seed: int = 5
) -> SiteScheduleProblem:
    """242 EVs connected at civil_engineering at 09:00, scheduled over the next 24 h.

    Departures are uniform from 2 h to ``last_departure`` steps ahead: 40 (19:00) is a
    campus day, 96 keeps EVs over the whole horizon (the largest LP). A flat price makes
    the LP maximally degenerate (the slowest case seen).
    """
    rng = np.random.default_rng(seed)
    n = 242
    rating = SITES["civil_engineering"][0]
    start = 36  # 09:00
    base = building_load_kw("civil_engineering")[start : start + STEPS]
    # knee 0: the price follows the building load all day (the default knee would leave
    # it flat, as this transformer's building load stays below 60 %)
    prices = CongestionPricing(knee_utilisation=0.0).offer(
        SiteForecast("civil_engineering", base, np.zeros(STEPS), rating, DT_S, n)
    )
    capacity = rng.uniform(40.0, 80.0, n)
    return SiteScheduleProblem(
        energy_kwh=capacity * rng.uniform(0.2, 0.6, n),
        target_energy_kwh=capacity * rng.uniform(0.7, 1.0, n),
        capacity_kwh=capacity,
        charge_max_kw=np.full(n, CHARGER_KW),
        discharge_max_kw=np.full(n, CHARGER_KW),
        departure_step=rng.integers(8, last_departure + 1, n),
        v2g=rng.random(n) < v2g_share,
        capacity_limit_kw=prices.headroom_kw,
        price_per_kwh=np.full(STEPS, 0.25) if flat_price else prices.charge_price_per_kwh,
        dt_s=DT_S,
        efficiency=EFFICIENCY,
        energy_min_kwh=capacity * 0.2,
    )


def timed(fn: Callable[[], object], reps: int) -> tuple[list[float], list[float], object]:
    """Wall and CPU times [s] of ``reps`` calls, and the last result."""
    wall, cpu, out = [], [], None
    for _ in range(reps):
        w0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return wall, cpu, out


def stats(xs: list[float], scale: float = 1.0) -> dict[str, float]:
    return {
        "median": statistics.median(xs) * scale,
        "min": min(xs) * scale,
        "max": max(xs) * scale,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--compare", action="store_true", help="also time rejected alternatives")
    parser.add_argument("--compare-n", type=int, default=50, help="site selections to compare")
    parser.add_argument("--reps", type=int, default=5, help="repetitions of the 242-EV models")
    args = parser.parse_args(argv)

    rows: list[tuple[str, str, dict[str, float], str]] = []
    out: dict[str, object] = {}

    times, cpu, counts, instances = site_selection_day(CongestionPricing())
    css = stats(times, 1e3)
    choices = ", ".join(f"{k} {v}" for k, v in counts.items())
    rows.append(("site selection, 3 sites x 96 steps, per EV, 478 EVs", "ms", css, choices))
    rows.append(("  same, CPU time of this process", "ms", stats(cpu, 1e3), ""))
    out.update(css_median_ms=css["median"], css_min_ms=css["min"], css_max_ms=css["max"])
    out.update(css_cpu_median_ms=statistics.median(cpu) * 1e3, css_choices=counts)

    for label, last in (("campus day, leave by 19:00", 40), ("stress, leave up to +24 h", STEPS)):
        problem = site_problem(0.0, last)
        for name in SCHEDULERS:
            scheduler = SCHEDULERS[name]()
            wall, cpu, sched = timed(lambda s=scheduler, p=problem: s.schedule(p), args.reps)
            note = (
                f"{sched.status}, unmet {sched.unmet_energy_kwh.sum():.0f} kWh, peak "
                f"{sched.site_power_kw.max():.0f} kW (limit {problem.capacity_limit_kw.min():.0f}"
                f"-{problem.capacity_limit_kw.max():.0f}), CPU {statistics.median(cpu):.3f} s"
            )
            rows.append((f"site scheduler '{name}', 242 EVs V1G, {label}", "s", stats(wall), note))
            if name == "optimal" and last == STEPS:
                out.update(site_scheduler_242_s=statistics.median(wall))
                out.update(site_scheduler_242_cpu_s=statistics.median(cpu))
            if name == "optimal" and last == 40:
                out.update(site_scheduler_242_campus_day_s=statistics.median(wall))
    for label, flat in (("", False), (", flat price (degenerate)", True)):
        problem = site_problem(0.4, STEPS, flat_price=flat)
        wall, cpu, sched = timed(lambda p=problem: SCHEDULERS["optimal"]().schedule(p), args.reps)
        rows.append((f"site scheduler 'optimal', 242 EVs 40 % V2G, stress{label}", "s",
                     stats(wall), f"{sched.status}, CPU {statistics.median(cpu):.3f} s"))  # fmt: skip
        key = "site_scheduler_242_v2g_flat_s" if flat else "site_scheduler_242_v2g_s"
        out[key] = statistics.median(wall)

    try:
        from flexcosim.agents.optim.capacity_demand import (
            capacity_demand,
            random_capacity_demand_problem,
        )
    except ImportError as exc:
        rows.append(("capacity-demand LP, 242 EVs x 96 steps", "s", {}, f"not available: {exc}"))
        out["capacity_demand_242_s"] = None
    else:
        cd_problem = random_capacity_demand_problem(242, STEPS, np.random.default_rng(6))
        wall, cpu, res = timed(lambda: capacity_demand(cd_problem), args.reps)
        rows.append(("capacity-demand LP, 242 EVs x 96 steps", "s", stats(wall),
                     f"status {res.status}, CPU median {statistics.median(cpu):.3f} s"))  # fmt: skip
        out["capacity_demand_242_s"] = statistics.median(wall)

    if args.compare:
        solved = [inst for inst in instances if np.isfinite(inst[2])]
        sample = solved[: args.compare_n]
        variants = {
            "persistent LP (chosen)": lambda r, o: select_site(r, o, DT_S),
            "same LP rebuilt per EV": lambda r, o: rebuilt_lp(r, o, DT_S),
            "seed-literal pyomo MILP rebuilt per EV": lambda r, o: select_site_reference(
                r, o, DT_S
            ),
        }
        measured = {name: ([], []) for name in variants}
        gap = 0.0
        for req, offers, cost in sample:
            for name, fn in variants.items():
                wall, cpu, res = timed(lambda f=fn, r=req, o=offers: f(r, o), 1)
                measured[name][0].extend(wall)
                measured[name][1].extend(cpu)
            gap = max(gap, abs(res[0].objective - cost))  # last variant: the pyomo MILP
        n = len(sample)
        for name, (wall, cpu) in measured.items():
            note = f"CPU {statistics.median(cpu) * 1e3:.2f} ms"
            if "pyomo" in name:
                note += f", max |cost - chosen model's cost| {gap:.1e}"
            rows.append((f"compare ({n} EVs): {name}", "ms", stats(wall, 1e3), note))
        keys = ("compare_persistent_median_ms", "compare_rebuilt_lp_median_ms",
                "compare_pyomo_milp_median_ms")  # fmt: skip
        for key, (wall, _) in zip(keys, measured.values()):
            out[key] = statistics.median(wall) * 1e3
        out.update(compare_n=n, compare_max_cost_difference=gap)

    if args.json:
        print(json.dumps(out))
        return
    print(f"{'model':<72} {'unit':>4} {'median':>9} {'min':>9} {'max':>9}  note")
    for label, unit, s, note in rows:
        if s:
            print(
                f"{label:<72} {unit:>4} {s['median']:>9.3f} {s['min']:>9.3f} {s['max']:>9.3f}  {note}"
            )
        else:
            print(f"{label:<72} {unit:>4} {'-':>9} {'-':>9} {'-':>9}  {note}")


if __name__ == "__main__":
    main()
