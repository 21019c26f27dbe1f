"""Run outputs: tidy time series written while the run goes, and summary KPIs.

The time series is a Parquet dataset (a folder of part files, one per flush) with
columns ``time_s`` (int64, s since start), ``entity``, ``quantity`` and ``value``
(float64). Parts are written as the run produces them, so an interrupted run keeps
everything up to its last flush. A writer refuses a folder that already holds parts:
a new run's parts must never mix with an old run's.

Power flows that did not converge are recorded as NaN with ``converged`` 0; the
summary counts them, says over how many steps each KPI was computed and flags the run.
"""

from __future__ import annotations

import json
import math
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
        if any(self.folder.glob("part-*.parquet")):
            raise FileExistsError(f"{str(self.folder)!r} already holds time series parts of "
                                  "another run; a run needs an empty folder")
        self.flush_every = flush_every
        self._rows: dict[str, list] = {name: [] for name in SCHEMA.names}
        self._steps = 0
        self._parts = 0
        self._complete = 0  # buffered rows of completed steps
        self.last_time_s: int | None = None  # time of the last completed step [s since start]

    def add(self, time_s: int, entity: str, quantity: str, value: float) -> None:
        self._rows["time_s"].append(time_s)
        self._rows["entity"].append(entity)
        self._rows["quantity"].append(quantity)
        self._rows["value"].append(float(value))

    def end_step(self) -> None:
        self._steps += 1
        self._complete = len(self._rows["time_s"])
        if self._complete:
            self.last_time_s = int(self._rows["time_s"][-1])
        if self._steps % self.flush_every == 0:
            self.flush()

    def rollback(self) -> None:
        """Drop the rows of a step that was not completed (the run was interrupted in it)."""
        for column in self._rows.values():
            del column[self._complete:]

    def flush(self) -> None:
        if not self._rows["time_s"]:
            return
        table = pa.table(self._rows, schema=SCHEMA)
        pq.write_table(table, self.folder / f"part-{self._parts:05d}.parquet")
        self._parts += 1
        self._rows = {name: [] for name in SCHEMA.names}
        self._complete = 0


def read_timeseries(folder: Path) -> pd.DataFrame:
    """The tidy time series of a run folder's ``timeseries/`` dataset."""
    parts = sorted(Path(folder).glob("part-*.parquet"))
    if not parts:
        return SCHEMA.empty_table().to_pandas()
    return pd.concat([pq.read_table(p).to_pandas() for p in parts], ignore_index=True)


def wide(ts: pd.DataFrame, quantity: str, entities: list[str] | None = None) -> pd.DataFrame:
    """One quantity as a time x entity table."""
    sel = ts[ts.quantity == quantity]
    if entities is not None:
        sel = sel[sel.entity.isin(entities)]
    return sel.pivot(index="time_s", columns="entity", values="value")


def summarise(ts: pd.DataFrame, step_s: int, transformers: list[str],
              sites: list[str] = (), until_s: int | None = None, from_s: int = 0) -> dict:
    """KPIs of one run.

    Grid KPIs (voltages, loading) are over the steps whose power flow converged;
    energy KPIs over every recorded step. ``ts`` holds the steps from ``from_s`` (the end
    of the warm-up) on; ``until_s`` [s since start] is how far the run got; steps missing
    between the two are counted as not recorded.

    Returns
    -------
    dict with ``min_voltage_pu``, ``max_voltage_pu``, ``min_voltage_bus``,
    ``hours_voltage_below_0_9`` (time any bus is below 0.9 p.u. [h]),
    ``max_transformer_loading_pct``, ``hours_transformer_over_100`` (over all
    transformers, [h]), per-transformer ``transformers`` {name: {peak_loading_pct,
    hours_over_100}}, ``ev_energy_delivered_kwh`` (battery side),
    ``ev_energy_unmet_kwh`` (shortfall to target SOC at departure), per charging
    site ``sites`` {name: {ev_energy_delivered_kwh, ev_energy_unmet_kwh}} (battery
    side = meter power minus charger losses), ``steps`` {expected, recorded,
    power_flow_converged, power_flow_not_converged, first_not_converged_s} [-, s] and
    ``flags`` (one sentence per reason to distrust the KPIs; empty if none). A KPI
    without data (no converged step) is NaN (``null`` in ``summary.json``).
    """
    h = step_s / 3600.0
    converged = ts[ts.quantity == "converged"].set_index("time_s").value
    good = converged.index[converged > 0.5]
    bad = converged.index[~(converged > 0.5)]
    vm = wide(ts, "vm_pu")
    vm = vm[vm.index.isin(good)]
    loading = wide(ts, "loading_pct", transformers).reindex(columns=transformers)
    loading = loading[loading.index.isin(good)]
    battery = ts[ts.quantity == "battery_kw"].value.to_numpy()
    per_tx = {
        tx: {
            "peak_loading_pct": _max(loading[tx]),
            "hours_over_100": float((loading[tx] > 100.0).sum() * h),
        }
        for tx in transformers
    }
    vmin = vm.min()
    recorded = int(ts.time_s.nunique())
    expected = recorded if until_s is None else max(until_s - from_s, 0) // step_s
    steps = {"expected": expected, "recorded": recorded,
             "power_flow_converged": int(good.size), "power_flow_not_converged": int(bad.size),
             "first_not_converged_s": int(bad.min()) if bad.size else None}
    flags = []
    if bad.size:
        flags.append(f"power flow did not converge at {bad.size} of {recorded} steps "
                     f"({bad.size * h:g} h, first at t={int(bad.min())} s); voltage and loading "
                     f"KPIs are over the {good.size} converged steps")
    if recorded < expected:
        flags.append(f"{expected - recorded} of {expected} steps have no recorded data")
    return {
        "min_voltage_pu": _min(vmin),
        "min_voltage_bus": str(vmin.idxmin()) if vmin.notna().any() else None,
        "max_voltage_pu": _max(vm.max()),
        "hours_voltage_below_0_9": float((vm.min(axis=1) < 0.9).sum() * h),
        "max_transformer_loading_pct": _max(loading.max()),
        "hours_transformer_over_100": float((loading > 100.0).any(axis=1).sum() * h),
        "transformers": per_tx,
        "ev_energy_delivered_kwh": float(np.clip(battery, 0, None).sum() * h),
        "ev_energy_unmet_kwh": float(ts[ts.quantity == "unmet_kwh"].value.sum()),
        "sites": {site: _site_energy(ts, site, h) for site in sites},
        "steps": steps,
        "flags": flags,
    }


def _max(values: pd.Series) -> float:
    """Largest non-NaN value, NaN if there is none (no warning, no error)."""
    values = values.dropna()
    return float(values.max()) if len(values) else math.nan


def _min(values: pd.Series) -> float:
    values = values.dropna()
    return float(values.min()) if len(values) else math.nan


def _site_energy(ts: pd.DataFrame, site: str, h: float) -> dict[str, float]:
    rows = ts[ts.entity == site]
    by = {q: rows[rows.quantity == q].set_index("time_s").value for q in ("p_kw", "losses_kw")}
    battery = (by["p_kw"] - by["losses_kw"]).clip(lower=0.0)
    return {
        "ev_energy_delivered_kwh": float(battery.sum() * h),
        "ev_energy_unmet_kwh": float(rows[rows.quantity == "unmet_kwh"].value.sum()),
    }


def write_json(path: Path, data: Mapping) -> None:
    Path(path).write_text(to_json(data) + "\n")


def to_json(data: object) -> str:
    """Strict JSON (RFC 8259): ``inf``/``nan`` become ``null``, other objects their ``str``."""
    return json.dumps(json_safe(data), indent=2, sort_keys=True, allow_nan=False, default=str)


def json_safe(value: object) -> object:
    """``value`` with numpy scalars as Python numbers, non-finite floats as ``None`` and
    containers as dicts and lists: what strict JSON can hold."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v) for v in value]
    return value
