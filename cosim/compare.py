"""Run every variant of a scenario and compare them: one folder per variant, one summary.

``summary.json`` at the top is ``{variant: summary of that variant}``; ``kpis.md`` is a
side-by-side table; ``transformer_loading_compare.png`` overlays the variants'
transformer loading per transformer (like seed 004 Fig. 6); ``compare_plots`` adds the
day-ahead studies' figures and the voltage profile along a single-transformer feeder.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from flexcosim.cosim.dayahead_report import compare_plots
from flexcosim.cosim.plots import finish_figure, pyplot
from flexcosim.cosim.results import read_timeseries, wide, write_json
from flexcosim.cosim.run import claim_folder, run_scenario
from flexcosim.scenarios.schema import Scenario

#: What :func:`run_variants` writes at the top of its folder (besides the variant folders).
COMPARE_OUTPUTS = ("summary.json", "kpis.md", "transformer_loading_compare.png",
                   "aggregator_power.png", "net_power.png", "voltage_profile.png")


def run_variants(scenario: Scenario, out: Path, base_dir: Path = Path("."),
                 progress: bool = True, overwrite: bool = False) -> dict:
    """Run each variant of ``scenario`` into ``out/<variant>``; returns ``{variant: summary}``.

    ``out`` must be new or empty unless ``overwrite`` (see :func:`flexcosim.cosim.run.claim_folder`).
    """
    summaries = {}
    with claim_folder(out, overwrite, COMPARE_OUTPUTS) as out:
        for name in scenario.variants:
            summaries[name] = run_scenario(scenario.variant(name), out / name, base_dir, progress,
                                           overwrite)
        write_json(out / "summary.json", summaries)
        (out / "kpis.md").write_text(kpi_table(summaries))
        plot_compare(out, list(summaries), pd.Timestamp(scenario.start), scenario.name)
        compare_plots(out, scenario)
    return summaries


def kpi_table(summaries: dict[str, dict]) -> str:
    """Markdown table: per transformer peak and hours over 100 %, EV energy, per variant."""
    names = list(summaries)
    first = summaries[names[0]]
    rows = [("| KPI | " + " | ".join(names) + " |"), "|---|" + "---|" * len(names)]
    for tx in first["transformers"]:
        for key, label in (("peak_loading_pct", "peak loading [%]"),
                           ("hours_over_100", "hours above 100 % [h]")):
            cells = " | ".join(f"{summaries[n]['transformers'][tx][key]:.1f}" for n in names)
            rows.append(f"| {tx} {label} | {cells} |")
    for key, label in (("ev_energy_delivered_kwh", "EV energy delivered [kWh]"),
                       ("ev_energy_unmet_kwh", "EV energy unmet [kWh]"),
                       ("min_voltage_pu", "min voltage [p.u.]"),
                       ("hours_voltage_below_0_9", "hours below 0.9 p.u. [h]")):
        rows.append(f"| {label} | " + " | ".join(f"{summaries[n][key]:.3f}" for n in names) + " |")
    return "\n".join(rows) + "\n"


def plot_compare(out: Path, variants: list[str], start: pd.Timestamp, title: str) -> Path:
    """Every variant's loading per transformer, one row per transformer [%]."""
    plt = pyplot()
    series = {v: wide(read_timeseries(out / v / "timeseries"), "loading_pct") for v in variants}
    transformers = [c for c in series[variants[0]].columns if c in _transformers(out / variants[0])]
    fig, axes = plt.subplots(len(transformers), 1, figsize=(9, 2.6 * len(transformers)),
                             sharex=True, squeeze=False)
    for ax, tx in zip(axes[:, 0], transformers):
        for v in variants:
            loading = series[v][tx]
            ax.plot(start + pd.to_timedelta(loading.index, unit="s"), loading, label=v)
        ax.axhline(100, color="k", ls="--", lw=1, label="rating (100 %)")
        ax.set_ylabel(f"{tx}\nloading [%]")
    return finish_figure(fig, axes[:, 0], f"{title}: transformer loading per variant", start,
                         out / "transformer_loading_compare.png")


def _transformers(variant_dir: Path) -> list[str]:
    import json

    return list(json.loads((variant_dir / "summary.json").read_text())["transformers"])
