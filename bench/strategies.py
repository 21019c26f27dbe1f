"""Benchmark: wall time of one decision of every built-in strategy (docs/strategies.md).

Run from the repository root::

    python3 bench/strategies.py

* site strategies: one decision on a fresh instance (so the schedulers plan, the
  expensive case: an arrival or departure) for N EVs on a site with a 96-step horizon
  of 15 min, capacity forecast 60 % of the chargers' rating, a time-of-use price;
* site pricing rules: one offer over 96 steps;
* DSO grid strategies: every decision during 6 h of the LV feeder from 16:00 with EVs
  coming home to charge (the decision is timed inside the run; ``sensitivity`` runs
  power flows only on steps with a violation, so its mean and max differ).

Prints median (and max) wall time per decision [ms].
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from flexcosim.agents.dso import GRID_COORDINATION
from flexcosim.agents.optim.pricing import PRICING
from flexcosim.agents.optim.types import SiteForecast
from flexcosim.agents.site import SITE_STRATEGIES, SiteEV, SiteObservation


def site_observation(n_evs: int, rng: np.random.Generator) -> SiteObservation:
    steps = 96
    evs = tuple(SiteEV(f"ev{i}", energy_kwh=float(rng.uniform(8, 30)), capacity_kwh=40.0,
                       target_kwh=36.0, max_charge_kw=11.0, max_discharge_kw=0.0,
                       departure_s=int(rng.integers(8, steps)) * 900) for i in range(n_evs))
    price = tuple(0.30 if 28 <= k % 96 < 76 else 0.10 for k in range(steps))
    return SiteObservation("s", 0, 900, evs, charger_kw=11.0, efficiency=0.95, v2g=False,
                           capacity_kw=0.6 * 11.0 * n_evs,
                           capacity_forecast_kw=(0.6 * 11.0 * n_evs,) * steps,
                           tariff_forecast_per_kwh=price)


def timed(call, repeat: int) -> tuple[float, float]:
    call()  # warm-up: imports and first-use setup are not a decision's cost
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        call()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), max(times)


def site_strategies() -> None:
    rng = np.random.default_rng(0)
    print("| site strategy | EVs | median [ms] | max [ms] |\n|---|---|---|---|")
    for n in (6, 50, 242):
        obs = site_observation(n, rng)
        for name in SITE_STRATEGIES.names():
            med, top = timed(lambda name=name, obs=obs: SITE_STRATEGIES.create(name).decide(obs), 5)
            print(f"| {name} | {n} | {med:.2f} | {top:.2f} |")


def pricing() -> None:
    forecast = SiteForecast("s", np.linspace(200, 800, 96), np.zeros(96), 1000.0, 900, 100)
    print("\n| site pricing | median [ms] | max [ms] |\n|---|---|---|")
    for name in PRICING.names():
        rule = PRICING.create(name)
        med, top = timed(lambda rule=rule: rule.offer(forecast), 50)
        print(f"| {name} | {med:.3f} | {top:.3f} |")


def dso_strategies() -> None:
    from flexcosim.cosim.run import run_scenario
    from flexcosim.scenarios.catalog import load_scenario

    print("\n| DSO grid strategy | decisions | median [ms] | max [ms] |\n|---|---|---|---|")
    for name in GRID_COORDINATION.names():
        factory = GRID_COORDINATION[name]
        class Timed(factory):  # the built-in with its decision timed
            times: list[float] = []

            def decide(self, obs):
                t0 = time.perf_counter()
                try:
                    return super().decide(obs)
                finally:
                    Timed.times.append((time.perf_counter() - t0) * 1e3)

        GRID_COORDINATION.register(f"timed_{name}")(Timed)
        scenario, base = load_scenario("lv-feeder-20bus", [
            "start=2019-01-16T16:00:00+01:00", "duration_s=21600", "fleet.0.soc0_at_home=drawn",
            "fleet.0.soc0_min=0.3", "fleet.0.soc0_max=0.5", "agents.0.strategy=equal_share",
            f"agents=[{{role: site_aggregator, sites: home, strategy: equal_share}}, "
            f"{{role: dso_grid, strategy: timed_{name}}}]"])
        import tempfile

        with tempfile.TemporaryDirectory() as out:
            run_scenario(scenario, out, base, progress=False)
        times = Timed.times
        print(f"| {name} | {len(times)} | {statistics.median(times):.2f} | {max(times):.2f} |")


if __name__ == "__main__":
    site_strategies()
    pricing()
    dso_strategies()
