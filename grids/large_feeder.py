"""A ~900-bus radial MV/LV feeder from SimBench, the stand-in for seed 002's Norwegian grid.

Seed 002 studies a real 22 kV / 230 V grid of 974 buses, 856 consumers and 32 MV/LV
transformers, which is not public. This builder cuts a comparable piece out of the
SimBench grid ``1-MVLV-rural-all-0-sw`` (the rural 20 kV grid ``MV1.101`` with all its
0.4 kV grids attached; data ship with the ``simbench`` package): the HV/MV substation
with one 25 MVA transformer, and the MV feeders named in ``feeders`` with every LV grid
they supply. The default, feeder 4, has 890 buses, 905 loads on 851 load points (seed
002: 856 consumers), 10 MV/LV transformers and the cables and overhead lines of the
SimBench rural types.

The cut is radial: the second HV/MV transformer and the busbar coupler are removed,
loop lines stay open (SimBench opens them with load-break switches), and every bus not
fed through the chosen feeders is dropped. Load and PV profiles are SimBench's
quarter-hourly standard profiles (``load_profiles``).

Heating base load (seed 002 section 5.1): seed 002's base load is a Norwegian winter day
of homes with electric heating; its base-load case loads the most loaded line/transformer
to 89 % (Table 3) with a minimum voltage of 0.93 pu. SimBench's household profiles
(``H0-A`` .. ``H0-L``) are German homes without electric heating, which leave this feeder
at 25 % (AC peak loading, 1-2 Feb). ``load_profiles(..., heating_scale=s)`` therefore gives every
household load SimBench's profile of a household *with* electric heating, ``H0-H``
(shipped in the package's complete data set, not in the MV1.101 grid), times ``s`` times
the load's SimBench rating; commercial and agricultural loads and PV keep their own
profiles. :func:`calibrate_heating_scale` finds the ``s`` at which the AC base-load case
reaches a wanted peak loading; ``HEATING_SCALE`` is its result for the default feeder
and the seed-002 window (command and measured numbers in docs/bench-grid-optim.md).
"""

from __future__ import annotations

import copy
import os
import pickle
from functools import lru_cache
from pathlib import Path

import networkx as nx
import numpy as np
import pandapower as pp
import pandapower.topology as top
import pandas as pd
import simbench as sb
from pandapower.auxiliary import pandapowerNet
from pandapower.toolbox import drop_buses

from flexcosim.grids.network import GridNetwork, farthest_bus
from flexcosim.grids.simbench_feeder import _load

SIMBENCH_CODE = "1-MVLV-rural-all-0-sw"
FEEDER_PREFIX = "MV1.101_Feeder"
#: Quarter-hours per SimBench profile year (2016 data, 366 days).
STEPS_PER_YEAR = 35136
#: SimBench household profiles (no electric heating) and the one with electric heating.
HOUSEHOLD_PROFILES = ("H0-A", "H0-B", "H0-C", "H0-G", "H0-L")
HEATING_PROFILE = "H0-H"
#: Seed 002 Table 3, "Base-load": max line/transformer loading [-] of the base-load case.
SEED_BASE_LOAD_PEAK_LOADING = 0.89
#: Seed-002 window: 1 Feb 12:00 (quarter-hour of the SimBench profile year) + 96 steps.
SEED_WINDOW = (31 * 96 + 48, 96)
#: ``heating_scale`` that brings the default feeder's AC base-load peak over ``SEED_WINDOW``
#: to ``SEED_BASE_LOAD_PEAK_LOADING``; measured with :func:`calibrate_heating_scale`
#: (tests/test_grid_large_feeder.py re-measures it, marked slow).
HEATING_SCALE = 1.348


def build_large_feeder(feeders: tuple[int, ...] = (4,), keep_loads: bool = False) -> GridNetwork:
    """Build the radial SimBench MV/LV feeder (see module docstring).

    Parameters
    ----------
    feeders : numbers of the MV feeders of SimBench grid MV1.101 to keep (1..8)
    keep_loads : keep SimBench's loads, PV (sgens) and storages with their profiles (for
        :func:`load_profiles` and the seed-002 study); without them (default, as
        ``simbench_feeder``) a co-simulation's own loads are the only ones

    Returns
    -------
    GridNetwork with ``buses`` naming every bus that carries a SimBench load or PV unit.
    """
    allowed = set(range(1, 9))
    if not feeders or not set(feeders) <= allowed:
        raise ValueError(f"feeders={feeders!r}: must be a non-empty subset of {sorted(allowed)}")
    net = simbench_net()
    hv_mv = net.trafo.index[net.trafo.sn_mva > 1]
    keep_trafo = hv_mv[0]
    mv_busbar = int(net.trafo.lv_bus[keep_trafo])
    hv_bus = int(net.trafo.hv_bus[keep_trafo])

    graph = top.create_nxgraph(net, respect_switches=True)
    substation = set(net.trafo.hv_bus[hv_mv]) | set(net.trafo.lv_bus[hv_mv])
    graph.remove_nodes_from(substation)
    wanted = {f"{FEEDER_PREFIX}{f}" for f in feeders}
    keep = {hv_bus, mv_busbar}
    for comp in nx.connected_components(graph):
        names = set(net.line.subnet[net.line.from_bus.isin(comp) | net.line.to_bus.isin(comp)])
        if names & wanted:
            keep |= comp
    # the feeders' first lines leave from the MV busbar of the kept transformer or its twin
    other_busbar = set(net.trafo.lv_bus[hv_mv]) - {mv_busbar}
    for bus in other_busbar:
        lines = net.line[(net.line.from_bus == bus) & net.line.to_bus.isin(keep)]
        net.line.loc[lines.index, "from_bus"] = mv_busbar
    drop_buses(net, net.bus.index.difference(sorted(keep)))

    loaded = sorted(set(net.load.bus) | set(net.sgen.bus))
    buses = {str(net.bus.name[b]): int(b) for b in loaded}
    if not keep_loads:
        for element in ("load", "sgen", "storage"):
            net[element] = net[element].iloc[0:0]
    return GridNetwork(
        name=f"large_feeder(feeders={tuple(feeders)})",
        net=net,
        buses=buses,
        transformers={str(net.trafo.name[i]): int(i) for i in net.trafo.index},
        lines={str(net.line.name[i]): int(i) for i in net.line.index},
        feeder_end_bus=farthest_bus(net, hv_bus, buses),
        source=f"SimBench {SIMBENCH_CODE}, MV feeders {sorted(feeders)} with their LV grids",
    )


def simbench_net() -> pandapowerNet:
    """A fresh copy of SimBench's ``SIMBENCH_CODE``, parsed once per machine.

    Parsing SimBench's CSV files costs ~4 s CPU, which every sweep point (its own process)
    would pay; the parsed net is kept as a pickle in ``$XDG_CACHE_HOME/flexcosim`` (default
    ``~/.cache/flexcosim``), named by the simbench, pandapower and pandas versions, and
    loading it takes ~0.05 s. A missing, unreadable or unwritable cache only costs the parse.
    """
    folder = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "flexcosim"
    path = folder / f"{SIMBENCH_CODE}-simbench{sb.__version__}-pandapower{pp.__version__}-pandas{pd.__version__}.pickle"
    try:
        return pickle.loads(path.read_bytes())
    except Exception:  # noqa: BLE001 -- any unreadable cache (missing, truncated, other pickle) is parsed anew
        pass
    net = _load(SIMBENCH_CODE)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(pickle.dumps(net))
        os.replace(tmp, path)
    except OSError:
        pass
    return copy.deepcopy(net)


def load_profiles(net: pandapowerNet, first_step: int, n_steps: int,
                  heating_scale: float | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Net consumption of every load and sgen over ``n_steps`` quarter-hours [MW, Mvar].

    Parameters
    ----------
    net : a net built by :func:`build_large_feeder` (carries SimBench ``profiles``)
    first_step : first quarter-hour of the SimBench profile year (0 = 1 Jan 00:00)
    n_steps : number of quarter-hours
    heating_scale : ``None`` for SimBench's own profiles; else every household load
        (profile in ``HOUSEHOLD_PROFILES``) follows the electric-heating profile
        ``H0-H`` times ``heating_scale`` times its rating ``p_mw`` / ``q_mvar`` [-]

    Returns
    -------
    (p_mw, q_mvar): DataFrames indexed by step with one column per bus (pandapower
    index) holding loads minus PV infeed; buses without load or PV are absent.
    """
    if not 0 <= first_step <= STEPS_PER_YEAR - n_steps or n_steps < 1:
        raise ValueError(
            f"first_step={first_step}, n_steps={n_steps}: the window must lie in 0..{STEPS_PER_YEAR}")
    if heating_scale is not None and not heating_scale >= 0:
        raise ValueError(f"heating_scale={heating_scale}: must be >= 0 or None")
    rows = slice(first_step, first_step + n_steps)
    # SimBench scales every profile of the year; scaling only the window's rows is ~30x faster
    window = copy.copy(net)
    window["profiles"] = {name: frame.iloc[rows] for name, frame in net.profiles.items()}
    values = sb.get_absolute_values(window, profiles_instead_of_study_cases=True)
    load_p = values[("load", "p_mw")].copy()
    load_q = values[("load", "q_mvar")].copy()
    if heating_scale is not None:
        homes = net.load.index[net.load.profile.isin(HOUSEHOLD_PROFILES)]
        heat = heating_profile().iloc[rows]
        load_p[homes] = np.outer(heat["p"].to_numpy(), heating_scale * net.load.p_mw[homes].to_numpy())
        load_q[homes] = np.outer(heat["q"].to_numpy(), heating_scale * net.load.q_mvar[homes].to_numpy())
    p = _by_bus(load_p, net.load.bus)
    q = _by_bus(load_q, net.load.bus)
    pv = _by_bus(values[("sgen", "p_mw")], net.sgen.bus)
    p = p.sub(pv, fill_value=0.0)
    q = q.reindex(columns=p.columns, fill_value=0.0)
    return p.reset_index(drop=True), q.reset_index(drop=True)


@lru_cache(maxsize=1)
def heating_profile() -> pd.DataFrame:
    """SimBench's relative profile ``H0-H`` (household with electric heating), one row per
    quarter-hour of the profile year, columns ``p`` and ``q`` [-, per unit of the rating]."""
    path = os.path.join(sb.complete_data_path(0), "LoadProfile.csv")
    cols = {f"{HEATING_PROFILE}_pload": "p", f"{HEATING_PROFILE}_qload": "q"}
    frame = pd.read_csv(path, sep=";", usecols=list(cols)).rename(columns=cols)
    if len(frame) != STEPS_PER_YEAR:
        raise ValueError(f"{path}: {len(frame)} rows, expected {STEPS_PER_YEAR} quarter-hours")
    return frame


def base_load_peak(net: pandapowerNet, p_mw: pd.DataFrame, q_mvar: pd.DataFrame) -> tuple[float, float]:
    """Max line/transformer loading [-] and min bus voltage [pu] of a base-load case in AC.

    ``p_mw``/``q_mvar`` as returned by :func:`load_profiles` (one column per bus); the
    loads, sgens and storages of ``net`` are replaced by one PQ load per column.
    """
    ac = copy.deepcopy(net)
    for table in ("load", "sgen", "storage"):
        ac[table] = ac[table].iloc[0:0]
    idx = pp.create_loads(ac, p_mw.columns.to_numpy(), 0.0, q_mvar=0.0)
    loading, v_min = 0.0, np.inf
    for t in range(len(p_mw)):
        ac.load.loc[idx, "p_mw"] = p_mw.iloc[t].to_numpy()
        ac.load.loc[idx, "q_mvar"] = q_mvar.iloc[t].to_numpy()
        pp.runpp(ac, numba=False, init="results" if t else "auto")
        loading = max(loading, ac.res_line.loading_percent.max() / 100,
                      ac.res_trafo.loading_percent.max() / 100)
        v_min = min(v_min, float(ac.res_bus.vm_pu.min()))
    return float(loading), v_min


def calibrate_heating_scale(net: pandapowerNet, target_loading: float = SEED_BASE_LOAD_PEAK_LOADING,
                            window: tuple[int, int] = SEED_WINDOW, tolerance: float = 0.005) -> float:
    """``heating_scale`` at which the AC base-load peak loading over ``window`` equals
    ``target_loading`` [-] within ``tolerance`` (bisection on [0, 5]; loading grows with it).

    Raises ``ValueError`` if even the largest scale stays below the target.
    """
    first_step, n_steps = window
    lo, hi = 0.0, 5.0

    def peak(scale: float) -> float:
        return base_load_peak(net, *load_profiles(net, first_step, n_steps, heating_scale=scale))[0]

    if peak(hi) < target_loading:
        raise ValueError(f"target_loading={target_loading}: not reached with heating_scale <= {hi}")
    while hi - lo > 1e-3:
        mid = (lo + hi) / 2
        value = peak(mid)
        if abs(value - target_loading) <= tolerance:
            return round(mid, 3)
        lo, hi = (mid, hi) if value < target_loading else (lo, mid)
    return round((lo + hi) / 2, 3)


def _by_bus(frame: pd.DataFrame, element_bus: pd.Series) -> pd.DataFrame:
    """Sum element columns of ``frame`` per bus."""
    bus = element_bus.loc[frame.columns].to_numpy()
    return frame.T.groupby(np.asarray(bus)).sum().T
