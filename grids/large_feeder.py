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
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandapower.topology as top
import pandas as pd
import simbench as sb
from pandapower.auxiliary import pandapowerNet
from pandapower.toolbox import drop_buses

from flexcosim.grids.network import GridNetwork, farthest_bus

SIMBENCH_CODE = "1-MVLV-rural-all-0-sw"
FEEDER_PREFIX = "MV1.101_Feeder"
#: Quarter-hours per SimBench profile year (2016 data, 366 days).
STEPS_PER_YEAR = 35136


def build_large_feeder(feeders: tuple[int, ...] = (4,)) -> GridNetwork:
    """Build the radial SimBench MV/LV feeder (see module docstring).

    Parameters
    ----------
    feeders : numbers of the MV feeders of SimBench grid MV1.101 to keep (1..8)

    Returns
    -------
    GridNetwork with ``buses`` naming every bus that carries a load.
    """
    allowed = set(range(1, 9))
    if not feeders or not set(feeders) <= allowed:
        raise ValueError(f"feeders={feeders!r}: must be a non-empty subset of {sorted(allowed)}")
    net = sb.get_simbench_net(SIMBENCH_CODE)
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

    loaded = net.load.bus.unique()
    buses = {str(net.bus.name[b]): int(b) for b in loaded}
    return GridNetwork(
        name=f"large_feeder(feeders={tuple(feeders)})",
        net=net,
        buses=buses,
        transformers={str(net.trafo.name[i]): int(i) for i in net.trafo.index},
        lines={str(net.line.name[i]): int(i) for i in net.line.index},
        feeder_end_bus=farthest_bus(net, hv_bus, buses),
        source=f"SimBench {SIMBENCH_CODE}, MV feeders {sorted(feeders)} with their LV grids",
    )


def load_profiles(net: pandapowerNet, first_step: int, n_steps: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Net consumption of every load and sgen over ``n_steps`` quarter-hours [MW, Mvar].

    Parameters
    ----------
    net : a net built by :func:`build_large_feeder` (carries SimBench ``profiles``)
    first_step : first quarter-hour of the SimBench profile year (0 = 1 Jan 00:00)
    n_steps : number of quarter-hours

    Returns
    -------
    (p_mw, q_mvar): DataFrames indexed by step with one column per bus (pandapower
    index) holding loads minus PV infeed; buses without load or PV are absent.
    """
    if not 0 <= first_step <= STEPS_PER_YEAR - n_steps or n_steps < 1:
        raise ValueError(
            f"first_step={first_step}, n_steps={n_steps}: the window must lie in 0..{STEPS_PER_YEAR}")
    values = sb.get_absolute_values(net, profiles_instead_of_study_cases=True)
    rows = slice(first_step, first_step + n_steps)
    p = _by_bus(values[("load", "p_mw")].iloc[rows], net.load.bus)
    q = _by_bus(values[("load", "q_mvar")].iloc[rows], net.load.bus)
    pv = _by_bus(values[("sgen", "p_mw")].iloc[rows], net.sgen.bus)
    p = p.sub(pv, fill_value=0.0)
    q = q.reindex(columns=p.columns, fill_value=0.0)
    return p.reset_index(drop=True), q.reset_index(drop=True)


def _by_bus(frame: pd.DataFrame, element_bus: pd.Series) -> pd.DataFrame:
    """Sum element columns of ``frame`` per bus."""
    bus = element_bus.loc[frame.columns].to_numpy()
    return frame.T.groupby(np.asarray(bus)).sum().T
