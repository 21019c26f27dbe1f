"""The plots of a run folder (PNG) and its ``report.html`` (the plots and the KPI table).

Every plot is titled with the scenario (a variant's name is ``<scenario>/<variant>``),
its time axis says the UTC offset the clock times are in, reference lines (ratings,
voltage band, limits) are labelled in the legend, and legends sit outside the axes so
they never cover data. The report is one static HTML file beside the PNGs: open it
from disk, no server.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from flexcosim.cosim.results import wide

#: Sites shown one per row in the per-site plots; more are ranked by energy and cut.
MAX_SITE_ROWS = 8


@dataclass(frozen=True)
class RunView:
    """What the plots need to know about a run besides its time series.

    Attributes
    ----------
    title : scenario name (``<scenario>/<variant>`` for a variant)
    start : the run's start, with its UTC offset
    transformers : transformer names
    sites : site name -> (number of chargers, charger rating [kW])
    site_limit_kw : site name -> (n,) transformer headroom for EVs per step [kW]
        (sites behind a transformer only)
    """

    title: str
    start: pd.Timestamp
    transformers: list[str]
    sites: Mapping[str, tuple[int, float]]
    site_limit_kw: Mapping[str, np.ndarray]


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def time_label(start: pd.Timestamp) -> str:
    """Axis label of clock times in the UTC offset of ``start``, e.g. ``time (UTC+01:00)``."""
    offset = start.strftime("%z")
    return f"time (UTC{offset[:3]}:{offset[3:]})" if offset else "time (no UTC offset)"


def _clock(view: RunView, index: pd.Index) -> pd.DatetimeIndex:
    # tz-naive clock times in the start's offset, so matplotlib prints them as they read
    return view.start.tz_localize(None) + pd.to_timedelta(np.asarray(index), unit="s")


def finish_figure(fig, axes, title: str, start: pd.Timestamp | None, path: Path) -> Path:
    """Title, the legend outside the axes on the right and, if ``start`` is given, the
    time axis label with its UTC offset; write the PNG and close the figure.

    With several rows of axes (one per site, per transformer) their lines are told
    apart by the row's label, so one legend beside the first row names them all.
    """
    plt = pyplot()
    fig.suptitle(title)
    axes = np.atleast_1d(axes)
    legend: dict[str, object] = {}  # one legend for rows that share their lines, on the first row
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            legend.setdefault(label, handle)
    if legend:
        axes[0].legend(list(legend.values()), list(legend), loc="upper left",
                       bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    if start is not None:
        axes[-1].set_xlabel(time_label(start))
        fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _finish(fig, axes, view: RunView, what: str, path: Path, time_axis: bool = True) -> Path:
    return finish_figure(fig, axes, f"{view.title}: {what}", view.start if time_axis else None, path)


def plot_transformer_loading(ts: pd.DataFrame, view: RunView, out: Path) -> Path:
    """Loading of every transformer [%] with the rating as a labelled reference line."""
    plt = pyplot()
    loading = wide(ts, "loading_pct", view.transformers)
    fig, ax = plt.subplots(figsize=(10, 4))
    for tx in view.transformers:
        ax.plot(_clock(view, loading.index), loading[tx], label=tx)
    ax.axhline(100, color="k", ls="--", lw=1, label="rating (100 %)")
    ax.set_ylabel("transformer loading [%]")
    return _finish(fig, ax, view, "transformer loading", out / "transformer_loading.png")


def plot_voltage_band(ts: pd.DataFrame, view: RunView, out: Path) -> Path:
    """Min-max voltage over all buses, the worst bus and the +-10 % band [p.u.]."""
    plt = pyplot()
    vm = wide(ts, "vm_pu")
    t = _clock(view, vm.index)
    fig, ax = plt.subplots(figsize=(10, 4))
    ax.fill_between(t, vm.min(axis=1), vm.max(axis=1), alpha=0.3, label="all buses (min-max)")
    if vm.notna().any().any():  # no converged step: no worst bus to show
        worst = vm.min().idxmin()
        ax.plot(t, vm[worst], color="C3", label=f"worst bus {worst}")
    ax.axhline(0.9, color="k", ls="--", lw=1, label="limits 0.9 / 1.1 p.u.")
    ax.axhline(1.1, color="k", ls="--", lw=1)
    ax.set_ylabel("voltage [p.u.]")
    return _finish(fig, ax, view, "bus voltages", out / "voltage_band.png")


def _shown_sites(ts: pd.DataFrame, view: RunView) -> tuple[list[str], str]:
    sites = list(view.sites)
    if len(sites) <= MAX_SITE_ROWS:
        return sites, ""
    energy = wide(ts, "p_kw", sites).clip(lower=0).sum()
    shown = list(energy.sort_values(ascending=False).index[:MAX_SITE_ROWS])
    return shown, f" ({MAX_SITE_ROWS} of {len(sites)} sites, most energy)"


def plot_site_power(ts: pd.DataFrame, view: RunView, out: Path) -> Path:
    """Per site: power at the meter [kW] (+ charging, - V2G), the chargers' total rating,
    the transformer headroom for EVs and any limit the DSO set."""
    plt = pyplot()
    sites, note = _shown_sites(ts, view)
    power = wide(ts, "p_kw", sites)
    dso = ts[(ts.quantity == "limit_kw") & ts.entity.isin(sites)]
    dso = dso.pivot(index="time_s", columns="entity", values="value") if len(dso) else None
    fig, axes = plt.subplots(len(sites), 1, figsize=(10, 1.9 * len(sites) + 1), sharex=True, squeeze=False)
    for ax, site in zip(axes[:, 0], sites):
        t = _clock(view, power.index)
        ax.step(t, power[site], where="post", label="power at the meter (- = V2G)")
        chargers, rated_kw = view.sites[site]
        ax.axhline(chargers * rated_kw, color="k", ls=":", lw=1, label="chargers' total rating")
        if site in view.site_limit_kw:
            limit = view.site_limit_kw[site][: len(t)]
            ax.step(t[: len(limit)], limit, where="post", color="C3", ls="--", lw=1,
                    label="transformer headroom")
        if dso is not None and site in dso:
            cap = dso[site].where(dso[site] < 1e9)
            ax.step(_clock(view, cap.index), cap, where="post", color="C1", ls="-.", lw=1,
                    label="DSO limit")
        ax.set_ylabel(f"{site}\n[kW]", fontsize="small")
    return _finish(fig, axes[:, 0], view, f"charging power per site{note}", out / "site_power.png")


def plot_site_evs(ts: pd.DataFrame, view: RunView, out: Path) -> Path:
    """Per site: EVs on a charger and EVs waiting for one [-], with the number of chargers."""
    plt = pyplot()
    sites, note = _shown_sites(ts, view)
    connected, waiting = wide(ts, "connected", sites), wide(ts, "waiting", sites)
    fig, axes = plt.subplots(len(sites), 1, figsize=(10, 1.9 * len(sites) + 1), sharex=True, squeeze=False)
    for ax, site in zip(axes[:, 0], sites):
        t = _clock(view, connected.index)
        ax.step(t, connected[site], where="post", label="plugged in")
        ax.step(t, waiting[site], where="post", color="C3", label="waiting for a charger")
        ax.axhline(view.sites[site][0], color="k", ls=":", lw=1, label="chargers")
        ax.set_ylabel(f"{site}\n[EVs]", fontsize="small")
    return _finish(fig, axes[:, 0], view, f"plugged and waiting EVs{note}", out / "site_evs.png")


def plot_soc(ts: pd.DataFrame, view: RunView, out: Path) -> Path:
    """Distribution of the fleet's state of charge over time: median, quartiles, 5-95 %."""
    plt = pyplot()
    soc = wide(ts, "soc")
    t = _clock(view, soc.index)
    q = soc.quantile([0.05, 0.25, 0.5, 0.75, 0.95], axis=1).T
    fig, ax = plt.subplots(figsize=(10, 4))
    ax.fill_between(t, q[0.05], q[0.95], alpha=0.2, color="C0", label="5-95 % of EVs")
    ax.fill_between(t, q[0.25], q[0.75], alpha=0.4, color="C0", label="25-75 % of EVs")
    ax.plot(t, q[0.5], color="C0", label=f"median ({soc.shape[1]} EVs)")
    ax.set_ylabel("state of charge [-]")
    ax.set_ylim(0, 1.02)
    return _finish(fig, ax, view, "state of charge of the EVs", out / "soc.png")


def plot_ev_energy(evs: pd.DataFrame, view: RunView, out: Path) -> Path:
    """Energy delivered vs requested per EV [kWh]; on the diagonal an EV got all it asked for."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 5))
    top = float(max(evs.requested_kwh.max(), evs.delivered_kwh.max(), 1.0)) if len(evs) else 1.0
    ax.plot([0, top], [0, top], color="k", ls="--", lw=1, label="delivered = requested")
    if len(evs):
        short = evs.missing_kwh > 0
        ax.scatter(evs.requested_kwh[~short], evs.delivered_kwh[~short], s=14, label="got its request")
        ax.scatter(evs.requested_kwh[short], evs.delivered_kwh[short], s=14, color="C3",
                   label="short of its target")
    ax.set_xlabel("requested at plug-in [kWh]")
    ax.set_ylabel("delivered (battery side) [kWh]")
    return _finish(fig, ax, view, "energy delivered vs requested per EV", out / "ev_energy.png",
                   time_axis=False)


#: Every file :func:`plot_run` and :func:`write_report` may write into a run folder.
RUN_PLOTS = ("transformer_loading.png", "voltage_band.png", "site_power.png", "site_evs.png",
             "soc.png", "ev_energy.png", "report.html")


def plot_run(ts: pd.DataFrame, evs: pd.DataFrame, view: RunView, out: Path) -> list[Path]:
    """Every plot of a run folder; those without data in the run (no sites, no EVs) are left out."""
    paths = [plot_transformer_loading(ts, view, out), plot_voltage_band(ts, view, out)]
    if view.sites:
        paths += [plot_site_power(ts, view, out), plot_site_evs(ts, view, out)]
    if (ts.quantity == "soc").any():
        paths.append(plot_soc(ts, view, out))
    if len(evs):
        paths.append(plot_ev_energy(evs, view, out))
    return paths


def write_report(out: Path, view: RunView, summary: Mapping, plots: list[Path]) -> Path:
    """``report.html``: the KPI table and every plot, images referenced beside it."""
    rows = "\n".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                     for k, v in kpi_rows(summary))
    figures = "\n".join(f'<figure><img src="{html.escape(p.name)}" alt="{html.escape(p.stem)}">'
                        f"</figure>" for p in plots)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(view.title)}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; }}
table {{ border-collapse: collapse; margin-bottom: 1.5em; }}
th, td {{ border: 1px solid #ccc; padding: 2px 8px; text-align: left; font-size: 90%; }}
td {{ text-align: right; font-variant-numeric: tabular-nums; }}
img {{ max-width: 100%; }}
</style></head>
<body>
<h1>{html.escape(view.title)}</h1>
<p>Start {html.escape(view.start.isoformat())}; plots and KPIs of this run folder.</p>
<h2>KPIs</h2>
<table>
{rows}
</table>
<h2>Plots</h2>
{figures}
</body></html>
"""
    path = out / "report.html"
    path.write_text(page)
    return path


def kpi_rows(summary: Mapping, prefix: str = "") -> list[tuple[str, str]]:
    """The summary flattened to (dotted key, formatted value) rows."""
    rows = []
    for key in sorted(summary):
        value = summary[key]
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            rows += kpi_rows(value, f"{name}.")
        elif isinstance(value, float):
            rows.append((name, f"{value:.4g}"))
        else:
            rows.append((name, str(value)))
    return rows
