"""The seed-002 study's sweep report (``sweep.report.study: seed002``).

Over the points of a strategy x EV-share sweep of ``dayahead.kind: large_grid_charging``
(:mod:`flexcosim.cosim.large_grid`), each with its AC-measured KPIs in ``summary.json``:

* ``seed002_study.md``: every strategy and share (energy, EV energy, losses, cost for the
  NO3-like and the DK2 price day, max line / transformer loading, min voltage, violation
  hours, unmet energy, planning time), the first AC overload share per strategy, and seed
  002 Table 4 / Table F.9 side by side with ours at the largest share;
* ``seed002_study.png``: max loading, min voltage, cost and losses over the EV share;
* the returned dict (``summary.json`` -> ``study``): the same numbers as data.

Hosting capacity (seed 002 Table 4) = the largest swept share below the first share that
overloads a line or transformer in AC (all shares if none does).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from flexcosim.agents.grid_optim.charging_study import ShareKPIs, first_overload_share
from flexcosim.cosim.plots import finish_figure, pyplot

#: Seed 002 Table 4 (NO3 price): daily energy [MWh], losses [MWh], cost [NOK], hosting capacity.
SEED_TABLE_4 = {"a": (118.83, 2.24, 75927.1, "20 %"), "b": (118.74, 2.15, 73973.5, "36 %"),
                "c": (118.74, 2.15, 73974.5, "100 %")}
#: Seed 002 Table F.9: cost with the DK2 price, b and c optimised for it [NOK].
SEED_TABLE_F9 = {"a": 36087.05, "b": 33143.26, "c": 33155.35}


def point_kpis(per_point: dict[str, dict]) -> list[ShareKPIs]:
    """The KPIs of every point (``summary.json``'s ``dayahead`` part), by strategy and share."""
    fields = set(ShareKPIs.__dataclass_fields__)
    kpis = [ShareKPIs(**{k: v for k, v in p["dayahead"].items() if k in fields})
            for p in per_point.values() if p.get("dayahead", {}).get("strategy")]
    return sorted(kpis, key=lambda k: (k.strategy, k.ev_share))


def hosting_capacity(kpis: list[ShareKPIs], strategy: str) -> float | None:
    """Largest share of ``strategy`` below its first AC overload (``None``: no share ran)."""
    shares = sorted(k.ev_share for k in kpis if k.strategy == strategy)
    first = first_overload_share(kpis, strategy)
    below = [s for s in shares if first is None or s < first]
    return max(below) if below else None


def seed002_report(scenario, out: Path, points: list, per_point: dict[str, dict]) -> dict:
    """Write ``seed002_study.md`` / ``.png`` into ``out``; returns the study's figures."""
    kpis = point_kpis(per_point)
    strategies = sorted({k.strategy for k in kpis})
    first = {s: first_overload_share(kpis, s) for s in strategies}
    hosting = {s: hosting_capacity(kpis, s) for s in strategies}
    top = {s: max((k for k in kpis if k.strategy == s), key=lambda k: k.ev_share) for s in strategies}
    (out / "seed002_study.md").write_text(_markdown(kpis, first, hosting, top))
    if kpis:
        _plot(kpis, strategies, out / "seed002_study.png", scenario.name)
    return {
        "first_overload_share": first, "hosting_capacity": hosting,
        "table4": {s: {"ev_share": k.ev_share, "energy_mwh": k.energy_mwh, "losses_mwh": k.losses_mwh,
                       "cost": k.cost, "hosting_capacity": hosting[s],
                       "seed": {"energy_mwh": SEED_TABLE_4[s][0], "losses_mwh": SEED_TABLE_4[s][1],
                                "cost_no3": SEED_TABLE_4[s][2], "cost_dk2": SEED_TABLE_F9[s],
                                "hosting_capacity": SEED_TABLE_4[s][3]}}
                   for s, k in top.items()},
        "c_unmet_energy_kwh_max": max((k.unmet_energy_kwh for k in kpis if k.strategy == "c"), default=None),
        "c_violation_hours_max": max((k.violation_hours for k in kpis if k.strategy == "c"), default=None),
    }


def _pct(x: float | None) -> str:
    return "none" if x is None else f"{100 * x:.0f} %"


def _markdown(kpis: list[ShareKPIs], first: dict, hosting: dict, top: dict) -> str:
    lines = ["# Seed 002: charging strategies over the EV share (AC power flow every quarter-hour)", "",
             "| strategy | EV share | EVs | energy [MWh] | EV energy [MWh] | losses [MWh] | cost NO3 [NOK] "
             "| cost DK2 [NOK] | max line [%] | max trafo [%] | min v [pu] | violation h | unmet [kWh] "
             "| plan [s] | status |", "|" + "---|" * 15]
    for k in kpis:
        lines.append(
            f"| {k.strategy} | {100 * k.ev_share:.0f} % | {k.n_evs} | {k.energy_mwh:.2f} | "
            f"{k.ev_energy_mwh:.2f} | {k.losses_mwh:.3f} | {k.cost.get('NO3', np.nan):.0f} | "
            f"{k.cost.get('DK2', np.nan):.0f} | {100 * k.max_line_loading:.1f} | "
            f"{100 * k.max_trafo_loading:.1f} | {k.min_voltage_pu:.3f} | {k.violation_hours:.2f} | "
            f"{k.unmet_energy_kwh:.1f} | {k.schedule_time_s:.1f} | {k.status[:40]} |")
    lines += ["", "First AC overload (line or transformer > 100 %) at EV share: "
              + ", ".join(f"{s}: {_pct(x)}" for s, x in first.items()), "",
              "Seed 002 Table 4 (NO3 price) and Table F.9 (DK2 price) beside ours at the largest share "
              "(our DK2 cost is of the schedule optimised for the scenario's `optimise_price`):", "",
              "| method | share | energy [MWh] ours / seed | losses [MWh] ours / seed | cost NO3 [NOK] ours / seed "
              "| cost DK2 [NOK] ours / seed | hosting capacity ours / seed |", "|---|---|---|---|---|---|---|"]
    for s, k in top.items():
        e, loss, cost, cap = SEED_TABLE_4[s]
        lines.append(f"| {s} | {100 * k.ev_share:.0f} % | {k.energy_mwh:.2f} / {e} | {k.losses_mwh:.3f} / {loss} "
                     f"| {k.cost.get('NO3', np.nan):.0f} / {cost} | {k.cost.get('DK2', np.nan):.0f} / "
                     f"{SEED_TABLE_F9[s]} | {_pct(hosting[s])} / {cap} |")
    return "\n".join(lines) + "\n"


def _plot(kpis: list[ShareKPIs], strategies: list[str], path: Path, title: str) -> Path:
    plt = pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharex=True)
    panels = [
        ("max line / transformer loading [%]",
         lambda k: 100 * max(k.max_line_loading, k.max_trafo_loading), 100.0),
        ("min voltage [pu]", lambda k: k.min_voltage_pu, 0.9),
        ("cost, NO3-like day [NOK]", lambda k: k.cost.get("NO3", np.nan), None),
        ("losses [MWh]", lambda k: k.losses_mwh, None),
    ]
    for ax, (label, value, limit) in zip(axes.ravel(), panels):
        for s in strategies:
            mine = [k for k in kpis if k.strategy == s]
            ax.plot([100 * k.ev_share for k in mine], [value(k) for k in mine], marker=".", label=s)
        if limit is not None:
            ax.axhline(limit, color="k", ls="--", lw=1, label="limit")
        ax.set_ylabel(label)
    for ax in axes[-1]:
        ax.set_xlabel("EV share [%]")
    return finish_figure(fig, axes.ravel(), f"{title}: strategies a, b, c over the EV share", None, path)
