"""Newton-Raphson AC power flow on a fixed bus admittance matrix (small grids, dense algebra).

The co-simulation's power flows on one grid differ only in the loads, so the admittance
matrices, the bus types and the branch ratings are taken once from pandapower's internal
case of a converged ``pandapower.runpp`` (:meth:`NewtonRaphson.from_net`) and each later
flow only changes the injections and starts from the last voltages. Dense numpy algebra:
the grids co-simulated here have tens of buses, where sparse bookkeeping costs more than
it saves (``FAST_PATH_MAX_BUSES``).

Equations: polar Newton-Raphson as in MATPOWER (R. D. Zimmerman, C. E. Murillo-Sanchez,
MATPOWER User's Manual, section 4.1; ``pypower.newtonpf``, which pandapower runs), all in
per unit of the case's ``baseMVA``:

- mismatch ``dS = V * conj(Y V) - S_bus``, ``F = [Re dS[pv, pq]; Im dS[pq]]``,
  converged when ``max |F| < tol`` (pandapower's ``tolerance_mva`` = 1e-8 on its base);
- ``dS/dVa = j diag(V) conj(diag(I) - Y diag(V))``,
  ``dS/dVm = diag(V) conj(Y diag(V/|V|)) + conj(diag(I)) diag(V/|V|)``, ``I = Y V``;
  ``J = [[Re dS/dVa[pvpq, pvpq], Re dS/dVm[pvpq, pq]], [Im dS/dVa[pq, pvpq], Im dS/dVm[pq, pq]]]``,
  step ``J dx = -F`` on the angles of PV and PQ buses and the magnitudes of PQ buses.

Branch results as pandapower derives them (``pandapower.results_branch``):
``S_f = V_f conj(Y_f V) baseMVA`` [MVA], current ``i = |S| / (|V| U_base sqrt 3)`` [kA];
line loading ``max(i_f, i_t) / (I_max df parallel) * 100`` [%]; transformer loading
(``trafo_loading="current"``) ``max(i_hv U_hv, i_lv U_lv) sqrt 3 / S_n / (parallel df) * 100`` [%].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Largest grid [buses] solved here; larger ones keep pandapower's sparse solver.
FAST_PATH_MAX_BUSES = 500
#: pandapower's defaults for Newton-Raphson: tolerance [p.u. of baseMVA], iterations.
TOLERANCE_PU = 1e-8
MAX_ITERATIONS = 10

# pypower column indices (pandapower.pypower.idx_bus / idx_brch)
_BASE_KV = 9
_BUS_I = 0


@dataclass(frozen=True)
class FlowResult:
    """One solved flow: bus voltages and branch quantities in the case's own order.

    Attributes
    ----------
    vm_pu : (n_bus,) voltage magnitude [p.u.]
    line_loading_pct : (n_line,) [%]; trafo_loading_pct : (n_trafo,) [%]
    trafo_p_hv_mw : (n_trafo,) active power into the HV side [MW]
    """

    vm_pu: np.ndarray
    line_loading_pct: np.ndarray
    trafo_loading_pct: np.ndarray
    trafo_p_hv_mw: np.ndarray


class NewtonRaphson:
    """AC power flow with fixed admittances; only the loads change (see the module docstring).

    Parameters
    ----------
    ybus, yf, yt : dense bus and branch admittance matrices [p.u.]
    s_static : (n_bus,) complex injection of everything but the controlled loads [p.u.]
    v0 : (n_bus,) complex start voltages [p.u.] (the last solution)
    ref, pv, pq : bus indices by type
    base_kv : (n_bus,) rated bus voltage [kV]; base_mva : case base [MVA]
    lines, trafos : (start, stop) of each kind in the branch rows
    line_imax_ka : (n_line,) ``max_i_ka * df * parallel`` [kA]
    trafo_vn_kv : (n_trafo, 2) rated HV and LV voltage [kV]
    trafo_sn_mva : (n_trafo,) ``sn_mva * parallel * df`` [MVA]
    """

    def __init__(self, ybus: np.ndarray, yf: np.ndarray, yt: np.ndarray, s_static: np.ndarray,
                 v0: np.ndarray, ref: np.ndarray, pv: np.ndarray, pq: np.ndarray,
                 base_kv: np.ndarray, base_mva: float, lines: tuple[int, int],
                 trafos: tuple[int, int], line_imax_ka: np.ndarray, trafo_vn_kv: np.ndarray,
                 trafo_sn_mva: np.ndarray, f_bus: np.ndarray, t_bus: np.ndarray) -> None:
        self.ybus, self.yf, self.yt = ybus, yf, yt
        self.s_static, self.v = s_static, v0.copy()
        self.pvpq, self.pq = np.r_[pv, pq], pq
        self.base_kv, self.base_mva = base_kv, base_mva
        self.lines, self.trafos = slice(*lines), slice(*trafos)
        self.line_imax_ka, self.trafo_vn_kv, self.trafo_sn_mva = line_imax_ka, trafo_vn_kv, trafo_sn_mva
        self.f_bus, self.t_bus = f_bus, t_bus
        # Jacobian blocks: (rows, columns) of dS/dVa and dS/dVm, taken once
        self._blocks = (np.ix_(self.pvpq, self.pvpq), np.ix_(self.pvpq, pq),
                        np.ix_(pq, self.pvpq), np.ix_(pq, pq))

    @classmethod
    def from_net(cls, net) -> NewtonRaphson | None:
        """The solver for a pandapower net right after a converged ``runpp``, or ``None`` if
        the net needs what this solver does not model (then keep calling ``runpp``):
        out-of-service buses or branches, voltage-dependent loads, distributed slack,
        ``trafo_loading="power"``, three-winding transformers, more than
        ``FAST_PATH_MAX_BUSES`` buses.

        ``s_static`` is the case's injection of that flow, loads included.
        """
        ppc = net._ppc
        it = ppc["internal"]
        n = it["bus"].shape[0]
        loads = net.load[net.load.in_service]
        if (n > FAST_PATH_MAX_BUSES or n != ppc["bus"].shape[0]
                or it["branch"].shape[0] != ppc["branch"].shape[0]
                or not np.array_equal(it["bus"][:, _BUS_I].real, np.arange(n))
                or net._options.get("trafo_loading") != "current"
                or net._options.get("distributed_slack") or len(net.trafo3w)
                or (loads[["const_z_p_percent", "const_i_p_percent", "const_z_q_percent",
                           "const_i_q_percent"]].to_numpy() != 0).any()):
            return None
        lookup = net._pd2ppc_lookups
        base = it["baseMVA"]
        line = net.line
        trafo = net.trafo
        branch = it["branch"]
        return cls(
            ybus=it["Ybus"].toarray(), yf=it["Yf"].toarray(), yt=it["Yt"].toarray(),
            s_static=it["Sbus"], v0=it["V"],
            ref=it["ref"], pv=it["pv"], pq=it["pq"],
            base_kv=it["bus"][:, _BASE_KV].real, base_mva=base,
            lines=lookup["branch"].get("line", (0, 0)), trafos=lookup["branch"].get("trafo", (0, 0)),
            line_imax_ka=(line.max_i_ka * line.df * line.parallel).to_numpy(),
            trafo_vn_kv=trafo[["vn_hv_kv", "vn_lv_kv"]].to_numpy(),
            trafo_sn_mva=(trafo.sn_mva * trafo.parallel * trafo.df).to_numpy(),
            f_bus=branch[:, 0].real.astype(int), t_bus=branch[:, 1].real.astype(int),
        )

    def solve(self, s_load_mva: np.ndarray) -> FlowResult | None:
        """Solve with ``s_load_mva`` (n_bus,) complex load drawn at each bus [MVA];
        ``None`` if Newton-Raphson does not converge (the start voltages are kept)."""
        s_bus = self.s_static - s_load_mva / self.base_mva
        y, pvpq, pq = self.ybus, self.pvpq, self.pq
        v = self.v.copy()
        vm, va = np.abs(v), np.angle(v)
        npvpq = pvpq.size
        for iteration in range(MAX_ITERATIONS + 1):
            current = y @ v
            mis = v * np.conj(current) - s_bus
            f = np.r_[mis[pvpq].real, mis[pq].imag]
            if np.max(np.abs(f), initial=0.0) < TOLERANCE_PU:
                break
            if iteration == MAX_ITERATIONS:
                return None
            vnorm = v / vm
            ds_dvm = v[:, None] * np.conj(y * vnorm[None, :])
            ds_dvm[np.diag_indices_from(ds_dvm)] += np.conj(current) * vnorm
            ds_dva = -v[:, None] * np.conj(y * v[None, :])
            ds_dva[np.diag_indices_from(ds_dva)] += v * np.conj(current)
            ds_dva *= 1j
            pp_, pm, qp, qm = self._blocks
            jac = np.empty((f.size, f.size))
            jac[:npvpq, :npvpq] = ds_dva[pp_].real
            jac[:npvpq, npvpq:] = ds_dvm[pm].real
            jac[npvpq:, :npvpq] = ds_dva[qp].imag
            jac[npvpq:, npvpq:] = ds_dvm[qm].imag
            try:
                dx = np.linalg.solve(jac, -f)
            except np.linalg.LinAlgError:
                return None
            va[pvpq] += dx[:npvpq]
            vm[pq] += dx[npvpq:]
            v = vm * np.exp(1j * va)
        self.v = v
        return self._branches(v)

    def _branches(self, v: np.ndarray) -> FlowResult:
        s_f = v[self.f_bus] * np.conj(self.yf @ v) * self.base_mva
        s_t = v[self.t_bus] * np.conj(self.yt @ v) * self.base_mva
        vm = np.abs(v)
        i_f = np.abs(s_f) / (vm[self.f_bus] * self.base_kv[self.f_bus]) / np.sqrt(3)
        i_t = np.abs(s_t) / (vm[self.t_bus] * self.base_kv[self.t_bus]) / np.sqrt(3)
        ln, tr = self.lines, self.trafos
        line = np.maximum(i_f[ln], i_t[ln]) / self.line_imax_ka * 100.0
        trafo = (np.maximum(i_f[tr] * self.trafo_vn_kv[:, 0], i_t[tr] * self.trafo_vn_kv[:, 1])
                 * np.sqrt(3) / self.trafo_sn_mva * 100.0)
        return FlowResult(vm_pu=vm, line_loading_pct=line, trafo_loading_pct=trafo,
                          trafo_p_hv_mw=s_f[tr].real)
