"""Repeated AC power flows of one grid through lightsim2grid's solver (only the loads change).

The co-simulation's flows on one grid differ only in the loads. After pandapower's first
converged flow, :meth:`RepeatedFlow.from_net` converts the net once to a lightsim2grid
``LSGrid`` (the same polar Newton-Raphson as pandapower's, MATPOWER User's Manual section
4.1, in C++ with a sparse KLU factorisation; B. Donnot, *LightSim2Grid*,
https://github.com/Grid2op/lightsim2grid) and each later flow only writes the loads
(``p_mw * scaling`` [MW], ``q_mvar * scaling`` [Mvar], in ``net.load`` order, out-of-service
loads included: lightsim2grid keeps them switched off) and starts from the last voltages.
Tolerance and iterations are pandapower's defaults (``TOLERANCE_MVA``, ``MAX_ITERATIONS``).

lightsim2grid models every transformer's phase shift, while the co-simulation runs pandapower
with ``calculate_voltage_angles=False``; magnitudes and branch loadings of these radial grids
are the same, angles are not (none is reported). Its first start point is therefore its own
DC flow, not pandapower's angles.

Branch results as pandapower derives them (``pandapower.results_branch``), from the
currents lightsim2grid reports at both ends [kA]: line loading
``max(i_from, i_to) / (max_i_ka df parallel) * 100`` [%]; transformer loading
(``trafo_loading="current"``) ``max(i_hv vn_hv, i_lv vn_lv) sqrt 3 / (sn_mva parallel df) * 100``
[%]; transformer power into its HV side [MW].
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass

import numpy as np
from lightsim2grid.network import init_from_pandapower

#: pandapower's Newton-Raphson defaults: tolerance [MVA], iterations.
TOLERANCE_MVA = 1e-8
MAX_ITERATIONS = 10
#: The first lightsim2grid flow must reproduce pandapower's to this relative tolerance,
#: else the net keeps pandapower (a model difference, e.g. a feature lightsim2grid ignores).
CHECK_RTOL = 1e-6
#: Absolute floors of that check: voltage [p.u.], loading [%], power [MW].
CHECK_ATOL = {"vm_pu": 1e-8, "line_loading_pct": 1e-6, "trafo_loading_pct": 1e-6,
              "trafo_p_hv_mw": 1e-9}
_LOAD_DEPENDENCE = ["const_z_p_percent", "const_i_p_percent", "const_z_q_percent",
                    "const_i_q_percent"]
#: Operating limits [MW, Mvar] lightsim2grid's converter reads as floats (no power flow uses
#: them); SimBench leaves them as object columns of NaN.
_LIMITS = ("min_p_mw", "max_p_mw", "min_q_mvar", "max_q_mvar")


@dataclass(frozen=True)
class FlowResult:
    """One solved flow, in the row order of the net's tables.

    Attributes
    ----------
    vm_pu : (n_bus,) voltage magnitude [p.u.] (NaN at out-of-service buses)
    line_loading_pct : (n_line,) [%]; trafo_loading_pct : (n_trafo,) [%]
    trafo_p_hv_mw : (n_trafo,) active power into the HV side [MW]
    """

    vm_pu: np.ndarray
    line_loading_pct: np.ndarray
    trafo_loading_pct: np.ndarray
    trafo_p_hv_mw: np.ndarray


class RepeatedFlow:
    """lightsim2grid flows of a pandapower net whose loads change between flows.

    Build it with :meth:`from_net`; the net must not change afterwards but for its loads'
    ``p_mw``/``q_mvar``.
    """

    def __init__(self, model, net) -> None:
        self._model = model
        self._n_bus = len(net.bus)
        self._bus_out = ~net.bus.in_service.to_numpy(dtype=bool)
        self._all = np.ones(len(net.load), dtype=bool)
        self._scaling = net.load.scaling.to_numpy(dtype=float)
        line, trafo = net.line, net.trafo
        self._line_imax_ka = (line.max_i_ka * line.df * line.parallel).to_numpy()
        self._trafo_vn_kv = trafo[["vn_hv_kv", "vn_lv_kv"]].to_numpy()
        self._trafo_sn_mva = (trafo.sn_mva * trafo.parallel * trafo.df).to_numpy()
        self._v = np.ones(model.total_bus(), dtype=complex)

    @classmethod
    def from_net(cls, net) -> RepeatedFlow | None:
        """The solver for a pandapower net right after a converged ``runpp``, or ``None`` if
        lightsim2grid does not model the net as pandapower does (then keep calling ``runpp``).

        Refused before converting: voltage-dependent loads, distributed slack,
        ``trafo_loading="power"``, bus indices not ascending (lightsim2grid numbers buses
        by sorted index; with gaps it cannot switch buses off), open or bus-bus switches
        (lightsim2grid ignores switches; closed line and transformer switches change
        nothing); refused by lightsim2grid's converter: three-winding transformers, wards,
        impedances, motors, parallel loads. Then the first flow, from
        lightsim2grid's DC flow, must equal pandapower's result in the net (``CHECK_RTOL``).
        """
        load, switch, options = net.load, net.switch, net._options
        if ((load[_LOAD_DEPENDENCE].to_numpy() != 0).any()
                or options.get("distributed_slack") or options.get("trafo_loading") != "current"
                or not net.bus.index.is_monotonic_increasing
                or not (net.bus.in_service.all() or (net.bus.index == np.arange(len(net.bus))).all())
                or (~switch.closed).any() or (switch.et == "b").any()):
            return None
        ls_net = copy.copy(net)  # shallow: shares every table but the ones cast here
        for table in ("gen", "sgen", "storage"):
            ls_net[table] = net[table].astype({c: float for c in _LIMITS if c in net[table]})
        try:
            with warnings.catch_warnings():
                # expected notes: closed switches are not used; the ext_grid becomes the
                # slack; NaN taps and limits are read as 0 (pandapower's taps too)
                warnings.filterwarnings("ignore", "There are switches")
                warnings.filterwarnings("ignore", "There were some Nan in the pp_net")
                warnings.filterwarnings("ignore", "LightSim has not found any generators")
                model = init_from_pandapower(ls_net)
        except (RuntimeError, TypeError, ValueError):  # what its converter does not support
            return None
        flow = cls(model, net)
        start = model.dc_pf(flow._v, MAX_ITERATIONS, TOLERANCE_MVA)
        if start.size == 0:
            return None
        flow._v = start
        first = flow.solve(load.p_mw.to_numpy(dtype=float), load.q_mvar.to_numpy(dtype=float))
        want = FlowResult(vm_pu=net.res_bus.vm_pu.to_numpy(dtype=float),
                          line_loading_pct=net.res_line.loading_percent.to_numpy(dtype=float),
                          trafo_loading_pct=net.res_trafo.loading_percent.to_numpy(dtype=float),
                          trafo_p_hv_mw=net.res_trafo.p_hv_mw.to_numpy(dtype=float))
        if first is None or not all(
                np.allclose(getattr(first, f), getattr(want, f), rtol=CHECK_RTOL, atol=atol,
                            equal_nan=True) for f, atol in CHECK_ATOL.items()):
            return None
        return flow

    def solve(self, p_mw: np.ndarray, q_mvar: np.ndarray) -> FlowResult | None:
        """One flow with the net's loads at ``p_mw`` [MW], ``q_mvar`` [Mvar] (``net.load`` row
        order, before ``scaling``); ``None`` if it does not converge (the start voltages are
        kept)."""
        m = self._model
        m.update_loads_p(self._all, p_mw * self._scaling)
        m.update_loads_q(self._all, q_mvar * self._scaling)
        v = m.ac_pf(self._v, MAX_ITERATIONS, TOLERANCE_MVA)
        if v.size == 0:
            return None
        self._v = v
        _, _, _, a_from = m.get_line_res1()
        _, _, _, a_to = m.get_line_res2()
        p_hv, _, _, a_hv = m.get_trafo_res1()
        _, _, _, a_lv = m.get_trafo_res2()
        vm = np.abs(v[: self._n_bus])
        vm[self._bus_out] = np.nan
        trafo = (np.maximum(a_hv * self._trafo_vn_kv[:, 0], a_lv * self._trafo_vn_kv[:, 1])
                 * np.sqrt(3) / self._trafo_sn_mva * 100.0)
        return FlowResult(vm_pu=vm,
                          line_loading_pct=np.maximum(a_from, a_to) / self._line_imax_ka * 100.0,
                          trafo_loading_pct=trafo, trafo_p_hv_mw=np.asarray(p_hv))
