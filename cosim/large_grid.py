"""Seed 002's large-grid charging study in the co-simulation: models from the scenario and wiring.

One run is one point of the seed's comparison (``dayahead.kind: large_grid_charging``): a
grid whose loads carry SimBench profiles (the ~900-bus feeder of
:mod:`flexcosim.grids.large_feeder`), its heated base load (seed 002 section 5.1), the EVs
of one EV share (seed 002 Table D.7, :func:`~flexcosim.agents.grid_optim.charging_study.seed002_sessions`)
at home chargers, and one charging strategy (seed 002 section 4):

``a``
    uncontrolled: every charger draws its rating from arrival until the EV is full; no plan.
``b``
    the EVs' owner minimises the energy cost over the day (LP, seed 002 eqs. 4-10 without
    grid limits; :func:`~flexcosim.agents.grid_optim.opf.solve_opf`).
``c``
    the DSO solves the multi-period OPF (LinDistFlow, line/transformer/voltage limits, seed
    002 eqs. 4-18) on the run's first step, checks its plan with its own AC power flow and
    tightens the violated limits until the check passes
    (:func:`~flexcosim.agents.grid_optim.ac_check.solve_ac_feasible`).

The plan (b, c) is made on the first step from the day-ahead data (base load, sessions,
price: perfect forecasts, as in the seed) and the chargers follow it; the EVs' stored
energy is integrated by :class:`~flexcosim.cosim.models.home_evs.HomeChargers` (a charger
never draws more than its rating nor beyond the EV's target). The grid runs a pandapower
AC power flow every quarter-hour (:mod:`flexcosim.cosim.adapters.grid`), which measures
what the strategy does: :func:`share_kpis` turns the recorded time series into the seed's
KPIs (Tables 3, 4, F.9). A plan that fails (LP infeasible or not solved) is a fallback:
recorded, and the chargers charge uncontrolled.

Units: power kW (MW inside the OPF problem), energy kWh/MWh, prices NOK/MWh, time s.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import mosaik
import numpy as np
import pandapower as pp
import pandas as pd

from flexcosim.agents.grid_optim.ac_check import solve_ac_feasible
from flexcosim.agents.grid_optim.charging_study import (
    PRICE_DAYS,
    ShareKPIs,
    large_feeder_problem,
    with_share,
)
from flexcosim.agents.grid_optim.opf import TOLERANCE, EVSessions, OPFProblem, OPFResult, solve_opf
from flexcosim.agents.registry import Fallback
from flexcosim.cosim.models.home_evs import HomeChargers, HomeEVs
from flexcosim.cosim.results import wide
from flexcosim.grids.large_feeder import STEPS_PER_YEAR
from flexcosim.grids.network import GridNetwork
from flexcosim.scenarios.schema import Scenario, ScenarioError
from flexcosim.scenarios.schema_seed002 import LargeGridCharging

#: Quarter-hour of the SimBench profiles [s]; the study's step.
STEP_S = 900
#: Clock hour at which the seed's day begins (12:00): the EV sessions and price days of
#: charging_study run noon to noon.
PRICE_DAY_START_H = 12


@dataclass(frozen=True)
class SessionEVs(HomeEVs):
    """Home EVs whose energy at arrival is the session's SOC (seed 002 Table D.7), not a
    distance driven: ``distance_km`` and ``consumption_kwh_per_km`` are unused (zero).

    ``battery_kwh`` and ``soc_target`` hold one value per EV.
    """

    soc_arrival: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def arrival_energy_kwh(self) -> np.ndarray:
        """SOC at arrival x capacity [kWh]."""
        return self.soc_arrival * self.battery_kwh

    @property
    def target_energy_kwh(self) -> np.ndarray:
        """Target SOC x capacity [kWh]."""
        return self.soc_target * self.battery_kwh


def session_plant(evs: EVSessions, bus_names: list[str], step_s: int) -> HomeChargers:
    """The chargers of the OPF's sessions: EV ``k`` at bus ``bus_names[k]``, parked from
    ``arrival_step x step_s`` to ``departure_step x step_s`` [s]."""
    n = evs.n_evs
    population = SessionEVs(
        ids=tuple(f"ev_{k:04d}" for k in range(n)), bus=tuple(bus_names),
        arrival_s=evs.arrival_step * step_s, departure_s=evs.departure_step * step_s,
        distance_km=np.zeros(n), battery_kwh=evs.capacity_kwh, consumption_kwh_per_km=0.0,
        soc_max=1.0, soc_target=evs.soc_target, soc_arrival=evs.soc_arrival)
    return HomeChargers(population, evs.p_max_kw, evs.efficiency)


@dataclass
class LargeGridStudy:
    """Seed 002 in the run: the DSO's day-ahead problem, the chargers, the base load per bus.

    Attributes
    ----------
    step_s : step [s] (900)
    spec : the scenario's ``dayahead`` section
    problem : the day-ahead OPF problem of this EV share (its base load is the run's)
    net : the pandapower net the DSO checks its plan on (strategy c; copied by the check)
    plant : every EV's stored energy
    bus_names : named grid bus of each load row
    ev_row : load row of each EV
    base_kw, base_kvar : (rows, T) base load net of PV per bus [kW], [kvar]
    prices : price-day name -> price per step [NOK/MWh]
    slack_transformers : transformers between the external grid and the feeder (their
        HV-side power is the import at the slack)
    """

    step_s: int
    spec: LargeGridCharging
    problem: OPFProblem
    net: pp.pandapowerNet
    plant: HomeChargers
    bus_names: list[str]
    ev_row: np.ndarray
    base_kw: np.ndarray
    base_kvar: np.ndarray
    prices: dict[str, np.ndarray]
    slack_transformers: list[str]
    plan: OPFResult | None = None
    status: str = ""
    ac_history: tuple = ()
    plan_time_s: float = float("nan")
    built_at: float = field(default_factory=time.perf_counter)
    fallbacks: list[Fallback] = field(default_factory=list)

    @property
    def plan_ok(self) -> bool:
        """The strategy decided (no fallback)."""
        return not self.fallbacks

    def make_plan(self) -> None:
        """The strategy's day-ahead schedule (b, c); a has none. A failed plan is a fallback."""
        t0 = time.perf_counter()
        strategy = self.spec.strategy
        if self.problem.evs.n_evs == 0:
            self.status = "no EVs"
        elif strategy == "a":
            self.status = "uncontrolled"
        elif strategy == "b":
            self.plan = solve_opf(self.problem, "b")
        else:
            feasible = solve_ac_feasible(self.problem, self.net, self.spec.ac_iterations)
            self.plan = feasible.opf
            self.ac_history = feasible.history
        if self.plan is not None:
            self.status = self.plan.status + (f": {self.plan.reason}" if self.plan.reason else "")
            if not self.plan.ok:
                self.fallbacks.append(Fallback(0, "dso" if strategy == "c" else "owner",
                                               f"strategy {strategy}", self.status,
                                               "day-ahead base load, EV sessions and prices"))
                self.plan = None
                self.status += "; fallback: uncontrolled"
        self.plan_time_s = time.perf_counter() - t0

    def setpoints_kw(self, time_s: int) -> np.ndarray:
        """Each EV's grid-side set-point for the step at ``time_s`` [kW]: the plan's, or its
        charger's rating without a plan (uncontrolled)."""
        if self.plan is None:
            return self.problem.evs.p_max_kw
        return self.plan.ev_power_kw[:, time_s // self.step_s]

    def charge(self, time_s: int) -> np.ndarray:
        """Charge every EV for the step at ``time_s``; returns the EV demand per load row [kW]."""
        p = self.plant.step(time_s, self.step_s, self.setpoints_kw(time_s))
        return np.bincount(self.ev_row, p, minlength=len(self.bus_names))

    def planned_ev_kw(self, time_s: int) -> float:
        """The plan's total EV demand in this step [kW] (the set-points' sum without a plan)."""
        return float(self.setpoints_kw(time_s).sum()) if self.plan is not None else float("nan")


def build_large_grid(s: Scenario, spec: LargeGridCharging, grid: GridNetwork) -> LargeGridStudy:
    """The study of ``s`` on ``grid`` (SimBench loads with profiles); the grid's own loads,
    PV and storages are switched off: the study's base load takes their place.

    Raises
    ------
    ScenarioError
        a step other than 900 s, a start other than 12:00, a duration that is not whole
        hours within one day, or a grid without SimBench loads.
    """
    if s.step_s != STEP_S:
        raise ScenarioError(f"scenario field 'step_s': {s.step_s} is not allowed; "
                            f"large_grid_charging follows SimBench's quarter-hours: {STEP_S}")
    start = pd.Timestamp(s.start)
    clock_s = int((start - start.normalize()).total_seconds())
    if clock_s != PRICE_DAY_START_H * 3600:
        raise ScenarioError(f"scenario field 'start': {s.start.isoformat()} is not allowed; "
                            "large_grid_charging starts at 12:00, as the seed's day (sessions and "
                            "price days run noon to noon)")
    if s.duration_s % 3600 or s.duration_s > 86400:
        raise ScenarioError(f"scenario field 'duration_s': {s.duration_s} is not allowed; "
                            "large_grid_charging needs whole hours up to one day (3600..86400)")
    net = grid.net
    if "profiles" not in net or not len(net.load):
        raise ScenarioError(f"scenario field 'grid': grid {grid.name!r} has no SimBench loads with "
                            "profiles; allowed: large_feeder or simbench_feeder, with keep_loads: true")
    n_steps = s.duration_s // STEP_S
    first = (start.dayofyear - 1) * 96 + clock_s // STEP_S
    if first + n_steps > STEPS_PER_YEAR:
        raise ScenarioError(f"scenario field 'start': {s.start.isoformat()} + {s.duration_s} s "
                            "runs past the SimBench profile year (2016)")
    daily = {name: price[:n_steps // 4] for name, price in PRICE_DAYS.items()}
    full = large_feeder_problem(grid, spec.heating_scale, daily[spec.optimise_price],
                                (first, n_steps), seed=s.seed)
    problem = with_share(full, spec.ev_share)
    name_of = {idx: name for name, idx in grid.buses.items()}
    positions = np.flatnonzero(np.abs(problem.base_p_mw).sum(axis=1) + np.abs(problem.base_q_mvar).sum(axis=1) > 0)
    positions = np.union1d(positions, problem.evs.bus)
    pp_idx = problem.network.bus_ids[positions]
    unnamed = [int(i) for i in pp_idx if int(i) not in name_of]
    if unnamed:
        raise ScenarioError(f"scenario field 'grid': buses {unnamed[:5]} of grid {grid.name!r} carry "
                            "load but have no name; large_grid_charging needs every load bus named")
    row = {int(p): r for r, p in enumerate(positions)}
    ev_row = np.array([row[int(b)] for b in problem.evs.bus], dtype=int)
    bus_names = [name_of[int(i)] for i in pp_idx]
    slack_buses = set(net.ext_grid.bus)
    if net.line.from_bus.isin(slack_buses).any() or net.line.to_bus.isin(slack_buses).any():
        raise ScenarioError(f"scenario field 'grid': grid {grid.name!r} has lines at its external "
                            "grid; large_grid_charging meters the import at the slack transformers")
    slack_tx = [name for name, i in grid.transformers.items() if net.trafo.hv_bus.at[i] in slack_buses]
    for table in ("load", "sgen", "storage"):
        net[table]["in_service"] = False
    plant = session_plant(problem.evs, [bus_names[r] for r in ev_row], STEP_S)
    return LargeGridStudy(STEP_S, spec, problem, net, plant, bus_names, ev_row,
                          problem.base_p_mw[positions] * 1e3, problem.base_q_mvar[positions] * 1e3,
                          {name: np.repeat(p, 4) for name, p in daily.items()}, slack_tx)


def wire_large_grid(world: mosaik.World, study: LargeGridStudy, params: dict, buses: dict,
                    recorder) -> list:
    """Start the study's simulator, create the DSO, the fleet, the chargers and base loads
    per bus and connect them; returns the entities (for a gate). ``params``: its
    ``world.start`` arguments (:func:`flexcosim.cosim.dayahead.dayahead_sim_params`).

    Like every day-ahead study (:func:`flexcosim.cosim.dayahead.wire_dayahead`), these act
    at ``t`` for ``[t, t + step_s)``, so their connections to the grid and the recorder are
    time-shifted by one step.
    """
    shifted = {"time_shifted": True}
    sim = world.start("LargeGrid", **params)
    dso, fleet = sim.DSO(), sim.Fleet()
    world.connect(dso, recorder, "plan_ok", "planned_ev_kw", **shifted,
                  initial_data={"plan_ok": 1.0, "planned_ev_kw": 0.0})
    world.connect(fleet, recorder, "ev_kw", "unmet_kwh", **shifted,
                  initial_data={"ev_kw": 0.0, "unmet_kwh": 0.0})
    entities = [dso, fleet]
    with_evs = set(study.ev_row.tolist())
    for r, bus in enumerate(study.bus_names):
        base = sim.BaseLoad(name=f"base_{bus}", row=r)
        world.connect(base, buses[bus], "p_kw", "q_kvar", **shifted,
                      initial_data={"p_kw": 0.0, "q_kvar": 0.0})
        entities.append(base)
        if r in with_evs:
            chargers = sim.Chargers(name=f"ev_{bus}", row=r)
            world.connect(chargers, buses[bus], "p_kw", **shifted, initial_data={"p_kw": 0.0})
            entities.append(chargers)
    return entities


def share_kpis(ts: pd.DataFrame, study: LargeGridStudy, grid: GridNetwork) -> ShareKPIs:
    """The seed's KPIs of the run (seed 002 Tables 3, 4, F.9), from its AC power flows.

    Every recorded row stands for one quarter-hour. Energy is the import at the slack
    (HV side of the slack transformers), losses that minus the base load and the EVs'
    grid-side energy; cost per price day ``sum_t mu_t P_slack,t dt`` (seed eq. 4, the slack
    pays for losses); loading of every line and transformer; voltage of every named bus
    (every load bus); violation hours: quarter-hours with any loading above 100 % or a
    voltage outside [v_min, v_max] of the problem (0.9-1.1 pu), or a power flow that did
    not converge.
    """
    h = study.step_s / 3600.0
    trafo_p = wide(ts, "p_kw", list(grid.transformers))
    times = trafo_p.index.to_numpy()
    slack_kw = trafo_p[study.slack_transformers].sum(axis=1).to_numpy()
    loading = wide(ts, "loading_pct")
    lines = loading[[c for c in loading.columns if c in grid.lines]] / 100.0
    trafos = loading[[c for c in loading.columns if c in grid.transformers]] / 100.0
    v = wide(ts, "vm_pu", list(grid.buses))
    converged = wide(ts, "converged")["grid"].reindex(times).to_numpy() > 0.5
    base_kw = study.base_kw.sum(axis=0)[times // study.step_s]
    ev_kw = wide(ts, "ev_kw")["fleet"].reindex(times, fill_value=0.0).to_numpy()
    unmet = wide(ts, "unmet_kwh")["fleet"]
    p = study.problem
    bad = (~converged | (lines > 1 + TOLERANCE).any(axis=1).to_numpy()
           | (trafos > 1 + TOLERANCE).any(axis=1).to_numpy()
           | (v < p.v_min_pu - TOLERANCE).any(axis=1).to_numpy()
           | (v > p.v_max_pu + TOLERANCE).any(axis=1).to_numpy())
    return ShareKPIs(
        strategy=study.spec.strategy, ev_share=study.spec.ev_share, n_evs=p.evs.n_evs,
        status=study.status, ac_ok=not bad.any(),
        energy_mwh=float(np.nansum(slack_kw) * h / 1e3),
        ev_energy_mwh=float(ev_kw.sum() * h / 1e3),
        losses_mwh=float(np.nansum(slack_kw - base_kw - ev_kw) * h / 1e3),
        cost={name: float(np.nansum(price[times // study.step_s] * slack_kw / 1e3) * h)
              for name, price in study.prices.items()},
        max_line_loading=float(np.nanmax(lines.to_numpy())) if lines.size else 0.0,
        max_trafo_loading=float(np.nanmax(trafos.to_numpy())) if trafos.size else 0.0,
        min_voltage_pu=float(np.nanmin(v.to_numpy())), violation_hours=float(bad.sum() * h),
        unmet_energy_kwh=float(unmet.iloc[-1]) if len(unmet) else 0.0,
        schedule_time_s=study.plan_time_s, total_time_s=time.perf_counter() - study.built_at,
    )


def large_grid_summary(ts: pd.DataFrame, study: LargeGridStudy, grid: GridNetwork) -> dict:
    """``summary.json``'s ``dayahead`` part: the KPIs, how the plan was made, and the CPU
    time of the run's process so far [s] (everything but writing the plots)."""
    kpis = dataclasses.asdict(share_kpis(ts, study, grid))
    planned = (float(study.plan.ev_power_kw.sum() * study.step_s / 3600 / 1e3)
               if study.plan is not None else None)
    return {**kpis, "plan": {"ok": study.plan_ok, "status": study.status,
                             "planned_ev_energy_mwh": planned,
                             "dso_ac_checks": [list(h) for h in study.ac_history]},
            "base_energy_mwh": float(study.base_kw.sum() * study.step_s / 3600 / 1e3),
            # a sweep point runs in a process of its own: this is the point's CPU time
            "process_cpu_s": time.process_time()}
