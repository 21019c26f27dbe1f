"""The capacity-sharing study in the co-simulation (seed 004 sections 3.3 and 4.2.1).

BTM units behind one shared transformer (``dayahead: {kind: capacity_sharing}``). Each
unit is a charging site of the scenario with the buildings and PV at its bus, an optional
stationary battery and deferrable loads; its energy aggregator negotiates capacity with
the others and schedules the unit with the BTM EMS
(:mod:`flexcosim.agents.sharing.roles`). The roles run as simpy processes on the
scenario's network; the battery and the deferrable loads are mosaik entities
(:mod:`flexcosim.cosim.adapters.storage`, :mod:`flexcosim.cosim.adapters.flexible_loads`).

:func:`build_sharing` builds the plain-Python models; :meth:`SharingStudy.make_roles`
creates the roles once the fleets are known; :func:`wire_sharing` starts the simulators
and connects the entities. Data flow within a step ``t``::

    Fleet --plugged--> Unit --setpoints_kw--> Site (chargers) --p_kw--> Bus
                        |  --battery_kw--> Battery --p_kw (shifted)--> Bus
                        |  --loads_kw--> DeferrableLoad --p_kw (shifted)--> Bus
                        +-- messages (coordinator, peers) on the agents' network
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import mosaik
import numpy as np
import pandas as pd

from flexcosim.agents.processes import AgentRuntime, Role
from flexcosim.agents.registry import Fallback
from flexcosim.agents.sharing.aggregator import EnergyAggregator
from flexcosim.agents.sharing.coordinator import (
    FTMCoordinator,
    ProportionalToConnection,
    SplitObservation,
)
from flexcosim.agents.sharing.grid_check import SharedGrid
from flexcosim.agents.sharing.incentives import CompensationRule
from flexcosim.agents.sharing.plant import UnitBatterySpec, UnitPlant
from flexcosim.agents.sharing.roles import CoordinatorRole, SharingLog, UnitRole
from flexcosim.cosim.models.battery import Battery, BatterySpec
from flexcosim.cosim.models.flexible_load import DeferrableLoad
from flexcosim.grids.network import GridNetwork
from flexcosim.scenarios.schema import Scenario, ScenarioError
from flexcosim.scenarios.schema_sharing import CapacitySharing, SharingUnit, UnitDeferrableLoad

#: mosaik simulators of the study (merged into the world's SIM_CONFIG).
SIM_CONFIG = {
    "Sharing": {"python": "flexcosim.cosim.adapters.sharing:SharingSim"},
    "FlexibleLoads": {"python": "flexcosim.cosim.adapters.flexible_loads:FlexibleLoadSim"},
}


@dataclass
class SharingStudy:
    """Seed 004 4.2.1 in the run: the units' plants, the coordinator and the record.

    Attributes
    ----------
    spec : the scenario section
    step_s, duration_s : the run's step and length [s]
    units : unit -> its scenario entry
    unit_bus : unit -> bus name
    fixed_net_kw : unit -> (steps,) building load minus PV [kW]
    price_per_kwh : (steps,) import price [currency/kWh]
    default_kw : unit -> its share of the default split [kW]
    batteries : ``battery_<unit>`` -> the plant run by the Storage simulator
    loads : load name -> the plant run by the FlexibleLoads simulator
    coordinator : the FTM coordinator's state machine
    meters : unit -> the recorded outputs whose sum is its draw (site, buildings, PV
        negative, battery, deferrable loads)
    log : every protocol message sent, for ``agreements.jsonl``
    """

    spec: CapacitySharing
    step_s: int
    duration_s: int
    units: dict[str, SharingUnit]
    unit_bus: dict[str, str]
    charger: dict[str, tuple[float, float]]  # unit -> (rating kW, efficiency)
    fixed_net_kw: dict[str, np.ndarray]
    price_per_kwh: np.ndarray
    default_kw: dict[str, float]
    batteries: dict[str, Battery]
    loads: dict[str, DeferrableLoad]
    coordinator: FTMCoordinator
    meters: dict[str, list[tuple[str, str, float]]]  # unit -> (entity, quantity, sign) at its bus
    log: SharingLog = field(default_factory=SharingLog)
    unit_roles: dict[str, UnitRole] = field(default_factory=dict)

    @property
    def fallbacks(self) -> list[Fallback]:
        """Every fallback of the coordinator and the units (strategies, EMS, missing Φ_c)."""
        out = list(self.coordinator.fallbacks)
        for role in self.unit_roles.values():
            out += role.fallbacks + role.aggregator.fallbacks
        return sorted(out, key=lambda f: f.time_s)

    def make_roles(self, targets_kwh: dict[str, float], departures_s: dict[str, int]) -> list[Role]:
        """The coordinator and one unit role per unit, given the EVs' targets and departures."""
        spec = self.spec
        peers = list(self.units) if spec.mode == "p2p_sharing" else []
        rule = CompensationRule(share=spec.compensation_share)
        for name, u in self.units.items():
            battery = None
            if u.battery is not None:
                b = u.battery
                battery = UnitBatterySpec(b.capacity_kwh, b.max_power_kw, b.efficiency,
                                          b.soc_min * b.capacity_kwh)
            plant = UnitPlant(
                name, self.step_s, self.fixed_net_kw[name], self.price_per_kwh, u.connection_kw,
                *self.charger[name], targets_kwh, departures_s, battery,
                [_deferrable(d) for d in u.deferrable_loads], spec.unmet_value_per_kwh)
            try:
                aggregator = EnergyAggregator(
                    name, [p for p in peers if p != name], self.coordinator.name,
                    order=spec.partner_order, rule=rule, collect_s=spec.collect_s,
                    deadline_s=spec.deadline_s, connection_kw=u.connection_kw)
            except ValueError as exc:
                raise ScenarioError(f"scenario field 'dayahead.partner_order': {exc}") from None
            self.unit_roles[name] = UnitRole(aggregator, plant, self.log, self.default_kw[name],
                                             spec.period_s)
        starts = range(spec.period_s, self.duration_s, spec.period_s)
        return [CoordinatorRole(self.coordinator, self.log, starts, spec.lead_s),
                *self.unit_roles.values()]


def _deferrable(d: UnitDeferrableLoad) -> DeferrableLoad:
    return DeferrableLoad(d.name, d.energy_kwh, d.max_power_kw, d.release_s, d.deadline_s)


def build_sharing(s: Scenario, spec: CapacitySharing, grid: GridNetwork, buildings: dict,
                  pv: dict) -> SharingStudy:
    """The study's models from the scenario (buildings and PV as the assembly built them).

    Raises
    ------
    ScenarioError
        a unit's site that is not a one-bus site of the scenario, a transformer the grid
        lacks, a period that is not a multiple of the step.
    """
    if spec.period_s % s.step_s:
        raise ScenarioError(f"scenario field 'dayahead.period_s': {spec.period_s} is not a "
                            f"multiple of step_s {s.step_s}; allowed: k x {s.step_s}")
    if spec.transformer not in grid.transformers:
        raise ScenarioError(f"scenario field 'dayahead.transformer': {spec.transformer!r} is not "
                            f"a transformer of grid {grid.name!r}; allowed: "
                            f"{', '.join(grid.transformers)}")
    n = s.duration_s // s.step_s
    offset = int((pd.Timestamp(s.start) - pd.Timestamp(s.start).normalize()).total_seconds())
    sites = {g.name: g for g in s.sites}
    units, unit_bus, charger, fixed, meters = {}, {}, {}, {}, {}
    for i, u in enumerate(spec.units):
        g = sites.get(u.site)
        if g is None or len(g.buses) != 1:
            allowed = ", ".join(x.name for x in s.sites if len(x.buses) == 1)
            raise ScenarioError(f"scenario field 'dayahead.units.{i}.site': {u.site!r} is not a "
                                f"site on one bus; allowed: {allowed or 'none'}")
        bus = g.buses[0]
        units[u.name], unit_bus[u.name], charger[u.name] = u, bus, (g.rated_kw, g.efficiency)
        load = np.zeros(n)
        meters[u.name] = [(u.site, "p_kw", 1.0)]
        for b_name, (b_bus, profile) in buildings.items():
            if b_bus == bus:
                load += [profile.at(k * s.step_s + offset)[0] for k in range(n)]
                meters[u.name].append((b_name, "p_kw", 1.0))
        for p_name, (p_bus, series, _) in pv.items():
            if p_bus == bus:
                load -= series[:n]
                meters[u.name].append((p_name, "p_gen_kw", -1.0))
        if u.battery is not None:
            meters[u.name].append((f"battery_{u.name}", "p_kw", 1.0))
        meters[u.name] += [(d.name, "p_kw", 1.0) for d in u.deferrable_loads]
        fixed[u.name] = load
    hours = ((offset + np.arange(n) * s.step_s) // 3600) % 24
    price = np.asarray(spec.import_price_per_kwh)[hours]
    connection = {u.name: u.connection_kw for u in spec.units}
    default = dict(ProportionalToConnection().split(SplitObservation(spec.shared_kw, connection)))
    # a copy: the grid simulator puts the run's loads into grid.net, the check adds the limits
    check = (SharedGrid(copy.deepcopy(grid.net), {u: grid.buses[b] for u, b in unit_bus.items()},
                        method=spec.grid_check, v_min_pu=spec.v_min_pu,
                        power_factor=spec.power_factor)
             if spec.mode == "p2p_sharing" else None)
    try:
        coordinator = FTMCoordinator(connection, spec.shared_kw, spec.period_s, check,
                                     spec.split, spec.service_fee)
    except ValueError as exc:
        raise ScenarioError(f"scenario field 'dayahead': {exc}") from None
    batteries = {f"battery_{u.name}": Battery(
        BatterySpec(u.battery.capacity_kwh, u.battery.max_power_kw, u.battery.efficiency,
                    u.battery.efficiency), u.battery.soc0 * u.battery.capacity_kwh)
        for u in spec.units if u.battery is not None}
    loads = {d.name: _deferrable(d) for u in spec.units for d in u.deferrable_loads}
    return SharingStudy(spec, s.step_s, s.duration_s, units, unit_bus, charger, fixed, price,
                        default, batteries, loads, coordinator, meters)


def wire_sharing(world: mosaik.World, study: SharingStudy, runtime: AgentRuntime, fleets: dict,
                 sites: dict, buses: dict, recorder) -> list:
    """Start the study's simulators, create and connect its entities; returns them (for a gate).

    The units decide at ``t`` for ``[t, t + step_s)``; the battery and the loads report
    that interval at ``t + step_s``, so their connections to the grid, the recorder and
    back to the units are time-shifted (as in :func:`flexcosim.cosim.dayahead.wire_dayahead`).
    """
    shifted = {"time_shifted": True}
    end_s = study.duration_s
    sim = world.start("Sharing", step_s=study.step_s, runtime=runtime,
                      sites={u: spec.site for u, spec in study.units.items()}, end_s=end_s)
    storage = world.start("Storage", step_s=study.step_s, batteries=study.batteries, end_s=end_s)
    flex = world.start("FlexibleLoads", step_s=study.step_s, loads=study.loads, end_s=end_s)
    entities = []
    for name, u in study.units.items():
        unit = sim.Unit(name=name)
        entities.append(unit)
        for fleet in fleets.values():
            world.connect(fleet, unit, "plugged")
        world.connect(unit, sites[u.site], "setpoints_kw")
        world.connect(unit, recorder, "capacity_kw", "planned_kw", **shifted,
                      initial_data={"capacity_kw": study.default_kw[name], "planned_kw": 0.0})
        bus = buses[study.unit_bus[name]]
        if u.battery is not None:
            plant = study.batteries[f"battery_{name}"]
            battery = storage.Battery(name=f"battery_{name}")
            world.connect(unit, battery, ("battery_kw", "setpoint_kw"))
            world.connect(battery, unit, "energy_kwh", **shifted,
                          initial_data={"energy_kwh": plant.energy_kwh})
            world.connect(battery, bus, "p_kw", **shifted, initial_data={"p_kw": 0.0})
            world.connect(battery, recorder, "p_kw", "soc", **shifted,
                          initial_data={"p_kw": 0.0, "soc": plant.soc})
            entities.append(battery)
        for d in u.deferrable_loads:
            load = flex.DeferrableLoad(name=d.name)
            world.connect(unit, load, "loads_kw")
            world.connect(load, unit, "delivered_kwh", **shifted,
                          initial_data={"delivered_kwh": {d.name: 0.0}})
            world.connect(load, bus, "p_kw", **shifted, initial_data={"p_kw": 0.0})
            world.connect(load, recorder, "p_kw", "unmet_kwh", **shifted,
                          initial_data={"p_kw": 0.0, "unmet_kwh": 0.0})
            entities.append(load)
    return entities
