"""Charging sessions from data: arrival, departure and energy of real or exported visits.

Users of ACN-Data, ElaadNL-style open data or their own CPO back-office export have
sessions, not trips. Two readers turn such files into :class:`ChargingSession` records
on the scenario's clock (seconds since the scenario start):

* :func:`read_sessions_csv` — one row per session, columns:

  ====================  ========================================================  ========
  column                meaning                                                   required
  ====================  ========================================================  ========
  ``arrival``           plug-in time, ISO 8601 (an offset, or local time of the     yes
                        scenario's time zone)
  ``departure``         plug-out time, same format                                 yes
  ``energy_kwh``        energy the driver wants (or got), battery side [kWh]       one of
  ``arrival_soc``,      SOC at plug-in and wanted at plug-out [-]                  these two
  ``target_soc``
  ``battery_kwh``       battery capacity [kWh]                                     no
  ``max_power_kw``      on-board charge limit [kW]                                 no
  ``ev``                vehicle or session id                                      no
  ``site``              site the session happened at                               no
  ====================  ========================================================  ========

* :func:`read_acn_json` — the JSON export of the ACN-Data API (``{"_items": [...]}``),
  mapping ``connectionTime`` -> arrival, ``disconnectTime`` -> departure,
  ``kWhDelivered`` (or the driver's last ``userInputs[].kWhRequested`` when
  ``requested=True``) -> energy, ``sessionID`` -> ev, ``siteID`` -> site.

ACN-Data and most exports carry no battery size or SOC. Where they are missing the
readers use ``battery_kwh`` and ``max_power_kw`` given by the caller (defaults 60 kWh,
11 kW) and set the target SOC to ``target_soc`` (default 0.9) and the arrival SOC so that
the session's energy fills the gap, ``arrival_soc = target_soc - energy / battery``
(never below 0; a session wanting more than ``target_soc x battery`` is counted in
:attr:`SessionTable.energy_capped`). Sessions that do not lie wholly inside the
scenario's period are left out and counted in :attr:`SessionTable.outside_period`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

#: Battery size [kWh] and charge limit [kW] used where a session file has none.
DEFAULT_BATTERY_KWH = 60.0
DEFAULT_MAX_POWER_KW = 11.0
DEFAULT_TARGET_SOC = 0.9


@dataclass(frozen=True)
class ChargingSession:
    """One EV's stay on a charger.

    Attributes
    ----------
    ev : vehicle or session id
    arrival_s, departure_s : plug-in and plug-out [s since the scenario start]
    battery_kwh : battery capacity [kWh]
    max_power_kw : on-board charge limit [kW]
    arrival_soc, target_soc : SOC at plug-in and wanted at plug-out [-]
    site : site of the session in the data, ``None`` if the file has none
    """

    ev: str
    arrival_s: int
    departure_s: int
    battery_kwh: float
    max_power_kw: float
    arrival_soc: float
    target_soc: float
    site: str | None = None

    @property
    def energy_kwh(self) -> float:
        """Energy wanted, battery side [kWh]."""
        return (self.target_soc - self.arrival_soc) * self.battery_kwh


@dataclass(frozen=True)
class SessionTable:
    """Sessions read from one file, with what was left out and why."""

    sessions: tuple[ChargingSession, ...]
    outside_period: int  # sessions not wholly inside the scenario's period
    energy_capped: int  # sessions whose energy was more than target_soc x battery


def read_sessions_csv(path: str | Path, start: pd.Timestamp, duration_s: int,
                      battery_kwh: float = DEFAULT_BATTERY_KWH,
                      max_power_kw: float = DEFAULT_MAX_POWER_KW,
                      target_soc: float = DEFAULT_TARGET_SOC) -> SessionTable:
    """Sessions of a CSV file (columns in the module docstring) on the scenario clock.

    Parameters
    ----------
    path : the CSV file
    start : scenario start, time-zone aware
    duration_s : scenario length [s]
    battery_kwh, max_power_kw, target_soc : used where the file has no such column

    Raises
    ------
    ValueError
        a missing column, an unreadable time or number, or departure before arrival;
        the message names the file, the row and the column.
    """
    path = Path(path)
    frame = pd.read_csv(path)
    where = path.name
    for column in ("arrival", "departure"):
        if column not in frame.columns:
            raise ValueError(f"{where}: column {column!r} is missing; columns: {list(frame.columns)}")
    has_soc = {"arrival_soc", "target_soc"} <= set(frame.columns)
    if "energy_kwh" not in frame.columns and not has_soc:
        raise ValueError(f"{where}: need column 'energy_kwh' or columns 'arrival_soc' and "
                         f"'target_soc'; columns: {list(frame.columns)}")
    n = len(frame)
    battery = _numbers(frame, "battery_kwh", where, battery_kwh)
    sessions = pd.DataFrame({
        "ev": frame["ev"].astype(str) if "ev" in frame else [f"session_{k:04d}" for k in range(n)],
        "arrival": _times(frame["arrival"], start, where, "arrival"),
        "departure": _times(frame["departure"], start, where, "departure"),
        "battery_kwh": battery,
        "max_power_kw": _numbers(frame, "max_power_kw", where, max_power_kw),
        "site": frame["site"].astype(str) if "site" in frame else None,
    })
    if has_soc:
        sessions["arrival_soc"] = _numbers(frame, "arrival_soc", where, None)
        sessions["target_soc"] = _numbers(frame, "target_soc", where, None)
    else:
        sessions["energy_kwh"] = _numbers(frame, "energy_kwh", where, None)
    return _table(sessions, start, duration_s, target_soc, where)


def read_acn_json(path: str | Path, start: pd.Timestamp, duration_s: int,
                  battery_kwh: float = DEFAULT_BATTERY_KWH,
                  max_power_kw: float = DEFAULT_MAX_POWER_KW,
                  target_soc: float = DEFAULT_TARGET_SOC, requested: bool = False) -> SessionTable:
    """Sessions of an ACN-Data API JSON export on the scenario clock.

    Parameters
    ----------
    requested : take the energy the driver asked for (last ``userInputs`` entry's
        ``kWhRequested``) instead of ``kWhDelivered``; sessions without user input then
        fall back to ``kWhDelivered``
    (the others as in :func:`read_sessions_csv`)
    """
    path = Path(path)
    where = path.name
    try:
        items = json.loads(path.read_text())["_items"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f"{where}: not an ACN-Data export (a JSON object with '_items'): {exc}") from None
    rows = []
    for k, item in enumerate(items):
        energy = item.get("kWhDelivered")
        inputs = item.get("userInputs") or []
        if requested and inputs and inputs[-1].get("kWhRequested") is not None:
            energy = inputs[-1]["kWhRequested"]
        rows.append({"ev": str(item.get("sessionID", item.get("_id", f"session_{k:04d}"))),
                     "arrival": item.get("connectionTime"), "departure": item.get("disconnectTime"),
                     "energy_kwh": energy, "site": item.get("siteID")})
    frame = pd.DataFrame(rows, columns=["ev", "arrival", "departure", "energy_kwh", "site"])
    sessions = pd.DataFrame({
        "ev": frame["ev"],
        "arrival": _times(frame["arrival"], start, where, "connectionTime", utc=True),
        "departure": _times(frame["departure"], start, where, "disconnectTime", utc=True),
        "battery_kwh": battery_kwh,
        "max_power_kw": max_power_kw,
        "site": frame["site"],
        "energy_kwh": _numbers(frame, "energy_kwh", where, None, column_name="kWhDelivered"),
    })
    return _table(sessions, start, duration_s, target_soc, where)


def _times(values: pd.Series, start: pd.Timestamp, where: str, name: str,
           utc: bool = False) -> np.ndarray:
    """Timestamps -> seconds since ``start``; naive times are read in the start's time zone
    (in UTC with ``utc=True``, as ACN-Data's RFC 1123 "... GMT" strings must be)."""
    out = np.empty(len(values), dtype=np.int64)
    for row, value in enumerate(values):
        t = pd.to_datetime(value, errors="coerce", utc=utc)
        if pd.isna(t):
            raise ValueError(f"{where}, row {row + 1}, column {name!r}: {value!r} is not a time")
        t = t.tz_localize(start.tz) if t.tzinfo is None else t
        out[row] = round((t - start).total_seconds())
    return out


def _numbers(frame: pd.DataFrame, column: str, where: str, default: float | None,
             column_name: str | None = None) -> np.ndarray:
    if column not in frame.columns:
        return np.full(len(frame), float(default))
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(values) | (values < 0))
    if bad.size:
        raise ValueError(f"{where}, row {bad[0] + 1}, column {column_name or column!r}: "
                         f"{frame[column].iloc[bad[0]]!r}; allowed: a number >= 0")
    return values


def _table(s: pd.DataFrame, start: pd.Timestamp, duration_s: int, target_soc: float,
           where: str) -> SessionTable:
    backwards = np.flatnonzero(s["departure"].to_numpy() <= s["arrival"].to_numpy())
    if backwards.size:
        raise ValueError(f"{where}, row {backwards[0] + 1}: departure is not after arrival")
    for column in ("battery_kwh", "max_power_kw"):
        bad = np.flatnonzero(s[column].to_numpy() <= 0)
        if bad.size:
            raise ValueError(f"{where}, row {bad[0] + 1}, column {column!r}: "
                             f"{s[column].iloc[bad[0]]!r}; allowed: > 0")
    capped = 0
    if "energy_kwh" in s:
        wanted = s["energy_kwh"] / s["battery_kwh"]
        capped = int((wanted > target_soc).sum())
        s["target_soc"] = target_soc
        s["arrival_soc"] = np.maximum(target_soc - wanted, 0.0)
    bad = np.flatnonzero((s["target_soc"] > 1) | (s["arrival_soc"] > s["target_soc"]))
    if bad.size:
        raise ValueError(f"{where}, row {bad[0] + 1}: arrival_soc {s['arrival_soc'].iloc[bad[0]]!r}, "
                         f"target_soc {s['target_soc'].iloc[bad[0]]!r}; allowed: "
                         "0 <= arrival_soc <= target_soc <= 1")
    inside = (s["arrival"] >= 0) & (s["departure"] <= duration_s)
    sessions = tuple(
        ChargingSession(ev=r.ev, arrival_s=int(r.arrival), departure_s=int(r.departure),
                        battery_kwh=float(r.battery_kwh), max_power_kw=float(r.max_power_kw),
                        arrival_soc=float(r.arrival_soc), target_soc=float(r.target_soc),
                        site=None if r.site is None or pd.isna(r.site) else str(r.site))
        for r in s[inside].itertuples()
    )
    return SessionTable(sessions, outside_period=int((~inside).sum()), energy_capped=capped)
