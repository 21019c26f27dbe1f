"""Generic loader for SimBench benchmark grids (``simbench`` package, data ships inside it).

Buses, transformers and lines keep their SimBench names (e.g. ``"LV1.101 Bus 4"``,
``"MV1.101-LV1.101-Trafo 1"``). Switches keep SimBench's switching state, and the
external grid keeps its SimBench voltage set-point (1.025 pu in the LV grids).

Own injections: SimBench places household/commercial loads, PV and other generators
(``sgen``) and storage units on its buses, with time series in ``net.profiles``. By default
(``keep_loads=False``) all loads, sgens and storages are removed, so the co-simulation is
the only source of load, like the other builders; the ``net.profiles`` tables stay for
callers who want SimBench profiles for their own elements. With ``keep_loads=True`` they
all stay at their SimBench base values (loads, sgens and storages together).

Only two-winding transformers appear in ``GridNetwork.transformers``; three-winding
transformers of the HV/EHV codes stay in ``net.trafo3w``.
"""

from __future__ import annotations

import copy
from functools import lru_cache

import simbench as sb
from pandapower.auxiliary import pandapowerNet

from flexcosim.grids.network import GridNetwork, farthest_bus


@lru_cache(maxsize=4)
def _load(code: str) -> pandapowerNet:
    # Parsing SimBench's CSV data takes ~10 s per code; builders hand out deep copies.
    return sb.get_simbench_net(code)


def _unique_names(table, element: str, code: str) -> dict[str, int]:
    names = table.name
    duplicated = sorted(set(names[names.duplicated()]))
    if duplicated or names.isna().any():
        raise ValueError(
            f"code={code!r} has {element} names that are missing or not unique "
            f"({duplicated[:5]}); flexcosim needs one name per {element}"
        )
    return {str(name): int(idx) for idx, name in names.items()}


def build_simbench_feeder(code: str = "1-LV-rural1--0-sw", keep_loads: bool = False) -> GridNetwork:
    """Load the SimBench grid ``code`` as a :class:`GridNetwork`.

    Parameters
    ----------
    code : a SimBench code, one of ``simbench.collect_all_simbench_codes()``, e.g.
        ``"1-LV-rural1--0-sw"`` (default: rural LV grid, 15 buses, one 160 kVA 20/0.4 kV
        transformer) or ``"1-MV-urban--0-sw"``.
    keep_loads : keep SimBench's own loads, sgens and storages (base values) instead of
        removing them.

    Returns
    -------
    GridNetwork named ``"simbench_feeder:<code>"`` with every bus, two-winding transformer
    and line under its SimBench name; ``feeder_end_bus`` is the bus with the largest
    series impedance [pu] from the first external grid.
    """
    if code not in sb.collect_all_simbench_codes():
        raise ValueError(
            f"code={code!r} is not a SimBench code; allowed: simbench.collect_all_simbench_codes(), "
            "e.g. '1-LV-rural1--0-sw', '1-LV-semiurb4--0-sw', '1-MV-urban--0-sw'"
        )
    net = copy.deepcopy(_load(code))
    if not keep_loads:
        for element in ("load", "sgen", "storage"):
            net[element] = net[element].iloc[0:0]
    buses = _unique_names(net.bus, "bus", code)
    root_bus = int(net.ext_grid.bus.iloc[0])
    return GridNetwork(
        name=f"simbench_feeder:{code}",
        net=net,
        buses=buses,
        transformers=_unique_names(net.trafo, "transformer", code),
        lines=_unique_names(net.line, "line", code),
        feeder_end_bus=farthest_bus(net, root_bus, buses),
        source=(
            f"SimBench {code} (simbench {sb.__version__}); "
            + (
                "own loads, sgens and storages kept"
                if keep_loads
                else "own loads, sgens and storages removed"
            )
        ),
    )
