"""The grid model handed to the rest of flexcosim: a pandapower net plus its names."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import pairwise

import networkx as nx
import pandapower as pp
import pandapower.topology as top
from pandapower.auxiliary import pandapowerNet


@dataclass(frozen=True)
class GridNetwork:
    """A pandapower net plus the names the rest of flexcosim uses.

    Attributes
    ----------
    name : builder name, e.g. ``"lv_feeder_20bus"`` (SimBench: ``"simbench_feeder:<code>"``).
    net : the pandapower net; owned by the caller (every builder returns a fresh one).
    buses : named bus -> pandapower bus index, for every bus that may carry load, PV or
        chargers.
    transformers : transformer name -> pandapower trafo index.
    lines : line name -> pandapower line index.
    feeder_end_bus : name (key of ``buses``) of the electrically farthest bus, i.e. the one
        with the largest series impedance |Z| [pu] from the supply point; ``None`` if the
        builder cannot tell.
    source : where the data comes from (seed table, standard types chosen).
    """

    name: str
    net: pandapowerNet
    buses: Mapping[str, int]
    transformers: Mapping[str, int]
    lines: Mapping[str, int]
    feeder_end_bus: str | None
    source: str


def path_impedance_pu(net: pandapowerNet, root_bus: int) -> dict[int, complex]:
    """Series impedance [pu on ``net.sn_mva``] from ``root_bus`` to every reachable bus.

    Lines and transformers in service count, open switches cut the path. Per unit keeps
    impedances on both sides of a transformer comparable. In a meshed net the path with
    the smallest |Z| is taken, which in a radial net is the only path.

    Parameters
    ----------
    net : pandapower net.
    root_bus : pandapower index of the supply point (ext_grid bus or transformer LV bus).

    Returns
    -------
    dict mapping pandapower bus index -> complex path impedance R + jX [pu].
    """
    if root_bus not in net.bus.index:
        raise ValueError(
            f"root_bus={root_bus} is not a bus of the net; allowed: {list(net.bus.index)}"
        )
    graph = top.create_nxgraph(
        net, calc_branch_impedances=True, branch_impedance_unit="pu", multi=False
    )
    paths = nx.single_source_dijkstra_path(graph, root_bus, weight="z_pu")
    impedance: dict[int, complex] = {}
    for bus, path in paths.items():
        impedance[int(bus)] = sum(
            (
                complex(graph[a][b].get("r_pu", 0.0), graph[a][b].get("x_pu", 0.0))
                for a, b in pairwise(path)
            ),
            start=0j,
        )
    return impedance


def farthest_bus(net: pandapowerNet, root_bus: int, buses: Mapping[str, int]) -> str:
    """Name of the bus in ``buses`` with the largest path impedance |Z| from ``root_bus``."""
    impedance = path_impedance_pu(net, root_bus)
    reachable = {name: abs(impedance[idx]) for name, idx in buses.items() if idx in impedance}
    if not reachable:
        raise ValueError(f"buses={sorted(buses)} has no bus reachable from root_bus={root_bus}")
    return max(reachable, key=reachable.__getitem__)


def require_std_type(
    net: pandapowerNet, element: str, std_type: str, field: str, **columns: object
) -> None:
    """Raise ``ValueError`` unless ``std_type`` is a pandapower ``element`` standard type
    whose ``columns`` (e.g. ``vn_hv_kv=20.0``) all have the given values.

    ``field`` names the builder parameter in the message, which lists the allowed types.
    """
    types = pp.available_std_types(net, element)
    match = (types[list(columns)] == list(columns.values())).all(axis=1)
    allowed = sorted(types.index[match])
    if std_type not in allowed:
        wanted = ", ".join(f"{k}={v}" for k, v in columns.items())
        raise ValueError(
            f"{field}={std_type!r} is not a {element} standard type with {wanted}; "
            f"allowed: {allowed}"
        )


def require_vm_pu(vm_pu: float) -> None:
    """Raise ``ValueError`` unless the slack voltage set-point ``vm_pu`` is in [0.9, 1.1] pu."""
    if not 0.9 <= vm_pu <= 1.1:
        raise ValueError(f"vm_pu={vm_pu} is outside the allowed range [0.9, 1.1]")


def require_positive(**values: float) -> None:
    """Raise ``ValueError`` naming the first of ``values`` that is not a finite number > 0."""
    for name, value in values.items():
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name}={value!r} is not allowed; need > 0")


def mv_lv_substation(name: str, vm_pu: float, transformer_kva: float, vkr_percent: float,
                     pfe_kw: float, i0_percent: float) -> tuple[pandapowerNet, int, int]:
    """A new net: 20 kV external grid ``mv_grid`` at ``vm_pu`` [pu] on bus ``mv``, and
    transformer ``tx`` (``transformer_kva`` [kVA], 20/0.4 kV, ``vk_percent`` 6) to bus ``lv``.

    Returns the net, the index of bus ``lv`` and of the transformer.
    """
    net = pp.create_empty_network(name=name)
    mv = pp.create_bus(net, vn_kv=20.0, name="mv")
    pp.create_ext_grid(net, mv, vm_pu=vm_pu, name="mv_grid")
    lv = int(pp.create_bus(net, vn_kv=0.4, name="lv"))
    tx = pp.create_transformer_from_parameters(
        net, mv, lv, sn_mva=transformer_kva / 1e3, vn_hv_kv=20.0, vn_lv_kv=0.4, vk_percent=6.0,
        vkr_percent=vkr_percent, pfe_kw=pfe_kw, i0_percent=i0_percent, name="tx")
    return net, lv, int(tx)
