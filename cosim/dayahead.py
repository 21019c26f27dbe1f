"""Day-ahead DSO coordination studies in the co-simulation: models from the scenario and wiring.

Two studies, chosen by the scenario's ``dayahead`` section:

``pv_ev_coordination`` (seed 000)
    households on the feeder buses (load, and for the participating share a 5 kWp PV
    system and an EV); one aggregator per feeder reports its forecasts; the DSO solves the
    coordination LP on the run's first step (:mod:`flexcosim.agents.dso_dayahead`) and each
    aggregator applies its plan (:mod:`flexcosim.agents.aggregator_dayahead`): PV inverter
    caps and EV set-points every step. The run's PV and load are draws around the
    forecasts, so the AC power flow shows what the plan does in reality.
``battery_rental`` (seed 003)
    aggregator batteries at the seed's buses; on the first step the DSO solves the
    voltage-support LP on its load forecast (seed 003 eq. 12) and the aggregator
    schedules its batteries around the request (eqs. 13-20); the batteries then follow
    the schedule as mosaik entities (:mod:`flexcosim.cosim.models.battery`).

:func:`build_dayahead` builds the models (plain Python) and adds the households and PV it
owns to the assembly's buildings and PV; :func:`wire_dayahead` starts the simulators and
connects the entities. The DSO <-> aggregator exchange is a method call inside the agent
simulator today; what passes (forecasts, plans) is plain data, ready for messages.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import mosaik
import numpy as np
import pandas as pd

from flexcosim.agents.aggregator_dayahead import PlanFollower
from flexcosim.agents.dso_dayahead import (
    CoordinationSettings,
    DayAheadPlan,
    FeederForecast,
    plan_coordinated,
    plan_uncoordinated,
)
from flexcosim.agents.grid_optim.dso_coordination import EvFleet
from flexcosim.agents.grid_optim.lindistflow import radial_network
from flexcosim.agents.grid_optim.voltage_support import (
    Batteries,
    BatterySchedule,
    FlexibilityPayments,
    SupportRequest,
    VoltageSupportProblem,
    deferral_value_eur,
    flexibility_payments,
    request_voltage_support,
    reservation_price_eur_per_kwh,
    schedule_batteries,
)
from flexcosim.agents.registry import Fallback
from flexcosim.cosim.congestion import SIM_CONFIG as CONGESTION_SIMS
from flexcosim.cosim.congestion import CongestionStudy, build_congestion, wire_congestion
from flexcosim.cosim.large_grid import LargeGridStudy, build_large_grid, wire_large_grid
from flexcosim.cosim.models.battery import Battery, BatterySpec
from flexcosim.cosim.models.building import LoadProfile, household_shape, synthetic_household
from flexcosim.cosim.models.home_evs import HomeChargers, draw_home_evs
from flexcosim.cosim.models.pv import PVSystem
from flexcosim.cosim.models.pv_statistics import draw_household_pv, pv_slot_statistics
from flexcosim.cosim.sharing import SharingStudy, build_sharing
from flexcosim.grids.network import GridNetwork
from flexcosim.scenarios.schema import (
    BatteryRental,
    CapacitySharing,
    PvEvCoordination,
    Scenario,
    ScenarioError,
    SyntheticHouseholdProfile,
)
from flexcosim.scenarios.schema_congestion import Seed001Congestion
from flexcosim.scenarios.schema_seed002 import LargeGridCharging

#: mosaik simulators of the day-ahead studies (merged into the world's SIM_CONFIG).
SIM_CONFIG = {
    "HomeEVs": {"python": "flexcosim.cosim.adapters.home_evs:HomeEVSim"},
    "DayAhead": {"python": "flexcosim.cosim.adapters.dayahead:DayAheadSim"},
    "Storage": {"python": "flexcosim.cosim.adapters.storage:StorageSim"},
    "LargeGrid": {"python": "flexcosim.cosim.adapters.large_grid:LargeGridSim"},
    **CONGESTION_SIMS,
}

#: Service price for the DSO's LP = this x market price (seed 003 section IV).
SERVICE_PRICE_FACTOR = 1.5


def _clock_s(start: pd.Timestamp) -> int:
    return int((start - start.normalize()).total_seconds())


def line_rating_kva(grid: GridNetwork, line: str) -> float:
    """Rating of ``line`` [kVA]: sqrt(3) x its bus voltage x its current rating."""
    net = grid.net
    idx = grid.lines[line]
    vn_kv = float(net.bus.vn_kv.at[net.line.from_bus.at[idx]])
    return math.sqrt(3) * vn_kv * float(net.line.max_i_ka.at[idx]) * 1e3


@dataclass
class CoordinationStudy:
    """Seed 000 in the run: plants, forecasts, the DSO's settings and the aggregators."""

    step_s: int
    control: str
    settings: CoordinationSettings
    forecasts: list[FeederForecast]
    plants: dict[str, HomeChargers]  # feeder -> its EVs
    aggregators: dict[str, PlanFollower]
    inverter_feeder: dict[str, str]  # PV entity -> feeder
    feeder_buses: dict[str, list[str]]
    head_line: dict[str, str]
    pv_available_kw: dict[str, np.ndarray]  # PV entity -> actual available output
    household_forecast_kw: dict[str, np.ndarray]  # feeder -> forecast household load
    plan: DayAheadPlan | None = None
    fallbacks: list[Fallback] = field(default_factory=list)

    @property
    def plan_ok(self) -> bool:
        return self.plan is not None and self.plan.status != "fallback"

    def make_plan(self) -> None:
        """The DSO plans the horizon from the aggregators' forecasts and sends each its plan."""
        if self.control == "none":
            self.plan = plan_uncoordinated(self.forecasts)
        else:
            self.plan = plan_coordinated(self.forecasts, self.settings)
        if self.plan.status == "fallback":
            self.fallbacks.append(Fallback(0, "dso", "coordination_lp", self.plan.message,
                                           "day-ahead forecasts of " + ", ".join(self.aggregators)))
        for name, agg in self.aggregators.items():
            agg.accept(self.plan.feeders[name])

    def aggregator_step(self, name: str, time_s: int, energy_kwh: dict[str, float]) -> dict:
        """Aggregator ``name``'s set-points from its EVs' energy of the previous step."""
        agg = self.aggregators[name]
        slot = time_s // self.step_s
        setpoints = agg.ev_setpoints_kw(time_s, self.step_s, energy_kwh)
        profile = agg.plan.charging_kw
        return {
            "setpoints_kw": dict(zip(agg.ev_ids, setpoints.tolist())),
            "planned_ev_kw": (float(profile[slot]) / agg.efficiency if profile is not None
                              else float(setpoints.sum())),
            "export_limit": float(agg.plan.export_limit[slot]),
        }

    def inverter_cap_kw(self, inverter: str, time_s: int) -> float:
        pv = inverter.removeprefix("inv_")
        return self.aggregators[self.inverter_feeder[pv]].pv_caps_kw(time_s // self.step_s)[pv]

    def battery_step(self, name: str, time_s: int, energy_kwh: float) -> dict:
        raise KeyError(f"{name}: the seed-000 study has no batteries")


@dataclass
class RentalStudy:
    """Seed 003 in the run: the DSO's forecast problem, the batteries and their schedule."""

    step_s: int
    spec: BatteryRental
    problem: VoltageSupportProblem
    market_price: np.ndarray  # (H,) [EUR/kWh]
    batteries: dict[str, Battery]  # entity name -> plant, in the problem's battery order
    battery_bus: dict[str, str]
    bus_names: dict[int, str]  # pandapower index -> bus name, for messages
    request: SupportRequest | None = None
    message: str = ""  # why the DSO's LP failed, with bus names
    request_kw: np.ndarray | None = None  # (M, H) what the DSO rents (after any fallback)
    schedule: BatterySchedule | None = None
    payments: FlexibilityPayments | None = None
    price_eur_per_kwh: float = float("nan")
    plan: str | None = None
    fallbacks: list[Fallback] = field(default_factory=list)

    @property
    def plan_ok(self) -> bool:
        return self.plan == "optimal"

    def make_plan(self) -> None:
        """DSO request (eq. 12), aggregator schedule (eqs. 13-20), payments (eqs. 22-25)."""
        spec, bat = self.spec, self.problem.batteries
        self.request = request_voltage_support(self.problem)
        self.message = re.sub(r"\bbus (\d+)", lambda m: self.bus_names.get(int(m[1]), m[0]),
                              self.request.message)
        if self.request.ok:
            self.plan, request = "optimal", self.request.request_kw
        else:
            # fallback: every battery discharges at full power in the hours the forecast
            # is below v_min, the lowest first, as many hours as its energy lasts
            self.plan = "fallback"
            v_low = self.request.v_before_pu.min(axis=0)
            low = [h for h in np.argsort(v_low) if v_low[h] < self.problem.v_min_pu]
            hours = sorted(low[: int(np.floor(bat.capacity_kwh.min() / bat.max_power_kw.max()))])
            request = np.zeros((bat.count, self.problem.n_steps))
            request[:, hours] = -bat.max_power_kw[:, None]
            self.fallbacks.append(Fallback(0, "dso", "voltage_support_lp",
                                           f"{self.request.status}: {self.message}; "
                                           f"full discharge in hours {[int(h) for h in hours]}",
                                           "day-ahead load forecast"))
        self.schedule = schedule_batteries(bat, self.market_price, request)
        if not self.schedule.ok:
            self.fallbacks.append(Fallback(0, "aggregator", "battery_schedule",
                                           self.schedule.message, "DSO request"))
            self.plan, request = "fallback", np.zeros_like(request)
            self.schedule = schedule_batteries(bat, self.market_price, None)
        self.request_kw = request
        reserved_day = float((np.abs(request) > 1e-6).sum(axis=1).dot(bat.max_power_kw))
        if reserved_day > 0:
            value = deferral_value_eur(spec.reinforcement_eur, spec.interest_rate,
                                       spec.inflation_rate)
            self.price_eur_per_kwh = reservation_price_eur_per_kwh(value, reserved_day * 365)
        self.payments = flexibility_payments(
            request, bat.max_power_kw,
            self.price_eur_per_kwh if reserved_day > 0 else 0.0)

    def _hour(self, time_s: int) -> int:
        return min(time_s // 3600, self.problem.n_steps - 1)

    def battery_step(self, operator: str, time_s: int, energy_kwh: float) -> dict:
        """The aggregator's set-point for one battery: its schedule, kept able to serve the DSO.

        The schedule (seed 003 eqs. 15-20) has no losses, the battery has: in an hour
        without a request the operator charges at full power while the stored energy is
        below what the rest of the day's requests take out (divided by eta_dis), and skips
        an arbitrage discharge that would dip below it.
        """
        name = operator.removeprefix("op_")
        m = list(self.batteries).index(name)
        h = self._hour(time_s)
        p, asked = float(self.schedule.net_kw[m, h]), float(self.request_kw[m, h])
        if abs(asked) < 1e-6:
            spec = self.batteries[name].spec
            reserve = -np.clip(self.request_kw[m, h + 1:], None, 0.0).sum() / spec.discharge_efficiency
            if energy_kwh < reserve:
                p = spec.max_power_kw
            elif p < 0 and energy_kwh + p * self.step_s / 3600 / spec.discharge_efficiency < reserve:
                p = 0.0
        return {"setpoint_kw": p, "requested_kw": asked}

    def aggregator_step(self, name: str, time_s: int, energy_kwh: dict) -> dict:
        raise KeyError(f"{name}: the seed-003 study has no EV aggregators")

    def inverter_cap_kw(self, pv: str, time_s: int) -> float:
        raise KeyError(f"{pv}: the seed-003 study has no PV inverter control")


def build_dayahead(s: Scenario, grid: GridNetwork, buildings: dict, pv: dict,
                   rng_for: Callable[..., np.random.Generator]) -> (
        CoordinationStudy | RentalStudy | SharingStudy | LargeGridStudy | CongestionStudy | None):
    """The day-ahead study of ``s`` (``None`` without a ``dayahead`` section).

    Adds the seed-000 households to ``buildings`` (``home_<bus>``) and their PV to ``pv``
    (``pv_<bus>``), as the assembly's other profile sources.
    """
    spec = s.dayahead
    if isinstance(spec, PvEvCoordination):
        return _coordination(s, spec, grid, buildings, pv, rng_for)
    if isinstance(spec, BatteryRental):
        return _rental(s, spec, grid, buildings)
    if isinstance(spec, CapacitySharing):
        return build_sharing(s, spec, grid, buildings, pv)
    if isinstance(spec, LargeGridCharging):
        return build_large_grid(s, spec, grid)
    if isinstance(spec, Seed001Congestion):
        return build_congestion(s, spec, grid)
    return None


def _check(grid: GridNetwork, field: str, names: list[str], table: str = "buses") -> None:
    known = getattr(grid, table)
    for n in names:
        if n not in known:
            raise ScenarioError(f"scenario field {field!r}: {n!r} is not in {table} of grid "
                                f"{grid.name!r}; allowed: {', '.join(known)}")


def _coordination(s: Scenario, spec: PvEvCoordination, grid: GridNetwork, buildings: dict,
                  pv: dict, rng_for: Callable[..., np.random.Generator]) -> CoordinationStudy:
    step, n = s.step_s, s.duration_s // s.step_s
    start = pd.Timestamp(s.start)
    offset = _clock_s(start)
    if len(grid.transformers) != 1:
        raise ScenarioError(f"scenario field 'grid': grid {grid.name!r} has "
                            f"{len(grid.transformers)} transformers; dayahead needs exactly 1")
    shape = household_shape(step)
    clock = ((offset + np.arange(n) * step) // step) % shape.size
    days = math.ceil((s.duration_s + offset) / 86400)
    mean, sd, clear = pv_slot_statistics(
        PVSystem(spec.pv_peak_kw), s.location.latitude_deg, s.location.longitude_deg,
        start.tz_convert("UTC"), step, n, rng_for(s.seed, "pv-statistics"), spec.pv_statistics_days)
    pick = rng_for(s.seed, "participants")
    homes: list[tuple[str, str]] = []  # (feeder, bus) of every participating household
    counts: dict[str, int] = {}
    for fi, f in enumerate(spec.feeders):
        _check(grid, f"dayahead.feeders.{fi}.buses", f.buses)
        _check(grid, f"dayahead.feeders.{fi}.head_line", [f.head_line], "lines")
        bus_of = [f.buses[h % len(f.buses)] for h in range(f.households)]
        for bus in f.buses:
            counts[bus] = bus_of.count(bus)
        chosen = np.sort(pick.choice(f.households, int(spec.penetration * f.households),
                                     replace=False))
        homes += [(f.name, bus_of[h]) for h in chosen]
    for bus, count in counts.items():
        if count:
            buildings[f"home_{bus}"] = (bus, synthetic_household(
                count * spec.household_peak_kw, step, days, rng_for(s.seed, "building", bus),
                spec.power_factor))
    draws = draw_household_pv(mean, sd, clear, len(homes), step, rng_for(s.seed, "pv"),
                              spec.pv_weather_correlation)
    ev = spec.ev
    settings = CoordinationSettings(
        float(grid.net.trafo.sn_mva.iloc[0]) * 1e3, step / 3600.0, ev.charger_kw, ev.efficiency,
        spec.power_factor, spec.overload_weight, spec.ramp_weight,
        math.inf if spec.max_overload_kw is None else spec.max_overload_kw)
    forecasts, plants, aggregators, inverter_feeder = [], {}, {}, {}
    feeder_buses, head_line, available, household = {}, {}, {}, {}
    for f in spec.feeders:
        mine = [i for i, (name, _) in enumerate(homes) if name == f.name]
        pv_forecast = {}
        for bus in f.buses:
            at = [i for i in mine if homes[i][1] == bus]
            if at:
                pv[f"pv_{bus}"] = (bus, draws[at].sum(axis=0), None)
                available[f"pv_{bus}"] = draws[at].sum(axis=0)
                pv_forecast[f"pv_{bus}"] = len(at) * mean
                inverter_feeder[f"pv_{bus}"] = f.name
        evs = draw_home_evs(f.name, [homes[i][1] for i in mine], offset / 3600.0,
                            rng_for(s.seed, "evs", f.name), ev.battery_kwh,
                            ev.consumption_kwh_per_km, ev.soc_target, ev.soc_target, ev.arrival_h,
                            ev.departure_h, ev.distance_lognormal)
        plants[f.name] = HomeChargers(evs, ev.charger_kw, ev.efficiency)
        arrival = np.clip(np.ceil(evs.arrival_s / step), 0, None).astype(int)
        departure = np.maximum(np.ceil(evs.departure_s / step).astype(int), arrival + 1)
        fleet = EvFleet(np.full(len(mine), ev.battery_kwh), np.full(len(mine), ev.consumption_kwh_per_km),
                        evs.distance_km, arrival, departure, np.full(len(mine), ev.soc_target),
                        ev.soc_target)
        household[f.name] = sum(counts[b] for b in f.buses) * spec.household_peak_kw * shape[clock]
        forecasts.append(FeederForecast(f.name, len(mine) * mean, household[f.name],
                                        line_rating_kva(grid, f.head_line), fleet))
        aggregators[f.name] = PlanFollower(f.name, pv_forecast, list(evs.ids), evs.arrival_s,
                                           evs.departure_s, evs.arrival_energy_kwh,
                                           plants[f.name].target_kwh, ev.charger_kw, ev.efficiency)
        feeder_buses[f.name], head_line[f.name] = list(f.buses), f.head_line
    return CoordinationStudy(step, spec.control, settings, forecasts, plants, aggregators,
                             inverter_feeder, feeder_buses, head_line, available, household)


def _rental(s: Scenario, spec: BatteryRental, grid: GridNetwork,
            buildings: dict[str, tuple[str, LoadProfile]]) -> RentalStudy:
    start = pd.Timestamp(s.start)
    offset = _clock_s(start)
    if offset % 3600:
        raise ScenarioError(f"scenario field 'start': {s.start.isoformat()} is not on a full hour; "
                            "battery_rental plans hourly from the start")
    _check(grid, "dayahead.buses", spec.buses)
    n_h = math.ceil(s.duration_s / 3600)
    hours = (offset // 3600 + np.arange(n_h)) % 24
    shape = household_shape(3600)[hours]
    loads, peak, pf = [], [], []
    for gi, g in enumerate(s.buildings):
        if not isinstance(g.profile, SyntheticHouseholdProfile):
            raise ScenarioError(f"scenario field 'buildings.{gi}.profile': battery_rental forecasts "
                                "only synthetic_household profiles; allowed kind: synthetic_household")
        for bus in g.buses:
            loads.append(grid.buses[bus])
            peak.append(g.profile.peak_kw)
            pf.append(g.profile.power_factor)
    p = np.outer(peak, shape) * (1.0 + spec.forecast_margin)
    q = p * np.tan(np.arccos(np.asarray(pf)))[:, None]
    price = np.asarray(spec.market_price_eur_per_kwh)[hours]
    bat = Batteries(np.array([grid.buses[b] for b in spec.buses]), spec.capacity_kwh,
                    spec.max_power_kw)
    problem = VoltageSupportProblem(radial_network(grid.net), np.array(loads), p, q, bat,
                                    SERVICE_PRICE_FACTOR * price, 1.0, spec.v_min_pu)
    cell = BatterySpec(spec.capacity_kwh, spec.max_power_kw, spec.charge_efficiency,
                       spec.discharge_efficiency)
    batteries = {f"battery_{b}": Battery(cell) for b in spec.buses}
    return RentalStudy(s.step_s, spec, problem, price, batteries,
                       {f"battery_{b}": b for b in spec.buses},
                       {idx: name for name, idx in grid.buses.items()})


def dayahead_sim_params(study: CoordinationStudy | RentalStudy | LargeGridStudy | CongestionStudy,
                        step_s: int, end_s: int) -> dict[str, dict]:
    """``world.start`` keyword arguments of the study's simulators, keyed by their
    ``scenario_part`` (``step_s`` [s], ``end_s``: the scenario's end [s])."""
    if isinstance(study, LargeGridStudy):
        return {"LargeGrid": {"step_s": study.step_s, "study": study, "end_s": end_s}}
    if isinstance(study, CongestionStudy):
        own = {"step_s": study.step_s, "study": study}
        return {"DerOwners": {**own, "end_s": end_s}, "NetworkPlatform": {**own, "end_s": end_s},
                "Feeder3ph": own}
    out = {"DayAhead": {"step_s": step_s, "study": study, "end_s": end_s}}
    if isinstance(study, CoordinationStudy):
        out["HomeEVs"] = {"step_s": step_s, "plants": study.plants, "end_s": end_s}
    else:
        out["Storage"] = {"step_s": step_s, "batteries": study.batteries, "end_s": end_s}
    return out


def wire_dayahead(world: mosaik.World,
                  study: CoordinationStudy | RentalStudy | LargeGridStudy | CongestionStudy,
                  params: dict[str, dict], buses: dict, pvs: dict, recorder) -> list:
    """Start the study's simulators, create and connect its entities; returns them (for a gate).
    ``params``: the world's :func:`~cosim.world.sim_params`.

    These simulators decide and act at ``t`` for the step ``[t, t + step_s)``; the grid,
    the PV profiles and the recorder read at ``t`` the interval ``[t - step_s, t)`` that
    just ended (:mod:`flexcosim.cosim.adapters.grid`), so every connection to them is
    time-shifted by one step.
    """
    if isinstance(study, LargeGridStudy):
        return wire_large_grid(world, study, params["LargeGrid"], buses, recorder)
    if isinstance(study, CongestionStudy):
        return wire_congestion(world, study, params, buses, recorder)
    shifted = {"time_shifted": True}
    agents = world.start("DayAhead", **params["DayAhead"])
    dso = agents.DSO()
    world.connect(dso, recorder, "plan_ok", **shifted, initial_data={"plan_ok": 1.0})
    entities = [dso]
    if isinstance(study, CoordinationStudy):
        ev_sim = world.start("HomeEVs", **params["HomeEVs"])
        for feeder, plant in study.plants.items():
            agg = agents.Aggregator(name=feeder)
            world.connect(agg, recorder, "planned_ev_kw", "export_limit", **shifted,
                          initial_data={"planned_ev_kw": 0.0, "export_limit": 1.0})
            entities.append(agg)
            for bus in sorted(set(plant.evs.bus)):
                evs = ev_sim.HomeEVs(name=f"ev_{bus}", plant=feeder, bus=bus)
                world.connect(agg, evs, "setpoints_kw")
                world.connect(evs, agg, "energy_kwh", time_shifted=True,
                              initial_data={"energy_kwh": {}})
                world.connect(evs, buses[bus], "p_kw", **shifted, initial_data={"p_kw": 0.0})
                world.connect(evs, recorder, "p_kw", **shifted, initial_data={"p_kw": 0.0})
                entities.append(evs)
        for pv in study.inverter_feeder:
            inverter = agents.Inverter(name=f"inv_{pv}")
            world.connect(inverter, pvs[pv], "export_limit_kw", **shifted,
                          initial_data={"export_limit_kw": math.inf})
            entities.append(inverter)
    else:
        storage = world.start("Storage", **params["Storage"])
        for name, bus in study.battery_bus.items():
            battery = storage.Battery(name=name)
            operator = agents.BatteryOperator(name=f"op_{name}")
            world.connect(operator, battery, "setpoint_kw")
            world.connect(battery, operator, "energy_kwh", time_shifted=True,
                          initial_data={"energy_kwh": 0.0})
            world.connect(operator, recorder, "requested_kw", **shifted,
                          initial_data={"requested_kw": 0.0})
            world.connect(battery, buses[bus], "p_kw", **shifted, initial_data={"p_kw": 0.0})
            start = study.batteries[name]
            world.connect(battery, recorder, "p_kw", "soc", "energy_kwh", **shifted,
                          initial_data={"p_kw": 0.0, "soc": start.soc, "energy_kwh": start.energy_kwh})
            entities += [battery, operator]
    return entities
