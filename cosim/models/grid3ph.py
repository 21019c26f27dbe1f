"""Three-phase unbalanced AC power flow of an LV feeder, one call per grid step.

Seed 001 (section III-B) checks agent positions against a 3-phase unbalanced load flow:
single-phase households load the phases unequally, and voltages and currents are checked
per phase. This model is the three-phase sibling of
:class:`flexcosim.cosim.models.grid.PowerFlowGrid`: it owns one asymmetric load per named
bus, takes the consumption of every connection (a single-phase household on phase
``"a"``, ``"b"`` or ``"c"``, or a balanced three-phase one split equally), sums it per bus
and phase, runs ``pandapower.runpp_3ph`` and reports what pandapower reports: phase
voltages, voltage unbalance factor (negative- over positive-sequence voltage, pandapower's
``unbalance_percent``), phase and neutral currents and per-phase loading of lines and
transformers. The net needs zero-sequence data (:mod:`flexcosim.grids.lv_feeder_3ph`).

Units: power kW / kvar per connection, voltage pu of the phase-to-neutral nominal
voltage, current kA, loading % of the rated current.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandapower as pp

from flexcosim.grids.network import GridNetwork

PHASES = ("a", "b", "c")


@dataclass(frozen=True)
class Connection:
    """Where a consumer (household, charger, PV inverter, battery) is connected.

    Attributes
    ----------
    bus : bus name (key of ``GridNetwork.buses``)
    phase : "a", "b" or "c" for a single-phase connection; ``None`` for a balanced
        three-phase one
    """

    bus: str
    phase: str | None = None

    def __post_init__(self) -> None:
        if self.phase is not None and self.phase not in PHASES:
            raise ValueError(f"Connection.phase={self.phase!r}: allowed are {PHASES} or None")


def assign_phases(n: int, rng: np.random.Generator) -> tuple[str, ...]:
    """Phases for ``n`` single-phase households: equal counts (+-1) in random order.

    A DNO connects single-phase customers in rotation to keep the phases balanced on
    average; which household gets which phase is not known to the aggregator, so it is
    drawn (seed 001 gives no assignment).
    """
    if n < 0:
        raise ValueError(f"n={n}: must be >= 0")
    return tuple(np.asarray(PHASES)[rng.permutation(np.arange(n) % 3)].tolist())


@dataclass(frozen=True)
class GridState3ph:
    """Result of one three-phase power flow (NaN everywhere if it did not converge).

    Attributes
    ----------
    converged : whether the power flow converged
    vm_pu : bus name -> (v_a, v_b, v_c) phase-to-neutral voltage magnitudes [pu]
    unbalance_pct : bus name -> voltage unbalance factor |V_2| / |V_1| [%]
    line_current_ka : line name -> (i_a, i_b, i_c) largest of both ends [kA]
    neutral_current_ka : line name -> neutral current, largest of both ends [kA]
    line_loading_pct : line name -> (a, b, c) loading [% of rated current]
    trafo_loading_pct : transformer name -> (a, b, c) loading [%]
    trafo_p_kw : transformer name -> active power into the HV side, all phases [kW]
    """

    converged: bool
    vm_pu: Mapping[str, tuple[float, float, float]]
    unbalance_pct: Mapping[str, float]
    line_current_ka: Mapping[str, tuple[float, float, float]]
    neutral_current_ka: Mapping[str, float]
    line_loading_pct: Mapping[str, tuple[float, float, float]]
    trafo_loading_pct: Mapping[str, tuple[float, float, float]]
    trafo_p_kw: Mapping[str, float]

    def min_voltage_pu(self) -> float:
        """Lowest phase voltage of all buses [pu]."""
        return float(min(min(v) for v in self.vm_pu.values()))

    def max_loading_pct(self) -> float:
        """Highest phase loading of all lines and transformers [%]."""
        values = [*self.line_loading_pct.values(), *self.trafo_loading_pct.values()]
        return float(max(max(v) for v in values))


class ThreePhaseGrid:
    """A pandapower net with one asymmetric load per named bus and named connections.

    Parameters
    ----------
    grid : network with zero-sequence data (e.g. ``build_lv_feeder_3ph()``)
    connections : connection name -> :class:`Connection`
    """

    def __init__(self, grid: GridNetwork, connections: Mapping[str, Connection]) -> None:
        for name, conn in connections.items():
            if conn.bus not in grid.buses:
                raise ValueError(f"connections[{name!r}].bus={conn.bus!r} is not a bus of "
                                 f"{grid.name}; allowed: {sorted(grid.buses)}")
        self.grid = grid
        self.net = grid.net
        self.connections = dict(connections)
        self.bus_names = list(grid.buses)
        row = {b: i for i, b in enumerate(self.bus_names)}
        # (connection, bus row, phase column) share of a connection's power: 1 or 1/3 each
        self._share = np.zeros((len(self.connections), len(self.bus_names), 3))
        for k, conn in enumerate(self.connections.values()):
            if conn.phase is None:
                self._share[k, row[conn.bus], :] = 1.0 / 3.0
            else:
                self._share[k, row[conn.bus], PHASES.index(conn.phase)] = 1.0
        self._names = list(self.connections)
        self._load_idx = np.array([
            pp.create_asymmetric_load(self.net, grid.buses[b], name=f"cosim3ph_{b}")
            for b in self.bus_names])

    def set_consumption(self, p_kw: Mapping[str, float], q_kvar: Mapping[str, float] | None = None) -> None:
        """Write the connections' consumption into the net's asymmetric loads.

        Parameters
        ----------
        p_kw : connection name -> active power drawn [kW] (negative = injection);
            missing connections draw nothing
        q_kvar : connection name -> reactive power drawn [kvar]
        """
        p = np.zeros(len(self._names))
        q = np.zeros(len(self._names))
        index = {n: i for i, n in enumerate(self._names)}
        for values, target, field in ((p_kw, p, "p_kw"), (q_kvar or {}, q, "q_kvar")):
            for name, value in values.items():
                if name not in index:
                    raise ValueError(f"{field}[{name!r}]: not a connection; allowed: {self._names}")
                target[index[name]] = value
        p_bus = np.einsum("k,kbp->bp", p, self._share) / 1e3
        q_bus = np.einsum("k,kbp->bp", q, self._share) / 1e3
        load = self.net.asymmetric_load
        for j, ph in enumerate(PHASES):
            load.loc[self._load_idx, f"p_{ph}_mw"] = p_bus[:, j]
            load.loc[self._load_idx, f"q_{ph}_mvar"] = q_bus[:, j]

    def solve(self, p_kw: Mapping[str, float], q_kvar: Mapping[str, float] | None = None) -> GridState3ph:
        """Run the three-phase power flow for the connections' consumption.

        Parameters
        ----------
        p_kw, q_kvar : as :meth:`set_consumption`
        """
        self.set_consumption(p_kw, q_kvar)
        try:
            pp.runpp_3ph(self.net, numba=False)
        except pp.LoadflowNotConverged:
            return self._not_converged()
        g, net = self.grid, self.net
        bus, line, trafo = net.res_bus_3ph, net.res_line_3ph, net.res_trafo_3ph

        def triple(frame, idx: int, pattern: str) -> tuple[float, float, float]:
            return tuple(float(frame.at[idx, pattern.format(ph)]) for ph in PHASES)

        return GridState3ph(
            converged=True,
            vm_pu={n: triple(bus, i, "vm_{}_pu") for n, i in g.buses.items()},
            unbalance_pct={n: float(bus.at[i, "unbalance_percent"]) for n, i in g.buses.items()},
            line_current_ka={n: triple(line, i, "i_{}_ka") for n, i in g.lines.items()},
            neutral_current_ka={n: float(line.at[i, "i_n_ka"]) for n, i in g.lines.items()},
            line_loading_pct={n: triple(line, i, "loading_{}_percent") for n, i in g.lines.items()},
            trafo_loading_pct={n: triple(trafo, i, "loading_{}_percent") for n, i in g.transformers.items()},
            trafo_p_kw={n: 1e3 * sum(float(trafo.at[i, f"p_{ph}_hv_mw"]) for ph in PHASES)
                        for n, i in g.transformers.items()},
        )

    def _not_converged(self) -> GridState3ph:
        nan = float("nan")
        g = self.grid
        three = (nan, nan, nan)
        return GridState3ph(
            converged=False, vm_pu={n: three for n in g.buses}, unbalance_pct={n: nan for n in g.buses},
            line_current_ka={n: three for n in g.lines}, neutral_current_ka={n: nan for n in g.lines},
            line_loading_pct={n: three for n in g.lines},
            trafo_loading_pct={n: three for n in g.transformers},
            trafo_p_kw={n: nan for n in g.transformers},
        )


def connections_of(households: Sequence[tuple[str, str]], rng: np.random.Generator) -> dict[str, Connection]:
    """Single-phase connections for ``(household name, bus name)`` pairs, phases drawn by
    :func:`assign_phases`."""
    phases = assign_phases(len(households), rng)
    return {name: Connection(bus, ph) for (name, bus), ph in zip(households, phases)}
