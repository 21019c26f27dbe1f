"""KPIs, the agreement record and the plot of the capacity-sharing study (seed 004 4.2.1).

:func:`sharing_summary` writes ``agreements.jsonl`` (every protocol message sent, hash
chained, :mod:`flexcosim.agents.sharing.record`), ``sharing_periods.csv`` (one row per
unit and period: ``Φ_c``, demand, surplus/deficit, bought/sold, capacity, payments,
status) and ``sharing_units.png``, and returns the study's part of ``summary.json``.

A unit's draw is the sum of what is metered at its bus (site, buildings, PV negative,
battery, deferrable loads), each the recorder's interval value; the capacity it is
compared with is the one its EMS decided the interval under (``capacity_kw``,
time-shifted), both recorded for the interval ``[t, t + step)`` in the row stamped ``t``.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from flexcosim.agents.sharing.messages import Approval, Rejection, RejectOffer, ValidationRequest
from flexcosim.agents.sharing.record import RECORD_NAME
from flexcosim.cosim.plots import finish_figure, pyplot
from flexcosim.cosim.results import wide
from flexcosim.cosim.sharing import SharingStudy

#: A metered interval counts as above the unit's capacity beyond this [kW] (solver
#: tolerance and float sums; the metering is energy-exact).
METER_TOL_KW = 1e-3


def unit_power_kw(ts: pd.DataFrame, study: SharingStudy) -> pd.DataFrame:
    """Each unit's metered draw per interval [kW] (rows: the interval's start [s])."""
    out = {}
    for unit, meters in study.meters.items():
        parts = []
        for entity, quantity, sign in meters:
            sel = ts[(ts.entity == entity) & (ts.quantity == quantity)]
            parts.append(sign * sel.set_index("time_s").value)
        out[unit] = pd.concat(parts, axis=1).fillna(0.0).sum(axis=1)
    return pd.DataFrame(out).sort_index()


def unit_capacity_kw(ts: pd.DataFrame, study: SharingStudy) -> pd.DataFrame:
    """Each unit's capacity in force in the interval starting at the row's time [kW]."""
    return wide(ts, "capacity_kw", list(study.units)).sort_index()[list(study.units)]


def outcomes(study: SharingStudy) -> pd.DataFrame:
    """One row per unit and negotiated period (:class:`PeriodOutcome` fields)."""
    rows = [dataclasses.asdict(o) for role in study.unit_roles.values()
            for o in role.aggregator.outcomes()]
    return pd.DataFrame(rows)


def sharing_summary(ts: pd.DataFrame, study: SharingStudy, out: Path) -> dict:
    """The study's KPIs (see the module docstring); writes its files into ``out``."""
    record = out / RECORD_NAME
    record.unlink(missing_ok=True)  # a re-run into the folder starts a new chain
    entries = study.log.write(record)
    periods = outcomes(study)
    periods.to_csv(out / "sharing_periods.csv", index=False)
    power, capacity = unit_power_kw(ts, study), unit_capacity_kw(ts, study)
    h = study.step_s / 3600.0
    price = pd.Series(study.price_per_kwh, index=np.arange(len(study.price_per_kwh)) * study.step_s)
    evs = pd.read_csv(out / "evs.csv") if (out / "evs.csv").exists() else pd.DataFrame()
    loads_unmet = {name: load.unmet_kwh(study.duration_s) for name, load in study.loads.items()}
    messages = study.log.messages
    approved = [m.agreement for m in messages
                if isinstance(m, Approval) and m.receiver == m.agreement.consumer]
    units = {}
    for unit, spec in study.units.items():
        draw = power[unit]
        over = draw - capacity[unit].reindex(draw.index)
        mine = evs[evs.site == spec.site] if len(evs) else evs
        ev_unmet = float(mine.missing_kwh.sum()) if len(mine) else 0.0
        load_unmet = float(sum(loads_unmet[d.name] for d in spec.deferrable_loads))
        rows = periods[periods.unit == unit] if len(periods) else periods
        paid = float(rows.paid.sum()) if len(rows) else 0.0
        received = float(rows.received.sum()) if len(rows) else 0.0
        energy_cost = float((draw.clip(lower=0.0) * price.reindex(draw.index).fillna(0.0)).sum() * h)
        unmet_cost = study.spec.unmet_value_per_kwh * (ev_unmet + load_unmet)
        units[unit] = {
            "ev_delivered_kwh": float(mine.delivered_kwh.sum()) if len(mine) else 0.0,
            "ev_unmet_kwh": ev_unmet,
            "load_unmet_kwh": load_unmet,
            "peak_kw": float(draw.max()),
            "capacity_min_kw": float(capacity[unit].min()),
            "capacity_max_kw": float(capacity[unit].max()),
            "max_above_capacity_kw": float(over.max()),
            "intervals_above_capacity": int((over > METER_TOL_KW).sum()),
            "bought_kwh": float(sum(a.amount_kw for a in approved if a.consumer == unit)) * study.spec.period_s / 3600,
            "sold_kwh": float(sum(a.amount_kw for a in approved if a.provider == unit)) * study.spec.period_s / 3600,
            "paid": paid,
            "received": received,
            "energy_cost": energy_cost,
            "unmet_cost": unmet_cost,
            "net_cost": energy_cost + unmet_cost + paid - received,
            "periods_with_shortfall": int((rows.shortfall_kw > 0).sum()) if len(rows) else 0,
            "statuses": dict(Counter(rows.status)) if len(rows) else {},
        }
    fees = float(sum(a.service_fee for a in approved))
    compensation = float(sum(a.compensation for a in approved))
    paid_total = sum(u["paid"] for u in units.values())
    received_total = sum(u["received"] for u in units.values())
    kinds = Counter(type(m).__name__ for m in messages)
    summary = {
        "mode": study.spec.mode,
        "units": units,
        "agreements": {
            "proposed": sum(isinstance(m, ValidationRequest) for m in messages),
            "validated": len(approved),
            "rejected": sum(isinstance(m, Rejection) and m.receiver == m.agreement.consumer
                            for m in messages),
            "offers_declined_or_refused": sum(isinstance(m, RejectOffer) for m in messages),
            "energy_shared_kwh": float(sum(a.amount_kw for a in approved)) * study.spec.period_s / 3600,
        },
        "payments": {"paid_by_consumers": paid_total, "received_by_providers": received_total,
                     "dso_fees": fees, "compensation": compensation,
                     "balance": paid_total - received_total - fees},
        # by failing check and element, numbers left out ("bus 3 at x pu < x pu")
        "rejection_reasons": dict(Counter(re.sub(r"\d+\.\d+", "x", m.reason.split(" (")[0])
                                          for m in messages if isinstance(m, Rejection)
                                          and m.receiver == m.agreement.consumer)),
        "messages": dict(kinds),
        "record_entries": entries,
        "fallbacks": len(study.fallbacks),
    }
    plot_units(out, study, power, capacity, periods, approved)
    return summary


def plot_units(out: Path, study: SharingStudy, power: pd.DataFrame, capacity: pd.DataFrame,
               periods: pd.DataFrame, approved: list) -> Path:
    """Per unit: its capacity, its ``Φ_c`` and its metered draw over the day, with the
    periods it bought (^) or sold (v) capacity in approved agreements marked [kW]."""
    plt = pyplot()
    units = list(study.units)
    fig, axes = plt.subplots(len(units), 1, figsize=(10, 2.8 * len(units)), sharex=True,
                             squeeze=False)
    hours = lambda t: np.asarray(t) / 3600.0  # noqa: E731
    for ax, unit in zip(axes[:, 0], units):
        cap = capacity[unit]
        ax.step(hours(cap.index), cap, where="post", color="k", lw=1.2,
                label="capacity (Φ_c + agreements)")
        ax.step(hours(power.index), power[unit], where="post", label="metered draw")
        rows = periods[periods.unit == unit] if len(periods) else periods
        if len(rows):
            ax.step(hours(rows.period_start_s), rows.allocation_kw, where="post", ls=":",
                    color="grey", label="Φ_c (allocation)")
        for role, marker, color in (("consumer", "^", "tab:green"), ("provider", "v", "tab:red")):
            t = [a.period_start_s + study.spec.period_s / 2 for a in approved
                 if getattr(a, role) == unit]
            if t:
                ax.plot(hours(t), [cap.max() * 1.05] * len(t), marker, color=color, ls="",
                        label=f"agreement as {role}")
        ax.set_ylabel(f"{unit}\n[kW]")
    axes[-1, 0].set_xlabel("hours since start")
    return finish_figure(fig, axes[:, 0], f"capacity sharing ({study.spec.mode}): each unit's "
                         "capacity and draw", None, out / "sharing_units.png")
