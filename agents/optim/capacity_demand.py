"""Capacity-demand LP of one aggregator for a capacity-sharing period (seed 004 eqs 4.1-4.5).

Before negotiating in the dynamic capacity sharing of seed 004 section 4.2.1, each energy
aggregator computes the smallest peak net consumption ``p̄_c`` of its behind-the-meter
unit over the sharing period that still lets every connected EV reach the energy its
reference schedule commits to (eq 4.3). Surplus ``Φ_c - p̄_c`` can be offered to peers,
a deficit ``p̄_c - Φ_c`` must be bought (section 4.2.1.4).

The LP is built as sparse arrays and handed to :func:`flexcosim.agents.solver.solve`; for 242 EVs
over 96 steps the build takes a few milliseconds (see ``bench/optim.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from flexcosim.agents.solver import solve
from flexcosim.agents.validation import float_array, int_array, ordered, positive_int

#: Relative slack on the optimal peak when stage 2 minimises battery throughput; keeps
#: stage 2 feasible under HiGHS' primal tolerance (1e-7) while leaving the peak unchanged
#: to any printed precision.
_PEAK_SLACK = 1e-7


@dataclass(frozen=True, eq=False)
class CapacityDemandProblem:
    """One aggregator's EVs and other assets over a sharing period of ``n_steps`` steps.

    Arrays are indexed by EV ``v`` (length V), asset ``a`` (length A) and step ``t``
    (length T); step ``t`` covers ``[t*dt_s, (t+1)*dt_s)`` from the start ``k`` of the
    sharing period.

    Attributes
    ----------
    energy_kwh : (V,) energy in each battery when it is (or gets) connected [kWh]
    target_kwh : (V,) energy each EV must hold when it leaves or the period ends,
        whichever is first: ``s*_v(k+T^R) C_v`` of eq 4.3 [kWh]
    capacity_kwh : (V,) usable battery capacity ``C_v`` (> 0) [kWh]
    max_charge_kw : (V,) charging limit, grid side [kW]
    max_discharge_kw : (V,) discharging (V2G) limit, grid side; 0 without V2G [kW]
    arrival_step : (V,) first connected step, in ``[0, T)``
    departure_step : (V,) first step no longer connected, ``> arrival_step``; values
        beyond ``T`` mean the EV stays past the period
    efficiency : (V,) one-way charger-plus-battery efficiency in (0, 1]
    fixed_load_kw : (T,) net consumption of the non-flexible assets (negative when they
        generate more than they consume) [kW]
    flex_lower_kw, flex_upper_kw : (A, T) bounds ``p_a(t)`` of the net consumption of
        the other flexible assets (eq 4.5) [kW]
    dt_s : step length ``Δt`` [s]
    """

    energy_kwh: np.ndarray
    target_kwh: np.ndarray
    capacity_kwh: np.ndarray
    max_charge_kw: np.ndarray
    max_discharge_kw: np.ndarray
    arrival_step: np.ndarray
    departure_step: np.ndarray
    efficiency: np.ndarray
    fixed_load_kw: np.ndarray
    flex_lower_kw: np.ndarray
    flex_upper_kw: np.ndarray
    dt_s: int

    def __post_init__(self) -> None:
        n_evs = len(np.atleast_1d(self.energy_kwh))
        n_steps = len(np.atleast_1d(self.fixed_load_kw))
        ev, step = (n_evs,), (n_steps,)
        for name in ("flex_lower_kw", "flex_upper_kw"):
            if np.ndim(getattr(self, name)) != 2:
                shape = np.shape(getattr(self, name))
                raise ValueError(f"{name} has shape {shape}; expected 2-D (n_assets, {n_steps})")
        flex = (np.shape(self.flex_lower_kw)[0], n_steps)
        checked = {
            "energy_kwh": float_array("energy_kwh", self.energy_kwh, ev, lo=0.0),
            "target_kwh": float_array("target_kwh", self.target_kwh, ev, lo=0.0),
            "capacity_kwh": float_array("capacity_kwh", self.capacity_kwh, ev, lo=1e-9),
            "max_charge_kw": float_array("max_charge_kw", self.max_charge_kw, ev, lo=0.0),
            "max_discharge_kw": float_array("max_discharge_kw", self.max_discharge_kw, ev, lo=0.0),
            "arrival_step": int_array("arrival_step", self.arrival_step, ev, hi=n_steps - 1),
            "departure_step": int_array("departure_step", self.departure_step, ev, lo=1),
            "efficiency": float_array("efficiency", self.efficiency, ev, lo=1e-3, hi=1.0),
            "fixed_load_kw": float_array("fixed_load_kw", self.fixed_load_kw, step),
            "flex_lower_kw": float_array("flex_lower_kw", self.flex_lower_kw, flex),
            "flex_upper_kw": float_array("flex_upper_kw", self.flex_upper_kw, flex),
            "dt_s": positive_int("dt_s", self.dt_s),
        }
        for name, value in checked.items():
            object.__setattr__(self, name, value)
        ordered("energy_kwh", self.energy_kwh, "capacity_kwh", self.capacity_kwh)
        ordered("target_kwh", self.target_kwh, "capacity_kwh", self.capacity_kwh)
        ordered("flex_lower_kw", self.flex_lower_kw, "flex_upper_kw", self.flex_upper_kw)
        ordered("arrival_step + 1", self.arrival_step + 1, "departure_step", self.departure_step)

    @property
    def n_evs(self) -> int:
        return len(self.energy_kwh)

    @property
    def n_steps(self) -> int:
        return len(self.fixed_load_kw)

    def reachable_kwh(self) -> np.ndarray:
        """(V,) most energy each EV can hold at its deadline: charging flat out [kWh]."""
        connected = np.minimum(self.departure_step, self.n_steps) - self.arrival_step
        gain = self.efficiency * self.max_charge_kw * connected * self.dt_s / 3600.0
        return np.minimum(self.capacity_kwh, self.energy_kwh + gain)


@dataclass(frozen=True, eq=False)
class CapacityDemand:
    """Solution of the capacity-demand LP.

    Attributes
    ----------
    status : "optimal" or the solver's status word (see :class:`flexcosim.agents.solver.SolveResult`)
    peak_kw : minimum capacity demand ``p̄_c`` (objective 4.1) [kW]; ``nan`` without solution
    ev_charge_kw, ev_discharge_kw : (V, T) grid-side charging / discharging power [kW]
    ev_energy_kwh : (V, T+1) battery energy at the start of each step and at the period
        end; held constant while the EV is not connected [kWh]
    flex_power_kw : (A, T) net consumption of the other flexible assets [kW]
    net_load_kw : (T,) left-hand side of eq 4.2 plus the fixed load [kW]
    unmet_energy_kwh : (V,) part of each target no schedule can deliver (soft fallback) [kWh]
    solve_time_s : time spent in HiGHS over both stages [s]
    reason : why there is no solution, or which targets were relaxed; empty otherwise
    """

    status: str
    peak_kw: float
    ev_charge_kw: np.ndarray | None
    ev_discharge_kw: np.ndarray | None
    ev_energy_kwh: np.ndarray | None
    flex_power_kw: np.ndarray | None
    net_load_kw: np.ndarray | None
    unmet_energy_kwh: np.ndarray
    solve_time_s: float
    reason: str = ""

    @property
    def ok(self) -> bool:
        """True when schedules are available."""
        return self.ev_charge_kw is not None


def capacity_demand(problem: CapacityDemandProblem) -> CapacityDemand:
    """Minimum peak capacity an aggregator needs to meet its EV commitments (seed 004 4.1-4.5).

    Stage 1 solves the LP of the seed with charging and discharging split for the
    efficiency::

        min  p̄_c                                                             (4.1)
        s.t. fixed(t) + Σ_a p_a(t) + Σ_v [p⁺_v(t) - p⁻_v(t)] <= p̄_c   ∀t   (4.2)
             e_v(end_v) >= target_v                                          (4.3)
             e_v(t+1) = e_v(t) + (η_v p⁺_v(t) - p⁻_v(t)/η_v) Δt            (4.4)
             p_a(t) = lower_a(t)  (the optimal point of 4.5, see below)
             0 <= p⁺_v <= P⁺_v, 0 <= p⁻_v <= P⁻_v while connected, 0 otherwise
             0 <= e_v(t) <= C_v

    with energies in kWh instead of the seed's SOC ``s_v = e_v / C_v`` and ``end_v`` the
    earlier of departure and period end. Eq 4.5 has no coupling over time, so raising any
    ``p_a(t)`` above its lower bound can only raise the left side of 4.2: the lower bound
    is optimal and is folded into the constant side of 4.2.

    Stage 2 keeps ``p̄_c`` at its optimum and minimises the battery throughput
    ``Σ (p⁺ + p⁻) Δt``. The peak alone leaves the schedule of every off-peak step
    arbitrary; stage 2 picks the one without needless cycling, in which no EV charges
    and discharges in the same step (for ``η < 1`` that wastes energy, for ``η = 1`` it
    adds throughput).

    Soft fallback: EVs couple only through the free variable ``p̄_c``, so a target is
    reachable iff the EV alone can reach it charging flat out. Unreachable targets are
    capped at :meth:`CapacityDemandProblem.reachable_kwh` before solving and the
    shortfall is reported in ``unmet_energy_kwh`` and ``reason``; the LP is then always
    feasible.

    Parameters
    ----------
    problem : the aggregator's EVs, fixed load and flexible asset ranges

    Returns
    -------
    CapacityDemand
    """
    reachable = problem.reachable_kwh()
    target = np.minimum(problem.target_kwh, reachable)
    unmet = np.maximum(problem.target_kwh - reachable, 0.0)
    reason = _unmet_reason(unmet, problem.target_kwh)

    lp = _PeakLP(problem, target)
    first = solve(lp.cost_peak, lp.A, lp.row_lo, lp.row_hi, lp.col_lo, lp.col_hi)
    if not first.ok:
        return CapacityDemand(
            status=first.status,
            peak_kw=float("nan"),
            ev_charge_kw=None,
            ev_discharge_kw=None,
            ev_energy_kwh=None,
            flex_power_kw=None,
            net_load_kw=None,
            unmet_energy_kwh=unmet,
            solve_time_s=first.solve_time_s,
            reason=first.message,
        )
    peak = first.objective
    col_hi = lp.col_hi.copy()
    col_hi[lp.peak_col] = peak + _PEAK_SLACK * max(1.0, abs(peak))
    second = solve(lp.cost_throughput, lp.A, lp.row_lo, lp.row_hi, lp.col_lo, col_hi)
    x = second.x if second.ok else first.x
    if not second.ok:
        reason = "; ".join(filter(None, [reason, f"throughput stage failed ({second.message})"]))
    charge, discharge, energy = lp.schedules(x)
    flex = problem.flex_lower_kw
    net = problem.fixed_load_kw + flex.sum(axis=0) + (charge - discharge).sum(axis=0)
    return CapacityDemand(
        status="optimal",
        peak_kw=peak,
        ev_charge_kw=charge,
        ev_discharge_kw=discharge,
        ev_energy_kwh=energy,
        flex_power_kw=flex.copy(),
        net_load_kw=net,
        unmet_energy_kwh=unmet,
        solve_time_s=first.solve_time_s + second.solve_time_s,
        reason=reason,
    )


class _PeakLP:
    """Arrays of the LP over the N connected (EV, step) pairs.

    Columns ``[p⁺ (N) | p⁻ (M) | e (M) | p̄_c]`` and rows ``[energy balance 4.4 (M) |
    energy window (C) | peak 4.2 (T)]``, where the M pairs belong to V2G-capable EVs. A
    charge-only EV's energy never falls, so its bounds ``0 <= e <= C`` and the target
    reduce to one row ``target - e0 <= Σ η p⁺ Δt <= C - e0`` over its C connected steps,
    which roughly halves the rows for a typical fleet.
    """

    def __init__(self, problem: CapacityDemandProblem, target_kwh: np.ndarray) -> None:
        n_steps, self._dt_h = problem.n_steps, problem.dt_s / 3600.0
        connected = np.minimum(problem.departure_step, n_steps) - problem.arrival_step
        n = int(connected.sum())
        ev = np.repeat(np.arange(problem.n_evs), connected)
        self._first = np.cumsum(connected) - connected
        k = np.arange(n) - self._first[ev]
        step = problem.arrival_step[ev] + k
        self._eta = problem.efficiency[ev]

        v2g = problem.max_discharge_kw > 0
        tracked = v2g[ev]
        m = int(tracked.sum())
        only_charge = np.flatnonzero(~v2g)
        c = only_charge.size
        window_row = np.zeros(problem.n_evs, dtype=np.int64)
        window_row[only_charge] = m + np.arange(c)
        peak_row = m + c + step
        ch, dis, en = np.arange(n), n + np.arange(m), n + m + np.arange(m)
        self.peak_col = n + 2 * m

        dt_h, eta_t = self._dt_h, self._eta[tracked]
        later = k[tracked] > 0
        balance = np.arange(m)
        rows = [
            balance,
            balance[later],
            balance,
            balance,
            window_row[ev[~tracked]],
            peak_row,
            peak_row[tracked],
            m + c + np.arange(n_steps),
        ]
        cols = [
            en,
            en[later] - 1,
            ch[tracked],
            dis,
            ch[~tracked],
            ch,
            dis,
            np.full(n_steps, self.peak_col),
        ]
        vals = [
            np.ones(m),
            -np.ones(int(later.sum())),
            -eta_t * dt_h,
            dt_h / eta_t,
            self._eta[~tracked] * dt_h,
            np.ones(n),
            -np.ones(m),
            -np.ones(n_steps),
        ]
        self.A = sp.csc_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
            shape=(m + c + n_steps, self.peak_col + 1),
        )

        initial = np.where(later, 0.0, problem.energy_kwh[ev[tracked]])
        e0 = problem.energy_kwh[only_charge]
        base = problem.fixed_load_kw + problem.flex_lower_kw.sum(axis=0)
        self.row_lo = np.concatenate(
            [initial, target_kwh[only_charge] - e0, np.full(n_steps, -np.inf)]
        )
        self.row_hi = np.concatenate([initial, problem.capacity_kwh[only_charge] - e0, -base])

        final = np.zeros(n)
        final[self._first + connected - 1] = target_kwh
        self.col_lo = np.concatenate([np.zeros(n + m), final[tracked], [-np.inf]])
        self.col_hi = np.concatenate(
            [
                problem.max_charge_kw[ev],
                problem.max_discharge_kw[ev[tracked]],
                problem.capacity_kwh[ev[tracked]],
                [np.inf],
            ]
        )
        self.cost_peak = np.zeros(self.peak_col + 1)
        self.cost_peak[self.peak_col] = 1.0
        self.cost_throughput = np.concatenate([np.full(n + m, dt_h), np.zeros(m + 1)])

        self._n, self._ev, self._step, self._tracked = n, ev, step, tracked
        self._shape = (problem.n_evs, n_steps)
        self._initial = problem.energy_kwh

    def schedules(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(charge, discharge, energy) as (V, T), (V, T), (V, T+1) arrays."""
        n, ev, step = self._n, self._ev, self._step
        p_ch = x[:n]
        p_dis = np.zeros(n)
        p_dis[self._tracked] = x[n : n + int(self._tracked.sum())]
        charge = np.zeros(self._shape)
        discharge = np.zeros(self._shape)
        charge[ev, step] = p_ch
        discharge[ev, step] = p_dis
        # Eq 4.4 integrated per EV: cumulative sum over the flat pairs minus the sum
        # before each EV's first pair.
        gain = np.cumsum((self._eta * p_ch - p_dis / self._eta) * self._dt_h)
        gain -= np.concatenate([[0.0], gain])[self._first][ev]
        n_steps = self._shape[1]
        energy = np.repeat(self._initial[:, None], n_steps + 1, axis=1)
        energy[ev, step + 1] += gain
        # Before arrival and after departure the battery keeps its last known energy.
        known = np.zeros_like(energy, dtype=bool)
        known[:, 0] = True
        known[ev, step + 1] = True
        idx = np.maximum.accumulate(np.where(known, np.arange(n_steps + 1), 0), axis=1)
        return charge, discharge, np.take_along_axis(energy, idx, axis=1)


def _unmet_reason(unmet: np.ndarray, target: np.ndarray) -> str:
    short = np.flatnonzero(unmet > 1e-9)
    if short.size == 0:
        return ""
    v = short[0]
    more = f" and {short.size - 1} more EVs" if short.size > 1 else ""
    return (
        f"target of EV {v} ({target[v]:.3g} kWh) unreachable by {unmet[v]:.3g} kWh{more}; "
        f"capped at the reachable energy, shortfall in unmet_energy_kwh"
    )


def random_capacity_demand_problem(
    n_evs: int, n_steps: int, rng: np.random.Generator, dt_s: int = 900
) -> CapacityDemandProblem:
    """A realistic random instance: a campus car park over ``n_steps`` steps of ``dt_s``.

    EVs of 40-100 kWh with 11 or 22 kW chargers, 40 % of them V2G-capable (11 kW), arrive
    in the first two thirds of the period, stay 2-10 h and want 60-95 % SOC; some targets
    are unreachable within the stay, as in field data. The fixed load is a daytime hump of 150-350 kW and two
    flexible assets (heat pump 0-40 kW, battery -50..50 kW) are given as ranges.
    """
    hours = n_steps * dt_s / 3600.0
    capacity = rng.uniform(40.0, 100.0, n_evs)
    energy = capacity * rng.uniform(0.1, 0.6, n_evs)
    target = capacity * rng.uniform(0.6, 0.95, n_evs)
    max_charge = rng.choice([11.0, 22.0], n_evs)
    max_discharge = np.where(rng.random(n_evs) < 0.4, 11.0, 0.0)
    arrival = rng.integers(0, max(1, (2 * n_steps) // 3), n_evs)
    stay = np.maximum(1, np.round(rng.uniform(2.0, 10.0, n_evs) * 3600.0 / dt_s)).astype(int)
    phase = np.linspace(0.0, 2.0 * np.pi * hours / 24.0, n_steps, endpoint=False)
    fixed = 250.0 - 100.0 * np.cos(phase) + rng.normal(0.0, 10.0, n_steps)
    lower = np.vstack([np.zeros(n_steps), np.full(n_steps, -50.0)])
    upper = np.vstack([np.full(n_steps, 40.0), np.full(n_steps, 50.0)])
    return CapacityDemandProblem(
        energy_kwh=energy,
        target_kwh=np.maximum(target, energy),
        capacity_kwh=capacity,
        max_charge_kw=max_charge,
        max_discharge_kw=max_discharge,
        arrival_step=arrival,
        departure_step=arrival + stay,
        efficiency=rng.uniform(0.9, 0.95, n_evs),
        fixed_load_kw=fixed,
        flex_lower_kw=lower,
        flex_upper_kw=upper,
        dt_s=dt_s,
    )
