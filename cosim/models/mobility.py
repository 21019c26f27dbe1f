"""Where each EV is: a Markov chain over places, or a fixed trip plan.

Both mobility models share one vocabulary: a tuple of state names, one of which is
``"moving"`` (the EV is driving); every other name is a place where it can park
(``"residential"``, ``"commercial"`` or a named site such as ``"richview"``). State is an
integer index into that tuple, one per EV, held in a numpy array so that a fleet of
hundreds of EVs advances in one vectorised call.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

MOVING = "moving"
DAY_S = 86_400


def _require_moving(states: tuple[str, ...], owner: str) -> None:
    if len(set(states)) != len(states):
        raise ValueError(f"{owner}.states: {states!r} has duplicates; state names must be unique")
    if MOVING not in states:
        raise ValueError(
            f"{owner}.states: {states!r} lacks {MOVING!r}; one state must be {MOVING!r}"
        )


# eq=False: the array field has no single truth value; compare by identity
class _States:
    """State-name lookups shared by both mobility models (they hold ``states``)."""

    states: tuple[str, ...]

    @property
    def moving_index(self) -> int:
        return self.states.index(MOVING)

    def index(self, name: str) -> int:
        """Index of state ``name``; ``ValueError`` naming the allowed states otherwise."""
        if name not in self.states:
            raise ValueError(f"state {name!r} is unknown; allowed: {list(self.states)}")
        return self.states.index(name)


@dataclass(frozen=True, eq=False)
class MarkovChain(_States):
    """Time-inhomogeneous discrete-time Markov chain over places (seed 001 eqs 1-2).

    ``transitions[k, i, j]`` is the probability pi_{i->j} that an EV in state ``i`` during
    slot ``k - 1`` is in state ``j`` during slot ``k`` (seed 001 eq. 1); the matrix of one
    slot is T_t of seed 001 eq. 2. The chain wraps daily: slot ``k`` covers
    ``[k * slot_s, (k + 1) * slot_s)`` modulo ``n_slots * slot_s`` seconds, with
    ``t_s = 0`` at the start of slot 0 (midnight for :meth:`commuter`).

    Attributes
    ----------
    states : state names, one of them ``"moving"``
    transitions : (n_slots, n_states, n_states) row-stochastic matrices [-]
    slot_s : length of one slot [s]
    """

    states: tuple[str, ...]
    transitions: np.ndarray
    slot_s: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "states", tuple(self.states))
        _require_moving(self.states, "MarkovChain")
        if int(self.slot_s) != self.slot_s or self.slot_s <= 0:
            raise ValueError(
                f"MarkovChain.slot_s: {self.slot_s!r} is not allowed; need an integer > 0 [s]"
            )
        t = np.array(self.transitions, dtype=float)
        n = len(self.states)
        if t.ndim != 3 or t.shape[1:] != (n, n) or t.shape[0] == 0:
            raise ValueError(
                f"MarkovChain.transitions: shape {t.shape} is not allowed; need (n_slots, {n}, {n})"
            )
        if not np.all(np.isfinite(t)) or t.min() < 0.0:
            k, i, j = np.argwhere(~(np.isfinite(t) & (t >= 0.0)))[0]
            raise ValueError(
                f"MarkovChain.transitions[{k}, {i}, {j}]: {float(t[k, i, j])!r} is not a probability; need >= 0"
            )
        row_sum = t.sum(axis=2)
        bad = np.argwhere(np.abs(row_sum - 1.0) > 1e-9)
        if bad.size:
            k, i = bad[0]
            raise ValueError(
                f"MarkovChain.transitions[{k}, {i}, :]: row sums to {row_sum[k, i]:.12g}; "
                "each row must sum to 1 (row-stochastic)"
            )
        t.setflags(write=False)
        object.__setattr__(self, "transitions", t)
        object.__setattr__(self, "slot_s", int(self.slot_s))
        # cumulative rows, computed once, make a step one comparison per EV and state
        cum = np.cumsum(t, axis=2)
        cum[:, :, -1] = 1.0
        cum.setflags(write=False)
        object.__setattr__(self, "_cumulative", cum)

    @property
    def n_slots(self) -> int:
        return self.transitions.shape[0]

    def slot(self, t_s: int) -> int:
        """Slot index ``k`` in ``[0, n_slots)`` that contains time ``t_s`` [s]."""
        return (int(t_s) // self.slot_s) % self.n_slots

    def step(self, state: np.ndarray, t_s: int, rng: np.random.Generator) -> np.ndarray:
        """Draw every EV's state for the slot containing ``t_s`` from its state in the slot before.

        One uniform draw per EV, in EV order, so a seeded ``rng`` gives a reproducible fleet.

        Parameters
        ----------
        state : (n_evs,) int state index per EV during the previous slot
        t_s : time inside the new slot [s]
        rng : source of the draws
        """
        state = np.asarray(state, dtype=np.intp)
        cum = self._cumulative[self.slot(t_s), state]
        u = rng.random(state.shape[0])
        return np.minimum((u[:, None] >= cum).sum(axis=1), len(self.states) - 1)

    def distribution(self, p0: np.ndarray, t_s: int) -> np.ndarray:
        """Expected state shares after the transition of the slot containing ``t_s``.

        ``p0`` holds the shares [-] during the previous slot; returns ``p0 @ T_k``.
        """
        return np.asarray(p0, dtype=float) @ self.transitions[self.slot(t_s)]

    @classmethod
    def commuter(
        cls,
        slot_s: int = 900,
        *,
        commute_share: float = 0.78,
        leave_home_mean_h: float = 7.5,
        leave_home_sd_h: float = 1.5,
        leave_work_mean_h: float = 16.25,
        leave_work_sd_h: float = 1.5,
        trip_mean_min: float = 45.0,
        errand_rate_per_h: float = 0.05,
        morning_end_h: float = 12.0,
        errand_start_h: float = 12.0,
        errand_end_h: float = 21.0,
    ) -> MarkovChain:
        """Daily commuter chain over ``("moving", "residential", "commercial")``.

        Seed 001 fixes the states {M, R, C} and a half-hourly time-varying matrix but gives
        no probabilities; the numbers below come from seed 002 Appendix D.2.3 where it has
        them and are otherwise invented (marked so).

        Per slot k (start time t_k, length dt):

        * R -> M: morning commute hazard ``s f_k / (1 - s F_k)`` where ``F_k`` is the
          normal CDF of the home departure time at t_k, ``f_k = F_{k+1} - F_k`` and ``s`` =
          ``commute_share``, for t_k < ``morning_end_h``; this makes a share ``s`` of the
          EVs at home leave with departure time ~ N(mean, sd). Plus errands at
          ``errand_rate_per_h * dt`` between ``errand_start_h`` and ``errand_end_h``.
        * C -> M: leave-work hazard ``f_k / (1 - F_k)`` of a normal departure time, from
          ``morning_end_h`` on, so every EV at work has left by midnight.
        * M -> place: a trip ends with probability ``min(1, dt / trip_mean)`` per slot
          (geometric duration, mean ``trip_mean_min``); it ends at C before
          ``morning_end_h`` and at R after (a Markov chain does not remember the trip's
          purpose, so errands are modelled as drives that return home).

        Parameters
        ----------
        slot_s : slot length [s]; must divide one day (seed 001 uses 1800)
        commute_share : share of EVs at home that commute on a day [-]; seed 002 D.2.3:
            78 % of the labour force works a regular shift
        leave_home_mean_h, leave_home_sd_h : home departure time [h]; seed 002 D.2.3:
            arrival home ~ N(17:00, 90 min), departure = arrival - 9.5 h -> 7:30 +- 1.5 h
        leave_work_mean_h, leave_work_sd_h : work departure time [h]; 17:00 home arrival
            minus one 45-min trip (seed 002 D.2.3), same spread
        trip_mean_min : mean trip duration [min]; seed 002 D.2.3: 1.5 h commuting a day.
            At the fleet's default 30 km/h two trips are 45 km, near seed 002's 52 km/day
        errand_rate_per_h : hazard of an afternoon/evening errand from home [1/h] (invented)
        morning_end_h : trips ending before this hour end at work (invented)
        errand_start_h, errand_end_h : window for errands [h] (invented)
        """
        if int(slot_s) != slot_s or slot_s <= 0 or DAY_S % slot_s:
            raise ValueError(
                f"commuter slot_s: {slot_s!r} is not allowed; need an integer > 0 dividing 86400 [s]"
            )
        for name, value, lo, hi in (
            ("commute_share", commute_share, 0.0, 1.0),
            ("leave_home_mean_h", leave_home_mean_h, 0.0, 24.0),
            ("leave_work_mean_h", leave_work_mean_h, 0.0, 24.0),
            ("morning_end_h", morning_end_h, 0.0, 24.0),
            ("errand_start_h", errand_start_h, 0.0, 24.0),
            ("errand_end_h", errand_end_h, 0.0, 24.0),
        ):
            if not lo <= value <= hi:
                raise ValueError(
                    f"commuter {name}: {value!r} is out of range; need {lo} <= {name} <= {hi}"
                )
        for name, value in (
            ("leave_home_sd_h", leave_home_sd_h),
            ("leave_work_sd_h", leave_work_sd_h),
            ("trip_mean_min", trip_mean_min),
        ):
            if not value > 0:
                raise ValueError(f"commuter {name}: {value!r} is not allowed; need > 0")
        if not 0.0 <= errand_rate_per_h * slot_s / 3600 <= 1.0:
            raise ValueError(
                f"commuter errand_rate_per_h: {errand_rate_per_h!r} is not allowed; "
                f"need 0 <= rate <= {3600 / slot_s:g} for slot_s={slot_s}"
            )
        n_slots = DAY_S // slot_s
        start_h = np.arange(n_slots) * slot_s / 3600
        end_h = start_h + slot_s / 3600
        morning = start_h < morning_end_h

        f_home_lo = norm.cdf(start_h, leave_home_mean_h, leave_home_sd_h)
        f_home_hi = norm.cdf(end_h, leave_home_mean_h, leave_home_sd_h)
        commute = (
            commute_share
            * (f_home_hi - f_home_lo)
            / np.maximum(1.0 - commute_share * f_home_lo, 1e-12)
        )
        errand = np.where(
            (start_h >= errand_start_h) & (start_h < errand_end_h),
            errand_rate_per_h * slot_s / 3600,
            0.0,
        )
        leave_home = np.clip(np.where(morning, commute, 0.0) + errand, 0.0, 1.0)

        # survival from morning_end_h only, so nobody is at work before the commute
        f_work_0 = norm.cdf(morning_end_h, leave_work_mean_h, leave_work_sd_h)
        f_work_lo = (norm.cdf(start_h, leave_work_mean_h, leave_work_sd_h) - f_work_0) / (
            1.0 - f_work_0
        )
        f_work_hi = (norm.cdf(end_h, leave_work_mean_h, leave_work_sd_h) - f_work_0) / (
            1.0 - f_work_0
        )
        survival = 1.0 - f_work_lo
        leave_work = np.where(
            survival > 1e-12, (f_work_hi - f_work_lo) / np.maximum(survival, 1e-12), 1.0
        )
        leave_work = np.where(morning, 0.0, leave_work)
        if not morning[-1]:
            leave_work[-1] = 1.0  # the normal tail beyond midnight: nobody stays overnight at work
        leave_work = np.clip(leave_work, 0.0, 1.0)

        arrive = min(1.0, slot_s / (trip_mean_min * 60.0))
        m, r, c = 0, 1, 2
        t = np.zeros((n_slots, 3, 3))
        t[:, m, m] = 1.0 - arrive
        t[:, m, c] = np.where(morning, arrive, 0.0)
        t[:, m, r] = np.where(morning, 0.0, arrive)
        t[:, r, m] = leave_home
        t[:, r, r] = 1.0 - leave_home
        t[:, c, m] = leave_work
        t[:, c, c] = 1.0 - leave_work
        return cls(states=(MOVING, "residential", "commercial"), transitions=t, slot_s=int(slot_s))


class TripPlan(_States):
    """Deterministic mobility: each EV follows a given list of trips.

    For studies with given arrival and departure times (seed 004 section 5, UCD campus)
    the same :class:`~cosim.models.ev.EVFleet` runs on a plan instead of a chain. An EV
    is ``"moving"`` during ``[depart_s, arrive_s)`` of one of its trips, parked at that
    trip's destination from ``arrive_s`` until its next trip, and in its initial state
    before its first trip.

    Parameters
    ----------
    states : state names, one of them ``"moving"``; the places are free strings
    trips : per EV, a sequence of ``(depart_s, arrive_s, destination)``; times in
        seconds since the scenario start, non-overlapping and increasing per EV
    """

    def __init__(
        self, states: Sequence[str], trips: Sequence[Sequence[tuple[int, int, str]]]
    ) -> None:
        self.states = tuple(states)
        _require_moving(self.states, "TripPlan")
        n_trips = [len(plan) for plan in trips]
        size = max(max(n_trips, default=0), 1)  # one padding column keeps empty plans indexable
        depart = np.full((len(trips), size), np.iinfo(np.int64).max, dtype=np.int64)
        arrive = np.full_like(depart, np.iinfo(np.int64).max)
        dest = np.full(depart.shape, -1, dtype=np.intp)
        for i, plan in enumerate(trips):
            previous_arrival = None
            for k, (d_s, a_s, place) in enumerate(plan):
                if place not in self.states or place == MOVING:
                    raise ValueError(
                        f"TripPlan.trips[{i}][{k}].destination: {place!r} is not a place; "
                        f"allowed: {[s for s in self.states if s != MOVING]}"
                    )
                if not a_s >= d_s:
                    raise ValueError(
                        f"TripPlan.trips[{i}][{k}]: arrive_s {a_s} < depart_s {d_s}; need arrive_s >= depart_s"
                    )
                if previous_arrival is not None and d_s < previous_arrival:
                    raise ValueError(
                        f"TripPlan.trips[{i}][{k}].depart_s: {d_s} is before the previous arrival "
                        f"{previous_arrival}; trips of one EV must not overlap"
                    )
                depart[i, k], arrive[i, k], dest[i, k] = d_s, a_s, self.states.index(place)
                previous_arrival = a_s
        self._depart, self._arrive, self._dest = depart, arrive, dest
        self.trips = tuple(tuple(tuple(trip) for trip in plan) for plan in trips)
        times = np.concatenate([depart.ravel(), arrive.ravel()])
        self._changes_s = np.sort(times[times < np.iinfo(np.int64).max]).tolist()  # every trip start and arrival

    def step(
        self, state: np.ndarray, t_s: int, rng: np.random.Generator | None = None
    ) -> np.ndarray:
        """State of every EV at ``t_s`` [s]; ``state`` is kept for EVs before their first trip.

        ``rng`` is unused (the plan is deterministic) and accepted for a common signature.
        """
        state = np.asarray(state, dtype=np.intp)
        if state.shape[0] != self._depart.shape[0]:
            raise ValueError(
                f"TripPlan.step: {state.shape[0]} states for {self._depart.shape[0]} planned EVs"
            )
        rows = np.arange(state.shape[0])
        started = (self._depart <= t_s).sum(
            axis=1
        )  # trips are ordered, so a count is the last index + 1
        last = started - 1
        has_trip = last >= 0
        col = np.maximum(last, 0)
        driving = has_trip & (t_s < self._arrive[rows, col])
        new = state.copy()
        new[has_trip] = self._dest[rows, col][has_trip]
        new[driving] = self.moving_index
        return new

    def route(self, i: int, k: int, destination: str, arrive_s: int) -> None:
        """Decide where EV ``i``'s trip ``k`` goes and when it arrives.

        For trips whose destination is chosen while the EV drives (seed 004 section
        4.2.2: the DSO platform allocates a charging site after the trip started). The
        trip keeps its departure time; the next trip must not start before ``arrive_s``.
        """
        place = self.index(destination)
        if place == self.moving_index:
            raise ValueError(f"TripPlan.route destination: {destination!r} is not a place")
        d_s = int(self._depart[i, k])
        nxt = int(self._depart[i, k + 1]) if k + 1 < self._depart.shape[1] else None
        if arrive_s < d_s or (nxt is not None and arrive_s > nxt):
            raise ValueError(
                f"TripPlan.route arrive_s: {arrive_s} outside [{d_s}, {nxt}] for EV {i} trip {k}"
            )
        del self._changes_s[bisect.bisect_left(self._changes_s, int(self._arrive[i, k]))]
        bisect.insort(self._changes_s, int(arrive_s))
        self._dest[i, k], self._arrive[i, k] = place, arrive_s
        plan = list(self.trips[i])
        plan[k] = (d_s, int(arrive_s), destination)
        self.trips = (*self.trips[:i], tuple(plan), *self.trips[i + 1 :])

    def next_change_s(self, t_s: int) -> int | None:
        """Earliest trip start or arrival after ``t_s`` [s], ``None`` if no trip is left."""
        k = bisect.bisect_right(self._changes_s, t_s)
        return self._changes_s[k] if k < len(self._changes_s) else None

    def destination(self, i: int, t_s: int) -> str | None:
        """Destination of EV ``i``'s trip under way or starting at ``t_s``, else ``None``."""
        k = int((self._depart[i] <= t_s).sum()) - 1
        if k < 0 or t_s >= self._arrive[i, k]:
            return None
        return self.states[self._dest[i, k]]
