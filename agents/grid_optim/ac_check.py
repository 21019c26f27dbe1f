"""AC verification of OPF schedules with pandapower, and the AC-feasibility correction.

:func:`ac_check` runs a pandapower Newton-Raphson power flow for every step of a
schedule (the previous step's solution as start point, ``init="results"``, and the
internal model recycled between steps since only PQ injections change) and compares
it with LinDistFlow: maximum voltage difference and every AC limit violation.

:func:`solve_ac_feasible` plans for an AC-feasible result rather than an LP optimum:
solve strategy c, check AC, tighten only the limits AC found violated by the AC-vs-
LinDistFlow mismatch at that limit (plus ``margin``), re-solve from the previous basis,
and repeat up to ``max_iterations`` times (LinDistFlow drops the losses, so it is
optimistic on loading and voltage drop exactly where the grid is loaded).

The AC model replaces all loads, sgens and storages by one PQ load per bus carrying the
problem's base plus EV consumption, and drops closed line/trafo switches (pure
bookkeeping in pandapower; open ones stay), so the check sees exactly the OPF's inputs.
"""

from __future__ import annotations

import copy
import itertools
import multiprocessing
import time
from dataclasses import dataclass, field

import numpy as np
import pandapower as pp

from flexcosim.agents.grid_optim.lindistflow import LINE, TRAFO
from flexcosim.agents.grid_optim.opf import (
    TOLERANCE,
    ChargingLP,
    OPFProblem,
    OPFResult,
    ev_bus_matrix,
    grid_state,
    limit_violations,
)

_RECYCLE = {"trafo": False, "gen": False, "bus_pq": True}


@dataclass(frozen=True)
class ACCheck:
    """AC power-flow verification of a schedule.

    Attributes
    ----------
    v_pu : (n, T) AC bus voltages [pu] (``nan`` where the power flow did not converge)
    loading : (m, T) AC loading of lines (current) and transformers [-] (1.0 = 100 %)
    max_voltage_error_pu : max |v_LinDistFlow - v_AC| over buses and steps [pu]
    max_line_loading, max_trafo_loading : [-]
    violations : AC limit violations, worst 20 first, e.g. ``"trafo 3 at step 70: 104.2 %"``
    n_violations : number of violated (branch or bus, step) pairs in AC
    not_converged : steps whose AC power flow did not converge
    time_s : wall time of the check [s]
    slack_p_mw : (T,) active power imported at the external grid(s) [MW] (``nan`` where
        not converged): consumption plus AC losses
    """

    v_pu: np.ndarray
    loading: np.ndarray
    max_voltage_error_pu: float
    max_line_loading: float
    max_trafo_loading: float
    violations: tuple[str, ...]
    n_violations: int
    not_converged: tuple[int, ...]
    time_s: float
    slack_p_mw: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def ok(self) -> bool:
        """True when every step converged and no limit is violated."""
        return not self.violations and not self.not_converged


def ac_net(problem: OPFProblem, net: pp.pandapowerNet) -> pp.pandapowerNet:
    """Copy of ``net`` with one PQ load per bus position of ``problem.network`` (index = position)."""
    ac = copy.deepcopy(net)
    for table in ("load", "sgen", "storage"):
        if table in ac and len(ac[table]):
            ac[table].drop(ac[table].index, inplace=True)
    closed_branch_switch = ac.switch.closed.astype(bool) & ac.switch.et.isin(["l", "t"])
    ac.switch.drop(ac.switch.index[closed_branch_switch], inplace=True)
    for table in ("res_bus", "res_line", "res_trafo", "res_switch"):
        if table in ac:
            ac[table].drop(ac[table].index, inplace=True)
    pp.create_loads(ac, problem.network.bus_ids, 0.0, q_mvar=0.0,
                    index=np.arange(problem.network.n_buses))
    return ac


def _run_steps(ac: pp.pandapowerNet, p_mw: np.ndarray, q_mvar: np.ndarray, bus_ids: np.ndarray,
               line_el: np.ndarray, trafo_el: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[int], np.ndarray]:
    """Power flow for each column of ``p_mw``/``q_mvar`` (n, T'); returns v, line, trafo
    loading, the steps that failed and the slack import [MW]."""
    T = p_mw.shape[1]
    v = np.full((len(bus_ids), T), np.nan)
    line = np.full((len(line_el), T), np.nan)
    trafo = np.full((len(trafo_el), T), np.nan)
    slack = np.full(T, np.nan)
    failed: list[int] = []
    warm = False
    for t in range(T):
        ac.load["p_mw"] = p_mw[:, t]
        ac.load["q_mvar"] = q_mvar[:, t]
        try:
            if warm:
                pp.runpp(ac, init="results", numba=False, recycle=_RECYCLE)
            else:
                pp.runpp(ac, numba=False)
        except pp.LoadflowNotConverged:
            failed.append(t)
            warm = False
            continue
        warm = True
        v[:, t] = ac.res_bus.vm_pu.loc[bus_ids].to_numpy()
        line[:, t] = ac.res_line.loading_percent.loc[line_el].to_numpy() / 100
        trafo[:, t] = ac.res_trafo.loading_percent.loc[trafo_el].to_numpy() / 100
        slack[t] = ac.res_ext_grid.p_mw.sum()
    return v, line, trafo, failed, slack


_WORKER_ARGS: tuple = ()


def _worker(bounds: tuple[int, int]) -> tuple:
    ac, p, q, bus_ids, line_el, trafo_el = _WORKER_ARGS
    lo, hi = bounds
    return _run_steps(ac, p[:, lo:hi], q[:, lo:hi], bus_ids, line_el, trafo_el)


def ac_check(problem: OPFProblem, result: OPFResult, net: pp.pandapowerNet,
             workers: int = 1, ac: pp.pandapowerNet | None = None) -> ACCheck:
    """Verify ``result`` with a pandapower AC power flow at every step.

    Parameters
    ----------
    problem : the OPF problem the result belongs to
    result : its schedule (any strategy)
    net : the pandapower net ``problem.network`` was derived from
    workers : processes to spread the steps over (fork; 1 = in this process)
    ac : a net from :func:`ac_net` to reuse (saves the copy when checking repeatedly)
    """
    t0 = time.perf_counter()
    network = problem.network
    ac = ac_net(problem, net) if ac is None else ac
    p = problem.base_p_mw + ev_bus_matrix(problem) @ result.ev_power_kw / 1000.0
    q = np.asarray(problem.base_q_mvar, dtype=float)
    is_line, is_trafo = network.kind == LINE, network.kind == TRAFO
    args = (ac, p, q, network.bus_ids, network.element[is_line], network.element[is_trafo])
    T = problem.n_steps
    if workers > 1 and "fork" in multiprocessing.get_all_start_methods():
        global _WORKER_ARGS
        _WORKER_ARGS = args
        edges = np.linspace(0, T, workers + 1).astype(int)
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            parts = pool.map(_worker, list(itertools.pairwise(edges)))
        _WORKER_ARGS = ()
        v = np.concatenate([part[0] for part in parts], axis=1)
        line = np.concatenate([part[1] for part in parts], axis=1)
        trafo = np.concatenate([part[2] for part in parts], axis=1)
        failed = [int(lo + t) for part, lo in zip(parts, edges[:-1]) for t in part[3]]
        slack = np.concatenate([part[4] for part in parts])
    else:
        v, line, trafo, failed, slack = _run_steps(*args)
    loading = np.zeros((network.n_branches, T))
    loading[is_line] = line
    loading[is_trafo] = trafo
    ok = ~np.isnan(v).any(axis=0)
    err = np.abs(result.v_pu[:, ok] - v[:, ok])
    named = limit_violations(problem, grid_state(problem, result.ev_power_kw),
                             v_pu=np.where(np.isnan(v), 1.0, v), loading=np.nan_to_num(loading))
    return ACCheck(
        v_pu=v, loading=loading,
        max_voltage_error_pu=float(err.max()) if err.size else float("nan"),
        max_line_loading=float(np.nanmax(line)) if line.size else 0.0,
        max_trafo_loading=float(np.nanmax(trafo)) if trafo.size else 0.0,
        violations=named,
        n_violations=int(np.sum(np.nan_to_num(loading) > 1 + TOLERANCE)
                         + np.sum(v < problem.v_min_pu - TOLERANCE) + np.sum(v > problem.v_max_pu + TOLERANCE)),
        not_converged=tuple(failed), time_s=time.perf_counter() - t0, slack_p_mw=slack,
    )


@dataclass(frozen=True)
class ACFeasibleResult:
    """Outcome of :func:`solve_ac_feasible`.

    Attributes
    ----------
    opf : the last schedule (strategy c)
    check : its AC verification
    iterations : LP solves with tightened limits after the first one
    ac_verify_time_s : time spent in AC checks [s]
    history : (max AC loading [-], min AC voltage [pu], AC violation count) per AC check
    """

    opf: OPFResult
    check: ACCheck | None
    iterations: int
    ac_verify_time_s: float
    history: tuple[tuple[float, float, int], ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.opf.ok and self.check is not None and self.check.ok


def solve_ac_feasible(problem: OPFProblem, net: pp.pandapowerNet, max_iterations: int = 3,
                      margin: float = 0.002, workers: int = 1) -> ACFeasibleResult:
    """Strategy c, AC-checked, with violated limits tightened by the AC mismatch and re-solved.

    A branch violated in AC at some step gets, at every step where AC loads it above
    90 %, the limit factor ``scale <= u / loading_AC - margin``, where ``u`` is the LP's
    own measure of the branch's use (|S| at 1 pu voltage over S_max): the ratio
    ``loading_AC / u`` is the systematic mismatch at that step (LinDistFlow drops losses,
    the transformers' reactive consumption and the ``1/v`` rise of current; in a heavily
    loaded LV grid it reaches 10-15 %), so the next LP keeps AC at 100 % if the ratio
    stays; a bus below ``v_min`` gets its lower bound raised by
    ``v_LinDistFlow - v_AC + margin`` at that step. Tightenings accumulate over passes.
    Never raises: a failed LP comes back as ``opf.status``/``opf.reason`` with ``check=None``.
    """
    if max_iterations < 0 or margin < 0:
        raise ValueError(f"max_iterations = {max_iterations}, margin = {margin}: both must be >= 0")
    lp = ChargingLP(problem, grid=True)
    result = lp.solve()
    if not result.ok:
        return ACFeasibleResult(result, None, 0, 0.0)
    ac = ac_net(problem, net)
    check = ac_check(problem, result, net, workers=workers, ac=ac)
    verify_s = check.time_s
    history = [_summary(check)]
    scale = np.ones_like(result.loading)
    v_min = np.full_like(result.v_pu, problem.v_min_pu)
    iterations = 0
    while iterations < max_iterations and check.violations:
        # the mismatch of a branch is systematic (losses, 1/v current), so a violated
        # branch is tightened at every step where AC loads it above 90 %, not only where hit
        ac_loading = np.nan_to_num(check.loading)
        usage = result.loading * result.v_pu[problem.network.from_bus]
        near = (ac_loading > 1.0 + 1e-6).any(axis=1, keepdims=True) & (ac_loading > 0.9)
        limit = np.divide(usage, ac_loading, out=np.ones_like(usage), where=ac_loading > 0) - margin
        scale = np.where(near, np.minimum(scale, limit), scale)
        low = check.v_pu < problem.v_min_pu - 1e-6
        v_min[low] += np.maximum(result.v_pu[low] - check.v_pu[low], 0.0) + margin
        lp.tighten(branch_scale=np.maximum(scale, 0.0), v_min_pu=v_min)
        result = lp.solve()
        iterations += 1
        if not result.ok:
            return ACFeasibleResult(result, check, iterations, verify_s, tuple(history))
        check = ac_check(problem, result, net, workers=workers, ac=ac)
        verify_s += check.time_s
        history.append(_summary(check))
    return ACFeasibleResult(result, check, iterations, verify_s, tuple(history))


def _summary(check: ACCheck) -> tuple[float, float, int]:
    return (max(check.max_line_loading, check.max_trafo_loading), float(np.nanmin(check.v_pu)),
            check.n_violations)
