"""The most power a transformer's LV side can take before it reports 100 % loading.

A site aggregator plans EV and building load in kW behind its transformer (seed 004
section 5.2, power factor 1). What the grid model reports is the transformer's loading,
which also carries the transformer's own copper and iron losses, its magnetising and
leakage reactive power and the current rise of a sagging voltage (pandapower's
``vk_percent``, ``vkr_percent``, ``pfe_kw``, ``i0_percent``). Rather than a tuned margin,
the planning limit is the active power at the transformer's LV bus at which a pandapower
AC power flow of the grid, with only that load, reports exactly 100 % loading.
"""

from __future__ import annotations

import copy

import pandapower as pp

#: Fixed-point iterations ``P <- P * 100 / loading(P)``; loading is near-linear in P, so
#: three reach the limit to < 0.01 % on ``ucd_feeder4``.
_ITERATIONS = 3


def planning_limit_kw(net: pp.pandapowerNet, trafo: int) -> float:
    """LV-side load [kW] at the LV bus of transformer ``trafo`` that loads it to 100 % (AC power flow).

    Parameters
    ----------
    net : the grid (not modified; loads and generators already in it are ignored)
    trafo : index in ``net.trafo``

    If a power flow does not converge (a grid too weak to carry the rating), the rating
    itself [kVA = kW at power factor 1] is returned: no margin rather than a failed run.
    """
    probe = copy.deepcopy(net)
    probe.load.drop(probe.load.index, inplace=True)
    if len(probe.sgen):
        probe.sgen.drop(probe.sgen.index, inplace=True)
    rating_kw = float(probe.trafo.sn_mva.at[trafo]) * 1e3
    load = pp.create_load(probe, int(probe.trafo.lv_bus.at[trafo]), p_mw=rating_kw / 1e3)
    p_kw = rating_kw
    for _ in range(_ITERATIONS):
        probe.load.at[load, "p_mw"] = p_kw / 1e3
        try:
            pp.runpp(probe, numba=False, calculate_voltage_angles=False)
        except pp.LoadflowNotConverged:
            return rating_kw
        p_kw *= 100.0 / float(probe.res_trafo.loading_percent.at[trafo])
    return p_kw
