"""AC power flow of a pandapower network, one call per grid step.

The grid model owns one load element per named bus (created here, so builders can
hand us nets without loads), takes the P/Q sum of every simulator connected to that
bus, runs Newton-Raphson (``pandapower.runpp``) and returns bus voltages, line and
transformer loading. The first flow (and the first after one that did not converge) is
pandapower's; later flows solve the same Newton-Raphson in lightsim2grid from the last
voltages (:class:`~flexcosim.cosim.models.fast_flow.RepeatedFlow`; CPU per flow with
pandapower -> lightsim2grid: 9.1 -> 0.1 ms on ``ucd_feeder4``, 9.2 -> 1.6 ms on the 890-bus
``large_feeder``, ``bench/ucd_day.py``). A net lightsim2grid does not model as pandapower
does keeps pandapower's ``recycle`` path. Either way the net must not change
otherwise between flows (agents copy it first). The net's loads are those of the last
flow; its result is :attr:`PowerFlowGrid.last` (``net.res_*`` hold the last pandapower
flow's only). :attr:`PowerFlowGrid.flows` counts the flows per solver (a run's
``manifest.json`` has them), so a run whose flows fell back to pandapower, and got slower,
says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandapower as pp

from flexcosim.cosim.models.fast_flow import RepeatedFlow
from flexcosim.grids.network import GridNetwork


@dataclass(frozen=True)
class GridState:
    """Result of one AC power flow.

    Attributes
    ----------
    converged : whether Newton-Raphson converged (all other fields are NaN if not)
    vm_pu : bus name -> voltage magnitude [p.u.]
    line_loading_pct : line name -> loading [% of rated current]
    trafo_loading_pct : transformer name -> loading [% of rated apparent power]
    trafo_p_kw : transformer name -> active power into the HV side [kW]
    """

    converged: bool
    vm_pu: Mapping[str, float]
    line_loading_pct: Mapping[str, float]
    trafo_loading_pct: Mapping[str, float]
    trafo_p_kw: Mapping[str, float]


#: Only the loads change between power flows: pandapower reuses the rest of its internal
#: case (measured on this machine: 23.5 -> 16.0 ms per flow on ucd_feeder4, 25.6 -> 16.5 ms
#: on lv_feeder_20bus, same voltages).
RECYCLE = {"recycle": {"trafo": False, "gen": False, "bus_pq": True}}


class PowerFlowGrid:
    """A pandapower net with one controllable load per named bus.

    Parameters
    ----------
    grid : the network and its names (from :func:`flexcosim.grids.build_grid`)

    Attributes
    ----------
    last : the last flow's result, ``None`` before the first
    """

    def __init__(self, grid: GridNetwork) -> None:
        self.grid = grid
        self.net = grid.net
        self.bus_names = list(grid.buses)
        bus_idx = [grid.buses[b] for b in self.bus_names]
        self._load_idx = np.asarray(pp.create_loads(
            self.net, buses=bus_idx, p_mw=0.0, q_mvar=0.0, name=[f"cosim_{n}" for n in self.bus_names]))
        self._load_pos = self.net.load.index.get_indexer(self._load_idx)  # rows in net.load
        self._bus_idx = np.array(bus_idx, dtype=int)
        self._line_idx = np.array(list(grid.lines.values()), dtype=int)
        self._trafo_idx = np.array(list(grid.transformers.values()), dtype=int)
        self._row = {name: i for i, name in enumerate(self.bus_names)}
        self._solved_once = False
        self._fast: RepeatedFlow | None = None  # set after a converged pandapower flow
        #: flows solved by each solver, and those that did not converge [-]
        self.flows = {"lightsim2grid": 0, "pandapower": 0, "not_converged": 0}
        self.last: GridState | None = None

    def solve(self, p_kw: Mapping[str, float], q_kvar: Mapping[str, float]) -> GridState:
        """Run an AC power flow for the given net load per named bus.

        Parameters
        ----------
        p_kw : bus name -> net active power drawn from the grid [kW] (negative = injection)
        q_kvar : bus name -> net reactive power drawn [kvar]

        Returns
        -------
        GridState
        """
        p = np.zeros(len(self.bus_names))
        q = np.zeros(len(self.bus_names))
        for name, value in p_kw.items():
            p[self._row[name]] = value
        for name, value in q_kvar.items():
            q[self._row[name]] = value
        # the net's loads are those of the last flow, also for readers of the net (the DSO)
        load = self.net.load
        full = {}
        for column, value in (("p_mw", p), ("q_mvar", q)):
            full[column] = load[column].to_numpy(dtype=float, copy=True)
            full[column][self._load_pos] = value / 1e3
            load[column] = full[column]
        solver = "lightsim2grid" if self._fast is not None else "pandapower"
        self.last = (self._solve_fast(full["p_mw"], full["q_mvar"]) if self._fast is not None
                     else self._solve_pandapower())
        self.flows[solver if self.last.converged else "not_converged"] += 1
        return self.last

    def _solve_pandapower(self) -> GridState:
        try:
            # recycling needs a solved case to reuse (the first flow builds it)
            pp.runpp(self.net, init="results" if self._solved_once else "auto",
                     numba=False, calculate_voltage_angles=False,
                     **(RECYCLE if self._solved_once else {}))
        except pp.LoadflowNotConverged:
            return self._not_converged()
        self._solved_once = True
        self._start_fast()
        g, net = self.grid, self.net
        trafo = net.res_trafo.loc[self._trafo_idx]
        return GridState(
            converged=True,
            vm_pu=dict(zip(g.buses, net.res_bus.vm_pu.loc[self._bus_idx].tolist())),
            line_loading_pct=dict(zip(g.lines, net.res_line.loading_percent.loc[self._line_idx].tolist())),
            trafo_loading_pct=dict(zip(g.transformers, trafo.loading_percent.tolist())),
            trafo_p_kw=dict(zip(g.transformers, (trafo.p_hv_mw * 1e3).tolist())),
        )

    def _start_fast(self) -> None:
        """Take the solved net for later flows, with the rows of what we read."""
        self._fast = RepeatedFlow.from_net(self.net)
        if self._fast is None:
            return
        net, g = self.net, self.grid
        self._bus_pos = {n: net.bus.index.get_loc(i) for n, i in g.buses.items()}
        self._line_pos = {n: net.line.index.get_loc(i) for n, i in g.lines.items()}
        self._trafo_pos = {n: net.trafo.index.get_loc(i) for n, i in g.transformers.items()}

    def _solve_fast(self, p_mw: np.ndarray, q_mvar: np.ndarray) -> GridState:
        """One flow on lightsim2grid with every load of the net (``net.load`` rows) [MW, Mvar]."""
        r = self._fast.solve(p_mw, q_mvar)
        if r is None:
            self._fast = None  # the next flow is pandapower's again, from its own start
            return self._not_converged()
        return GridState(
            converged=True,
            vm_pu={n: float(r.vm_pu[i]) for n, i in self._bus_pos.items()},
            line_loading_pct={n: float(r.line_loading_pct[i]) for n, i in self._line_pos.items()},
            trafo_loading_pct={n: float(r.trafo_loading_pct[i]) for n, i in self._trafo_pos.items()},
            trafo_p_kw={n: float(r.trafo_p_hv_mw[i]) * 1e3 for n, i in self._trafo_pos.items()},
        )

    def _not_converged(self) -> GridState:
        nan = float("nan")
        g = self.grid
        self._solved_once = False  # a diverged state is no start point
        return GridState(
            converged=False,
            vm_pu={n: nan for n in g.buses},
            line_loading_pct={n: nan for n in g.lines},
            trafo_loading_pct={n: nan for n in g.transformers},
            trafo_p_kw={n: nan for n in g.transformers},
        )
