"""The DSO's grid coordination during a run: capacity limits for charging sites.

A pluggable role (registry :data:`GRID_COORDINATION`, method ``decide``): the DSO
observes the last power flow (transformer loading, bus voltages) and each site's draw
and answers with a capacity limit per site, which the site's aggregator then respects
(``SiteAggregator.capacity_kw``). Built-ins:

``"none"``
    no limits (the DSO watches only).
``"sensitivity"``
    on a violation, the seed-001 network sensitivity heuristic
    (``flexcosim.agents.grid_optim.sensitivity``) decides which sites to turn down and by how much.
``"limit_guard"``
    a feedback rule in the spirit of seed 001 section III-B (act on a violation, then
    relax): when a transformer loads above ``max_loading_pct`` the sites behind it are
    capped at their last draw scaled by ``target / loading``; when any bus falls below
    ``v_min_pu`` every site is capped at ``voltage_share`` of its last draw (it does not
    know which site helps most; ``"sensitivity"`` finds out, at one power flow per site). Limits relax by ``relax_share`` per step once the grid is
    back within ``relax_margin_pct`` / ``v_min_pu + 0.01``.

The limits act from the next step on: the observation is the previous step's power flow.
The agent :class:`DSOGrid` sends each site a
:class:`~flexcosim.agents.messages.CapacityLimitNotice` when its limit changes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flexcosim.agents.messages import CapacityLimitNotice, Envelope, GridReading
from flexcosim.agents.processes import Role
from flexcosim.agents.registry import Guarded, Registry


@dataclass(frozen=True)
class GridObservation:
    """What the DSO sees after a power flow.

    Attributes
    ----------
    time_s : now [s since start]
    transformer_loading_pct : transformer -> loading of the last power flow [%]
    min_voltage_pu : lowest bus voltage of the last power flow [p.u.]
    site_draw_kw : site -> its draw at the meter in the last step [kW]
    site_transformer : site -> the transformer that feeds it
    limits_kw : site -> the limit now in force [kW] (``inf`` for none)
    net : the pandapower net of the last power flow (all demand lumped per bus, site
        draws included); read it, never change it (copy first)
    site_bus : site -> pandapower index of its bus
    """

    time_s: int
    transformer_loading_pct: Mapping[str, float]
    min_voltage_pu: float
    site_draw_kw: Mapping[str, float]
    site_transformer: Mapping[str, str]
    limits_kw: Mapping[str, float]
    net: Any = None
    site_bus: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class SiteLimits:
    """Capacity limit per site from the next step on [kW]; ``inf`` lifts a limit."""

    capacity_kw: Mapping[str, float] = field(default_factory=dict)


class NoLimits:
    """The DSO watches and never limits."""

    def decide(self, obs: GridObservation) -> SiteLimits:
        return SiteLimits({site: math.inf for site in obs.site_draw_kw})


def relaxed(limit_kw: float, share: float) -> float:
    """A limit one step further released: ``share`` more, plus 0.1 kW so a 0 kW cap lifts too."""
    return limit_kw * (1.0 + share) + 0.1 if math.isfinite(limit_kw) else limit_kw


@dataclass(frozen=True)
class LimitGuard:
    """Cap the sites behind an overloaded transformer, or all sites on low voltage; relax after.

    Attributes
    ----------
    max_loading_pct : transformer loading that triggers a cap [%]
    target_loading_pct : loading the cap aims at [%]
    v_min_pu : voltage that triggers a cap of every site [p.u.]
    voltage_share : share of its last draw a site keeps on low voltage [-]
    relax_share : a limit grows by this share per step once the grid is fine [-]
    relax_margin_pct : loading below which limits relax [%]
    """

    max_loading_pct: float = 100.0
    target_loading_pct: float = 97.0
    v_min_pu: float = 0.9
    voltage_share: float = 0.8
    relax_share: float = 0.1
    relax_margin_pct: float = 95.0

    def decide(self, obs: GridObservation) -> SiteLimits:
        limits = dict(obs.limits_kw)
        low_voltage = obs.min_voltage_pu < self.v_min_pu
        for site, draw in obs.site_draw_kw.items():
            loading = obs.transformer_loading_pct.get(obs.site_transformer.get(site, ""), 0.0)
            current = limits.get(site, math.inf)
            if loading > self.max_loading_pct:
                current = min(current, draw * self.target_loading_pct / loading)
            if low_voltage:
                current = min(current, draw * self.voltage_share)
            if (not low_voltage and loading < self.relax_margin_pct
                    and obs.min_voltage_pu > self.v_min_pu + 0.01):
                current = relaxed(current, self.relax_share)
            limits[site] = max(current, 0.0)
        return SiteLimits(limits)


@dataclass(frozen=True)
class SensitivityGuard:
    """On a violation, the seed-001 network heuristic picks which sites to turn down.

    The sites' last draws become flexible agents (bounds 0 .. draw) on a copy of the last
    power flow's net with their draw taken out of the bus demand; :func:`resolve_violations`
    ranks them by dV/dP (10 % perturbations, one power flow each) and turns down the most
    effective until the violation clears or no site has headroom left. The positions it
    ends at are the limits. Without a violation limits relax as in :class:`LimitGuard`.
    Costs (1 + sites) power flows per adjustment round on violation steps.

    Attributes
    ----------
    v_min_pu : lowest acceptable voltage [p.u.] (seed 001: 0.94; the LV feeder study: 0.9)
    max_loading_pct : line and transformer loading limit [%]
    relax_share : a limit grows by this share per step once the grid is fine [-]
    max_iterations : adjustment rounds per violation step
    """

    v_min_pu: float = 0.9
    max_loading_pct: float = 100.0
    relax_share: float = 0.1
    max_iterations: int = 5

    def decide(self, obs: GridObservation) -> SiteLimits:
        import copy

        from flexcosim.agents.grid_optim.sensitivity import (
            FlexAgent,
            OperatingLimits,
            resolve_violations,
        )

        limits = dict(obs.limits_kw)
        violated = (obs.min_voltage_pu < self.v_min_pu or
                    max(obs.transformer_loading_pct.values(), default=0.0) > self.max_loading_pct)
        if not violated:
            return SiteLimits({site: relaxed(kw, self.relax_share) for site, kw in limits.items()})
        net = copy.deepcopy(obs.net)
        agents = []
        for site, draw in obs.site_draw_kw.items():
            bus = obs.site_bus[site]
            load = net.load.index[net.load.bus == bus][0]
            net.load.at[load, "p_mw"] -= draw / 1e3
            agents.append(FlexAgent(site, bus, draw, 0.0, max(draw, 0.0)))
        result = resolve_violations(
            net, agents, OperatingLimits(v_min_pu=self.v_min_pu,
                                         loading_max_percent=self.max_loading_pct),
            max_iterations=self.max_iterations)
        for site, kw in result.positions_kw.items():
            if kw < obs.site_draw_kw[site] - 1e-9:
                limits[site] = min(limits.get(site, math.inf), kw)
        return SiteLimits(limits)


def no_limits(obs: GridObservation) -> SiteLimits:
    """Last resort when the fallback fails too: no site is limited (reads nothing, cannot fail)."""
    return SiteLimits({})


GRID_COORDINATION: Registry[NoLimits] = Registry(
    "DSO grid coordination", "decide",
    {"none": NoLimits, "limit_guard": LimitGuard, "sensitivity": SensitivityGuard},
    last_resort=no_limits)


def check_limits(decision: object, obs: GridObservation) -> str:
    """Why ``decision`` is not a valid answer to ``obs`` ('' if it is)."""
    if not isinstance(decision, SiteLimits):
        return f"returned {type(decision).__name__}, expected SiteLimits"
    for site, kw in decision.capacity_kw.items():
        if site not in obs.site_draw_kw:
            return f"limit for {site!r}, which is not a site"
        if not kw >= 0:
            return f"limit {kw!r} kW for {site!r}; need >= 0 or inf"
    return ""


class DSOGridAgent:
    """The DSO during a run: its strategy with a fallback to no limits, and its limits."""

    def __init__(self, strategy: Guarded, site_transformer: Mapping[str, str],
                 net: Any = None, site_bus: Mapping[str, int] | None = None) -> None:
        self.strategy = strategy
        self.site_transformer = dict(site_transformer)
        self.net, self.site_bus = net, dict(site_bus or {})
        self.limits_kw: dict[str, float] = {}
        self.history: list[tuple[int, dict[str, float]]] = []  # (time_s, limits) on change

    @property
    def fallbacks(self):
        return self.strategy.fallbacks

    def decide(self, time_s: int, loading_pct: Mapping[str, float], min_voltage_pu: float,
               site_draw_kw: Mapping[str, float]) -> dict[str, float]:
        obs = GridObservation(time_s, dict(loading_pct), min_voltage_pu, dict(site_draw_kw),
                              self.site_transformer, dict(self.limits_kw), self.net, self.site_bus)
        limits = dict(self.strategy(obs, time_s).capacity_kw)
        if limits != self.limits_kw:
            self.history.append((time_s, limits))
        self.limits_kw = limits
        return limits


class DSOGrid(Role):
    """The DSO grid agent: on each power-flow reading it decides limits and notifies the sites.

    Parameters
    ----------
    agent : the DSO's coordination (strategy, fallback, limits in force)
    site_agents : site -> name of its aggregator

    Attributes
    ----------
    limits_kw : the limits decided at the last reading (for the recorder); none at first
    """

    def __init__(self, agent: DSOGridAgent, site_agents: Mapping[str, str], name: str = "dso") -> None:
        super().__init__(name)
        self.agent, self.site_agents = agent, dict(site_agents)
        self.limits_kw = {site: math.inf for site in agent.site_transformer}
        self._told: dict[str, float] = {}

    def handle(self, envelope: Envelope) -> None:
        match envelope.body:
            case GridReading() as r:
                self.limits_kw = self.agent.decide(int(self.env.now), r.loading_pct,
                                                   r.min_voltage_pu, r.site_draw_kw)
                for site, to in self.site_agents.items():
                    kw = self.limits_kw.get(site, math.inf)
                    if self._told.get(site, math.inf) != kw:
                        self.notify(to, CapacityLimitNotice(site, kw))
                        self._told[site] = kw
