"""Run outputs: tidy time series written while the run goes, summary KPIs and plots.

The time series is a Parquet dataset (a folder of part files, one per flush) with
columns ``time_s`` (int64, s since start), ``entity``, ``quantity`` and ``value``
(float64). Parts are written as the run produces them, so an interrupted run keeps
everything up to its last flush.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

SCHEMA = pa.schema([
    ("time_s", pa.int64()),
    ("entity", pa.string()),
    ("quantity", pa.string()),
    ("value", pa.float64()),
])


class TimeseriesWriter:
    """Buffers tidy rows and writes a Parquet part every ``flush_every`` steps."""

    def __init__(self, folder: Path, flush_every: int = 16) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.flush_every = flush_every
        self._rows: dict[str, list] = {name: [] for name in SCHEMA.names}
        self._steps = 0
        self._parts = 0

    def add(self, time_s: int, entity: str, quantity: str, value: float) -> None:
        self._rows["time_s"].append(time_s)
        self._rows["entity"].append(entity)
        self._rows["quantity"].append(quantity)
        self._rows["value"].append(float(value))

    def end_step(self) -> None:
        self._steps += 1
        if self._steps % self.flush_every == 0:
            self.flush()

    def flush(self) -> None:
        if not self._rows["time_s"]:
            return
        table = pa.table(self._rows, schema=SCHEMA)
        pq.write_table(table, self.folder / f"part-{self._parts:05d}.parquet")
        self._parts += 1
        self._rows = {name: [] for name in SCHEMA.names}


def read_timeseries(folder: Path) -> pd.DataFrame:
    """The tidy time series of a run folder's ``timeseries/`` dataset."""
    parts = sorted(Path(folder).glob("part-*.parquet"))
    return pd.concat([pq.read_table(p).to_pandas() for p in parts], ignore_index=True)


def wide(ts: pd.DataFrame, quantity: str, entities: list[str] | None = None) -> pd.DataFrame:
    """One quantity as a time x entity table."""
    sel = ts[ts.quantity == quantity]
    if entities is not None:
        sel = sel[sel.entity.isin(entities)]
    return sel.pivot(index="time_s", columns="entity", values="value")


def summarise(ts: pd.DataFrame, step_s: int, transformers: list[str],
              sites: list[str] = ()) -> dict:
    """KPIs of one run.

    Returns
    -------
    dict with ``min_voltage_pu``, ``max_voltage_pu``, ``min_voltage_bus``,
    ``hours_voltage_below_0_9`` (time any bus is below 0.9 p.u. [h]),
    ``max_transformer_loading_pct``, ``hours_transformer_over_100`` (over all
    transformers, [h]), per-transformer ``transformers`` {name: {peak_loading_pct,
    hours_over_100}}, ``ev_energy_delivered_kwh`` (battery side),
    ``ev_energy_unmet_kwh`` (shortfall to target SOC at departure) and per charging
    site ``sites`` {name: {ev_energy_delivered_kwh, ev_energy_unmet_kwh}} (battery
    side = meter power minus charger losses).
    """
    h = step_s / 3600.0
    vm = wide(ts, "vm_pu")
    loading = wide(ts, "loading_pct", transformers)
    battery = ts[ts.quantity == "battery_kw"].value.to_numpy()
    per_tx = {
        tx: {
            "peak_loading_pct": float(loading[tx].max()),
            "hours_over_100": float((loading[tx] > 100.0).sum() * h),
        }
        for tx in transformers
    }
    vmin = vm.min()
    return {
        "min_voltage_pu": float(vmin.min()),
        "min_voltage_bus": str(vmin.idxmin()),
        "max_voltage_pu": float(vm.max().max()),
        "hours_voltage_below_0_9": float((vm.min(axis=1) < 0.9).sum() * h),
        "max_transformer_loading_pct": float(loading.max().max()),
        "hours_transformer_over_100": float((loading > 100.0).any(axis=1).sum() * h),
        "transformers": per_tx,
        "ev_energy_delivered_kwh": float(np.clip(battery, 0, None).sum() * h),
        "ev_energy_unmet_kwh": float(ts[ts.quantity == "unmet_kwh"].value.sum()),
        "sites": {site: _site_energy(ts, site, h) for site in sites},
    }


def _site_energy(ts: pd.DataFrame, site: str, h: float) -> dict[str, float]:
    rows = ts[ts.entity == site]
    by = {q: rows[rows.quantity == q].set_index("time_s").value for q in ("p_kw", "losses_kw")}
    battery = (by["p_kw"] - by["losses_kw"]).clip(lower=0.0)
    return {
        "ev_energy_delivered_kwh": float(battery.sum() * h),
        "ev_energy_unmet_kwh": float(rows[rows.quantity == "unmet_kwh"].value.sum()),
    }


def write_json(path: Path, data: Mapping) -> None:
    Path(path).write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def save_figure(fig, path: Path) -> Path:
    """Write a matplotlib figure with time on the x axis as PNG and close it."""
    import matplotlib.pyplot as plt

    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_run(ts: pd.DataFrame, out: Path, transformers: list[str], start: pd.Timestamp) -> list[Path]:
    """PNG plots: transformer loading over time, voltage band and the worst bus."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def clock(index: pd.Index) -> pd.DatetimeIndex:
        return start + pd.to_timedelta(index, unit="s")

    paths = []
    loading = wide(ts, "loading_pct", transformers)
    fig, ax = plt.subplots(figsize=(9, 4))
    for tx in transformers:
        ax.plot(clock(loading.index), loading[tx], label=tx)
    ax.axhline(100, color="k", ls="--", lw=1, label="rating")
    ax.set_ylabel("transformer loading [%]")
    ax.legend(loc="upper left")
    paths.append(save_figure(fig, out / "transformer_loading.png"))

    vm = wide(ts, "vm_pu")
    worst = vm.min().idxmin()
    fig, ax = plt.subplots(figsize=(9, 4))
    t = clock(vm.index)
    ax.fill_between(t, vm.min(axis=1), vm.max(axis=1), alpha=0.3, label="all buses (min-max)")
    ax.plot(t, vm[worst], color="C3", label=f"worst bus {worst}")
    for limit in (0.9, 1.1):
        ax.axhline(limit, color="k", ls="--", lw=1)
    ax.set_ylabel("voltage [p.u.]")
    ax.legend(loc="lower left")
    paths.append(save_figure(fig, out / "voltage_band.png"))
    return paths
