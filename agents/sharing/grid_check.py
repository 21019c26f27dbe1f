"""The DSO's grid check of proposed capacity limits (seed 004 section 4.2.1.1, validation).

The coordinator validates a sharing agreement by asking whether the grid holds if every
unit drew its (new) limit at once, on top of the other loads already in the net: the
worst case the limits allow. Two methods:

``"lindistflow"`` (default)
    the linearised branch flow of :mod:`flexcosim.agents.grid_optim.lindistflow` (radial nets;
    no solver, a sparse solve per check);
``"ac"``
    a pandapower AC power flow on a copy of the net.

Both report the highest branch loading (lines and transformers) and the lowest bus
voltage, and refuse with a reason naming the element that fails.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandapower as pp

from flexcosim.agents.grid_optim.lindistflow import (
    bus_consumption,
    linear_flow,
    radial_network,
)


@dataclass(frozen=True)
class GridVerdict:
    """Outcome of one check.

    Attributes
    ----------
    ok : the grid holds
    max_loading_pct : highest line/transformer loading [%]
    min_voltage_pu : lowest bus voltage [p.u.]
    reason : which element fails and by how much; empty when ``ok``
    """

    ok: bool
    max_loading_pct: float
    min_voltage_pu: float
    reason: str = ""


@dataclass(frozen=True)
class SharedGrid:
    """The grid behind the shared transformer and where each unit connects.

    Attributes
    ----------
    net : pandapower net; its loads and sgens are the other consumption (not changed)
    unit_bus : unit -> pandapower bus index of its connection
    method : "lindistflow" or "ac"
    max_loading_pct : loading limit of every line and transformer [%]
    v_min_pu : lowest allowed bus voltage [p.u.]
    power_factor : of the units' draw, lagging, in (0, 1] [-]
    """

    net: pp.pandapowerNet
    unit_bus: Mapping[str, int]
    method: Literal["lindistflow", "ac"] = "lindistflow"
    max_loading_pct: float = 100.0
    v_min_pu: float = 0.95
    power_factor: float = 1.0

    def __post_init__(self) -> None:
        if self.method not in ("lindistflow", "ac"):
            raise ValueError(f"method = {self.method!r}; allowed: 'lindistflow', 'ac'")
        if not 0.0 < self.power_factor <= 1.0:
            raise ValueError(f"power_factor = {self.power_factor!r}; allowed: 0 < pf <= 1")
        missing = [u for u, b in self.unit_bus.items() if b not in self.net.bus.index]
        if missing:
            raise ValueError(
                f"unit_bus[{missing[0]!r}] = {self.unit_bus[missing[0]]}; not a bus of the net"
            )

    def check(self, limits_kw: Mapping[str, float]) -> GridVerdict:
        """Does the grid hold with every unit at its limit in ``limits_kw`` [kW]?"""
        unknown = sorted(set(limits_kw) - set(self.unit_bus))
        if unknown:
            return GridVerdict(False, math.nan, math.nan, f"unit {unknown[0]!r} has no bus")
        tan_phi = math.tan(math.acos(self.power_factor))
        if self.method == "ac":
            return self._ac(limits_kw, tan_phi)
        return self._linear(limits_kw, tan_phi)

    def _linear(self, limits_kw: Mapping[str, float], tan_phi: float) -> GridVerdict:
        network = radial_network(self.net)
        p, q = bus_consumption(network, self.net)
        positions = network.bus_positions(np.array([self.unit_bus[u] for u in limits_kw]))
        draw_mw = np.array(list(limits_kw.values()), dtype=float) / 1000.0
        np.add.at(p, positions, draw_mw)
        np.add.at(q, positions, draw_mw * tan_phi)
        flow = linear_flow(network, p, q)
        loading = flow.loading[:, 0] * 100.0
        v = flow.v_pu[:, 0]
        worst, low = int(np.argmax(loading)), int(np.argmin(v))
        return self._verdict(
            float(loading[worst]), network.branch_name(worst),
            float(v[low]), int(network.bus_ids[low]),
        )  # fmt: skip

    def _ac(self, limits_kw: Mapping[str, float], tan_phi: float) -> GridVerdict:
        net = copy.deepcopy(self.net)
        for unit, kw in limits_kw.items():
            pp.create_load(net, self.unit_bus[unit], kw / 1000.0, q_mvar=kw / 1000.0 * tan_phi,
                           name=f"limit {unit}")
        try:
            pp.runpp(net, numba=False)
        except pp.LoadflowNotConverged:
            return GridVerdict(False, math.nan, math.nan, "AC power flow did not converge")
        branches = [(f"line {i}", v) for i, v in net.res_line.loading_percent.items()]
        branches += [(f"trafo {i}", v) for i, v in net.res_trafo.loading_percent.items()]
        name, loading = max(branches, key=lambda b: b[1])
        vm = net.res_bus.vm_pu.dropna()
        return self._verdict(float(loading), name, float(vm.min()), int(vm.idxmin()))

    def _verdict(self, loading_pct: float, branch: str, v_pu: float, bus: int) -> GridVerdict:
        if loading_pct > self.max_loading_pct:
            reason = (f"{branch} loaded {loading_pct:.1f} % > {self.max_loading_pct:g} % "
                      f"({self.method}) with every unit at its limit")
            return GridVerdict(False, loading_pct, v_pu, reason)
        if v_pu < self.v_min_pu:
            reason = (f"bus {bus} at {v_pu:.3f} pu < {self.v_min_pu:g} pu "
                      f"({self.method}) with every unit at its limit")
            return GridVerdict(False, loading_pct, v_pu, reason)
        return GridVerdict(True, loading_pct, v_pu)
