"""Daily building-load shapes from SimBench standard load profiles, through ``simbench``.

Each shape holds 24 hourly factors [-]: the mean of a SimBench profile's active power in
every hour of the day over its year (2016, 15-min data), divided by the maximum of the
workday (Monday-Friday) hourly means:

* ``household_workday``: profile ``H0-B`` of net ``1-LV-rural1--0-sw``, Monday-Friday;
* ``office_workday`` / ``office_weekend``: profile ``G0-A`` (general business) of net
  ``1-MV-comm--0-sw``, Monday-Friday / Saturday-Sunday (on the workday scale).

Loading the two SimBench nets takes ~7 s CPU, so the shapes ship as a small generated file,
``building_shapes.csv`` beside this module, read once per process (:func:`shape`);
``python -m flexcosim.cosim.models.building_shapes`` regenerates it from simbench and a
slow test checks that the file equals what simbench gives. The file keeps
:data:`DECIMALS` decimals: the precision every shipped study was measured with; at full
precision the factors differ by less than 0.005.
"""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

#: shape name -> (SimBench net, profile, days of the week averaged: Monday = 0)
SOURCES = {
    "household_workday": ("1-LV-rural1--0-sw", "H0-B", range(0, 5)),
    "office_workday": ("1-MV-comm--0-sw", "G0-A", range(0, 5)),
    "office_weekend": ("1-MV-comm--0-sw", "G0-A", range(5, 7)),
}
#: decimals kept in the shipped file (see module docstring)
DECIMALS = 2
SHAPES_FILE = Path(__file__).with_name("building_shapes.csv")


def _hourly_mean(profiles: pd.DataFrame, profile: str, days: range) -> pd.Series:
    """Mean active power [per unit of the profile] by hour of day over the samples of
    ``days`` (days of the week, Monday = 0) of one SimBench profile."""
    t = pd.to_datetime(profiles["time"], format="%d.%m.%Y %H:%M")
    p = pd.Series(profiles[f"{profile}_pload"].to_numpy(), index=t)
    p = p[p.index.dayofweek.isin(list(days))]
    return p.groupby(p.index.hour).mean()


def compute_shapes() -> pd.DataFrame:
    """The shapes at full precision, from the SimBench nets (needs the ``simbench`` package).

    Returns
    -------
    DataFrame indexed by hour of day 0-23, one column per shape in :data:`SOURCES` [-].
    """
    import simbench as sb

    nets: dict[str, pd.DataFrame] = {}
    out = {}
    for name, (net, profile, days) in SOURCES.items():
        if net not in nets:
            nets[net] = sb.get_simbench_net(net).profiles["load"]
        workday_max = _hourly_mean(nets[net], profile, range(0, 5)).max()
        out[name] = _hourly_mean(nets[net], profile, days) / workday_max
    frame = pd.DataFrame(out)
    frame.index.name = "hour"
    return frame


@lru_cache(maxsize=None)
def _shipped() -> pd.DataFrame:
    return pd.read_csv(SHAPES_FILE, index_col="hour")


def shape(name: str) -> np.ndarray:
    """24 hourly factors [-] of shape ``name`` (a key of :data:`SOURCES`), from the shipped file."""
    return _shipped()[name].to_numpy()


def main() -> None:
    """Write the shapes from simbench to ``building_shapes.csv`` (or the path given)."""
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else SHAPES_FILE
    compute_shapes().round(DECIMALS).to_csv(path, float_format=f"%.{DECIMALS}f")


if __name__ == "__main__":
    main()
