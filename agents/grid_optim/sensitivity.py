"""Network sensitivity heuristic: which agents to move to clear a violation (seed 001 III-B).

Given the positions of flexible agents (EVs, batteries, PV, ...) on a low-voltage net,
the heuristic runs a power flow and checks voltages (seed: 0.94..1.10 pu) and thermal
loading. On a violation it turns each agent's active power up/down by 10 %, re-runs the
power flow, and ranks the agents by the sensitivity of the violated quantity,
``S_a = Delta V_m / Delta P_a`` (seed 001 section III-B, steps 1.a.i-ii). The seed
extends the heuristic to return agent adjustments; here the most sensitive agent with
headroom is moved by the linear estimate ``-(violation + AIM_MARGIN |limit|) / S_a``
(within its bounds; the margin of 0.1 % of the limit keeps the linear step from landing
just short of the limit again and again, as it does when the sensitivity grows towards
the limit, e.g. dV/dP at falling voltage), and
the power flow is re-run until no violation is left (iterate, as in step 3 of the
platform stages).

The power flow is three-phase (``pandapower.runpp_3ph``) when an agent is single-phase
or the net holds asymmetric loads or sgens, so each phase is checked on its own as the
seed asks; otherwise the balanced ``runpp``. In three-phase mode two more limits are
checked where pandapower reports the quantity: the neutral current of a line against
its rated current (a full-size neutral; "neutral_overload", phase ``"n"``) and, when a
limit is given, the voltage unbalance factor |V_2|/|V_1| of a bus ("unbalance"; EN 50160
allows 2 %, seed 001 names no value). A 3-phase net needs zero-sequence data
(ext_grid ``s_sc_max_mva``, ``rx_max``, ``x0x_max``, ``r0x0_max``; line
``r0_ohm_per_km``, ``x0_ohm_per_km``, ``c0_nf_per_km``).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandapower as pp

PHASES = ("a", "b", "c")
#: An adjustment aims this share of the limit inside it [-].
AIM_MARGIN = 1e-3


@dataclass(frozen=True)
class FlexAgent:
    """A flexible agent's position as the aggregator passes it to the network heuristic.

    Attributes
    ----------
    name : unique agent name
    bus : pandapower bus index of its connection point
    power_kw : position P^A_a, active power consumed (negative = generation) [kW]
    lower_kw, upper_kw : position bounds P^LB_A, P^UB_A [kW]
    phase : "a", "b" or "c" for a single-phase agent; ``None`` for a balanced one
    """

    name: str
    bus: int
    power_kw: float
    lower_kw: float
    upper_kw: float
    phase: str | None = None

    def __post_init__(self) -> None:
        if self.phase is not None and self.phase not in PHASES:
            raise ValueError(f"{self.name}.phase={self.phase!r}; allowed: {PHASES} or None")
        values = (self.power_kw, self.lower_kw, self.upper_kw)
        if not (np.all(np.isfinite(values)) and self.lower_kw <= self.power_kw <= self.upper_kw):
            raise ValueError(
                f"{self.name}: power_kw={self.power_kw} outside [lower_kw={self.lower_kw}, "
                f"upper_kw={self.upper_kw}]; finite lower <= power <= upper is required"
            )


@dataclass(frozen=True)
class OperatingLimits:
    """Voltage and thermal limits (seed 001: 0.94 and 1.10 pu, UK practice).

    Attributes
    ----------
    v_min_pu, v_max_pu : voltage band [pu]
    loading_max_percent : line and transformer loading limit [%]
    neutral_max_percent : neutral current limit of a line [% of its rated phase current];
        ``None`` = not checked (three-phase power flow only)
    unbalance_max_percent : voltage unbalance factor limit [%]; ``None`` = not checked
        (three-phase power flow only)
    """

    v_min_pu: float = 0.94
    v_max_pu: float = 1.10
    loading_max_percent: float = 100.0
    neutral_max_percent: float | None = 100.0
    unbalance_max_percent: float | None = None

    def __post_init__(self) -> None:
        if not 0 < self.v_min_pu < self.v_max_pu:
            raise ValueError(
                f"v_min_pu={self.v_min_pu}, v_max_pu={self.v_max_pu}; 0 < v_min < v_max is required"
            )
        for name in ("loading_max_percent", "neutral_max_percent", "unbalance_max_percent"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name}={value}; a limit > 0 % is required")


@dataclass(frozen=True)
class Violation:
    """One violated limit.

    Attributes
    ----------
    kind : "undervoltage", "overvoltage", "overload", "neutral_overload" or "unbalance"
    element : "bus", "line" or "trafo"
    index : pandapower index of the element
    phase : "a", "b", "c", "n" (neutral), or ``None`` in a balanced power flow and for
        the unbalance of a bus
    value : voltage [pu], loading [%] or voltage unbalance factor [%]
    limit : the limit it breaks [pu or %]
    """

    kind: str
    element: str
    index: int
    phase: str | None
    value: float
    limit: float

    @property
    def excess(self) -> float:
        """How far beyond the limit, positive when violated [pu or %]."""
        return self.limit - self.value if self.kind == "undervoltage" else self.value - self.limit

    def __str__(self) -> str:
        where = f"{self.element} {self.index}" + (f" phase {self.phase}" if self.phase else "")
        unit = " pu" if self.kind.endswith("voltage") else "%"
        return f"{self.kind} at {where}: {self.value:.4f}{unit} vs limit {self.limit}{unit}"


@dataclass(frozen=True)
class AgentSensitivity:
    """Sensitivity of a violation to one agent, S_a = d(excess)/dP_a [pu/kW or %/kW]."""

    agent: str
    per_kw: float


@dataclass(frozen=True)
class HeuristicResult:
    """Outcome of :func:`resolve_violations`.

    Attributes
    ----------
    status : "ok" (no violation), "cleared", "not_cleared" or "power_flow_failed"
    message : what is left or what failed, empty for "ok"/"cleared"
    power_flow : "3ph" or "balanced"
    initial_violations : violations at the agents' positions
    ranking : sensitivities for the first (worst) violation, most effective first
    adjustments_kw : agent name -> turn-up (+) / turn-down (-) Delta p_a [kW]
    positions_kw : agent name -> adjusted position [kW]
    remaining_violations : violations after the adjustments
    power_flows : number of power flows run
    """

    status: str
    message: str
    power_flow: str
    initial_violations: tuple[Violation, ...] = ()
    ranking: tuple[AgentSensitivity, ...] = ()
    adjustments_kw: dict[str, float] = field(default_factory=dict)
    positions_kw: dict[str, float] = field(default_factory=dict)
    remaining_violations: tuple[Violation, ...] = ()
    power_flows: int = 0


class _AgentNet:
    """A private copy of the net with one element per agent, re-run after each change."""

    def __init__(self, net: pp.pandapowerNet, agents: Sequence[FlexAgent], limits: OperatingLimits):
        self.net = copy.deepcopy(net)
        self.agents = tuple(agents)
        self.limits = limits
        asym = any(
            len(self.net[t]) for t in ("asymmetric_load", "asymmetric_sgen") if t in self.net
        )
        self.three_phase = asym or any(a.phase is not None for a in agents)
        self.runs = 0
        self.index = []
        for a in self.agents:
            if self.three_phase and a.phase is not None:
                self.index.append(pp.create_asymmetric_load(self.net, a.bus, name=a.name))
            else:
                self.index.append(pp.create_load(self.net, a.bus, p_mw=0.0, name=a.name))

    def violations(self, power_kw: np.ndarray) -> tuple[Violation, ...]:
        """Run the power flow at ``power_kw`` per agent; raises LoadflowNotConverged."""
        for a, idx, p in zip(self.agents, self.index, power_kw):
            if self.three_phase and a.phase is not None:
                for ph in PHASES:
                    self.net.asymmetric_load.at[idx, f"p_{ph}_mw"] = (
                        p / 1000.0 if ph == a.phase else 0.0
                    )
            else:
                self.net.load.at[idx, "p_mw"] = p / 1000.0
        self.runs += 1
        if self.three_phase:
            pp.runpp_3ph(self.net, numba=False)
            bus_v = {ph: self.net.res_bus_3ph[f"vm_{ph}_pu"] for ph in PHASES}
            loading = {
                (el, ph): self.net[f"res_{el}_3ph"][f"loading_{ph}_percent"]
                for el in ("line", "trafo")
                for ph in PHASES
                if len(self.net[el]) and f"loading_{ph}_percent" in self.net[f"res_{el}_3ph"]
            }
        else:
            pp.runpp(self.net, numba=False)
            bus_v = {None: self.net.res_bus.vm_pu}
            loading = {
                (el, None): self.net[f"res_{el}"].loading_percent
                for el in ("line", "trafo")
                if len(self.net[el])
            }
        lim = self.limits
        found = []
        for ph, v in bus_v.items():
            for idx, val in v.dropna().items():
                if val < lim.v_min_pu:
                    found.append(
                        Violation("undervoltage", "bus", int(idx), ph, float(val), lim.v_min_pu)
                    )
                elif val > lim.v_max_pu:
                    found.append(
                        Violation("overvoltage", "bus", int(idx), ph, float(val), lim.v_max_pu)
                    )
        for (el, ph), load in loading.items():
            for idx, val in load.dropna().items():
                if val > lim.loading_max_percent:
                    found.append(
                        Violation("overload", el, int(idx), ph, float(val), lim.loading_max_percent)
                    )
        if self.three_phase and lim.neutral_max_percent is not None and len(self.net.line):
            for idx, val in self._neutral_loading().dropna().items():
                if val > lim.neutral_max_percent:
                    found.append(Violation("neutral_overload", "line", int(idx), "n", float(val),
                                           lim.neutral_max_percent))
        if self.three_phase and lim.unbalance_max_percent is not None:
            for idx, val in self.net.res_bus_3ph.unbalance_percent.dropna().items():
                if val > lim.unbalance_max_percent:
                    found.append(Violation("unbalance", "bus", int(idx), None, float(val),
                                           lim.unbalance_max_percent))
        return tuple(sorted(found, key=lambda x: -x.excess))

    def _neutral_loading(self):
        """Neutral current of every line over its rated current [%] (last 3-phase flow)."""
        line = self.net.line
        return 100.0 * self.net.res_line_3ph.i_n_ka / (line.max_i_ka * line.df * line.parallel)

    def excess_of(self, target: Violation, power_kw: np.ndarray) -> float:
        """Signed excess of the quantity behind ``target`` at ``power_kw`` (positive = violated)."""
        self.violations(power_kw)
        if target.kind == "neutral_overload":
            value = float(self._neutral_loading().at[target.index])
        elif target.kind == "unbalance":
            value = float(self.net.res_bus_3ph.at[target.index, "unbalance_percent"])
        elif target.element == "bus":
            res = self.net.res_bus_3ph if self.three_phase else self.net.res_bus
            value = float(
                res.at[target.index, f"vm_{target.phase}_pu" if target.phase else "vm_pu"]
            )
        else:
            res = self.net[
                f"res_{target.element}_3ph" if self.three_phase else f"res_{target.element}"
            ]
            col = f"loading_{target.phase}_percent" if target.phase else "loading_percent"
            value = float(res.at[target.index, col])
        return Violation(
            target.kind, target.element, target.index, target.phase, value, target.limit
        ).excess


def _rank(
    grid: _AgentNet, target: Violation, power_kw: np.ndarray, step_share: float
) -> list[AgentSensitivity]:
    """Perturb every agent by ``step_share`` of its position and rank by |S_a| (seed 001 III-B)."""
    base = target.excess
    ranking = []
    for i, a in enumerate(grid.agents):
        size = step_share * (abs(power_kw[i]) or (a.upper_kw - a.lower_kw))
        # turn down where the bounds allow, else up; a narrow range shortens the step
        down, up = power_kw[i] - a.lower_kw, a.upper_kw - power_kw[i]
        delta = -min(size, down) if down > 0 else min(size, up)
        if abs(delta) < 1e-9:
            continue
        moved = power_kw.copy()
        moved[i] += delta
        try:
            ranking.append(
                AgentSensitivity(a.name, float((grid.excess_of(target, moved) - base) / delta))
            )
        except pp.LoadflowNotConverged:
            continue
    return sorted(ranking, key=lambda s: -abs(s.per_kw))


def _key(v: Violation) -> tuple:
    """Violations whose ranking is shared: same kind of limit, element type and phase (the
    buses along one phase of a feeder rank their agents alike)."""
    return (v.kind, v.element, v.phase)


def _step(ranking: Sequence[AgentSensitivity], names: list[str], target: Violation,
          power: np.ndarray, lower: np.ndarray, upper: np.ndarray,
          moved: np.ndarray) -> tuple[float, int]:
    """The move of the most sensitive agent with headroom that keeps its direction:
    (delta [kW], agent index); (0, -1) if none can move.

    ``moved`` holds each agent's direction so far (-1 down, +1 up, 0 not moved): an agent
    is not moved back, or two violations on different phases (an EV turned down for one
    phase lowers the other phases through the neutral) would trade it back and forth.
    """
    for s in ranking:
        i = names.index(s.agent)
        if abs(s.per_kw) < 1e-12:
            continue
        delta = float(np.clip(-(target.excess + AIM_MARGIN * abs(target.limit)) / s.per_kw,
                              lower[i] - power[i], upper[i] - power[i]))
        if abs(delta) > 1e-9 and moved[i] * delta >= 0:
            return delta, i
    return 0.0, -1


def resolve_violations(
    net: pp.pandapowerNet,
    agents: Sequence[FlexAgent],
    limits: OperatingLimits = OperatingLimits(),
    step_share: float = 0.1,
    max_iterations: int = 20,
) -> HeuristicResult:
    """Check the agents' positions against the limits and adjust agents until none is violated.

    Each iteration takes the worst violation, ranks the agents by sensitivity (each
    turned up/down by ``step_share`` of its position, or of its range when at zero) and
    moves the most sensitive agent that still has headroom by
    ``-(excess + AIM_MARGIN |limit|) / S_a``, capped at its bounds. A ranking is kept for
    every kind of violation (kind, element type, phase) and reused while one of its agents
    can still move (the seed ranks once and adjusts the most effective agents in turn); it
    is re-run when every agent it ranks is at its bound. A kept ranking's sensitivity is
    that of an earlier target, so the step is a linear estimate the next power flow
    corrects. An agent keeps the direction of its first move (never turned back up after
    a turn-down, or the reverse). The net itself is not modified.

    Parameters
    ----------
    net : pandapower net holding the inflexible load and generation
    agents : flexible agents, added to a private copy of ``net``
    limits : voltage and loading limits
    step_share : perturbation size of the sensitivity run [-] (seed: 0.1)
    max_iterations : bound on adjustment rounds

    Returns
    -------
    HeuristicResult
        ``not_cleared`` names the violations left when no agent has useful headroom.
    """
    names = [a.name for a in agents]
    if len(set(names)) != len(names):
        raise ValueError(f"agent names {names} repeat; unique names are required")
    if not 0 < step_share <= 1:
        raise ValueError(f"step_share={step_share}; a share in (0, 1] is required")
    if max_iterations < 1:
        raise ValueError(f"max_iterations={max_iterations}; at least 1 is required")
    for a in agents:
        if a.bus not in net.bus.index:
            raise ValueError(f"{a.name}.bus={a.bus} is not a bus of the net")

    grid = _AgentNet(net, agents, limits)
    mode = "3ph" if grid.three_phase else "balanced"
    start = np.array([a.power_kw for a in agents], dtype=float)
    power = start.copy()
    lower = np.array([a.lower_kw for a in agents])
    upper = np.array([a.upper_kw for a in agents])

    def result(status: str, message: str, **kw) -> HeuristicResult:
        return HeuristicResult(
            status=status,
            message=message,
            power_flow=mode,
            power_flows=grid.runs,
            adjustments_kw={n: float(d) for n, d in zip(names, power - start) if abs(d) > 1e-9},
            positions_kw=dict(zip(names, power.tolist())),
            **kw,
        )

    try:
        current = grid.violations(power)
    except pp.LoadflowNotConverged:
        return result("power_flow_failed", "power flow did not converge at the agents' positions")
    initial, first_ranking = current, ()
    stuck = False
    rankings: dict[tuple, list[AgentSensitivity]] = {}
    moved = np.zeros(len(agents))
    for _ in range(max_iterations):
        if not current:
            break
        target = current[0]
        delta, i = 0.0, -1
        if _key(target) in rankings:  # a violation of this kind was ranked: reuse it
            delta, i = _step(rankings[_key(target)], names, target, power, lower, upper, moved)
        if abs(delta) <= 1e-9:  # a new kind, or no ranked agent can move: rank afresh
            try:
                ranking = _rank(grid, target, power, step_share)
            except pp.LoadflowNotConverged:
                ranking = []
            rankings[_key(target)] = ranking
            first_ranking = first_ranking or tuple(ranking)
            delta, i = _step(ranking, names, target, power, lower, upper, moved)
        if abs(delta) <= 1e-9:
            stuck = True
            break
        power[i] += delta
        moved[i] = np.sign(delta)
        try:
            current = grid.violations(power)
        except pp.LoadflowNotConverged:
            return result(
                "power_flow_failed",
                "power flow did not converge after an adjustment",
                initial_violations=initial,
                ranking=first_ranking,
            )
    if not initial:
        return result("ok", "", ranking=())
    if not current:
        return result("cleared", "", initial_violations=initial, ranking=first_ranking)
    why = (
        "no agent has headroom left to clear"
        if stuck
        else f"still violated after max_iterations={max_iterations}"
    )
    return result(
        "not_cleared",
        f"{why}: " + "; ".join(str(v) for v in current[:3]),
        initial_violations=initial,
        ranking=first_ranking,
        remaining_violations=current,
    )
