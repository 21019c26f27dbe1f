"""Seed 001 as a co-simulation: DER owners, the aggregator platform's network heuristic and a
three-phase grid in the loop, built from a scenario's ``dayahead: {kind: seed001_congestion}``.

Seed 001 (sections III-A/B): every half hour the aggregator passes the DER owners' positions
P_a^A (EVs at home charging their driving deficit, PV, self-consumption batteries; EV states
from the Markov chain of eqs 1-2) to the network heuristic, which checks them with a
three-phase unbalanced load flow and, on a violation, adjusts the most sensitive agents
(steps 1.a.i-ii); the adjusted positions are applied. Three mosaik simulators
(:mod:`flexcosim.cosim.adapters.congestion`), each stepping every ``step_s``:

``DerOwners``
    one entity per bus with households; at ``t`` it applies the set-points decided at
    ``t - step_s`` (time-shifted input) and outputs the interval ``[t - step_s, t)``'s
    consumption (bus totals to the world's balanced grid, per household to the three-phase
    grid), then proposes the positions of ``[t, t + step_s)`` with their bounds.
``NetworkPlatform``
    the aggregator platform's network layer: checks the proposal against its own copy of
    the feeder (:func:`~flexcosim.agents.grid_optim.feeder_replication.check_step`) and
    returns set-points (with ``heuristic: false`` it checks only and returns the proposal).
``Feeder3ph``
    the grid in the loop: :class:`~flexcosim.cosim.models.grid3ph.ThreePhaseGrid` with the
    consumption the owners applied, ``pandapower.runpp_3ph`` and the limit check of the
    heuristic (:func:`~flexcosim.agents.grid_optim.sensitivity.resolve_violations` without
    agents); it records which elements are congested in each interval.

Why a stepped simulator and not a simpy role on the message layer: the seed's platform
is a synchronous pipeline per half hour (positions -> load flow -> adjustments -> applied)
with no negotiation and no latency, which is what a day-ahead-style simulator
(:mod:`flexcosim.cosim.dayahead`) gives; the data it passes (proposal, set-points) are
plain dicts, as messages would be. The same per-step functions drive the plain loop
:func:`~flexcosim.agents.grid_optim.feeder_replication.replicate` (no second copy).

The feeder layout (phases, who owns an EV, PV or battery) is drawn once from
``layout_seed``; a run's stochastic inputs (base load, PV sky, EV states) from the
scenario's ``seed``, so the sweep's ``replications`` are the seed's Monte-Carlo samples.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field

import mosaik
import numpy as np
import pandas as pd

from flexcosim.agents.grid_optim.feeder_replication import (
    NOT_CONVERGED,
    DayConfig,
    DerOwners,
    Household,
    StepCheck,
    agent_names,
    check_step,
    draw_households,
    feeder_elements,
)
from flexcosim.agents.grid_optim.sensitivity import OperatingLimits, resolve_violations
from flexcosim.agents.registry import Fallback
from flexcosim.cosim.models.grid3ph import Connection, ThreePhaseGrid
from flexcosim.grids.network import GridNetwork
from flexcosim.scenarios.schema import Scenario, ScenarioError
from flexcosim.scenarios.schema_congestion import Seed001Congestion

#: mosaik simulators of the study (merged into the world's SIM_CONFIG).
SIM_CONFIG = {
    "DerOwners": {"python": "flexcosim.cosim.adapters.congestion:DerOwnersSim"},
    "NetworkPlatform": {"python": "flexcosim.cosim.adapters.congestion:NetworkPlatformSim"},
    "Feeder3ph": {"python": "flexcosim.cosim.adapters.congestion:Feeder3phSim"},
}


def _feeder(grid: GridNetwork, households: tuple[Household, ...]) -> ThreePhaseGrid:
    """A private three-phase model of ``grid`` with one connection per household."""
    return ThreePhaseGrid(dataclasses.replace(grid, net=copy.deepcopy(grid.net)),
                          {h.name: Connection(h.bus, h.phase) for h in households})


@dataclass
class CongestionStudy:
    """Seed 001 in the run: the owners, the platform's and the field's feeder, and what happened.

    ``congested`` (E, T) is what the grid in the loop measured; ``adjustments_kw`` (A, T)
    what the platform changed; ``believed`` (E, T) what the platform's check left congested
    (with the heuristic: equal to ``congested`` unless the two power flows disagree).
    """

    spec: Seed001Congestion
    config: DayConfig
    households: tuple[Household, ...]
    owners: DerOwners
    platform_feeder: ThreePhaseGrid
    field_feeder: ThreePhaseGrid
    limits: OperatingLimits
    elements: tuple[str, ...]
    agents: tuple[str, ...]
    congested: np.ndarray
    believed: np.ndarray
    adjustments_kw: np.ndarray
    statuses: list[str] = field(default_factory=list)
    removable_left: int = 0
    fallbacks: list[Fallback] = field(default_factory=list)
    _applied: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def step_s(self) -> int:
        return self.config.step_s

    @property
    def n_steps(self) -> int:
        return self.config.n_steps

    def buses(self) -> list[str]:
        """Buses with households, in layout order."""
        return list(dict.fromkeys(h.bus for h in self.households))

    def owners_step(self, time_s: int, setpoints_kw: dict[str, float]) -> tuple[dict, dict]:
        """Apply the set-points of the step that just ended, propose the next one.

        Returns ``(applied, proposal)``: household -> (kW, kvar) consumed in
        ``[t - step_s, t)`` (empty at 0), and ``{"agents": [(name, bus, phase, kW, lower,
        upper), ...], "base_kw": {...}, "base_kvar": {...}}`` for ``[t, t + step_s)``
        (empty at the end).
        """
        k = time_s // self.step_s
        applied = {}
        if k > 0:
            self.owners.apply(setpoints_kw)
            p, q = self.owners.base_consumption(k - 1)
            applied = {h: (p[h] + self._own(h, setpoints_kw), q[h]) for h in p}
        if k >= self.n_steps:
            return applied, {}
        p, q = self.owners.base_consumption(k)
        return applied, {"agents": self.owners.propose(k), "base_kw": p, "base_kvar": q}

    @staticmethod
    def _own(household: str, setpoints_kw: dict[str, float]) -> float:
        return sum(v for name, v in setpoints_kw.items() if name.split("/", 1)[0] == household)

    def platform_step(self, time_s: int, proposal: dict) -> StepCheck:
        """The network heuristic's verdict on ``[t, t + step_s)`` (seed 001 III-B): set-points,
        adjustments, whether a removable violation is left. Without the heuristic, or
        before the first checked step, the platform passes the proposal on unchecked."""
        k = time_s // self.step_s
        if not self.spec.heuristic or k < self.config.first_checked_step:
            positions = {a[0]: a[3] for a in proposal["agents"]}
            return StepCheck("unchecked", (), positions, dict.fromkeys(positions, 0.0), False)
        check = check_step(self.platform_feeder, (proposal["base_kw"], proposal["base_kvar"]),
                           proposal["agents"], self.spec.heuristic, self.limits)
        self.statuses.append(check.status)
        if check.status.startswith("power_flow_failed,"):
            self.fallbacks.append(Fallback(time_s, "platform", "network_heuristic",
                                           "power flow did not converge at the proposed positions; "
                                           f"restarted from every agent at its lowest consumption: "
                                           f"{check.status}", f"{len(proposal['agents'])} positions"))
        row = {name: i for i, name in enumerate(self.elements)}
        for name in check.congested:
            self.believed[row[name], k] = True
        self.removable_left += check.removable
        col = {name: i for i, name in enumerate(self.agents)}
        for name, delta in check.adjustments_kw.items():
            self.adjustments_kw[col[name], k] = delta
        return check

    def field_step(self, time_s: int, p_kw: dict[str, float], q_kvar: dict[str, float]) -> dict | None:
        """Three-phase power flow of ``[t - step_s, t)`` at the applied consumption; returns
        ``{"congested": {element: 0/1}}`` (``None`` before the first checked step)."""
        k = time_s // self.step_s - 1
        if k < self.config.first_checked_step:
            return None
        self.field_feeder.set_consumption(p_kw, q_kvar)
        result = resolve_violations(self.field_feeder.net, [], self.limits)
        names = {f"{v.element}:{self.field_feeder.net[v.element].name.at[v.index]}"
                 for v in result.initial_violations}
        if result.status == "power_flow_failed":
            names.add(NOT_CONVERGED)
        for i, name in enumerate(self.elements):
            self.congested[i, k] = name in names
        return {"congested": {name: float(name in names) for name in self.elements}}

    def summary(self) -> dict:
        """JSON-safe KPIs for ``summary.json`` (``dayahead``): the Monte-Carlo sample of one run."""
        statuses = pd.Series(self.statuses, dtype=object).value_counts()
        return {
            "kind": self.spec.kind, "heuristic": self.spec.heuristic, "step_s": self.step_s,
            "first_checked_step": self.config.first_checked_step, "n_steps": self.n_steps,
            "elements": list(self.elements), "agents": list(self.agents),
            "households": [dataclasses.asdict(h) for h in self.households],
            # per element: the steps its limits were violated in the grid in the loop
            "congested_steps": {e: np.flatnonzero(self.congested[i]).tolist()
                                for i, e in enumerate(self.elements) if self.congested[i].any()},
            "adjustments_kw": {a: np.round(self.adjustments_kw[i], 6).tolist()
                               for i, a in enumerate(self.agents) if self.adjustments_kw[i].any()},
            "congested_element_steps": int(self.congested.sum()),
            # steps where the grid in the loop saw other violations than the platform left
            "platform_disagrees_steps": (int((self.congested != self.believed).any(axis=0).sum())
                                         if self.spec.heuristic else None),
            "removable_left": self.removable_left,
            "statuses": {str(k): int(v) for k, v in statuses.items()},
            "unmet_ev_kwh": self.owners.unmet_ev_kwh,
        }


def build_congestion(s: Scenario, spec: Seed001Congestion, grid: GridNetwork) -> CongestionStudy:
    """The study of ``s``: layout from ``spec.layout_seed``, stochastic inputs from ``s.seed``.

    Raises
    ------
    ScenarioError
        a bus not in the grid, a start off midnight, or a duration that is not whole steps.
    """
    unknown = [b for b in spec.buses if b not in grid.buses]
    if unknown:
        raise ScenarioError(f"scenario field 'dayahead.buses': {unknown[0]!r} is not a bus of grid "
                            f"{grid.name!r}; allowed: {', '.join(grid.buses)}")
    start = pd.Timestamp(s.start)
    if start != start.normalize():
        raise ScenarioError(f"scenario field 'start': {s.start.isoformat()} is not midnight; "
                            "seed001_congestion starts with every EV at home at midnight")
    if s.duration_s % s.step_s or 3600 % s.step_s:
        raise ScenarioError(f"scenario fields 'duration_s'/'step_s': {s.duration_s}/{s.step_s}; "
                            "seed001_congestion needs whole steps that divide one hour (seed: 1800)")
    if s.grid.step_s not in (None, s.step_s):
        raise ScenarioError(f"scenario field 'grid.step_s': {s.grid.step_s}; seed001_congestion "
                            f"meters every step (null or {s.step_s})")
    first = round(spec.checked_from_h * 3600 / s.step_s)
    if not first * s.step_s < s.duration_s:
        raise ScenarioError(f"scenario field 'dayahead.checked_from_h': {spec.checked_from_h} h "
                            f"leaves no step to check in duration_s={s.duration_s}; allowed: below "
                            f"{s.duration_s / 3600:g} h")
    limits = OperatingLimits(spec.v_min_pu, spec.v_max_pu, spec.loading_max_pct,
                             spec.neutral_max_pct, spec.unbalance_max_pct)
    config = DayConfig(start=start.tz_convert("UTC"), n_steps=s.duration_s // s.step_s, step_s=s.step_s,
                       latitude_deg=s.location.latitude_deg, longitude_deg=s.location.longitude_deg,
                       ev_kwh_per_moving_step=spec.ev_kwh_per_moving_step, limits=limits,
                       first_checked_step=first)
    homes = draw_households(grid, spec.buses, spec.households_per_bus, spec.ev_share, spec.pv_share,
                            spec.battery_share, np.random.default_rng(spec.layout_seed), spec.ev_kw,
                            spec.pv_kwp, (spec.battery_kw, spec.battery_kwh), spec.base_peak_kw)
    elements, agents = feeder_elements(grid), agent_names(homes)
    T = config.n_steps
    return CongestionStudy(
        spec, config, homes, DerOwners(homes, s.seed, config), _feeder(grid, homes),
        _feeder(grid, homes), limits, elements, agents,
        congested=np.zeros((len(elements), T), dtype=bool),
        believed=np.zeros((len(elements), T), dtype=bool),
        adjustments_kw=np.zeros((len(agents), T)))


def wire_congestion(world: mosaik.World, study: CongestionStudy, params: dict[str, dict],
                    buses: dict, recorder) -> list:
    """Start the three simulators, create and connect their entities; returns them (for a gate).
    ``params``: their ``world.start`` arguments (:func:`flexcosim.cosim.dayahead.dayahead_sim_params`).

    Owners and the three-phase grid report at ``t`` the interval that just ended, as the
    world's grid and recorder read it; the platform decides at ``t`` for the next interval,
    so its set-points reach the owners and the recorder time-shifted by one step.
    """
    owners_sim = world.start("DerOwners", **params["DerOwners"])
    platform = world.start("NetworkPlatform", **params["NetworkPlatform"]).Platform()
    feeder = world.start("Feeder3ph", **params["Feeder3ph"]).Feeder3ph()
    shifted = {"time_shifted": True}
    owners = []
    for bus in study.buses():
        entity = owners_sim.Owners(name=f"owners_{bus}", bus=bus)
        world.connect(entity, buses[bus], "p_kw", "q_kvar")
        world.connect(entity, recorder, "p_kw")
        world.connect(entity, feeder, "households_kw", "households_kvar")
        world.connect(entity, platform, "proposal")
        world.connect(platform, entity, "setpoints_kw", **shifted, initial_data={"setpoints_kw": {}})
        owners.append(entity)
    world.connect(platform, recorder, "adjustment_kw", "removable", **shifted,
                  initial_data={"adjustment_kw": {}, "removable": 0.0})
    world.connect(feeder, recorder, "congested")
    return [*owners, platform, feeder]
