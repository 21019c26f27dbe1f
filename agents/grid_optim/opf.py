"""Multi-period EV charging OPF on a radial feeder (seed 002, strategies a, b, c).

Seed 002 schedules the charging of a feeder's EVs over 96 quarter-hours with a full
multi-period AC OPF (BATTPOWER). Here the AC power flow is replaced by LinDistFlow
(:mod:`flexcosim.agents.grid_optim.lindistflow`) so the whole problem is one LP, built as sparse
arrays and solved by HiGHS; :mod:`flexcosim.agents.grid_optim.ac_check` verifies the result with
pandapower AC and tightens the limits where the linearisation was optimistic.

Strategies (seed 002 section 4.2, Table 2):

* ``"a"`` uncoordinated: every EV charges at its rated power from arrival until its
  energy need is met or it departs (no optimisation);
* ``"b"`` cost-optimal without grid constraints: min energy cost (+ losses proxy)
  subject to the EV constraints only (seed 002 eqs. 4, 7b, 8, 10e-10f);
* ``"c"`` as b plus LinDistFlow balance, voltage band and line/transformer limits
  (seed 002 eqs. 5a-5e, 6, 9, 10b).

EV model (seed 002 eq. 8 with assumptions ix-x: no discharge, no reactive power):
``E_t = E_{t-1} + eta P_t dt``. Because an EV only charges, its SOC is monotone and
the bounds ``SOCMi <= SOC <= SOC_max`` (eq. 10e) bind only at departure, so the SOC
dynamics collapse to one energy row per EV::

    eta dt sum_t P_{e,t} + u_e >= E_need_e          (soft departure target, u_e >= 0 penalised)
    eta dt sum_t P_{e,t}        <= E_max_e - E_arr_e  (battery not over-filled)

with ``P_{e,t}`` present only for steps the EV is plugged in (eq. 7b).
:func:`soc` rebuilds the SOC trajectory from a schedule.

Objective (eq. 4): spot price x slack import. The slack imports base load plus EV load
plus losses; base load is fixed, and losses are linearised around the base-load flows
(loss factor ``lf_j = d losses / d p_j``, :func:`lindistflow.loss_factors`), so an EV
kWh at bus j costs ``price_t (1 + lf_{j,t})``.

Line/transformer limits (eq. 9): ``P^2 + Q^2 <= S_max^2``. EVs draw no reactive power,
so every branch's ``Q`` is fixed by the base load and the disc becomes the exact box
``|P| <= sqrt(S_max^2 - Q^2)`` (no polygon needed). The LP measures ``S`` at v = 1 pu;
the AC check corrects the ``1 / v`` current increase at low voltage.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import scipy.sparse as sp

from flexcosim.agents.grid_optim.lindistflow import (
    LinearFlow,
    RadialNetwork,
    branch_flows,
    linear_flow,
    loss_factors,
    sensitivities,
    state_from_flows,
)
from flexcosim.agents.solver import new_highs, pass_model, read_result

Strategy = Literal["a", "b", "c"]
#: Voltage and loading violations smaller than this are rounding, not violations.
TOLERANCE = 1e-6


@dataclass(frozen=True)
class EVSessions:
    """One charging session per EV within the horizon.

    Attributes
    ----------
    bus : (E,) bus position in the :class:`RadialNetwork` the charger is connected to
    arrival_step, departure_step : (E,) first plugged-in step and first step gone
        (``departure_step`` may equal T: still plugged in at the horizon end)
    p_max_kw : (E,) charger rating [kW]
    capacity_kwh : (E,) usable battery capacity [kWh]
    soc_arrival, soc_target : (E,) state of charge at arrival and wanted at departure [-]
    efficiency : charging efficiency ``eta`` (seed 002 ``Psi^ch``) [-]
    """

    bus: np.ndarray
    arrival_step: np.ndarray
    departure_step: np.ndarray
    p_max_kw: np.ndarray
    capacity_kwh: np.ndarray
    soc_arrival: np.ndarray
    soc_target: np.ndarray
    efficiency: float = 0.95

    def __post_init__(self) -> None:
        n = len(self.bus)
        for name in ("arrival_step", "departure_step", "p_max_kw", "capacity_kwh",
                     "soc_arrival", "soc_target"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name}: length {len(getattr(self, name))}, must equal len(bus) = {n}")
        if np.any(self.arrival_step < 0) or np.any(self.departure_step <= self.arrival_step):
            raise ValueError("arrival_step/departure_step: need 0 <= arrival_step < departure_step")
        if np.any(self.p_max_kw < 0) or np.any(self.capacity_kwh <= 0):
            raise ValueError("p_max_kw/capacity_kwh: need p_max_kw >= 0 and capacity_kwh > 0")
        for name in ("soc_arrival", "soc_target"):
            values = getattr(self, name)
            if np.any(values < 0) or np.any(values > 1):
                raise ValueError(f"{name}: values must lie in [0, 1]")
        if not 0 < self.efficiency <= 1:
            raise ValueError(f"efficiency = {self.efficiency}: must lie in (0, 1]")

    @property
    def n_evs(self) -> int:
        return len(self.bus)

    @property
    def energy_need_kwh(self) -> np.ndarray:
        """Energy to store until departure [kWh] (0 when the target is already met)."""
        return np.maximum(self.soc_target - self.soc_arrival, 0.0) * self.capacity_kwh

    @property
    def headroom_kwh(self) -> np.ndarray:
        """Energy that fits into the battery [kWh]."""
        return (1.0 - self.soc_arrival) * self.capacity_kwh

    def plugged(self, n_steps: int) -> np.ndarray:
        """(E, T) bool availability (seed 002 AVBP)."""
        t = np.arange(n_steps)
        return (t >= self.arrival_step[:, None]) & (t < self.departure_step[:, None])


@dataclass(frozen=True)
class OPFProblem:
    """Inputs of the multi-period OPF.

    Attributes
    ----------
    network : the radial feeder
    base_p_mw, base_q_mvar : (n, T) fixed net consumption per bus position [MW, Mvar]
    price_per_mwh : (T,) spot price [currency/MWh]
    evs : the charging sessions
    step_s : period length [s]
    v_min_pu, v_max_pu : voltage band [pu]
    unmet_penalty_per_kwh : price of a kWh missing at departure [currency/kWh]
    loss_proxy : price the linearised losses (True) or the EV energy only (False)
    """

    network: RadialNetwork
    base_p_mw: np.ndarray
    base_q_mvar: np.ndarray
    price_per_mwh: np.ndarray
    evs: EVSessions
    step_s: int = 900
    v_min_pu: float = 0.9
    v_max_pu: float = 1.1
    unmet_penalty_per_kwh: float = 10.0
    loss_proxy: bool = True

    def __post_init__(self) -> None:
        n, T = self.network.n_buses, len(self.price_per_mwh)
        for name in ("base_p_mw", "base_q_mvar"):
            if np.shape(getattr(self, name)) != (n, T):
                raise ValueError(f"{name}: shape {np.shape(getattr(self, name))}, must be (n_buses, T) = {(n, T)}")
        if np.any(self.evs.departure_step > T):
            raise ValueError(f"evs.departure_step: max {self.evs.departure_step.max()} exceeds T = {T}")
        if np.any((self.evs.bus < 0) | (self.evs.bus >= n)):
            raise ValueError(f"evs.bus: positions must lie in 0..{n - 1}")
        if self.step_s <= 0:
            raise ValueError(f"step_s = {self.step_s}: must be > 0")
        if not 0 < self.v_min_pu < self.v_max_pu:
            raise ValueError(f"v_min_pu = {self.v_min_pu}, v_max_pu = {self.v_max_pu}: need 0 < min < max")
        if self.unmet_penalty_per_kwh < 0:
            raise ValueError(f"unmet_penalty_per_kwh = {self.unmet_penalty_per_kwh}: must be >= 0")

    @property
    def n_steps(self) -> int:
        return len(self.price_per_mwh)

    @property
    def step_h(self) -> float:
        return self.step_s / 3600.0


@dataclass(frozen=True)
class OPFResult:
    """Outcome of :func:`solve_opf`.

    Attributes
    ----------
    strategy : "a", "b" or "c"
    status : "optimal", "uncontrolled" (strategy a), "infeasible", or a solver status
    reason : why there is no schedule, naming the violated limits; empty otherwise
    ev_power_kw : (E, T) charging power [kW]; zeros when there is no schedule
    unmet_energy_kwh : (E,) energy missing at departure [kWh]
    v_pu : (n, T) LinDistFlow bus voltages [pu]
    loading : (m, T) LinDistFlow branch loading ``|S| / S_max`` [-]
    ev_cost : spot-price cost of the EV energy incl. the losses proxy [currency]
    objective : ``ev_cost`` plus the unmet-energy penalty [currency]
    build_time_s, solve_time_s : model construction and HiGHS time [s]
    violations : LinDistFlow limit violations of this schedule, e.g. ``"line 12 at step 70: 113 %"``
    """

    strategy: str
    status: str
    reason: str
    ev_power_kw: np.ndarray
    unmet_energy_kwh: np.ndarray
    v_pu: np.ndarray
    loading: np.ndarray
    ev_cost: float
    objective: float
    build_time_s: float
    solve_time_s: float
    violations: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.status in ("optimal", "uncontrolled")


def solve_opf(problem: OPFProblem, strategy: Strategy) -> OPFResult:
    """Schedule the EVs of ``problem`` with ``strategy`` "a", "b" or "c" (see module docstring).

    Never raises for an infeasible or failed solve: the result's ``status`` and
    ``reason`` say what went wrong; an infeasible "c" names the limits the fixed
    base load already violates.
    """
    if strategy == "a":
        t0 = time.perf_counter()
        power = uncontrolled_schedule(problem)
        return finish(problem, "a", "uncontrolled", "", power, time.perf_counter() - t0, 0.0)
    if strategy not in ("b", "c"):
        raise ValueError(f"strategy = {strategy!r}: allowed are 'a', 'b', 'c'")
    model = ChargingLP(problem, grid=strategy == "c")
    return model.solve()


def uncontrolled_schedule(problem: OPFProblem) -> np.ndarray:
    """Charge at rated power from arrival until the need is met (seed 002 section 5.2) [kW]."""
    evs, T = problem.evs, problem.n_steps
    step_kwh = evs.p_max_kw * evs.efficiency * problem.step_h
    plugged = evs.plugged(T)
    need = np.minimum(evs.energy_need_kwh, evs.headroom_kwh)
    before = np.cumsum(plugged * step_kwh[:, None], axis=1) - plugged * step_kwh[:, None]
    stored = np.clip(need[:, None] - before, 0.0, step_kwh[:, None]) * plugged
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(step_kwh[:, None] > 0, stored / step_kwh[:, None], 0.0) * evs.p_max_kw[:, None]


def ev_bus_matrix(problem: OPFProblem) -> sp.csr_matrix:
    """(n, E) map from EV power to bus consumption."""
    E = problem.evs.n_evs
    return sp.csr_matrix((np.ones(E), (problem.evs.bus, np.arange(E))), shape=(problem.network.n_buses, E))


def ev_cost_per_kwh(problem: OPFProblem) -> np.ndarray:
    """(E, T) price of one kWh drawn by each EV at each step incl. the losses proxy [currency/kWh]."""
    price = np.asarray(problem.price_per_mwh, dtype=float)[None, :] / 1000.0
    if not problem.loss_proxy:
        return np.repeat(price, problem.evs.n_evs, axis=0)
    lf = loss_factors(problem.network, problem.base_p_mw / problem.network.s_base_mva,
                      problem.base_q_mvar / problem.network.s_base_mva)
    return price * (1.0 + lf[problem.evs.bus])


def grid_state(problem: OPFProblem, ev_power_kw: np.ndarray) -> LinearFlow:
    """LinDistFlow state of base load plus the EV schedule."""
    ev_mw = ev_bus_matrix(problem) @ ev_power_kw / 1000.0
    return linear_flow(problem.network, problem.base_p_mw + ev_mw, problem.base_q_mvar)


def limit_violations(problem: OPFProblem, state: LinearFlow, v_pu: np.ndarray | None = None,
                     loading: np.ndarray | None = None, limit: int = 20) -> tuple[str, ...]:
    """Named violations of the voltage band and branch limits (worst first, at most ``limit``).

    ``v_pu``/``loading`` override the LinDistFlow values (the AC check passes its own).
    """
    v = state.v_pu if v_pu is None else v_pu
    ld = state.loading if loading is None else loading
    net = problem.network
    found: list[tuple[float, str]] = []
    for k, t in zip(*np.nonzero(ld > 1 + TOLERANCE)):
        found.append((ld[k, t] - 1, f"{net.branch_name(k)} at step {t}: {100 * ld[k, t]:.1f} %"))
    for j, t in zip(*np.nonzero(v < problem.v_min_pu - TOLERANCE)):
        found.append((problem.v_min_pu - v[j, t],
                      f"bus {net.bus_ids[j]} at step {t}: {v[j, t]:.4f} pu < {problem.v_min_pu}"))
    for j, t in zip(*np.nonzero(v > problem.v_max_pu + TOLERANCE)):
        found.append((v[j, t] - problem.v_max_pu,
                      f"bus {net.bus_ids[j]} at step {t}: {v[j, t]:.4f} pu > {problem.v_max_pu}"))
    found.sort(key=lambda item: -item[0])
    return tuple(text for _, text in found[:limit])


def finish(problem: OPFProblem, strategy: str, status: str, reason: str, power: np.ndarray,
           build_s: float, solve_s: float) -> OPFResult:
    """Evaluate a schedule on LinDistFlow and wrap it in an :class:`OPFResult`."""
    evs = problem.evs
    stored = power.sum(axis=1) * evs.efficiency * problem.step_h
    unmet = np.maximum(evs.energy_need_kwh - stored, 0.0)
    ev_cost = float(np.sum(ev_cost_per_kwh(problem) * power) * problem.step_h)
    state = grid_state(problem, power)
    return OPFResult(
        strategy=strategy, status=status, reason=reason, ev_power_kw=power,
        unmet_energy_kwh=unmet, v_pu=state.v_pu, loading=state.loading, ev_cost=ev_cost,
        objective=ev_cost + problem.unmet_penalty_per_kwh * float(unmet.sum()),
        build_time_s=build_s, solve_time_s=solve_s, violations=limit_violations(problem, state),
    )


class ChargingLP:
    """The LP of strategy b (``grid=False``) or c (``grid=True``) as arrays, kept in HiGHS.

    Columns: EV power [kW] for every plugged-in (EV, step) pair, then unmet energy per
    EV [kWh]. Rows: the two energy rows per EV and, for ``grid=True``, LinDistFlow limit
    rows in the eliminated (sensitivity) form::

        -p_max_kt - P0_kt <= sum_e flow[k, bus_e] P_et / (1000 s_base) <= p_max_kt - P0_kt
        v_min_jt^2 - w0_jt <= sum_e w[j, bus_e] P_et / (1000 s_base) <= v_max^2 - w0_jt

    with ``P0``, ``w0`` the base-load state (:func:`lindistflow.sensitivities`). This is
    the same polytope as the sparse flow formulation (:func:`lindistflow.flow_blocks`),
    but rows are generated lazily: solve, evaluate all limits on LinDistFlow, add the
    rows of violated (and nearly binding) limits, re-solve from the previous basis
    (dual simplex warm start), until no limit is violated. The result is the exact
    LinDistFlow optimum; on the 890-bus feeder this is ~20x faster than handing HiGHS
    the full 300k-column flow model. :meth:`tighten` changes limits for the AC correction.
    """

    #: Rows are added for every step where a violated limit is loaded above this share.
    ANTICIPATE = 0.9
    MAX_ROUNDS = 50

    def __init__(self, problem: OPFProblem, grid: bool) -> None:
        t0 = time.perf_counter()
        self.problem, self.grid = problem, grid
        evs, net, T = problem.evs, problem.network, problem.n_steps
        E = evs.n_evs
        self.plugged = evs.plugged(T)
        self.ev_idx, self.t_idx = np.nonzero(self.plugged)
        n_ev_cols = len(self.ev_idx)
        self.col_of = np.full((E, T), -1)
        self.col_of[self.ev_idx, self.t_idx] = np.arange(n_ev_cols)

        cost = np.concatenate([ev_cost_per_kwh(problem)[self.ev_idx, self.t_idx] * problem.step_h,
                               np.full(E, problem.unmet_penalty_per_kwh)])
        col_lo = np.zeros(n_ev_cols + E)
        col_hi = np.concatenate([evs.p_max_kw[self.ev_idx], evs.energy_need_kwh])
        # energy rows: eta dt sum P + u >= need ; eta dt sum P <= headroom
        ev_cols = np.arange(n_ev_cols)
        gain = evs.efficiency * problem.step_h
        energy = sp.csr_matrix(
            (np.concatenate([np.full(n_ev_cols, gain), np.ones(E), np.full(n_ev_cols, gain)]),
             (np.concatenate([self.ev_idx, np.arange(E), E + self.ev_idx]),
              np.concatenate([ev_cols, n_ev_cols + np.arange(E), ev_cols]))),
            shape=(2 * E, n_ev_cols + E))
        row_lo = np.concatenate([evs.energy_need_kwh, np.full(E, -np.inf)])
        row_hi = np.concatenate([np.full(E, np.inf), evs.headroom_kwh])
        self.highs = new_highs()
        pass_model(self.highs, cost, energy, row_lo, row_hi, col_lo, col_hi)

        if grid:
            s_base = net.s_base_mva
            p_fix = problem.base_p_mw / s_base + net.shunt_p_pu[:, None]
            q_fix = problem.base_q_mvar / s_base + net.shunt_q_pu[:, None]
            self.q_flow = branch_flows(net, q_fix)  # fixed: EVs draw no Q
            self.p0 = branch_flows(net, p_fix)
            self.w0 = state_from_flows(net, self.p0, self.q_flow).v_pu ** 2
            sens = sensitivities(net)
            per_kw = 1.0 / (1000.0 * s_base)
            self.flow_ev = sens.flow[:, evs.bus] * per_kw  # (m, E) pu per kW
            self.w_ev = sens.w[:, evs.bus] * per_kw  # (n, E)
            self.p_max = np.zeros_like(self.p0)
            self.set_branch_limits(np.ones_like(self.p0))
            self.w_lo = np.full_like(self.w0, problem.v_min_pu**2)
            self.w_hi = np.full_like(self.w0, problem.v_max_pu**2)
            self.w_lo[net.slack] = 0.0
            self.w_hi[net.slack] = np.inf
            self.branch_rows: dict[tuple[int, int], int] = {}
            self.bus_rows: dict[tuple[int, int], int] = {}
            self.n_rows = 2 * E
        self.build_time_s = time.perf_counter() - t0
        self.solve_time_s = 0.0
        self.rounds = 0

    def set_branch_limits(self, scale: np.ndarray) -> None:
        """``|P| <= sqrt((scale S_max)^2 - Q^2)`` per branch and step; scale (m, T)."""
        s_max = scale * self.problem.network.s_max_pu[:, None]
        self.p_max = np.sqrt(np.maximum(s_max**2 - self.q_flow**2, 0.0))

    def tighten(self, branch_scale: np.ndarray | None = None, v_min_pu: np.ndarray | None = None) -> None:
        """New branch limit factors (m, T) and lower voltage bounds (n, T) [pu] for the next
        :meth:`solve`; rows already in HiGHS get new bounds, missing ones are added lazily."""
        if not self.grid:
            raise ValueError("tighten: strategy b has no grid limits to tighten")
        if branch_scale is not None:
            self.set_branch_limits(branch_scale)
        if v_min_pu is not None:
            self.w_lo = np.asarray(v_min_pu, dtype=float) ** 2
            self.w_lo[self.problem.network.slack] = 0.0
        for rows, lo, hi in ((self.branch_rows, -self.p_max - self.p0, self.p_max - self.p0),
                             (self.bus_rows, self.w_lo - self.w0, self.w_hi - self.w0)):
            if rows:
                keys = np.array(list(rows.keys()))
                idx = np.array(list(rows.values()), dtype=np.int32)
                self.highs.changeRowsBounds(len(idx), idx, lo[keys[:, 0], keys[:, 1]],
                                            hi[keys[:, 0], keys[:, 1]])

    def _add_rows(self, sens: np.ndarray, pairs: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                  book: dict[tuple[int, int], int]) -> None:
        starts, index, value = [0], [], []
        for k, t in pairs:
            es = np.nonzero(self.plugged[:, t] & (sens[k] != 0))[0]
            index.append(self.col_of[es, t])
            value.append(sens[k, es])
            starts.append(starts[-1] + len(es))
            book[(int(k), int(t))] = self.n_rows
            self.n_rows += 1
        self.highs.addRows(len(pairs), lo[pairs[:, 0], pairs[:, 1]], hi[pairs[:, 0], pairs[:, 1]],
                           starts[-1], np.array(starts[:-1], dtype=np.int32),
                           np.concatenate(index).astype(np.int32), np.concatenate(value))

    def _cut(self, power: np.ndarray) -> bool:
        """Add rows for limits ``power`` violates; False when it violates none."""
        flow = self.p0 + self.flow_ev @ power
        w = self.w0 + self.w_ev @ power
        added = False
        for sens, value, lo, hi, book in (
                (self.flow_ev, flow, -self.p_max, self.p_max, self.branch_rows),
                (self.w_ev, w, self.w_lo, self.w_hi, self.bus_rows)):
            bad = (value > hi + TOLERANCE) | (value < lo - TOLERANCE)
            if not bad.any():
                continue
            span = np.where(np.isfinite(hi - lo), hi - lo, 1.0)
            mid = np.where(np.isfinite(hi - lo), (hi + lo) / 2, 0.0)
            near = (np.abs(value - mid) > self.ANTICIPATE * span / 2) & bad.any(axis=1, keepdims=True)
            pairs = np.argwhere(bad | near)
            pairs = np.array([p for p in pairs if (int(p[0]), int(p[1])) not in book])
            if len(pairs):
                self._add_rows(sens, pairs, lo - (self.p0 if book is self.branch_rows else self.w0),
                               hi - (self.p0 if book is self.branch_rows else self.w0), book)
                added = True
        return added

    def solve(self) -> OPFResult:
        """Run HiGHS (warm from the last basis) and, for grid=True, add violated limit
        rows until the schedule satisfies all LinDistFlow limits."""
        problem, T = self.problem, self.problem.n_steps
        strategy = "c" if self.grid else "b"
        power = np.zeros((problem.evs.n_evs, T))
        for _ in range(self.MAX_ROUNDS):
            t0 = time.perf_counter()
            self.highs.run()
            res = read_result(self.highs, time.perf_counter() - t0, has_integers=False)
            self.solve_time_s += res.solve_time_s
            self.rounds += 1
            if not res.ok:
                return self._failed(res.status, res.message)
            power[:] = 0.0
            power[self.ev_idx, self.t_idx] = np.maximum(res.x[: len(self.ev_idx)], 0.0)
            if not self.grid:
                break
            t0 = time.perf_counter()
            added = self._cut(power)
            self.build_time_s += time.perf_counter() - t0
            if not added:
                break
        else:
            return self._failed("iteration_limit", f"limits still violated after {self.MAX_ROUNDS} rounds")
        return finish(problem, strategy, "optimal", "", power, self.build_time_s, self.solve_time_s)

    def _failed(self, status: str, message: str) -> OPFResult:
        problem = self.problem
        power = np.zeros((problem.evs.n_evs, problem.n_steps))
        reason = message
        if status == "infeasible" and self.grid:
            named = limit_violations(problem, grid_state(problem, power))
            reason = ("infeasible: the fixed base load alone violates " + "; ".join(named)
                      if named else "infeasible: no single limit is violated by the base load alone")
        state = grid_state(problem, power)
        return OPFResult("c" if self.grid else "b", status, reason, power,
                         problem.evs.energy_need_kwh.copy(), state.v_pu, state.loading,
                         float("nan"), float("nan"), self.build_time_s, self.solve_time_s)


def soc(problem: OPFProblem, ev_power_kw: np.ndarray) -> np.ndarray:
    """(E, T+1) state of charge before each step and at the horizon end [-] (seed 002 eq. 8)."""
    evs = problem.evs
    gained = np.cumsum(ev_power_kw * evs.efficiency * problem.step_h, axis=1) / evs.capacity_kwh[:, None]
    return np.concatenate([np.zeros((evs.n_evs, 1)), gained], axis=1) + evs.soc_arrival[:, None]


__all__ = [
    "ChargingLP",
    "EVSessions",
    "OPFProblem",
    "OPFResult",
    "soc",
    "solve_opf",
    "uncontrolled_schedule",
]
