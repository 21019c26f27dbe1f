"""Behind-the-meter EMS MILP of seed 004 section 3.3.2 (eqs 3.10-3.30).

A site behind one grid connection schedules its flexible assets over a horizon of
``n_steps`` steps of ``dt_s`` seconds: flexible loads (set L) and generators (G),
multi-energy consumers such as heat pumps or electrolysers (M) and injectors such as
CHP units (N), stationary batteries (B) and EVs (V). Three objectives are offered:
minimum exchange with the grid (eq 3.10), minimum energy cost (eq 3.30) and minimum
deviation from a given exchange schedule (section 3.3.2, last paragraph).

The MILP is built as arrays and handed to :func:`flexcosim.agents.solver.solve`, like every other
model in ``flexcosim.agents.optim``: with all asset classes sharing two block patterns
(unidirectional unit, storage unit) the array form is as short as a pyomo model, and it
needs no second code path for extracting the solution.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import scipy.sparse as sp

from flexcosim.agents.solver import SolveResult, solve
from flexcosim.agents.validation import bool_array, float_array, ordered, positive_int

Objective = Literal["exchange", "cost", "deviation"]

#: Weight of a kWh of unmet minimum final energy relative to the most a kWh of exchange
#: can cost under the chosen objective. Delivering a kWh through two conversions at 10 %
#: efficiency costs at most 100 times that, so the slack is used only for targets that
#: are out of physical reach.
UNMET_PENALTY_FACTOR = 1e3

#: Above this a slack value counts as non-zero when writing reasons [kW or kWh].
_REPORT_TOL = 1e-6


@dataclass(frozen=True, eq=False)
class StorageUnits:
    """Stationary batteries or EVs (eqs 3.18-3.21, 3.25-3.29), one entry per unit.

    The seed treats both alike except for the availability ``B_v^t`` of EVs, so both
    use this type; stationary batteries leave ``connected`` as ``None``. Energies are
    in kWh instead of the seed's SOC ``S = e / C``.

    Attributes
    ----------
    capacity_kwh : (n,) energy capacity ``C`` (> 0) [kWh]
    energy_kwh : (n,) energy at the start of the horizon ``S^0 C`` [kWh]
    max_charge_kw, max_discharge_kw : (n,) grid-side power limits ``P̄_ch``, ``P̄_dis`` [kW]
    min_energy_kwh : (n,) lower energy bound at every step, eq 3.8 [kWh]
    final_energy_kwh : (n,) minimum energy at the horizon end ``S_v C_v`` (eq 3.29);
        soft, see :func:`solve_btm_ems` [kWh]
    efficiency : (n,) one-way charge/discharge efficiency in (0, 1]; the seed's 3.27-3.28
        are the case 1
    connected : (n, T) availability ``B_v^t`` (EVs), ``None`` for always connected
    """

    capacity_kwh: np.ndarray
    energy_kwh: np.ndarray
    max_charge_kw: np.ndarray
    max_discharge_kw: np.ndarray
    min_energy_kwh: np.ndarray | float = 0.0
    final_energy_kwh: np.ndarray | float = 0.0
    efficiency: np.ndarray | float = 1.0
    connected: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = (len(np.atleast_1d(self.capacity_kwh)),)
        checked = {
            "capacity_kwh": float_array("capacity_kwh", self.capacity_kwh, n, lo=1e-9),
            "energy_kwh": float_array("energy_kwh", self.energy_kwh, n, lo=0.0),
            "max_charge_kw": float_array("max_charge_kw", self.max_charge_kw, n, lo=0.0),
            "max_discharge_kw": float_array("max_discharge_kw", self.max_discharge_kw, n, lo=0.0),
            "min_energy_kwh": float_array("min_energy_kwh", self.min_energy_kwh, n, lo=0.0),
            "final_energy_kwh": float_array("final_energy_kwh", self.final_energy_kwh, n, lo=0.0),
            "efficiency": float_array("efficiency", self.efficiency, n, lo=1e-3, hi=1.0),
        }
        if self.connected is not None:
            shape = (n[0], np.shape(self.connected)[-1] if np.ndim(self.connected) else 0)
            checked["connected"] = bool_array("connected", self.connected, shape)
        for name, value in checked.items():
            object.__setattr__(self, name, value)
        ordered("min_energy_kwh", self.min_energy_kwh, "energy_kwh", self.energy_kwh)
        ordered("energy_kwh", self.energy_kwh, "capacity_kwh", self.capacity_kwh)
        ordered("final_energy_kwh", self.final_energy_kwh, "capacity_kwh", self.capacity_kwh)

    @classmethod
    def none(cls) -> StorageUnits:
        """An empty set of units."""
        return cls(np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0))

    def __len__(self) -> int:
        return len(self.capacity_kwh)

    def connected_mask(self, n_steps: int) -> np.ndarray:
        """(n, T) availability, all ``True`` when ``connected`` is ``None``."""
        if self.connected is None:
            return np.ones((len(self), n_steps), dtype=bool)
        if self.connected.shape[1] != n_steps:
            raise ValueError(
                f"connected has {self.connected.shape[1]} steps; expected n_steps = {n_steps}"
            )
        return self.connected


@dataclass(frozen=True, eq=False)
class BTMProblem:
    """One behind-the-meter site over ``T`` steps of ``dt_s`` seconds.

    Attributes
    ----------
    fixed_load_kw : (T,) forecast consumption of the non-flexible assets ``P_Ftc`` [kW]
    fixed_generation_kw : (T,) forecast generation of the non-flexible assets ``P_Ftg`` [kW]
    import_limit_kw, export_limit_kw : grid connection limits ``P̄_ti``, ``P̄_te`` [kW]
    dt_s : step length ``Δt`` [s]
    flex_load_max_kw : (L,) ratings ``P̄_l`` of flexible loads [kW]
    flex_generation_max_kw : (G,) ratings ``P̄_g`` of flexible generators [kW]
    multi_energy_consumer_max_kw : (M,) ratings ``P̄_m`` (heat pumps, electrolysers) [kW]
    multi_energy_injector_max_kw : (N,) ratings ``P̄_n`` (CHP units) [kW]
    batteries : stationary batteries, set B
    evs : EVs, set V
    import_price_per_kwh, export_price_per_kwh : (T,) ``κ_ti`` and the feed-in tariff
        ``κ_te`` (a revenue) [currency/kWh]; needed for objective "cost"
    reference_exchange_kw : (T,) exchange schedule to follow, import positive [kW];
        needed for objective "deviation"
    """

    fixed_load_kw: np.ndarray
    fixed_generation_kw: np.ndarray
    import_limit_kw: float
    export_limit_kw: float
    dt_s: int
    flex_load_max_kw: np.ndarray = field(default_factory=lambda: np.zeros(0))
    flex_generation_max_kw: np.ndarray = field(default_factory=lambda: np.zeros(0))
    multi_energy_consumer_max_kw: np.ndarray = field(default_factory=lambda: np.zeros(0))
    multi_energy_injector_max_kw: np.ndarray = field(default_factory=lambda: np.zeros(0))
    batteries: StorageUnits = field(default_factory=StorageUnits.none)
    evs: StorageUnits = field(default_factory=StorageUnits.none)
    import_price_per_kwh: np.ndarray | None = None
    export_price_per_kwh: np.ndarray | None = None
    reference_exchange_kw: np.ndarray | None = None

    def __post_init__(self) -> None:
        step = (len(np.atleast_1d(self.fixed_load_kw)),)
        checked: dict[str, object] = {
            "fixed_load_kw": float_array("fixed_load_kw", self.fixed_load_kw, step, lo=0.0),
            "fixed_generation_kw": float_array(
                "fixed_generation_kw", self.fixed_generation_kw, step, lo=0.0
            ),
            "import_limit_kw": float(
                float_array("import_limit_kw", self.import_limit_kw, (), lo=0.0)
            ),
            "export_limit_kw": float(
                float_array("export_limit_kw", self.export_limit_kw, (), lo=0.0)
            ),
            "dt_s": positive_int("dt_s", self.dt_s),
        }
        for name in _UNIDIRECTIONAL:
            value = getattr(self, name)
            checked[name] = float_array(name, value, (len(np.atleast_1d(value)),), lo=0.0)
        for name in ("import_price_per_kwh", "export_price_per_kwh", "reference_exchange_kw"):
            if getattr(self, name) is not None:
                checked[name] = float_array(name, getattr(self, name), step)
        for name, value in checked.items():
            object.__setattr__(self, name, value)
        for name in ("batteries", "evs"):
            if not isinstance(getattr(self, name), StorageUnits):
                raise TypeError(f"{name} must be StorageUnits, got {type(getattr(self, name))}")
            getattr(self, name).connected_mask(step[0])

    @property
    def n_steps(self) -> int:
        return len(self.fixed_load_kw)


#: Unidirectional asset ratings and their side of the balance 3.11: +1 consumes (3.12),
#: -1 injects (3.13).
_UNIDIRECTIONAL = {
    "flex_load_max_kw": 1.0,
    "flex_generation_max_kw": -1.0,
    "multi_energy_consumer_max_kw": 1.0,
    "multi_energy_injector_max_kw": -1.0,
}


@dataclass(frozen=True, eq=False)
class StorageSchedule:
    """Schedule of a set of :class:`StorageUnits`.

    Attributes
    ----------
    charge_kw, discharge_kw : (n, T) grid-side powers ``P_ch``, ``P_dis`` [kW]
    energy_kwh : (n, T+1) energy at the start of each step and at the horizon end [kWh]
    unmet_kwh : (n,) shortfall against ``final_energy_kwh`` (soft 3.29) [kWh]
    """

    charge_kw: np.ndarray
    discharge_kw: np.ndarray
    energy_kwh: np.ndarray
    unmet_kwh: np.ndarray


@dataclass(frozen=True, eq=False)
class BTMSchedule:
    """Solution of the BTM EMS MILP; schedules are ``None`` when there is no solution.

    Attributes
    ----------
    status : "optimal", "time_limit" (with a feasible schedule) or the failure status
    objective : exchange [kWh], cost [currency] or deviation [kWh] of the schedule,
        without the unmet-energy penalty; ``nan`` without solution
    import_kw, export_kw : (T,) ``P_ti``, ``P_te`` [kW]
    flex_load_kw, flex_generation_kw, multi_energy_consumer_kw, multi_energy_injector_kw :
        (L, T), (G, T), (M, T), (N, T) unit powers [kW]
    batteries, evs : storage schedules
    solve_time_s : time spent in HiGHS [s]
    reason : why there is no solution, or which final energies were missed
    """

    status: str
    objective: float
    import_kw: np.ndarray | None = None
    export_kw: np.ndarray | None = None
    flex_load_kw: np.ndarray | None = None
    flex_generation_kw: np.ndarray | None = None
    multi_energy_consumer_kw: np.ndarray | None = None
    multi_energy_injector_kw: np.ndarray | None = None
    batteries: StorageSchedule | None = None
    evs: StorageSchedule | None = None
    solve_time_s: float = 0.0
    reason: str = ""

    @property
    def ok(self) -> bool:
        """True when schedules are available."""
        return self.import_kw is not None


def solve_btm_ems(
    problem: BTMProblem, objective: Objective, *, time_limit_s: float | None = 30.0
) -> BTMSchedule:
    """Schedule a behind-the-meter site (seed 004 eqs 3.10-3.30).

    Constraints, per step ``t`` (unit indices as in the seed; energies in kWh)::

        P_Ftg + P_flex,dis + P_ti = P_Ftc + P_flex,ch + P_te                  (3.11)
        P_flex,ch  = Σ_l P_l + Σ_b P_b,ch  + Σ_v P_v,ch  + Σ_m P_m             (3.12)
        P_flex,dis = Σ_g P_g + Σ_b P_b,dis + Σ_v P_v,dis + Σ_n P_n             (3.13)
        0 <= P_ti <= y P̄_ti,   0 <= P_te <= (1 - y) P̄_te           (3.14, 3.15, 3.24)
        0 <= P_l <= P̄_l, 0 <= P_g <= P̄_g, 0 <= P_m <= P̄_m, 0 <= P_n <= P̄_n (3.16, 3.17, 3.22, 3.23)
        0 <= P_ch <= x P̄_ch B,  0 <= P_dis <= (1 - x) P̄_dis B    (3.18-3.21, 3.25, 3.26)
        e(t+1) = e(t) + (η P_ch - P_dis / η) Δt                          (3.27, 3.28)
        e_min <= e(t) <= C,   e(T) >= e_final - u,  u >= 0           (3.8, 3.29 soft)

    where the complementary binaries of 3.24-3.26 are replaced by one binary and its
    complement (``y_e = 1 - y_i``, ``x_dis = 1 - x_ch``) and ``B = 1`` for stationary
    batteries. Objectives, all over the horizon and in energy (power times ``Δt``)::

        "exchange":  Σ (P_ti + P_te) Δt                                   (3.10)
        "cost":      Σ (κ_ti P_ti - κ_te P_te) Δt                         (3.30)
        "deviation": Σ |P_ti - P_te - P_ref| Δt    (linearised with two slacks)

    Eq 3.30 prints ``+ κ_te P_te``; with the feed-in tariff as a positive revenue, as
    here, export lowers the cost.

    Fallbacks: a minimum final energy (3.29) that cannot be reached is relaxed by the
    slack ``u`` at :data:`UNMET_PENALTY_FACTOR` times the costliest kWh of exchange;
    the shortfall is reported in ``unmet_kwh`` and ``reason``. Every other constraint is
    hard; when they contradict each other (only the balance 3.11 with the grid limits
    can, since idle assets always satisfy the rest) the status is "infeasible" and
    ``reason`` names the first step and limit that cannot hold, found by re-solving with
    penalised balance slacks.

    Parameters
    ----------
    problem : the site
    objective : "exchange", "cost" or "deviation"
    time_limit_s : HiGHS wall-time limit [s]; a feasible schedule found by then is
        returned with status "time_limit"

    Returns
    -------
    BTMSchedule
    """
    if objective not in ("exchange", "cost", "deviation"):
        raise ValueError(f"objective = {objective!r}; allowed: 'exchange', 'cost', 'deviation'")
    if objective == "cost" and (
        problem.import_price_per_kwh is None or problem.export_price_per_kwh is None
    ):
        raise ValueError("objective 'cost' needs import_price_per_kwh and export_price_per_kwh")
    if objective == "deviation" and problem.reference_exchange_kw is None:
        raise ValueError("objective 'deviation' needs reference_exchange_kw")

    milp = _BTMArrays(problem, objective, elastic=False)
    res = milp.run(time_limit_s)
    if not res.ok:
        reason = res.message
        if res.status == "infeasible":
            reason = _infeasibility_reason(problem, objective, time_limit_s) or reason
        return BTMSchedule(
            status=res.status, objective=float("nan"), solve_time_s=res.solve_time_s, reason=reason
        )
    return milp.schedule(res.x, res.status, res.objective, res.solve_time_s)


class _Columns:
    """Allocates blocks of columns and collects rows as sparse triplets."""

    def __init__(self) -> None:
        self.n_cols = self.n_rows = 0
        self._lo: list[np.ndarray] = []
        self._hi: list[np.ndarray] = []
        self._integer: list[np.ndarray] = []
        self._triplets: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._row_lo: list[np.ndarray] = []
        self._row_hi: list[np.ndarray] = []

    def var(
        self, shape: tuple[int, ...], lo: object, hi: object, integer: bool = False
    ) -> np.ndarray:
        """Indices, of ``shape``, of a new block of columns with bounds ``lo``, ``hi``."""
        size = int(np.prod(shape))
        self._lo.append(np.broadcast_to(np.asarray(lo, dtype=float), shape).ravel())
        self._hi.append(np.broadcast_to(np.asarray(hi, dtype=float), shape).ravel())
        self._integer.append(np.full(size, integer))
        idx = self.n_cols + np.arange(size).reshape(shape)
        self.n_cols += size
        return idx

    def rows(
        self, shape: tuple[int, ...], terms: list[tuple[np.ndarray, object]], lo: object, hi: object
    ) -> None:
        """Rows ``lo <= Σ_terms Σ_k coef * x[cols] <= hi``, one per element of ``shape``.

        ``cols`` has ``shape`` or ``shape`` plus trailing axes, which are summed over;
        ``coef`` broadcasts against ``cols``.
        """
        size = int(np.prod(shape))
        row = self.n_rows + np.arange(size).reshape(shape)
        for cols, coef in terms:
            extra = np.ndim(cols) - len(shape)
            r, c, v = np.broadcast_arrays(
                row.reshape(shape + (1,) * extra), cols, np.asarray(coef, dtype=float)
            )
            self._triplets.append((r.ravel(), c.ravel(), v.ravel()))
        self._row_lo.append(np.broadcast_to(np.asarray(lo, dtype=float), shape).ravel())
        self._row_hi.append(np.broadcast_to(np.asarray(hi, dtype=float), shape).ravel())
        self.n_rows += size

    def arrays(
        self,
    ) -> tuple[sp.csc_matrix, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``A, row_lo, row_hi, col_lo, col_hi, integer`` for :func:`flexcosim.agents.solver.solve`."""
        r, c, v = (np.concatenate(part) for part in zip(*self._triplets))
        keep = v != 0.0
        A = sp.csc_matrix((v[keep], (r[keep], c[keep])), shape=(self.n_rows, self.n_cols))
        cat = np.concatenate
        return (
            A,
            cat(self._row_lo),
            cat(self._row_hi),
            cat(self._lo),
            cat(self._hi),
            cat(self._integer),
        )


class _BTMArrays:
    """The MILP of :func:`solve_btm_ems` as arrays, and the read-out of a solution.

    With ``elastic`` the balance rows get shortfall/surplus columns and the objective is
    their sum; that variant only serves to explain an infeasible problem.
    """

    def __init__(self, problem: BTMProblem, objective: Objective, *, elastic: bool) -> None:
        T, dt_h = problem.n_steps, problem.dt_s / 3600.0
        store = _stack(problem.batteries, problem.evs, T)
        S = len(store["capacity_kwh"])
        ratings = [getattr(problem, name) for name in _UNIDIRECTIONAL]
        rating = np.concatenate(ratings)
        side = np.repeat(list(_UNIDIRECTIONAL.values()), [len(r) for r in ratings])

        m = _Columns()
        imp = m.var((T,), 0.0, problem.import_limit_kw)
        exp = m.var((T,), 0.0, problem.export_limit_kw)
        # A mode with a zero limit is fixed, which keeps its binary out of the search.
        can_import, can_export = problem.import_limit_kw > 0, problem.export_limit_kw > 0
        y_imp = m.var((T,), float(can_import and not can_export), float(can_import), True)
        unit = m.var((len(rating), T), 0.0, rating[:, None])
        ch_max = store["max_charge_kw"][:, None] * store["connected"]
        dis_max = store["max_discharge_kw"][:, None] * store["connected"]
        ch = m.var((S, T), 0.0, ch_max)
        dis = m.var((S, T), 0.0, dis_max)
        x_ch = m.var((S, T), (dis_max == 0) & (ch_max > 0), ch_max > 0, integer=True)
        energy = m.var((S, T), store["min_energy_kwh"][:, None], store["capacity_kwh"][:, None])
        unmet = m.var((S,), 0.0, store["final_energy_kwh"])

        # 3.11-3.13: P_ti - P_te - consumption + injection = P_Ftc - P_Ftg
        net_fixed = problem.fixed_load_kw - problem.fixed_generation_kw
        balance = [(imp, 1.0), (exp, -1.0), (unit.T, -side), (ch.T, -1.0), (dis.T, 1.0)]
        if elastic:
            short, surplus = m.var((T,), 0.0, np.inf), m.var((T,), 0.0, np.inf)
            balance += [(short, 1.0), (surplus, -1.0)]
        m.rows((T,), balance, net_fixed, net_fixed)
        # 3.14, 3.15, 3.24 with y_e = 1 - y_i
        m.rows((T,), [(imp, 1.0), (y_imp, -problem.import_limit_kw)], -np.inf, 0.0)
        m.rows(
            (T,), [(exp, 1.0), (y_imp, problem.export_limit_kw)], -np.inf, problem.export_limit_kw
        )
        # 3.18-3.21, 3.25, 3.26 with x_dis = 1 - x_ch
        m.rows((S, T), [(ch, 1.0), (x_ch, -ch_max)], -np.inf, 0.0)
        m.rows((S, T), [(dis, 1.0), (x_ch, dis_max)], -np.inf, dis_max)
        # 3.27, 3.28 with efficiency; the energy before step 0 moves to the right side.
        eta = store["efficiency"][:, None]
        before = np.concatenate([energy[:, :1], energy[:, :-1]], axis=1)
        not_first = np.broadcast_to(np.arange(T) > 0, (S, T))
        e0 = np.where(not_first, 0.0, store["energy_kwh"][:, None])
        m.rows(
            (S, T),
            [
                (energy, 1.0),
                (before, -not_first.astype(float)),
                (ch, -eta * dt_h),
                (dis, dt_h / eta),
            ],
            e0,
            e0,
        )
        # 3.29, softened by `unmet`
        m.rows((S,), [(energy[:, -1], 1.0), (unmet, 1.0)], store["final_energy_kwh"], np.inf)

        cost: list[tuple[np.ndarray, object]] = []
        if elastic:
            cost = [(short, 1.0), (surplus, 1.0)]
        elif objective == "exchange":
            cost = [(imp, dt_h), (exp, dt_h)]
        elif objective == "cost":
            cost = [
                (imp, problem.import_price_per_kwh * dt_h),
                (exp, -problem.export_price_per_kwh * dt_h),
            ]
        else:
            dev_up, dev_down = m.var((T,), 0.0, np.inf), m.var((T,), 0.0, np.inf)
            m.rows(
                (T,),
                [(imp, 1.0), (exp, -1.0), (dev_up, -1.0), (dev_down, 1.0)],
                problem.reference_exchange_kw,
                problem.reference_exchange_kw,
            )
            cost = [(dev_up, dt_h), (dev_down, dt_h)]
        self.A, self.row_lo, self.row_hi, self.col_lo, self.col_hi, self.integer = m.arrays()
        self.cost = np.zeros(m.n_cols)
        for cols, c in cost:
            self.cost[cols] = c
        self.penalty_per_kwh = 0.0 if elastic else _unmet_penalty(problem, objective)
        self.cost[unmet] = self.penalty_per_kwh

        self._problem, self._store, self._ratings = problem, store, ratings
        self._cols = {
            "imp": imp,
            "exp": exp,
            "unit": unit,
            "ch": ch,
            "dis": dis,
            "energy": energy,
            "unmet": unmet,
        }
        if elastic:
            self._cols |= {"short": short, "surplus": surplus}

    def run(self, time_limit_s: float | None) -> SolveResult:
        """Solve with HiGHS."""
        return solve(
            self.cost,
            self.A,
            self.row_lo,
            self.row_hi,
            self.col_lo,
            self.col_hi,
            self.integer,
            time_limit_s=time_limit_s,
        )

    def values(self, x: np.ndarray, name: str) -> np.ndarray:
        """Solution values of a column block, in its shape."""
        return x[self._cols[name]]

    def schedule(
        self, x: np.ndarray, status: str, objective: float, solve_time_s: float
    ) -> BTMSchedule:
        unmet = self.values(x, "unmet")
        # Values within the solver tolerance of zero are reported as zero.
        unmet = np.where(unmet > _REPORT_TOL, unmet, 0.0)
        energy = np.hstack([self._store["energy_kwh"][:, None], self.values(x, "energy")])
        ch, dis = self.values(x, "ch"), self.values(x, "dis")
        b = len(self._problem.batteries)

        def storage(part: slice) -> StorageSchedule:
            return StorageSchedule(ch[part], dis[part], energy[part], unmet[part])

        units = np.split(self.values(x, "unit"), np.cumsum([len(r) for r in self._ratings])[:-1])
        return BTMSchedule(
            status=status,
            objective=objective - self.penalty_per_kwh * float(self.values(x, "unmet").sum()),
            import_kw=self.values(x, "imp"),
            export_kw=self.values(x, "exp"),
            flex_load_kw=units[0],
            flex_generation_kw=units[1],
            multi_energy_consumer_kw=units[2],
            multi_energy_injector_kw=units[3],
            batteries=storage(slice(0, b)),
            evs=storage(slice(b, None)),
            solve_time_s=solve_time_s,
            reason=_unmet_reason(unmet, self._store["final_energy_kwh"], b),
        )


def _stack(batteries: StorageUnits, evs: StorageUnits, n_steps: int) -> dict[str, np.ndarray]:
    """Batteries then EVs as one set of storage units; only B_v^t tells them apart."""
    names = (
        "capacity_kwh",
        "energy_kwh",
        "max_charge_kw",
        "max_discharge_kw",
        "min_energy_kwh",
        "final_energy_kwh",
        "efficiency",
    )
    out = {n: np.concatenate([getattr(batteries, n), getattr(evs, n)]) for n in names}
    out["connected"] = np.vstack([batteries.connected_mask(n_steps), evs.connected_mask(n_steps)])
    return out


def _unmet_penalty(problem: BTMProblem, objective: Objective) -> float:
    """Weight of a kWh of unmet final energy in the objective's units (see UNMET_PENALTY_FACTOR)."""
    if objective != "cost":
        return UNMET_PENALTY_FACTOR  # exchange and deviation are counted in kWh
    # Worst marginal kWh: imported instead of exported at the dearest step.
    worst = np.abs(problem.import_price_per_kwh) + np.abs(problem.export_price_per_kwh)
    return UNMET_PENALTY_FACTOR * max(float(worst.max(initial=0.0)), 1e-3)


def _unmet_reason(unmet: np.ndarray, final: np.ndarray, n_batteries: int) -> str:
    short = np.flatnonzero(unmet > 0.0)
    if short.size == 0:
        return ""
    i = short[0]
    unit = f"battery {i}" if i < n_batteries else f"EV {i - n_batteries}"
    more = f"; {short.size - 1} more units short" if short.size > 1 else ""
    return (
        f"{unit} ends {unmet[i]:.3g} kWh short of its minimum final energy "
        f"{final[i]:.3g} kWh (eq 3.29 relaxed){more}"
    )


def _infeasibility_reason(
    problem: BTMProblem, objective: Objective, time_limit_s: float | None
) -> str:
    """The first step whose balance 3.11 cannot hold, from the elastic variant."""
    elastic = _BTMArrays(problem, objective, elastic=True)
    res = elastic.run(time_limit_s)
    if not res.ok:
        return ""
    short, surplus = elastic.values(res.x, "short"), elastic.values(res.x, "surplus")
    bad = np.flatnonzero((short > _REPORT_TOL) | (surplus > _REPORT_TOL))
    if bad.size == 0:
        return ""
    t = bad[0]
    load, gen = problem.fixed_load_kw[t], problem.fixed_generation_kw[t]
    more = f"; {bad.size - 1} more steps" if bad.size > 1 else ""
    if short[t] > _REPORT_TOL:
        return (
            f"import limit {problem.import_limit_kw:g} kW is {short[t]:.3g} kW short of the net "
            f"demand at step {t} (fixed load {load:g} kW, fixed generation {gen:g} kW) even with "
            f"all flexible supply{more}"
        )
    return (
        f"export limit {problem.export_limit_kw:g} kW leaves {surplus[t]:.3g} kW of surplus at "
        f"step {t} (fixed generation {gen:g} kW, fixed load {load:g} kW) even with all "
        f"flexible consumption{more}"
    )
