"""One replication of seed 001's feeder: DER owners on a three-phase LV feeder, every half hour
checked, and optionally adjusted, by the network heuristic.

Seed 001 (section III-A/B): DER-owner agents (households with an EV, PV or a battery, or
several) on an unbalanced LV network; the aggregator passes agent positions P_a^A for each
half hour of a 48-hour period to the network heuristic, which runs a 3-phase load flow and,
on a violation, ranks agents by sensitivity and returns adjustments. One replication here
is one draw of the stochastic inputs, stepped over ``n_steps`` half hours:

* EV state {moving, residential, commercial} from the time-varying Markov chain of
  seed 001 eqs 1-2 (:meth:`flexcosim.cosim.models.mobility.MarkovChain.commuter` with
  30-min slots; every EV starts the period at home at midnight). A moving half hour uses
  ``ev_kwh_per_moving_step`` (default 2.7 kWh: 30 km/h x 0.5 h x 0.18 kWh/km); an EV at
  home charges that deficit at its charger rating (uncontrolled, the aggregator's
  position), an EV at the commercial place is off this feeder.
* Household base load: SimBench H0 shape with 20 % AR(1) noise
  (:func:`flexcosim.cosim.models.building.synthetic_household`), power factor 0.97.
* PV: clear-sky output with a cloud model (:func:`flexcosim.cosim.models.pv.pv_profile`),
  one sky per replication, cloudiness drawn uniformly in [0, 1].
* Home battery: self-consumption rule (charge from PV surplus, discharge to cover the
  household's own load), SOC model of seed 001 eq. 4 with dt = 0.5 h.

Flexible agents are the EVs at home (turn-down to 0), PV (curtailment to 0) and the
batteries (within their power and energy bounds); the base load is inflexible. With
``heuristic=True`` :func:`~flexcosim.agents.grid_optim.sensitivity.resolve_violations`
adjusts them; an adjusted EV keeps its deficit and charges later, an adjusted battery
ends the step with the energy it actually moved. Every step also records whether a
violation the heuristic left could have been removed by the flexible agents at all
(all agents at their lowest consumption clears an undervoltage, overload, neutral or
unbalance violation; at their highest an overvoltage). A step whose power flow does
not converge at the agents' positions counts as congested on the pseudo element
``NOT_CONVERGED``; the heuristic then restarts from the safe position (all agents at
their lowest consumption).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from flexcosim.agents.grid_optim.congestion import ReplicationOutcome
from flexcosim.agents.grid_optim.sensitivity import (
    FlexAgent,
    HeuristicResult,
    OperatingLimits,
    Violation,
    resolve_violations,
)
from flexcosim.cosim.models.building import synthetic_household
from flexcosim.cosim.models.grid3ph import Connection, ThreePhaseGrid, assign_phases
from flexcosim.cosim.models.mobility import MarkovChain
from flexcosim.cosim.models.pv import PVSystem, pv_profile
from flexcosim.grids.network import GridNetwork

POWER_FACTOR = 0.97
#: Pseudo element congested when the power flow does not converge.
NOT_CONVERGED = "power_flow:not_converged"


@dataclass(frozen=True)
class Household:
    """A DER owner (seed 001 section III-A), single-phase.

    Attributes
    ----------
    name : unique name
    bus : bus name of its connection point
    phase : "a", "b" or "c"
    base_peak_kw : peak of the noise-free base-load shape [kW]
    ev_kw : EV charger rating [kW]; 0 = no EV
    pv_kwp : PV rating [kWp]; 0 = no PV
    battery_kw, battery_kwh : home battery power [kW] and capacity [kWh]; 0 = none
    """

    name: str
    bus: str
    phase: str
    base_peak_kw: float = 1.5
    ev_kw: float = 0.0
    pv_kwp: float = 0.0
    battery_kw: float = 0.0
    battery_kwh: float = 0.0

    def __post_init__(self) -> None:
        for field in ("base_peak_kw", "ev_kw", "pv_kwp", "battery_kw", "battery_kwh"):
            if not getattr(self, field) >= 0:
                raise ValueError(f"Household {self.name}.{field}={getattr(self, field)}: must be >= 0")
        if (self.battery_kw > 0) != (self.battery_kwh > 0):
            raise ValueError(f"Household {self.name}: battery_kw={self.battery_kw} and "
                             f"battery_kwh={self.battery_kwh} must both be > 0 or both 0")


def draw_households(grid: GridNetwork, buses: Sequence[str], per_bus: int, ev_share: float,
                    pv_share: float, battery_share: float, rng: np.random.Generator,
                    ev_kw: float = 7.0, pv_kwp: float = 4.0, battery: tuple[float, float] = (3.0, 6.0),
                    base_peak_kw: float = 1.5) -> tuple[Household, ...]:
    """``per_bus`` households on each of ``buses`` with phases from
    :func:`~flexcosim.cosim.models.grid3ph.assign_phases` and DER owners drawn with the
    given shares (a fixed feeder layout: draw it once, outside the replications).

    Defaults (invented; seed 001 gives no sizes): 7 kW single-phase EV chargers, 4 kWp PV,
    3 kW / 6 kWh batteries, 1.5 kW base-load peak.
    """
    for name, share in (("ev_share", ev_share), ("pv_share", pv_share), ("battery_share", battery_share)):
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"{name}={share}: must lie in [0, 1]")
    unknown = sorted(set(buses) - set(grid.buses))
    if unknown:
        raise ValueError(f"buses: {unknown} are not buses of {grid.name}")
    if per_bus < 1:
        raise ValueError(f"per_bus={per_bus}: must be >= 1")
    spots = [b for b in buses for _ in range(per_bus)]
    phases = assign_phases(len(spots), rng)
    n = len(spots)
    has_ev, has_pv, has_bat = (rng.random(n) < share for share in (ev_share, pv_share, battery_share))
    return tuple(
        Household(f"h{i:03d}", bus, ph, base_peak_kw, ev_kw * ev, pv_kwp * pv,
                  battery[0] * bat, battery[1] * bat)
        for i, (bus, ph, ev, pv, bat) in enumerate(zip(spots, phases, has_ev, has_pv, has_bat)))


@dataclass(frozen=True)
class DayConfig:
    """Time frame and physics of a replication.

    Attributes
    ----------
    start : tz-aware start of the period (midnight)
    n_steps : half hours (seed 001: 96 = 48 h)
    step_s : step length [s] (seed 001: 1800)
    latitude_deg, longitude_deg : site for PV [deg] (default: the English Midlands)
    ev_kwh_per_moving_step : energy an EV uses per moving step [kWh]
    limits : network limits of the heuristic (seed 001: 0.94-1.10 pu)
    first_checked_step : steps before it only advance EVs and batteries (agents keep
        their positions, no power flow, nothing recorded); 0 = check every step
    """

    start: pd.Timestamp = pd.Timestamp("2025-04-01", tz="Europe/London")
    n_steps: int = 96
    step_s: int = 1800
    latitude_deg: float = 52.5
    longitude_deg: float = -1.9
    ev_kwh_per_moving_step: float = 2.7
    limits: OperatingLimits = OperatingLimits()
    first_checked_step: int = 0

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise ValueError(f"DayConfig.start={self.start}: needs a time zone")
        if self.n_steps < 1 or self.step_s <= 0 or 3600 % self.step_s:
            raise ValueError(f"DayConfig n_steps={self.n_steps}, step_s={self.step_s}: need "
                             "n_steps >= 1 and a step_s that divides one hour")
        if not 0 <= self.first_checked_step < self.n_steps:
            raise ValueError(f"DayConfig.first_checked_step={self.first_checked_step}: must lie "
                             f"in 0..{self.n_steps - 1}")

    @property
    def step_h(self) -> float:
        return self.step_s / 3600.0


@dataclass(frozen=True)
class FeederReplication:
    """One replication: the Monte-Carlo outcome plus what the test of the heuristic needs.

    Attributes
    ----------
    outcome : congestion per element and step, adjustments per agent and step, from
        ``first_checked_step`` on
    elements : names of the rows of ``outcome.congested`` ("bus:<name>", "line:<name>", ...)
    agents : names of the rows of ``outcome.adjustments_kw`` ("<household>/ev", "/pv", "/battery")
    removable_left : steps at which a violation remained that the flexible agents at their
        relieving bounds would have removed (0 when the heuristic did its job)
    unmet_ev_kwh : EV energy deficit at the end [kWh], all EVs
    statuses : heuristic status per step ("ok", "cleared", "not_cleared",
        "power_flow_failed", or "power_flow_failed, fallback <status>" when the heuristic
        restarted from every agent at its lowest consumption)
    """

    outcome: ReplicationOutcome
    elements: tuple[str, ...]
    agents: tuple[str, ...]
    removable_left: int
    unmet_ev_kwh: float
    statuses: tuple[str, ...]


def feeder_elements(grid: GridNetwork) -> tuple[str, ...]:
    """Names of every bus, line and transformer as used in :class:`FeederReplication`, and
    ``NOT_CONVERGED`` for steps whose power flow found no solution (voltage collapse)."""
    net = grid.net
    return tuple(f"{el}:{net[el].name.at[i]}" for el in ("bus", "line", "trafo")
                 for i in net[el].index) + (NOT_CONVERGED,)


def agent_names(households: Sequence[Household]) -> tuple[str, ...]:
    """Names of the flexible agents of ``households`` (EV, PV, battery where owned)."""
    return tuple(f"{h.name}/{kind}" for h in households
                 for kind, owned in (("ev", h.ev_kw), ("pv", h.pv_kwp), ("battery", h.battery_kw)) if owned)


class DerOwners:
    """The DER owners of one replication: their stochastic inputs and their state over time.

    Draws (in this order, from ``seed``) the base loads, the PV sky and then, step by step,
    the EV states; keeps the EV energy deficits and the battery energies. The plain loop
    of :func:`replicate` and the co-simulation (:mod:`flexcosim.cosim.congestion`) step it
    the same way: :meth:`propose` the positions of step ``t``, check them
    (:func:`check_step`), :meth:`apply` what was decided.

    Parameters
    ----------
    households : the feeder layout (:func:`draw_households`)
    seed : seed of this replication's draws
    config : time frame, site, EV use
    """

    def __init__(self, households: Sequence[Household], seed: int, config: DayConfig = DayConfig()) -> None:
        self.households = tuple(households)
        self.config = config
        self.rng = np.random.default_rng(seed)
        T = config.n_steps
        days = -(-T * config.step_s // 86_400)
        self.base_kw = np.array([synthetic_household(h.base_peak_kw, config.step_s, days, self.rng,
                                                     POWER_FACTOR).p_kw[:T] for h in households])
        self.pv_per_kwp = pv_profile(PVSystem(1.0), config.latitude_deg, config.longitude_deg,
                                     config.start, config.step_s, T, self.rng,
                                     cloudiness=float(self.rng.random()))
        self.chain = MarkovChain.commuter(slot_s=config.step_s)
        self.home, self.moving = self.chain.index("residential"), self.chain.moving_index
        self.state = np.full(len(households), self.home)
        self.deficit_kwh = np.zeros(len(households))
        self.soc_kwh = np.array([h.battery_kwh / 2 for h in households])

    def propose(self, t: int) -> list[tuple[str, str, str, float, float, float]]:
        """Move the EVs into step ``t`` (Markov chain, seed 001 eqs 1-2) and return every
        flexible agent's (name, bus, phase, position, lower, upper) [kW], consumption > 0."""
        if t:  # state at t = 0 is the initial state (at home at midnight)
            self.state = self.chain.step(self.state, t * self.config.step_s, self.rng)
        self.deficit_kwh += np.where(self.state == self.moving, self.config.ev_kwh_per_moving_step, 0.0)
        return _positions(self.households, self.state == self.home, self.deficit_kwh, self.base_kw[:, t],
                          self.pv_per_kwp[t], self.soc_kwh, self.config.step_h)

    def base_consumption(self, t: int) -> tuple[dict[str, float], dict[str, float]]:
        """Inflexible consumption of every household in step ``t``: (kW, kvar)."""
        q_ratio = np.tan(np.arccos(POWER_FACTOR))
        p = {h.name: float(self.base_kw[i, t]) for i, h in enumerate(self.households)}
        return p, {name: v * q_ratio for name, v in p.items()}

    @property
    def unmet_ev_kwh(self) -> float:
        """Energy the EVs still lack for what they drove [kWh] (households with an EV only)."""
        return float(sum(d for h, d in zip(self.households, self.deficit_kwh) if h.ev_kw))

    def apply(self, positions_kw: dict[str, float]) -> None:
        """Advance EV deficits and battery energies over the step at ``positions_kw``."""
        _advance(self.households, self.state == self.home, positions_kw, self.deficit_kwh,
                 self.soc_kwh, self.config.step_h)


@dataclass(frozen=True)
class StepCheck:
    """The network heuristic's verdict on one step's agent positions.

    Attributes
    ----------
    status : heuristic status (see :attr:`FeederReplication.statuses`)
    congested : element names violated after the decision (:func:`feeder_elements`)
    positions_kw : agent -> position to apply [kW]
    adjustments_kw : agent -> applied minus proposed position [kW] (all agents)
    removable : a violation is left that the agents at their relieving bounds would remove
    """

    status: str
    congested: tuple[str, ...]
    positions_kw: dict[str, float]
    adjustments_kw: dict[str, float]
    removable: bool


def check_step(model: ThreePhaseGrid, base: tuple[dict[str, float], dict[str, float]],
               flex: Sequence[tuple[str, str, str, float, float, float]], heuristic: bool,
               limits: OperatingLimits) -> StepCheck:
    """Check (and with ``heuristic`` adjust) one step's positions (seed 001 III-B).

    Parameters
    ----------
    model : the feeder with one connection per household; its base load is overwritten
    base : household -> inflexible (kW, kvar), :meth:`DerOwners.base_consumption`
    flex : agent positions and bounds, :meth:`DerOwners.propose`
    heuristic : adjust agents (else only check: every agent fixed at its position)
    limits : network limits
    """
    model.set_consumption(*base)
    grid = model.grid
    agents = [FlexAgent(name, grid.buses[bus], p, lo, hi, phase) if heuristic else
              FlexAgent(name, grid.buses[bus], p, p, p, phase) for name, bus, phase, p, lo, hi in flex]
    result = resolve_violations(model.net, agents, limits)
    status = result.status
    if heuristic and status == "power_flow_failed":
        # no power flow, no sensitivities: fall back to the safe position (every agent
        # at its lowest consumption) and let the heuristic go on from there
        safe = [dataclasses.replace(a, power_kw=a.lower_kw) for a in agents]
        result = resolve_violations(model.net, safe, limits)
        status = f"power_flow_failed, fallback {result.status}"
    left = result.remaining_violations if heuristic else result.initial_violations
    congested = {_element_name(model.net, v) for v in left}
    if result.status == "power_flow_failed":
        congested.add(NOT_CONVERGED)
    removable = (heuristic and result.status == "not_cleared"
                 and _removable(model.net, agents, left, limits))
    positions = result.positions_kw
    return StepCheck(status, tuple(sorted(congested)), dict(positions),
                     {a.name: positions[a.name] - a.power_kw for a in agents}, bool(removable))


def replicate(grid: GridNetwork, households: Sequence[Household], seed: int, heuristic: bool = True,
              config: DayConfig = DayConfig()) -> FeederReplication:
    """Draw the stochastic inputs with ``seed`` and step the feeder (module docstring) in a
    plain loop, without mosaik: the same steps as the co-simulation
    (:mod:`flexcosim.cosim.congestion`), for quick studies and tests of the heuristic.

    Parameters
    ----------
    grid : three-phase-ready network (``build_lv_feeder_3ph``); not modified
    households : the feeder layout (:func:`draw_households`)
    seed : seed of this replication's draws
    heuristic : adjust agents with the network heuristic (else only check)
    config : time frame, site, EV use and limits
    """
    T = config.n_steps
    owners = DerOwners(households, seed, config)
    model = ThreePhaseGrid(dataclasses.replace(grid, net=copy.deepcopy(grid.net)),
                           {h.name: Connection(h.bus, h.phase) for h in households})
    elements = feeder_elements(grid)
    row_of = {name: i for i, name in enumerate(elements)}
    agents = agent_names(households)
    agent_row = {name: i for i, name in enumerate(agents)}
    congested = np.zeros((len(elements), T), dtype=bool)
    adjustments = np.zeros((len(agents), T))
    statuses: list[str] = []
    removable = 0
    for t in range(T):
        flex = owners.propose(t)
        if t < config.first_checked_step:
            owners.apply({name: p for name, _bus, _ph, p, _lo, _hi in flex})
            continue
        step = check_step(model, owners.base_consumption(t), flex, heuristic, config.limits)
        statuses.append(step.status)
        for name in step.congested:
            congested[row_of[name], t] = True
        removable += step.removable
        for name, delta in step.adjustments_kw.items():
            adjustments[agent_row[name], t] = delta
        owners.apply(step.positions_kw)
    first = config.first_checked_step
    return FeederReplication(
        outcome=ReplicationOutcome(congested=congested[:, first:], adjustments_kw=adjustments[:, first:]),
        elements=elements, agents=agents, removable_left=removable,
        unmet_ev_kwh=owners.unmet_ev_kwh, statuses=tuple(statuses))


def _positions(households: Sequence[Household], at_home: np.ndarray, deficit: np.ndarray,
               base_kw: np.ndarray, pv_per_kwp: float, soc_kwh: np.ndarray,
               dt_h: float) -> list[tuple[str, str, str, float, float, float]]:
    """Agent positions and bounds (name, bus, phase, power, lower, upper) [kW], consumption > 0."""
    out = []
    for i, h in enumerate(households):
        pv = h.pv_kwp * pv_per_kwp
        if h.ev_kw and at_home[i]:
            want = min(h.ev_kw, deficit[i] / dt_h)
            out.append((f"{h.name}/ev", h.bus, h.phase, want, 0.0, max(want, 0.0)))
        if h.pv_kwp:
            out.append((f"{h.name}/pv", h.bus, h.phase, -pv, -pv, 0.0))
        if h.battery_kw:
            lo = -min(h.battery_kw, soc_kwh[i] / dt_h)
            hi = min(h.battery_kw, (h.battery_kwh - soc_kwh[i]) / dt_h)
            net = base_kw[i] - pv
            p = float(np.clip(-net, lo, hi))  # self-consumption: absorb surplus, cover own load
            out.append((f"{h.name}/battery", h.bus, h.phase, p, lo, hi))
    return out


def _advance(households: Sequence[Household], at_home: np.ndarray, positions: dict[str, float],
             deficit: np.ndarray, soc_kwh: np.ndarray, dt_h: float) -> None:
    """EV deficits and battery energies (in place) after a step at ``positions`` [kW]."""
    for i, h in enumerate(households):
        if h.ev_kw and at_home[i]:
            deficit[i] = max(deficit[i] - positions.get(f"{h.name}/ev", 0.0) * dt_h, 0.0)
        if h.battery_kw:
            soc_kwh[i] = float(np.clip(soc_kwh[i] + positions[f"{h.name}/battery"] * dt_h,
                                       0.0, h.battery_kwh))


def _element_name(net, v: Violation) -> str:
    return f"{v.element}:{net[v.element].name.at[v.index]}"


def _removable(net, agents: Sequence[FlexAgent], left: Sequence[Violation],
               limits: OperatingLimits) -> bool:
    """Whether all agents at their relieving bound clear every violation in ``left``."""
    high = any(v.kind == "overvoltage" for v in left)
    relieved = [FlexAgent(a.name, a.bus, a.upper_kw if high else a.lower_kw,
                          a.upper_kw if high else a.lower_kw, a.upper_kw if high else a.lower_kw, a.phase)
                for a in agents]
    result: HeuristicResult = resolve_violations(net, relieved, limits)
    if result.status == "power_flow_failed":
        return False
    still = {(v.kind, v.element, v.index) for v in result.initial_violations}
    return not any((v.kind, v.element, v.index) in still for v in left)
