"""Scheduling the EVs connected at one site under its capacity limit.

The site aggregator of seed 004 section 5.2 optimises the charging profiles of the
EVs at its site "according to [its price] signal" while keeping the aggregate EV load
within the transformer rating minus the building load. It re-solves over a receding
horizon (the caller applies the first step and calls again with updated states).

Three schedulers share one interface, ``schedule(problem) -> SiteSchedule``, and are
registered by name in :data:`SCHEDULERS`:

``"optimal"`` (:class:`OptimalScheduler`)
    LP over all EVs and steps: minimise ``sum_t price(t) dt sum_v p_v(t)`` plus a
    penalty on unmet target energy, subject to the battery dynamics with charger
    efficiency ``eta`` (``e(t+1) = e(t) + (eta p^+ - p^- / eta) s dt``, with ``s`` the share
    of the step the EV is parked: 1, or less in the step it leaves during), energy bounds,
    power limits (discharge only for V2G EVs) and ``sum_v p_v(t) <= limit(t)``.
    Targets are soft: a slack ``u_v >= 0`` with ``e_v(D_v) + u_v >= target_v`` costs
    ``unmet_penalty_per_kwh``, so a limit too tight for the targets curtails instead of
    failing, and the slack is reported as unmet energy. With
    ``overload_penalty_per_kw`` set the site limit is soft instead: ``sum_v p_v(t) -
    o_t <= limit(t)`` with ``o_t <= z`` and cost ``penalty dt (sum_t o_t + z)``, so the
    limit gives way only to targets, and then as evenly as possible (the peak ``z``).
    With a price curve (``price_curve_per_kwh``, S segments of the limit per step) the
    charge cost is ``sum_t sum_s curve(t, s) dt y_ts`` with ``0 <= y_ts <= limit(t) / S``
    and ``sum_v p_v(t) - o_t - sum_s y_ts <= 0``: a convex, piecewise-linear cost of the
    site's load, so the LP fills the cheapest (least loaded) steps first and spreads load
    instead of pinning it at the limit. A load already committed to other EVs
    (``committed_kw``, seed 004 section 4.2.2) takes the limit's lowest segments first: the
    problem's EVs get the room above it (``limit - committed`` without a curve). No mode
    binaries are needed:
    with prices >= 0 and ``eta <= 1``, lowering a simultaneous charge ``c`` and
    discharge ``d`` to ``c - m`` and ``d - eta^2 m`` keeps the battery energy, lowers the
    grid power and does not raise the cost; a tiny throughput cost, growing over the
    horizon, makes that strict and among equal-price steps prefers earlier ones.
``"llf"`` (:class:`LeastLaxityFirst`)
    Step by step, serve EVs in order of least laxity (steps to departure minus steps
    needed at full power) up to the site limit. V1G only, price-blind.
``"uncontrolled"`` (:class:`Uncontrolled`)
    Every EV charges at full power from connection until its target is reached,
    ignoring the site limit (status "limit_exceeded" when it is crossed): the baseline.
"""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable

import numpy as np
import scipy.sparse as sp

from flexcosim.agents.optim.types import SiteSchedule, SiteScheduleProblem
from flexcosim.agents.registry import Registry
from flexcosim.agents.solver import solve

#: Throughput cost at the horizon start; rises linearly to twice this at the end
#: [currency/kWh]. Far below any real price, above HiGHS' dual tolerance.
_TIE_BREAK_PER_KWH = 1e-5
#: Powers below this are solver noise [kW].
_ZERO_KW = 1e-9
#: Site-limit excess tolerated before a heuristic reports "limit_exceeded" [kW].
_LIMIT_TOL_KW = 1e-6


@runtime_checkable
class SiteScheduler(Protocol):
    """Schedules the EVs connected at one site."""

    def schedule(self, problem: SiteScheduleProblem) -> SiteSchedule: ...


class OptimalScheduler:
    """Price-following LP with soft targets (see module docstring)."""

    def schedule(self, problem: SiteScheduleProblem) -> SiteSchedule:
        """Cost-optimal grid-side powers [kW] for every EV and step of ``problem``."""
        t0 = time.perf_counter()
        lp = _SiteLP(problem)
        # presolve removes little here and costs 25-70 % extra time (bench/optim.py)
        result = solve(lp.cost, lp.A, lp.row_lo, lp.row_hi, lp.col_lo, lp.col_hi, presolve=False)
        if not result.ok:
            idle = np.zeros((problem.n_evs, problem.n_steps))
            return _finish(problem, idle, result.status, result.message, t0)
        return _finish(problem, lp.power_kw(result.x), "optimal", "", t0)


class _SiteLP:
    """The site LP as arrays, built vectorised over the parked (EV, step) pairs.

    A V1G EV's energy never falls, so its bounds hold at every step iff they hold at
    departure: it needs no per-step energy variables, only two rows (energy at
    departure ``<= capacity`` and ``+ u >= target``). Only V2G EVs carry the per-step
    energy ``e`` and dynamics rows. That keeps the LP small (``bench/optim.py``).

    Columns: charge ``c`` per parked pair; discharge ``d`` and energy ``e`` (end of
    step) per parked pair of a V2G EV; unmet energy ``u`` per EV.
    Rows: V2G dynamics per pair, V2G target per EV, V1G capacity and target per EV,
    site limit per step (or, with a price curve, the curve's row per step, which implies
    it), peak overload per step if the limit is soft.
    """

    def __init__(self, p: SiteScheduleProblem) -> None:
        dt_h = p.dt_s / 3600.0
        eta, n = p.efficiency, p.n_evs
        ev, step = np.nonzero(p.parked)  # row-major: each EV's steps are consecutive
        k = ev.size
        share = p.parked_share[ev, step]  # < 1 in a step the EV leaves during
        pair_d = np.flatnonzero(p.v2g[ev])  # pairs of V2G EVs, still grouped by EV
        pair_1 = np.flatnonzero(~p.v2g[ev])
        kd = pair_d.size
        c0, d0, e0, u0 = 0, k, k + kd, k + 2 * kd
        jd = np.arange(kd)
        rows: list[np.ndarray] = []
        cols: list[np.ndarray] = []
        vals: list[np.ndarray] = []
        lo: list[np.ndarray] = []
        hi: list[np.ndarray] = []

        def add(r: np.ndarray, c: np.ndarray, v: np.ndarray | float) -> None:
            rows.append(r)
            cols.append(c)
            vals.append(np.broadcast_to(np.asarray(v, dtype=float), r.shape))

        # V2G dynamics: e_j - e_{j-1} - eta dt c_j + dt/eta d_j = 0, e_{-1} = energy now
        ev_d = ev[pair_d]
        first = np.r_[True, ev_d[1:] != ev_d[:-1]] if kd else np.zeros(0, dtype=bool)
        last = np.r_[ev_d[1:] != ev_d[:-1], True] if kd else np.zeros(0, dtype=bool)
        prev = np.flatnonzero(~first)
        add(jd, e0 + jd, 1.0)
        add(prev, e0 + prev - 1, -1.0)
        add(jd, c0 + pair_d, -eta * dt_h * share[pair_d])
        add(jd, d0 + jd, dt_h / eta * share[pair_d])
        rhs = np.where(first, p.energy_kwh[ev_d], 0.0)
        lo.append(rhs)
        hi.append(rhs)
        # V2G target: e at the last parked step + u >= target
        r = kd
        ends = np.flatnonzero(last)
        add(r + np.arange(ends.size), e0 + ends, 1.0)
        add(r + np.arange(ends.size), u0 + ev_d[ends], 1.0)
        lo.append(p.target_energy_kwh[ev_d[ends]])
        hi.append(np.full(ends.size, np.inf))
        r += ends.size
        # V1G: energy now + eta dt sum c <= capacity, and + u >= target
        ev_1, which = np.unique(ev[pair_1], return_inverse=True)
        n1 = ev_1.size
        add(r + which, c0 + pair_1, eta * dt_h * share[pair_1])
        lo.append(np.full(n1, -np.inf))
        hi.append(p.capacity_kwh[ev_1] - p.energy_kwh[ev_1])
        r += n1
        add(r + which, c0 + pair_1, eta * dt_h * share[pair_1])
        add(r + np.arange(n1), u0 + ev_1, 1.0)
        lo.append(p.target_energy_kwh[ev_1] - p.energy_kwh[ev_1])
        hi.append(np.full(n1, np.inf))
        r += n1
        # site limit: sum over EVs of c - d (- overload o_t if soft) <= limit, per step; with
        # a price curve the curve's rows below imply it (its segments add up to the limit)
        soft = p.overload_penalty_per_kw is not None
        n_o = p.n_steps if soft else 0
        o0 = u0 + n
        curve = p.price_curve_per_kwh
        if curve is None:
            add(r + step, c0 + np.arange(k), 1.0)
            add(r + step[pair_d], d0 + jd, -1.0)
            if soft:
                add(r + np.arange(n_o), o0 + np.arange(n_o), -1.0)
            lo.append(np.full(p.n_steps, -np.inf))
            hi.append(p.capacity_limit_kw - p.committed_kw)
            r += p.n_steps
        if soft:  # peak overload z >= o_t: spreads an unavoidable overload flat
            add(r + np.arange(n_o), o0 + np.arange(n_o), 1.0)
            add(r + np.arange(n_o), np.full(n_o, o0 + n_o), -1.0)
            lo.append(np.full(n_o, -np.inf))
            hi.append(np.zeros(n_o))
            r += n_o
        # price curve: site load (less overload) is covered by segments y_ts <= limit / S
        n_s = 0 if curve is None else curve.size
        y0 = o0 + n_o + soft
        if curve is not None:
            seg_step = np.repeat(np.arange(p.n_steps), curve.shape[1])
            add(r + step, c0 + np.arange(k), 1.0)
            add(r + step[pair_d], d0 + jd, -1.0)
            if soft:
                add(r + np.arange(n_o), o0 + np.arange(n_o), -1.0)
            add(r + seg_step, y0 + np.arange(n_s), -1.0)
            lo.append(np.full(p.n_steps, -np.inf))
            hi.append(np.zeros(p.n_steps))
            r += p.n_steps

        self.A = sp.csc_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
            shape=(r, y0 + n_s),
        )
        self.row_lo, self.row_hi = np.concatenate(lo), np.concatenate(hi)
        self.col_lo = np.concatenate([np.zeros(k + kd), p.energy_min_kwh[ev_d], np.zeros(n + n_o + soft)])
        self.col_hi = np.concatenate(
            [
                p.charge_max_kw[ev],
                p.discharge_max_kw[ev_d],
                p.capacity_kwh[ev_d],
                np.full(n + n_o + soft, np.inf),
                np.zeros(0) if curve is None else _segments_above(p.capacity_limit_kw, curve.shape[1],
                                                                  p.committed_kw).ravel(),
            ]
        )
        self.col_lo = np.concatenate([self.col_lo, np.zeros(n_s)])
        price = p.price_per_kwh[step] * dt_h * share  # energy drawn: the parked share of a step
        charge_price = price if curve is None else np.zeros(k)
        tie = _TIE_BREAK_PER_KWH * dt_h * (1.0 + step / p.n_steps)
        self.cost = np.concatenate(
            [
                charge_price + tie,
                -price[pair_d] + tie[pair_d],
                np.zeros(kd),
                np.full(n, p.unmet_penalty_per_kwh),
                np.full(n_o + soft, (p.overload_penalty_per_kw or 0.0) * dt_h),
                np.zeros(0) if curve is None else curve.ravel() * dt_h,
            ]
        )
        self._shape = (n, p.n_steps)
        self._ev, self._step, self._pair_d = ev, step, pair_d

    def power_kw(self, x: np.ndarray) -> np.ndarray:
        """(n_evs, n_steps) grid-side power from a solution vector."""
        k, kd = self._ev.size, self._pair_d.size
        power = np.zeros(self._shape)
        power[self._ev, self._step] = _denoised(x[:k])
        power[self._ev[self._pair_d], self._step[self._pair_d]] -= _denoised(x[k : k + kd])
        return power


def _segments_above(limit_kw: np.ndarray, n_segments: int, committed_kw: np.ndarray) -> np.ndarray:
    """(n_steps, S) room in each of S equal segments of ``limit_kw`` above ``committed_kw`` [kW].

    Segment ``s`` holds the site loads from ``s limit / S`` to ``(s + 1) limit / S``; the
    committed load fills them from the bottom, and a negative one (V2G discharge) widens
    the first. The rooms add up to ``max(limit - committed, 0)``.
    """
    edges = limit_kw[:, None] * np.arange(n_segments + 1) / n_segments
    above = np.maximum(edges - committed_kw[:, None], 0.0)
    above[:, 0] = 0.0  # the first segment starts at any load below its top
    return np.diff(above, axis=1)


class _Greedy:
    """Step-by-step V1G charging; subclasses decide how the site limit is shared."""

    def schedule(self, problem: SiteScheduleProblem) -> SiteSchedule:
        """Grid-side powers [kW] for every EV and step of ``problem``."""
        t0 = time.perf_counter()
        p = problem
        dt_h = p.dt_s / 3600.0
        energy = p.energy_kwh.copy()
        power = np.zeros((p.n_evs, p.n_steps))
        parked, share = p.parked, p.parked_share
        for t in range(p.n_steps):
            missing_kwh = np.maximum(p.target_energy_kwh - energy, 0.0)
            # a zero share (not parked) wants full power, 0/0 is NaN; np.where below drops both
            with np.errstate(divide="ignore", invalid="ignore"):
                full_kw = missing_kwh / (p.efficiency * dt_h * share[:, t])
            wanted_kw = np.where(parked[:, t], np.minimum(p.charge_max_kw, full_kw), 0.0)
            # laxity [steps]: steps left to the target minus steps needed at full power
            with np.errstate(divide="ignore", invalid="ignore"):
                needed = missing_kwh / (p.efficiency * p.charge_max_kw * dt_h)
            laxity = (p.target_step - t) - np.where(missing_kwh > 0, needed, 0.0)
            power[:, t] = self._share(wanted_kw, laxity, p.capacity_limit_kw[t] - p.committed_kw[t])
            energy += p.efficiency * power[:, t] * dt_h * share[:, t]
        over = power.sum(axis=0) + p.committed_kw - p.capacity_limit_kw
        if over.max() > _LIMIT_TOL_KW:
            steps = int((over > _LIMIT_TOL_KW).sum())
            reason = f"site limit exceeded by up to {over.max():.3g} kW in {steps} steps"
            return _finish(p, power, "limit_exceeded", reason, t0)
        return _finish(p, power, "ok", "", t0)

    def _share(self, wanted_kw: np.ndarray, laxity: np.ndarray, limit_kw: float) -> np.ndarray:
        raise NotImplementedError


class LeastLaxityFirst(_Greedy):
    """Least-laxity-first up to the site limit (V1G, price-blind)."""

    def _share(self, wanted_kw: np.ndarray, laxity: np.ndarray, limit_kw: float) -> np.ndarray:
        order = np.argsort(laxity, kind="stable")
        before = np.concatenate([[0.0], np.cumsum(wanted_kw[order])[:-1]])
        granted = np.zeros_like(wanted_kw)
        granted[order] = np.clip(limit_kw - before, 0.0, wanted_kw[order])
        return granted


class Uncontrolled(_Greedy):
    """Full power from connection until the target, whatever the site limit."""

    def _share(self, wanted_kw: np.ndarray, laxity: np.ndarray, limit_kw: float) -> np.ndarray:
        return wanted_kw


#: Built-in site schedulers by name.
SCHEDULERS: Registry[SiteScheduler] = Registry("site scheduler", "schedule", {
    "optimal": OptimalScheduler,
    "llf": LeastLaxityFirst,
    "uncontrolled": Uncontrolled,
})


def _denoised(x: np.ndarray) -> np.ndarray:
    return np.where(x > _ZERO_KW, x, 0.0)


def _finish(
    p: SiteScheduleProblem, power: np.ndarray, status: str, reason: str, t0: float
) -> SiteSchedule:
    """Battery energies and unmet energy implied by ``power``; the one place they are derived."""
    dt_h = p.dt_s / 3600.0
    battery_kw = np.where(power > 0, p.efficiency * power, power / p.efficiency)
    energy = np.empty((p.n_evs, p.n_steps + 1))
    energy[:, 0] = p.energy_kwh
    np.cumsum(battery_kw * dt_h * p.parked_share, axis=1, out=energy[:, 1:])
    energy[:, 1:] += p.energy_kwh[:, None]
    at_target = energy[np.arange(p.n_evs), p.target_step]
    unmet = np.maximum(p.target_energy_kwh - at_target, 0.0)
    return SiteSchedule(
        status=status,
        power_kw=power,
        energy_kwh=energy,
        unmet_energy_kwh=np.where(unmet > 1e-6, unmet, 0.0),
        solve_time_s=time.perf_counter() - t0,
        reason=reason,
    )
