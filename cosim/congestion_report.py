"""Sweep report of the seed-001 congestion study: Monte-Carlo estimate over the replications.

Registered as ``sweep.report.study: seed001_congestion``
(:mod:`flexcosim.scenarios.sweep_studies`). Each point is one replication of one variant
(with / without the network heuristic); its ``summary.json`` holds, under ``dayahead``,
the steps each element was congested in the three-phase grid in the loop and the
platform's adjustment of each agent per step (:meth:`flexcosim.cosim.congestion.CongestionStudy.summary`).
Per variant, :func:`~flexcosim.agents.grid_optim.congestion.estimate_congestion` gives the
probability of congestion per element and hour with its standard error
``SE = sqrt(p (1 - p) / N)`` and the distribution of adjustments per agent (seed 001
section IV); the convergence of the estimate is the mean SE over the uncertain cells
(0 < p < 1) for the first n = N/8, N/4, N/2, N replications. Writes ``congestion.md``,
``congestion_probability.csv``, ``congestion_heatmap.png``, ``adjustments.png`` and
``se_convergence.png``; returns the figures for ``summary.json`` (``study``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from flexcosim.agents.grid_optim.congestion import (
    CongestionEstimate,
    ReplicationOutcome,
    estimate_congestion,
)
from flexcosim.cosim.plots import pyplot


def _outcome(study: dict) -> ReplicationOutcome:
    """One replication's checked steps from its ``summary.json`` ``dayahead`` section."""
    first, n = study["first_checked_step"], study["n_steps"]
    congested = np.zeros((len(study["elements"]), n), dtype=bool)
    for i, element in enumerate(study["elements"]):
        congested[i, study["congested_steps"].get(element, [])] = True
    adjustments = np.zeros((len(study["agents"]), n))
    for a, agent in enumerate(study["agents"]):
        if agent in study["adjustments_kw"]:
            adjustments[a] = study["adjustments_kw"][agent]
    return ReplicationOutcome(congested[:, first:], adjustments[:, first:])


def se_convergence(outcomes: list[ReplicationOutcome], elements: list[str], agents: list[str],
                   step_s: int) -> dict[int, float]:
    """Mean SE over the cells with 0 < p < 1 for the first n = N/8, N/4, N/2, N replications
    (n >= 2, each once) [-]; 0 where no cell is uncertain."""
    n_all = len(outcomes)
    out = {}
    for n in sorted({max(2, n_all // k) for k in (8, 4, 2, 1)} & set(range(2, n_all + 1))):
        est = estimate_congestion(outcomes[:n], elements, agents, step_s)
        uncertain = (est.probability > 0) & (est.probability < 1)
        out[n] = float(est.standard_error[uncertain].mean()) if uncertain.any() else 0.0
    return out


def _hour_labels(start: pd.Timestamp, first_step: int, step_s: int, hours: int) -> list[str]:
    t0 = start + pd.Timedelta(seconds=first_step * step_s)
    return [(t0 + pd.Timedelta(hours=h)).strftime("%a %H:00") for h in range(hours)]


def congestion_report(scenario, out: Path, points: list, per_point: dict[str, dict]) -> dict:
    """Probability of congestion per element x hour per variant, its SE and convergence,
    adjustments per agent; tables and figures into ``out`` (module docstring)."""
    out = Path(out)
    by_variant: dict[str, list[tuple[int, dict]]] = {}
    for p in points:
        by_variant.setdefault(p.levels.get("variant", "run"), []).append(
            (p.replication, per_point[p.name]["dayahead"]))
    results, estimates = {}, {}
    for variant, runs in by_variant.items():
        runs.sort(key=lambda r: r[0])
        first = runs[0][1]
        outcomes = [_outcome(study) for _, study in runs]
        est = estimate_congestion(outcomes, first["elements"], first["agents"], first["step_s"])
        estimates[variant] = (est, first)
        worst = np.argsort(-est.probability.max(axis=1), kind="stable")
        q = est.adjusted_energy_quantiles((0.5, 0.9, 1.0))
        results[variant] = {
            "heuristic": first["heuristic"], "replications": est.n_replications,
            "max_probability": float(est.probability.max()),
            "elements_ever_congested": int((est.probability.max(axis=1) > 0).sum()),
            "mean_se_uncertain_cells": se_convergence(outcomes, first["elements"], first["agents"],
                                                      first["step_s"]),
            "top_elements": {est.elements[e]: {"max_probability": float(est.probability[e].max()),
                                               "se_at_max": float(est.standard_error[e][
                                                   est.probability[e].argmax()])}
                             for e in worst[:8] if est.probability[e].max() > 0},
            "removable_left": sum(study["removable_left"] for _, study in runs),
            "platform_disagrees_steps": sum(study["platform_disagrees_steps"] or 0 for _, study in runs),
            "unmet_ev_kwh_mean": float(np.mean([study["unmet_ev_kwh"] for _, study in runs])),
            "adjustments": {agent: {
                "probability_any": float((est.adjusted_energy_kwh[:, a] > 0).mean()),
                "energy_kwh_median_p90_max": [float(x) for x in q[a]]}
                for a, agent in enumerate(est.agents) if est.adjusted_energy_kwh[:, a].any()},
        }
    start = pd.Timestamp(scenario.start)
    _write_tables(out, estimates, start)
    _plot_heatmaps(out / "congestion_heatmap.png", estimates, start)
    _plot_adjustments(out / "adjustments.png", estimates)
    _plot_convergence(out / "se_convergence.png", results)
    return {"variants": results, "figures": ["congestion_heatmap.png", "adjustments.png",
                                             "se_convergence.png"],
            "tables": ["congestion.md", "congestion_probability.csv"]}


def _frame(est: CongestionEstimate, first: dict, start: pd.Timestamp) -> pd.DataFrame:
    hours = _hour_labels(start, first["first_checked_step"], first["step_s"], est.probability.shape[1])
    return pd.DataFrame(est.probability, index=list(est.elements), columns=hours)


def _write_tables(out: Path, estimates: dict, start: pd.Timestamp) -> None:
    rows, md = [], []
    for variant, (est, first) in estimates.items():
        frame = _frame(est, first, start)
        se = pd.DataFrame(est.standard_error, index=frame.index, columns=frame.columns)
        tidy = frame.stack().rename("probability").to_frame().join(se.stack().rename("standard_error"))
        tidy.index.names = ["element", "hour"]
        rows.append(tidy.reset_index().assign(variant=variant))
        busy = frame.index[frame.max(axis=1) > 0]
        md.append(f"## {variant}: N = {est.n_replications}\n")
        if len(busy) == 0:
            md.append("No element was congested in any replication.\n")
            continue
        cols = frame.columns[frame.loc[busy].max(axis=0) > 0]
        md.append("| element | " + " | ".join(cols) + " |")
        md.append("|---|" + "---|" * len(cols))
        for e in sorted(busy, key=lambda e: -frame.loc[e].max())[:10]:
            md.append(f"| {e} | " + " | ".join(f"{frame.at[e, c]:.2f} +- {se.at[e, c]:.2f}"
                                              for c in cols) + " |")
        md.append("")
    pd.concat(rows).to_csv(out / "congestion_probability.csv", index=False)
    (out / "congestion.md").write_text("# Probability of congestion per element and hour (+- SE)\n\n"
                                       + "\n".join(md) + "\n")


def _plot_heatmaps(path: Path, estimates: dict, start: pd.Timestamp) -> None:
    plt = pyplot()
    frames = {v: _frame(est, first, start) for v, (est, first) in estimates.items()}
    busy = sorted({e for f in frames.values() for e in f.index[f.max(axis=1) > 0]},
                  key=lambda e: list(next(iter(frames.values())).index).index(e)) or ["(none)"]
    fig, axes = plt.subplots(len(frames), 1, figsize=(12, 1.2 + 0.25 * len(busy) * len(frames)),
                             squeeze=False, sharex=True)
    for ax, (variant, frame) in zip(axes[:, 0], frames.items()):
        data = frame.reindex(busy).fillna(0.0)
        image = ax.imshow(data.to_numpy(), aspect="auto", vmin=0, vmax=1, cmap="viridis",
                          interpolation="nearest")
        ax.set_yticks(range(len(busy)), busy, fontsize=6)
        ax.set_title(f"{variant} (N = {estimates[variant][0].n_replications})", fontsize=9)
        fig.colorbar(image, ax=ax, label="P(congestion)")
    labels = next(iter(frames.values())).columns
    ticks = range(0, len(labels), max(1, len(labels) // 16))
    axes[-1, 0].set_xticks(list(ticks), [labels[i] for i in ticks], rotation=60, fontsize=7)
    fig.suptitle("Probability of congestion per element and hour")
    _write(fig, path)


def _plot_adjustments(path: Path, estimates: dict) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(10, 4))
    for variant, (est, _) in estimates.items():
        used = [a for a in range(len(est.agents)) if est.adjusted_energy_kwh[:, a].any()]
        if not used:
            continue
        ax.boxplot([est.adjusted_energy_kwh[:, a] for a in used], tick_labels=[est.agents[a] for a in used])
        ax.set_title(f"{variant}: adjusted energy per replication and agent (N = {est.n_replications})",
                     fontsize=9)
    ax.set_ylabel("adjusted energy sum |dP| dt [kWh]")
    ax.tick_params(axis="x", rotation=60, labelsize=7)
    _write(fig, path)


def _plot_convergence(path: Path, results: dict) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for variant, r in results.items():
        n = np.array(list(r["mean_se_uncertain_cells"]), dtype=float)
        se = np.array(list(r["mean_se_uncertain_cells"].values()))
        if len(n):
            ax.loglog(n, se, "o-", label=variant)
            ax.loglog(n, se[0] * np.sqrt(n[0] / n), ":", color="grey")
    ax.set_xlabel("replications N")
    ax.set_ylabel("mean SE over cells with 0 < p < 1")
    ax.set_title("Convergence of the estimate (dotted: 1/sqrt(N))", fontsize=9)
    ax.legend()
    _write(fig, path)


def _write(fig, path: Path) -> None:
    """Lay out, write the PNG and close the figure."""
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    pyplot().close(fig)
