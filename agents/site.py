"""The site aggregator: schedules the EVs on its chargers, one decision per step.

The aggregator sees its plant only through a :class:`SiteObservation` and answers
with :class:`SiteSetpoints`, so a strategy runs the same in simulation and on a real
site (the ACN-Sim seam). A strategy that raises or returns an invalid decision is
reported and replaced for that step by the safe fallback (uncontrolled charging is
*not* safe under a capacity limit, so the fallback is the capacity-respecting
``"equal_share"``); every fallback is kept in :attr:`SiteAggregator.fallbacks`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from itertools import compress
from operator import attrgetter, itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal, Protocol

import numpy as np

from flexcosim.agents.registry import Fallback, Guarded, Registry

if TYPE_CHECKING:
    from flexcosim.agents.optim.types import SiteScheduleProblem

#: Site load above the limit tolerated as solver round-off [kW].
_TOL_KW = 1e-6


@dataclass(frozen=True)
class SiteEV:
    """An EV on one of the site's chargers, as the aggregator knows it."""

    ev: str
    energy_kwh: float
    capacity_kwh: float
    target_kwh: float
    max_charge_kw: float
    max_discharge_kw: float
    departure_s: int | None = None  # announced departure, None if unknown

    def with_energy(self, energy_kwh: float) -> SiteEV:
        """This EV with ``energy_kwh`` [kWh]: a copy made without ``dataclasses.replace``, as
        a site agent makes one per EV and decision."""
        new = object.__new__(SiteEV)
        new.__dict__.update(self.__dict__, energy_kwh=energy_kwh)
        return new


@dataclass(frozen=True)
class SiteObservation:
    """What the site aggregator observes before deciding.

    Attributes
    ----------
    site : site name
    time_s : now [s since start]; step_s : decision interval [s]
    evs : the EVs on a charger
    charger_kw : charger rating [kW]; efficiency : charger efficiency [-]; v2g : chargers can discharge
    capacity_kw : power the site may draw this step [kW], ``inf`` if unlimited
    capacity_forecast_kw : (n,) forecast of ``capacity_kw`` from now to the horizon end
        [kW], empty if the site has no limit (transformer rating minus building load)
    price_forecast_per_kwh : (n,) the site's own price signal over the same steps
        [currency/kWh], empty if it has none
    tariff_forecast_per_kwh : (n,) the price the site's meter pays for energy over the
        same steps [currency/kWh], empty if the scenario gives the site no tariff
    price_curve_per_kwh : (n, S) the site's price for its EV load in S equal segments of
        the capacity forecast [currency/kWh] (its convex cost of load), empty if none
    forecaster : ``None``, or a function that computes the four forecast fields above,
        which are then left empty: a site agent observes so for a strategy that declares
        ``forecasts_on_demand = True`` and calls :meth:`with_forecasts` when it needs them
        (a plan follower between plans reads none of them)
    """

    site: str
    time_s: int
    step_s: int
    evs: tuple[SiteEV, ...]
    charger_kw: float
    efficiency: float
    v2g: bool
    capacity_kw: float = math.inf
    capacity_forecast_kw: tuple[float, ...] = ()
    price_forecast_per_kwh: tuple[float, ...] = ()
    tariff_forecast_per_kwh: tuple[float, ...] = ()
    price_curve_per_kwh: tuple[tuple[float, ...], ...] = ()
    forecaster: Callable[[], Mapping[str, tuple]] | None = field(default=None, repr=False, compare=False)

    @functools.cached_property
    def ev_names(self) -> frozenset[str]:
        """The names of :attr:`evs`."""
        return frozenset(map(attrgetter("ev"), self.evs))

    def with_forecasts(self) -> SiteObservation:
        """This observation with its forecast fields computed (itself if they are)."""
        if self.forecaster is None:
            return self
        return replace(self, forecaster=None, **self.forecaster())


@dataclass(frozen=True)
class SiteSetpoints:
    """Grid-side power per EV until the next decision [kW] (+ charge, - discharge).

    ``next_decision_s``: the strategy wants to decide again at this time [s since start]
    even if nothing happens (e.g. the next step of its schedule); ``None``: at the next
    event (an arrival, a departure, a capacity change, the fleet's decision tick).
    """

    power_kw: Mapping[str, float] = field(default_factory=dict)
    next_decision_s: int | None = None


class SiteStrategy(Protocol):
    """Turns what a site sees into charger set-points."""

    def decide(self, obs: SiteObservation) -> SiteSetpoints: ...


def charge_nothing(obs: SiteObservation) -> SiteSetpoints:
    """Last resort when the fallback fails too: no EV charges this step (reads nothing, cannot fail)."""
    return SiteSetpoints({})


SITE_STRATEGIES: Registry[SiteStrategy] = Registry("site strategy", last_resort=charge_nothing)


def _needed_kw(ev: SiteEV, obs: SiteObservation) -> float:
    """Grid-side power that would close the gap to the target within one step [kW]."""
    gap_kwh = max(0.0, ev.target_kwh - ev.energy_kwh)
    return min(obs.charger_kw, ev.max_charge_kw / obs.efficiency,
               gap_kwh / obs.efficiency / (obs.step_s / 3600.0))


@SITE_STRATEGIES.register("uncontrolled")
class Uncontrolled:
    """Charge every EV at full power from arrival until its target (no capacity limit)."""

    def decide(self, obs: SiteObservation) -> SiteSetpoints:
        return SiteSetpoints({ev.ev: _needed_kw(ev, obs) for ev in obs.evs})


@SITE_STRATEGIES.register("equal_share")
class EqualShare:
    """Uncontrolled charging scaled down uniformly to respect the site capacity."""

    def decide(self, obs: SiteObservation) -> SiteSetpoints:
        wanted = {ev.ev: _needed_kw(ev, obs) for ev in obs.evs}
        demand = sum(wanted.values())
        scale = 1.0 if demand <= obs.capacity_kw else max(0.0, obs.capacity_kw) / demand
        return SiteSetpoints({ev: kw * scale for ev, kw in wanted.items()})


class PlanFollower:
    """A receding-horizon strategy: makes a per-EV plan of ``step_s`` steps and follows it.

    Re-plans when an EV arrives, when an EV leaves before its announced departure (or
    without one), and when the plan runs out; otherwise it follows the stored plan, so
    a day costs one plan per arrival, not one per step. An EV leaving at or after its
    announced departure changes nothing the plan did not assume (its power ends there),
    so the rest of the plan is still optimal for the EVs that stay (Bellman's principle;
    the forecasts are those of the last plan, as between any two events) and it goes on
    without a new one. The plan's steps count whole ``step_s`` from the plan's time; the
    strategy asks to decide again at each step's end. Subclasses make the plan
    (:meth:`_make_plan`), may plan arrivals alone against the others' plans
    (:meth:`_plan_arrivals`) and may add reasons to re-plan (:meth:`_must_replan`), and
    read the plans' sum per step (:meth:`_planned_kw`);
    the observation they get has its forecasts (:meth:`SiteObservation.with_forecasts`).
    """

    #: the forecasts are computed only for a plan (see :class:`SiteObservation`)
    forecasts_on_demand: ClassVar[bool] = True

    def __init__(self) -> None:
        self._plan: dict[str, np.ndarray] = {}  # EV -> grid-side power per plan step [kW]
        self._plan_start_s = 0
        self._departure_s: dict[str, int | None] = {}  # EV -> announced departure, as planned
        # (as at the joint plan or the EV's arrival, whichever was later)
        self._step: tuple[int, dict[str, float]] | None = None  # plan step k and its set-points
        self._total: np.ndarray | None = None  # the plans summed (:meth:`_planned_kw`), None: not yet

    def decide(self, obs: SiteObservation) -> SiteSetpoints:
        k = (obs.time_s - self._plan_start_s) // obs.step_s
        here = obs.ev_names
        gone = {ev: self._departure_s[ev] for ev in self._departure_s.keys() - here}
        for ev in gone:  # (the plan holds only EVs of the last decision)
            if self._plan.pop(ev, None) is not None:
                self._total = None
        new = here - self._departure_s.keys()
        arrived = tuple(compress(obs.evs, map(new.__contains__, map(attrgetter("ev"), obs.evs)))) if new else ()
        joint = self._must_replan(obs, k, gone)
        if joint or arrived:
            obs = obs.with_forecasts()
        added = None
        if not joint and arrived:
            added = self._plan_arrivals(obs, arrived, k)
            joint = added is None
            self._add_plans(added or {})
        if joint:
            self._plan = self._make_plan(obs)
            self._plan_start_s, k = obs.time_s, 0
            self._step = self._total = None
            self._departure_s = dict(zip(map(attrgetter("ev"), obs.evs), map(attrgetter("departure_s"), obs.evs)))
        else:  # (a strategy that raised has changed none: it sees the same EVs come and go again)
            for ev in gone:
                del self._departure_s[ev]
            self._departure_s.update(zip(map(attrgetter("ev"), arrived), map(attrgetter("departure_s"), arrived)))
        return SiteSetpoints(self._setpoints(k, gone, added),
                             self._plan_start_s + (k + 1) * obs.step_s if self._plan else None)

    def _add_plans(self, plans: Mapping[str, np.ndarray]) -> None:
        """Add the plans of EVs that have none yet (after the others, in the order given)."""
        self._plan.update(plans)
        if self._total is not None:
            for plan in plans.values():
                self._total = self._total + plan

    def _planned_kw(self) -> np.ndarray:
        """Every planned EV's power summed per plan step [kW]: 0 plus each plan in the order of
        the plans, as ``np.sum(plans, axis=0)``, kept from one decision to the next."""
        if self._total is None:
            self._total = np.sum(list(self._plan.values()), axis=0)
        return self._total

    def _setpoints(self, k: int, gone: Mapping, added: Mapping[str, np.ndarray] | None) -> dict[str, float]:
        """Every planned EV's power in plan step ``k`` [kW]: the last decision's, changed by the
        EVs that left and came, if it was of the same step and plan."""
        if self._step is not None and self._step[0] == k:
            setpoints = self._step[1]
            for ev in gone:
                setpoints.pop(ev, None)
            setpoints.update((ev, float(plan[k])) for ev, plan in (added or {}).items())
        else:
            setpoints = dict(zip(self._plan, map(float, map(itemgetter(k), self._plan.values()))))
            self._step = (k, setpoints)
        return dict(setpoints)

    def _must_replan(self, obs: SiteObservation, k: int, gone: Mapping[str, int | None]) -> bool:
        """An early (or unannounced) departure, or no plan left for step ``k``.

        ``gone``: the EVs of the last decision that have left, with their announced departure.
        """
        if not self._plan or k >= len(next(iter(self._plan.values()))):
            return True
        return any(dep is None or dep > obs.time_s for dep in gone.values())

    def _make_plan(self, obs: SiteObservation) -> dict[str, np.ndarray]:
        """Grid-side power per EV and step from ``obs.time_s`` [kW]; raises if none can be made."""
        raise NotImplementedError

    def _plan_arrivals(self, obs: SiteObservation, arrived: tuple[SiteEV, ...],
                       k: int) -> dict[str, np.ndarray] | None:
        """Plans for the ``arrived`` EVs alone, on the current plan's steps (step ``k`` is now),
        the other EVs' plans kept; ``None`` (here: always) re-plans every EV jointly."""
        return None


class Scheduled(PlanFollower):
    """Plans with an optimisation model (``flexcosim.agents.optim.site_scheduler``).

    See :class:`PlanFollower` for when it re-plans. An EV leaving during a step charges
    in it for the share of it it is still there (``SiteScheduleProblem.departure_share``).
    EVs without an announced departure are scheduled to the horizon end.

    Parameters
    ----------
    scheduler : name in ``SCHEDULERS`` ("optimal", "llf", "uncontrolled")
    soft_capacity : if True the site limit may be exceeded, at a penalty below the
        penalty for unmet energy, when targets cannot be met otherwise (seed 004 section
        5.3, 50 % runs: schedules avoid overload "where possible"); if False the limit
        is hard and targets are curtailed (75 % runs)
    replan : ``"joint"``: an arrival re-plans every EV at the site. ``"committed"``: an
        arrival plans only the arriving EVs, against the others' plans as committed load
        (``SiteScheduleProblem.committed_kw``; seed 004 section 4.2.2, a new EV's schedule
        is chosen against the site's commitments), on the current plan's steps; every EV
        is re-planned jointly when that plan would leave energy unmet or push the site
        above its limit (at once, or at the step's end if the last joint plan is less than
        a step old, so a congested site re-plans jointly at most about once a step), on an
        early departure, and when the plan runs out. Each arrival then costs an LP of its
        own EVs' size, not of the whole site's
    """

    def __init__(self, scheduler: str = "optimal", soft_capacity: bool = False,
                 replan: Literal["joint", "committed"] = "joint") -> None:
        from flexcosim.agents.optim.site_scheduler import SCHEDULERS

        if replan not in ("joint", "committed"):
            raise ValueError(f"replan = {replan!r}; allowed: 'joint', 'committed'")
        super().__init__()
        self.scheduler = SCHEDULERS[scheduler]()
        self.soft_capacity = soft_capacity
        self.replan = replan
        self._short = False  # an arrival's plan falls short: re-plan jointly at the step's end

    def _must_replan(self, obs: SiteObservation, k: int, gone: Mapping[str, int | None]) -> bool:
        """Also when an arrival's plan fell short and the joint plan is a step old."""
        return super()._must_replan(obs, k, gone) or (
            self._short and obs.time_s - self._plan_start_s >= obs.step_s)

    def _make_plan(self, obs: SiteObservation) -> dict[str, np.ndarray]:
        self._short = False
        if not obs.evs:
            return {}
        n = max(len(obs.capacity_forecast_kw), len(obs.tariff_forecast_per_kwh), 1)
        problem = self._problem(obs, obs.evs, obs.time_s, n, None)
        schedule = self.scheduler.schedule(problem)
        if schedule.status not in ("optimal", "ok", "limit_exceeded"):
            # no plan: raise, so the aggregator records it and its fallback decides this step
            raise RuntimeError(f"site scheduler returned {schedule.status}: {schedule.reason}")
        return {ev.ev: schedule.power_kw[i] for i, ev in enumerate(obs.evs)}

    def _plan_arrivals(self, obs: SiteObservation, arrived: tuple[SiteEV, ...],
                       k: int) -> dict[str, np.ndarray] | None:
        if self.replan != "committed":
            return None
        n = len(next(iter(self._plan.values()))) - k
        committed = self._planned_kw()[k:]
        problem = self._problem(obs, arrived, self._plan_start_s + k * obs.step_s, n, committed)
        schedule = self.scheduler.schedule(problem)
        if schedule.status not in ("optimal", "ok"):
            return None
        room = np.maximum(problem.capacity_limit_kw - committed, 0.0)
        if schedule.unmet_energy_kwh.any() or (schedule.power_kw.sum(axis=0) > room + _TOL_KW).any():
            # the others' plans leave these EVs short: re-plan them all, now or at the step's end
            if obs.time_s - self._plan_start_s >= obs.step_s:
                return None
            self._short = True
        lead = np.zeros(k)
        return {ev.ev: np.concatenate([lead, schedule.power_kw[i]]) for i, ev in enumerate(arrived)}

    def _problem(self, obs: SiteObservation, evs: tuple[SiteEV, ...], start_s: int, n: int,
                 committed_kw: np.ndarray | None) -> SiteScheduleProblem:
        """``evs`` over ``n`` steps of ``obs.step_s`` from ``start_s`` (<= now, the first step
        then counting from now) with the observation's forecasts, which start now."""
        from flexcosim.agents.optim.types import SiteScheduleProblem

        def steps(values: tuple, fill: tuple) -> np.ndarray:  # forecast over the n steps
            v = np.asarray(values or fill * n, dtype=float)[:n]
            return np.concatenate([v, np.repeat(v[-1:], n - len(v), axis=0)])

        limit = steps(obs.capacity_forecast_kw, (obs.capacity_kw,))
        curve = (steps(obs.price_curve_per_kwh, ())
                 if obs.price_curve_per_kwh and obs.capacity_forecast_kw else None)
        if curve is None:  # keep the curve's segments on the site limit it was priced on
            # no site limit: the chargers' total rating binds, so the model stays finite
            limit = np.minimum(limit, obs.charger_kw * len(obs.evs))
        # the site's own price signal if it has one, else what its meter pays
        price = steps(obs.price_forecast_per_kwh or obs.tariff_forecast_per_kwh, (1.0,))
        # steps until the departure, the last one counted for the share the EV is still there
        left_s = np.array([n * obs.step_s if ev.departure_s is None
                           else max(1, ev.departure_s - start_s) for ev in evs])
        departure = -(-left_s // obs.step_s)
        share = np.where(departure > n, 1.0, (left_s - (departure - 1) * obs.step_s) / obs.step_s)
        # the scheduler's power limits are grid-side: the battery-side limit over efficiency
        charge_max = np.array([min(obs.charger_kw, ev.max_charge_kw / obs.efficiency) for ev in evs])
        return SiteScheduleProblem(
            energy_kwh=np.array([ev.energy_kwh for ev in evs]),
            target_energy_kwh=np.array([min(ev.target_kwh, ev.capacity_kwh) for ev in evs]),
            capacity_kwh=np.array([ev.capacity_kwh for ev in evs]),
            charge_max_kw=charge_max,
            discharge_max_kw=np.array([ev.max_discharge_kw if obs.v2g else 0.0 for ev in evs]),
            departure_step=np.minimum(departure, n),
            departure_share=share,
            arrival_share=np.full(len(evs), 1.0 - (obs.time_s - start_s) / obs.step_s),
            v2g=np.full(len(evs), obs.v2g),
            capacity_limit_kw=np.maximum(limit, 0.0),
            price_per_kwh=price,
            dt_s=obs.step_s,
            efficiency=obs.efficiency,
            overload_penalty_per_kw=OVERLOAD_PENALTY if self.soft_capacity else None,
            price_curve_per_kwh=curve,
            committed_kw=committed_kw,
        )


#: Penalty of one kW above the site limit for one hour with a soft limit
#: [currency/kWh]; below the default unmet-energy penalty (1000), so targets win.
OVERLOAD_PENALTY = 100.0

for _name, _scheduler, _soft, _replan in (
    ("optimal", "optimal", False, "joint"),
    ("optimal_soft", "optimal", True, "joint"),
    ("optimal_committed", "optimal", False, "committed"),
    ("optimal_soft_committed", "optimal", True, "committed"),
    ("llf", "llf", False, "joint"),
):
    SITE_STRATEGIES.register(_name)(
        lambda scheduler=_scheduler, soft=_soft, replan=_replan: Scheduled(scheduler, soft, replan)
    )


@SITE_STRATEGIES.register("btm_ems")
def _btm_ems() -> SiteStrategy:
    """The seed-004 BTM EMS MILP as a site strategy (``flexcosim.agents.btm_strategy``)."""
    from flexcosim.agents.btm_strategy import BTMEMSStrategy

    return BTMEMSStrategy()


class SiteAggregator:
    """One site's agent: calls its strategy, checks the answer, falls back if needed.

    Parameters
    ----------
    site : site name
    strategy : strategy name (built-in, entry point, ``file.py:Class`` or ``module:Class``)
    fallback : safe built-in used when the strategy fails
    base_dir : folder a ``file.py:Class`` strategy is relative to (the scenario's folder)
    timeout_s : wall-clock limit per decision [s] (see :class:`flexcosim.agents.registry.Guarded`)

    Attributes
    ----------
    capacity_kw : limit on the site's draw imposed from outside (a DSO, an operator) [kW];
        the observation's ``capacity_kw`` and forecast are capped by it
    """

    def __init__(self, site: str, strategy: str, fallback: str = "equal_share",
                 base_dir: Path | None = None, timeout_s: float | None = None) -> None:
        self.site = site
        self.strategy_name = strategy
        self.guarded: Guarded[SiteStrategy] = Guarded(
            f"agg_{site}", SITE_STRATEGIES, strategy, fallback, check_setpoints, base_dir, timeout_s)
        self.capacity_kw = math.inf
        self.last: tuple[SiteObservation, SiteSetpoints] | None = None

    @property
    def fallbacks(self) -> list[Fallback]:
        return self.guarded.fallbacks

    def decide(self, obs: SiteObservation) -> SiteSetpoints:
        if self.capacity_kw < math.inf:
            obs = replace(obs, capacity_kw=min(obs.capacity_kw, self.capacity_kw),
                          **_capped(obs.capacity_forecast_kw, self.capacity_kw),
                          forecaster=obs.forecaster and _capped_forecaster(obs.forecaster, self.capacity_kw))
        failed = len(self.guarded.fallbacks)
        decision = self.guarded(obs, obs.time_s)
        for i in range(failed, len(self.guarded.fallbacks)):  # the record shows every forecast
            record = self.guarded.fallbacks[i]
            self.guarded.fallbacks[i] = replace(record, observation=record.observation.with_forecasts())
        self.last = (obs, decision)
        return decision


def _capped(capacity_forecast_kw: tuple[float, ...], cap_kw: float) -> dict[str, tuple[float, ...]]:
    """``capacity_forecast_kw`` capped at ``cap_kw``, as observation fields."""
    return {"capacity_forecast_kw": tuple(min(c, cap_kw) for c in capacity_forecast_kw)}


def _capped_forecaster(forecaster: Callable[[], Mapping[str, tuple]],
                       cap_kw: float) -> Callable[[], Mapping[str, tuple]]:
    """``forecaster`` whose capacity forecast is capped at ``cap_kw``."""
    def capped() -> Mapping[str, tuple]:
        fields = dict(forecaster())
        return {**fields, **_capped(fields.get("capacity_forecast_kw", ()), cap_kw)}
    return capped


def check_setpoints(decision: object, obs: SiteObservation) -> str:
    """Why ``decision`` is not a valid answer to ``obs`` ('' if it is)."""
    if not isinstance(decision, SiteSetpoints):
        return f"returned {type(decision).__name__}, expected SiteSetpoints"
    power = decision.power_kw
    try:  # the usual case at C speed: every set-point for a known EV, finite, no V1G discharge
        kw = np.fromiter(power.values(), float, len(power))
        if power.keys() <= obs.ev_names and np.isfinite(kw).all() and (obs.v2g or not (kw < 0).any()):
            return ""
    except (TypeError, ValueError):
        pass
    known = obs.ev_names
    for ev, kw in power.items():
        if ev not in known:
            return f"set-point for {ev!r}, which is not on a charger"
        if not math.isfinite(kw):
            return f"set-point {kw!r} kW for {ev!r} is not finite"
        if kw < 0 and not obs.v2g:
            return f"discharge set-point {kw} kW for {ev!r} on a V1G site"
    return ""
