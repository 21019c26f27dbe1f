"""Non-EV load of a building: measured (CSV) or synthetic, as a time series.

The synthetic shapes are hourly factors of their daily maximum computed from SimBench
standard load profiles through the ``simbench`` package
(:mod:`flexcosim.cosim.models.building_shapes`: year 2016, 15-min data, mean per hour of
day, divided by the workday maximum):

* household: profile ``H0-B`` of net ``1-LV-rural1--0-sw``, Monday-Friday. Night base
  0.27 at 04:00, morning bump 0.82 at 07:00-08:00, midday plateau ~0.8, evening peak
  1.0 at 20:00.
* office/campus: profile ``G0-A`` (general business) of net ``1-MV-comm--0-sw``;
  workdays rise from 0.34 at night to a 09:00-11:00 plateau of 1.0 and fall after
  18:00, the shape of the UCD building loads in seed 004 Fig. 6; weekends stay near 0.3-0.57.

Between the hourly points the shape is interpolated linearly (periodic over the day).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from flexcosim.cosim.models.building_shapes import shape as simbench_shape
from flexcosim.cosim.models.noise import ar1


def _check_power_factor(power_factor: float, owner: str) -> None:
    if not 0 < power_factor <= 1:
        raise ValueError(
            f"{owner} power_factor: {power_factor!r} is not allowed; need 0 < power_factor <= 1"
        )


# eq=False: the array field has no single truth value; compare by identity
@dataclass(frozen=True, eq=False)
class LoadProfile:
    """A time series of non-EV active load, with reactive power from a fixed power factor.

    Attributes
    ----------
    p_kw : (n,) mean active power of each interval [kW], >= 0
    resolution_s : interval length [s]; value ``k`` holds on
        ``[start_s + k res, start_s + (k+1) res)``
    power_factor : cos(phi) in (0, 1], lagging (q >= 0)
    start_s : time of the first value on the profile's clock [s] (a measured profile
        aligned to the scenario: seconds after midnight of the start day)
    """

    p_kw: np.ndarray
    resolution_s: int
    power_factor: float = 1.0
    start_s: int = 0

    def __post_init__(self) -> None:
        p = np.array(self.p_kw, dtype=float)
        if p.ndim != 1 or p.size == 0:
            raise ValueError(
                f"LoadProfile.p_kw: shape {p.shape} is not allowed; need a non-empty 1-D series [kW]"
            )
        bad = np.flatnonzero(~np.isfinite(p) | (p < 0))
        if bad.size:
            raise ValueError(
                f"LoadProfile.p_kw[{bad[0]}]: {float(p[bad[0]])!r} is not allowed; need finite >= 0 [kW]"
            )
        if int(self.resolution_s) != self.resolution_s or self.resolution_s <= 0:
            raise ValueError(
                f"LoadProfile.resolution_s: {self.resolution_s!r} is not allowed; need an integer > 0 [s]"
            )
        _check_power_factor(self.power_factor, "LoadProfile")
        p.setflags(write=False)
        object.__setattr__(self, "p_kw", p)
        object.__setattr__(self, "resolution_s", int(self.resolution_s))

    def at(self, t_s: int) -> tuple[float, float]:
        """(p_kw, q_kvar) of the interval containing ``t_s`` [s]; wraps around at the end."""
        p = float(self.p_kw[((int(t_s) - self.start_s) // self.resolution_s) % self.p_kw.size])
        return p, p * math.tan(math.acos(self.power_factor))


def load_profile_csv(
    path: str | Path,
    column: str | None = None,
    resolution_s: int | None = None,
    power_factor: float = 1.0,
    time_column: str | None = None,
    clock: tuple[pd.Timestamp, int] | None = None,
    scale: float = 1.0,
) -> LoadProfile:
    """Read a measured load series [kW] from a CSV file.

    Parameters
    ----------
    path : CSV file with a header row, or in mosaik-csv's format: a first line holding
        only the model name (e.g. ``Building``), then the header row; its column names
        may carry ``# comments`` and its timestamps no UTC offset (they are then read in
        the scenario start's UTC offset)
    column : the load column; may be omitted when there is exactly one data column
    resolution_s : interval length [s]; needed when there is no time column, checked
        against the timestamps otherwise
    power_factor : cos(phi) for the reactive power (lagging)
    time_column : column of ISO timestamps; if ``None`` the first column is used when
        every entry parses as a timestamp, else the rows are taken as consecutive intervals
    clock : ``(start, duration_s)`` of a scenario: the rows are placed by their
        timestamps, which then need a UTC offset, and must cover ``[start, start +
        duration_s)``; the profile's clock (``at``) is seconds after midnight of the start
        day in the start's UTC offset
    scale : factor from the column's unit to kW, e.g. 0.001 for W [-]

    Timestamps must be strictly increasing and evenly spaced (a gap is an error that names
    the row); values must be finite and >= 0.
    """
    path = Path(path)
    with open(path) as f:  # mosaik-csv: a model-name line, then a header of 2+ columns
        mosaik_csv = "," not in f.readline() and "," in f.readline()
    frame = pd.read_csv(path, skiprows=1 if mosaik_csv else 0)
    if mosaik_csv:
        frame.columns = [str(c).split("#")[0].strip() for c in frame.columns]
    where = f"{path.name}"
    if time_column is not None and time_column not in frame.columns:
        raise ValueError(
            f"{where}: time column {time_column!r} not found; columns: {list(frame.columns)}"
        )
    if time_column is None and len(frame.columns) > 1 and frame.columns[0] != column:
        first = frame.columns[0]
        parsed = pd.to_datetime(frame[first], errors="coerce", format="ISO8601", utc=True)
        if parsed.notna().all() and not pd.api.types.is_numeric_dtype(frame[first]):
            time_column = first
    data_columns = [c for c in frame.columns if c != time_column]
    if column is None:
        if len(data_columns) != 1:
            raise ValueError(
                f"{where}: {len(data_columns)} data columns {data_columns}; name the kW one with column="
            )
        column = data_columns[0]
    if column not in frame.columns:
        raise ValueError(f"{where}: column {column!r} not found; columns: {list(frame.columns)}")
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise ValueError(
            f"{where}, column {column!r}, data row {bad[0] + 1}: {frame[column].iloc[bad[0]]!r} is not a number"
        )
    bad = np.flatnonzero(values < 0)
    if bad.size:
        raise ValueError(
            f"{where}, column {column!r}, data row {bad[0] + 1}: {float(values[bad[0]])!r} kW is negative; need >= 0"
        )
    start_s = 0
    if time_column is not None:
        step_s = _timestamp_step_s(frame[time_column], where, time_column)
        if resolution_s is not None and resolution_s != step_s:
            raise ValueError(
                f"{where}: resolution_s={resolution_s} but the timestamps are {step_s} s apart"
            )
        resolution_s = step_s
        if clock is not None:
            start_s = _aligned_start_s(frame[time_column], step_s, clock, where, mosaik_csv)
    elif clock is not None:
        raise ValueError(f"{where}: no time column; a scenario's profile needs ISO timestamps "
                         "with UTC offset in its first column")
    if resolution_s is None:
        raise ValueError(f"{where}: no time column, so resolution_s [s] must be given")
    _check_power_factor(power_factor, where)
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"{where}: scale {scale!r} is not allowed; need > 0")
    return LoadProfile(p_kw=values * scale, resolution_s=resolution_s, power_factor=power_factor,
                       start_s=start_s)


def _aligned_start_s(times: pd.Series, step_s: int, clock: tuple[pd.Timestamp, int],
                     where: str, naive_local: bool = False) -> int:
    """Seconds from midnight of the scenario's start day to the first row; checks coverage.
    ``naive_local``: timestamps without UTC offset are in the start's offset (mosaik-csv)."""
    start, duration_s = pd.Timestamp(clock[0]), int(clock[1])
    first_text = str(times.iloc[0])
    if pd.Timestamp(first_text).tzinfo is None:
        if not naive_local:
            raise ValueError(f"{where}: timestamp {first_text!r} has no UTC offset; write e.g. "
                             f"{start.isoformat()} so the rows can be placed on the scenario's clock")
        t = pd.to_datetime(times, format="ISO8601").dt.tz_localize(start.tzinfo).dt.tz_convert("UTC")
    else:
        t = pd.to_datetime(times, utc=True, format="ISO8601")
    first, end = t.iloc[0], t.iloc[-1] + pd.Timedelta(seconds=step_s)
    needed_end = start + pd.Timedelta(seconds=duration_s)
    if first > start or end < needed_end:
        tz = start.tzinfo
        raise ValueError(
            f"{where}: covers {first.tz_convert(tz).isoformat()} to {end.tz_convert(tz).isoformat()}; "
            f"the scenario needs {start.isoformat()} to {needed_end.isoformat()}")
    return int((first - start.normalize()).total_seconds())


def _timestamp_step_s(times: pd.Series, where: str, name: str) -> int:
    t = pd.to_datetime(times, errors="coerce", format="ISO8601", utc=True)
    if t.isna().any():
        row = int(np.flatnonzero(t.isna().to_numpy())[0])
        raise ValueError(
            f"{where}, column {name!r}, data row {row + 1}: {times.iloc[row]!r} is not an ISO timestamp"
        )
    if len(t) < 2:
        raise ValueError(f"{where}: need at least two timestamps to know the resolution")
    diffs = np.diff((t - t.iloc[0]).dt.total_seconds().to_numpy()).astype(np.int64)
    step = int(diffs[0])
    if step <= 0:
        raise ValueError(
            f"{where}, column {name!r}: timestamps must increase; rows 1 and 2 are {step} s apart"
        )
    bad = np.flatnonzero(diffs != step)
    if bad.size:
        k = int(bad[0])
        raise ValueError(
            f"{where}, column {name!r}: gap or irregular step between data rows {k + 1} and {k + 2} "
            f"({times.iloc[k]} -> {times.iloc[k + 1]}); need an even {step} s step"
        )
    return step


def _daily_shape(hourly: np.ndarray, resolution_s: int) -> np.ndarray:
    """Hourly factors -> one day at ``resolution_s``, sampled at interval midpoints."""
    if int(resolution_s) != resolution_s or resolution_s <= 0 or 86_400 % resolution_s:
        raise ValueError(
            f"resolution_s: {resolution_s!r} is not allowed; need an integer > 0 dividing 86400 [s]"
        )
    mid_h = (np.arange(86_400 // resolution_s) + 0.5) * resolution_s / 3600
    # hourly means sit at the half hour; np.interp with period wraps midnight
    return np.interp(mid_h, np.arange(24) + 0.5, hourly, period=24)


def _noisy(
    shape: np.ndarray, peak_kw: float, days: int, rng: np.random.Generator, noise_sd: float
) -> np.ndarray:
    """Tile a daily shape and multiply by mean-one AR(1) noise (1-h correlation time)."""
    if not (math.isfinite(peak_kw) and peak_kw > 0):
        raise ValueError(f"peak_kw: {peak_kw!r} is not allowed; need > 0 [kW]")
    if int(days) != days or days <= 0:
        raise ValueError(f"days: {days!r} is not allowed; need an integer > 0")
    base = np.tile(shape, int(days)) * peak_kw
    return base * np.maximum(1.0 + noise_sd * ar1(base.size, 86_400 / shape.size, 3600.0, rng), 0.0)


def household_shape(resolution_s: int) -> np.ndarray:
    """Noise-free household day at ``resolution_s`` [s], peak 1 (the expected load / peak_kw)."""
    return _daily_shape(simbench_shape("household_workday"), resolution_s)


def synthetic_household(
    peak_kw: float,
    resolution_s: int,
    days: int,
    rng: np.random.Generator,
    power_factor: float = 0.97,
) -> LoadProfile:
    """Residential load: SimBench H0-B workday shape (module docstring) with seeded noise.

    The noise-free shape peaks at ``peak_kw`` [kW] (20:00); each household has its own
    mean-one multiplicative AR(1) noise with 20 % standard deviation and a 1-h correlation
    time (invented values: a single household is far spikier than the H0 average), so the
    expected load at every instant equals the shape.
    """
    shape = household_shape(resolution_s)
    return LoadProfile(_noisy(shape, peak_kw, days, rng, 0.20), resolution_s, power_factor)


def synthetic_office(
    peak_kw: float,
    resolution_s: int,
    days: int,
    rng: np.random.Generator,
    power_factor: float = 1.0,
    weekday: bool = True,
) -> LoadProfile:
    """Office/campus building: SimBench G0-A shape (module docstring) with seeded noise.

    ``peak_kw`` [kW] is the noise-free workday maximum; ``weekday=False`` gives the weekend
    shape on the same scale. Noise: mean-one AR(1), 5 % standard deviation, 1-h
    correlation (invented: a campus building aggregates many consumers).
    """
    shape = _daily_shape(
        simbench_shape("office_workday" if weekday else "office_weekend"), resolution_s)
    return LoadProfile(_noisy(shape, peak_kw, days, rng, 0.05), resolution_s, power_factor)
