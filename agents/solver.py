"""The one place that knows which solver is used and how it is called.

Every optimisation model in ``agents`` builds its problem as arrays (cost vector,
sparse constraint matrix, row and column bounds) and hands it to :func:`solve`,
which calls HiGHS through ``highspy`` directly. Building the matrices with numpy
instead of through pyomo's expression layer is what keeps the per-event models
(hundreds of solves per simulated day) and the large multi-period OPF fast; see
``bench/optim.py`` and ``bench/grid_optim.py``. Small models that read better as
algebra may use pyomo and :func:`solve_pyomo`, which also ends in HiGHS.

A failed solve is never an exception: the result carries ``status`` and a
human-readable ``message`` so that a simulation can report it and fall back.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field

import highspy
import numpy as np
import scipy.sparse as sp

#: HiGHS model status -> our status words.
_STATUS = {
    highspy.HighsModelStatus.kOptimal: "optimal",
    highspy.HighsModelStatus.kInfeasible: "infeasible",
    highspy.HighsModelStatus.kUnbounded: "unbounded",
    highspy.HighsModelStatus.kUnboundedOrInfeasible: "infeasible",
    highspy.HighsModelStatus.kTimeLimit: "time_limit",
    highspy.HighsModelStatus.kIterationLimit: "iteration_limit",
}


@dataclass(frozen=True)
class SolveResult:
    """Outcome of one solve.

    Attributes
    ----------
    status : "optimal", "infeasible", "unbounded", "time_limit", "iteration_limit" or "error"
    objective : objective value in the model's own units, ``nan`` unless a solution exists
    x : primal column values, ``None`` unless a solution exists
    solve_time_s : wall time spent in HiGHS [s]
    message : why there is no (optimal) solution, empty when optimal
    row_duals : dual values of the rows for LPs (``None`` for MILPs or on failure)
    """

    status: str
    objective: float = float("nan")
    x: np.ndarray | None = None
    solve_time_s: float = 0.0
    message: str = ""
    row_duals: np.ndarray | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        """True when an optimal (or time-limited but feasible) solution is available."""
        return self.x is not None


def _discard_banner() -> None:
    """Create the process's first HiGHS instance with stdout pointed at ``os.devnull``.

    HiGHS prints its banner ("Running HiGHS ...") from C++ to file descriptor 1 when
    the first instance is created, before any option can silence it; on stdout it
    would break output meant for machines (``flexcosim run`` prints JSON there), and on
    stderr it would bury the one-line messages users read there. The version it names
    is in every run's ``manifest.json`` (package ``highspy``).
    """
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


_discard_banner()


def new_highs(time_limit_s: float | None = None, mip_rel_gap: float | None = None) -> highspy.Highs:
    """A silent HiGHS instance with our default options."""
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("random_seed", 0)
    h.setOptionValue("threads", 1)
    if time_limit_s is not None:
        h.setOptionValue("time_limit", float(time_limit_s))
    if mip_rel_gap is not None:
        h.setOptionValue("mip_rel_gap", float(mip_rel_gap))
    return h


def read_result(h: highspy.Highs, elapsed_s: float, has_integers: bool) -> SolveResult:
    """Turn the state of a HiGHS instance after ``run()`` into a :class:`SolveResult`."""
    model_status = h.getModelStatus()
    status = _STATUS.get(model_status, "error")
    info = h.getInfo()
    feasible = info.primal_solution_status == 2  # kSolutionStatusFeasible
    if status == "optimal" or (status == "time_limit" and feasible):
        sol = h.getSolution()
        duals = None if has_integers else np.asarray(sol.row_dual, dtype=float)
        return SolveResult(
            status=status,
            objective=float(info.objective_function_value),
            x=np.asarray(sol.col_value, dtype=float),
            solve_time_s=elapsed_s,
            message="" if status == "optimal" else "time limit reached; best feasible solution",
            row_duals=duals,
        )
    return SolveResult(
        status=status,
        solve_time_s=elapsed_s,
        message=f"HiGHS: {h.modelStatusToString(model_status)}",
    )


def solve(
    c: np.ndarray,
    A: sp.spmatrix | np.ndarray,
    row_lo: np.ndarray,
    row_hi: np.ndarray,
    col_lo: np.ndarray,
    col_hi: np.ndarray,
    integer: np.ndarray | None = None,
    *,
    offset: float = 0.0,
    time_limit_s: float | None = None,
    mip_rel_gap: float | None = None,
    presolve: bool = True,
) -> SolveResult:
    """Minimise ``c @ x + offset`` s.t. ``row_lo <= A @ x <= row_hi``, ``col_lo <= x <= col_hi``.

    Parameters
    ----------
    c : (n,) cost vector
    A : (m, n) constraint matrix, dense or any scipy.sparse format
    row_lo, row_hi : (m,) row bounds; use ``-np.inf`` / ``np.inf`` for one-sided rows
    col_lo, col_hi : (n,) column bounds
    integer : (n,) bool mask of integer columns (binaries: integer with bounds 0..1)
    offset : constant added to the objective
    time_limit_s : wall-time limit handed to HiGHS [s]
    mip_rel_gap : relative MIP gap (HiGHS default 1e-4 when None)
    presolve : run HiGHS presolve; models with little to presolve solve faster without

    Returns
    -------
    SolveResult
    """
    h = new_highs(time_limit_s, mip_rel_gap)
    h.setOptionValue("presolve", "on" if presolve else "off")
    try:
        has_integers = pass_model(h, c, A, row_lo, row_hi, col_lo, col_hi, integer, offset)
    except ValueError as exc:  # e.g. a NaN bound: a failed solve, not a crash
        return SolveResult(status="error", message=str(exc))
    t0 = time.perf_counter()
    h.run()
    return read_result(h, time.perf_counter() - t0, has_integers)


def pass_model(
    h: highspy.Highs,
    c: np.ndarray,
    A: sp.spmatrix | np.ndarray,
    row_lo: np.ndarray,
    row_hi: np.ndarray,
    col_lo: np.ndarray,
    col_hi: np.ndarray,
    integer: np.ndarray | None = None,
    offset: float = 0.0,
) -> bool:
    """Load a model given as arrays into ``h``; returns whether it has integer columns.

    Uses highspy's array form of ``passModel`` (column-wise matrix, minimisation), which
    takes numpy buffers as they are; filling a ``HighsLp`` field by field converts every
    element through Python and cost five times as long per site LP (0.9 against 0.2 ms).
    """
    A = sp.csc_matrix(A)
    m, n = A.shape
    has_integers = integer is not None and bool(np.any(integer))
    kind = np.zeros(n, dtype=np.int32)  # HighsVarType: 0 continuous, 1 integer
    if has_integers:
        kind[np.asarray(integer, dtype=bool)] = int(highspy.HighsVarType.kInteger)
    f64 = np.float64
    status = h.passModel(
        n, m, A.nnz, int(highspy.MatrixFormat.kColwise), int(highspy.ObjSense.kMinimize),
        float(offset), np.ascontiguousarray(c, dtype=f64),
        np.ascontiguousarray(col_lo, dtype=f64), np.ascontiguousarray(col_hi, dtype=f64),
        np.ascontiguousarray(row_lo, dtype=f64), np.ascontiguousarray(row_hi, dtype=f64),
        A.indptr[:-1].astype(np.int32), A.indices.astype(np.int32), A.data.astype(f64), kind,
    )
    if status == highspy.HighsStatus.kError:
        raise ValueError("HiGHS refused the model (passModel: kError); a NaN cost or bound, "
                         "or a lower bound above its upper bound?")
    return has_integers


class PersistentModel:
    """A model whose constraint matrix is fixed, re-solved with new costs and bounds.

    Per-event models (one solve per arriving EV) have the same structure every time;
    only costs and bounds change. Passing the matrix once and updating vectors
    avoids rebuilding it (``bench/optim.py`` measures the gain). Each :meth:`solve`
    starts from scratch (no warm start from the previous basis), so the result depends
    only on the data given, never on the history of earlier solves.

    Parameters
    ----------
    A : (m, n) constraint matrix, dense or any scipy.sparse format
    time_limit_s : wall-time limit per solve handed to HiGHS [s]
    presolve : run HiGHS presolve; for LPs of a few hundred columns it costs more than
        it saves (``bench/optim.py``)
    """

    def __init__(
        self,
        A: sp.spmatrix | np.ndarray,
        time_limit_s: float | None = None,
        *,
        presolve: bool = True,
    ) -> None:
        m, n = A.shape
        self.shape = (m, n)
        self._h = new_highs(time_limit_s)
        self._h.setOptionValue("presolve", "on" if presolve else "off")
        free_rows = np.full(m, np.inf)
        pass_model(self._h, np.zeros(n), A, -free_rows, free_rows, np.zeros(n), np.zeros(n))
        self._cols = np.arange(n, dtype=np.int32)
        self._rows = np.arange(m, dtype=np.int32)

    def solve(
        self,
        c: np.ndarray,
        row_lo: np.ndarray,
        row_hi: np.ndarray,
        col_lo: np.ndarray,
        col_hi: np.ndarray,
    ) -> SolveResult:
        """Minimise ``c @ x`` over the fixed matrix with these bounds (arrays as in :func:`solve`)."""
        h = self._h
        m, n = self.shape
        as_f = np.asarray
        h.changeColsCost(n, self._cols, as_f(c, dtype=float))
        h.changeColsBounds(n, self._cols, as_f(col_lo, dtype=float), as_f(col_hi, dtype=float))
        h.changeRowsBounds(m, self._rows, as_f(row_lo, dtype=float), as_f(row_hi, dtype=float))
        h.clearSolver()
        t0 = time.perf_counter()
        h.run()
        return read_result(h, time.perf_counter() - t0, has_integers=False)


def solve_pyomo(model, time_limit_s: float | None = None) -> SolveResult:
    """Solve a pyomo model with HiGHS (appsi interface); values are loaded into the model.

    ``x`` is left ``None``: read the solution from the model's variables when ``ok``.
    """
    from pyomo.contrib.appsi.base import TerminationCondition as TC
    from pyomo.contrib.appsi.solvers.highs import Highs as AppsiHighs

    opt = AppsiHighs()
    opt.config.stream_solver = False
    opt.config.load_solution = False
    if time_limit_s is not None:
        opt.config.time_limit = float(time_limit_s)
    t0 = time.perf_counter()
    try:
        res = opt.solve(model)
    except Exception as exc:  # noqa: BLE001 - solver failures must not escape into a simulation
        return SolveResult(status="error", solve_time_s=time.perf_counter() - t0, message=str(exc))
    elapsed = time.perf_counter() - t0
    term = res.termination_condition
    if term == TC.optimal:
        res.solution_loader.load_vars()
        return SolveResult(
            status="optimal", objective=float(res.best_feasible_objective), solve_time_s=elapsed
        )
    status = {
        TC.infeasible: "infeasible",
        TC.unbounded: "unbounded",
        TC.infeasibleOrUnbounded: "infeasible",
        TC.maxTimeLimit: "time_limit",
    }.get(term, "error")
    return SolveResult(status=status, solve_time_s=elapsed, message=f"HiGHS via pyomo: {term.name}")
