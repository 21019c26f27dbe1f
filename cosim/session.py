"""Step a scenario interactively: advance, inspect, inject events, continue, save.

>>> s = Session.open("lv-feeder-20bus")
>>> s.advance_to(18 * 3600)                # run to 18:00 after the start
>>> s.evs()                                # DataFrames of the current state
>>> s.inject(ChargerOutage("home_bus_19", chargers=1))
>>> s.advance(4)                           # four more steps
>>> s.save("runs/stepped")                 # the run folder so far
>>> s.close()

Design (see ``docs/stepping.md``): mosaik runs a World only once, so the World runs in
a background thread with a gate simulator that every other simulator waits for
(:mod:`flexcosim.cosim.adapters.gate`). Between steps the world thread is blocked inside the
gate, so the session reads and changes the plain-Python models directly. The session's
own thread only waits on a queue, which works the same in a script and in Jupyter (whose
running event loop would forbid mosaik's ``run_until_complete`` in the main thread).
Without injected events the results are those of :func:`flexcosim.cosim.run.run_scenario` with the
same seed, bit for bit.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import pandas as pd

from flexcosim.cosim.adapters.gate import Failed, Finished, Paused, SessionClosed, StepGate
from flexcosim.cosim.results import TimeseriesWriter
from flexcosim.cosim.run import default_run_dir, write_results, write_scenario
from flexcosim.cosim.run import stop_world as _stop
from flexcosim.cosim.world import Assembly, assemble, build_world, world_until_s
from flexcosim.scenarios.catalog import load_scenario


@dataclass(frozen=True)
class ChargerOutage:
    """The last ``chargers`` chargers of ``site`` fail (0 repairs them); their EVs are unplugged."""

    site: str
    chargers: int


@dataclass(frozen=True)
class CapacityLimit:
    """The site's aggregator may draw at most ``capacity_kw`` [kW] (``inf`` lifts the limit)."""

    site: str
    capacity_kw: float


@dataclass(frozen=True)
class PlatformOutage:
    """The DSO platform's link is down until ``until_s`` [s since start]: requests time out
    into the EMSP's fallback."""

    until_s: int


@dataclass(frozen=True)
class LinkOutage:
    """Agent ``agent`` (e.g. ``platform``, ``agg_richview``) sends and receives nothing until ``until_s``."""

    agent: str
    until_s: int


@dataclass(frozen=True)
class LinkChange:
    """From now on, messages to or from ``agent`` take ``latency_s`` [s] and are lost with ``loss`` [-]."""

    agent: str
    latency_s: float
    loss: float = 0.0


@dataclass(frozen=True)
class ExtraEVRequest:
    """A site request from an EV outside the simulated fleet, handled by the DSO platform now.

    The platform books a charger and the committed load in the chosen site's book, so
    later offers and schedules see it; no vehicle drives there. Times in s since start.
    """

    ev: str
    soc: float
    departure_s: int
    target_soc: float = 0.9
    capacity_kwh: float = 60.0
    max_charge_kw: float = 11.0
    consumption_kwh_per_km: float = 0.17


class SessionError(RuntimeError):
    """The simulation failed in the world thread, or the session is closed or finished."""


class Session:
    """One scenario stepped on demand (see the module docstring).

    Attributes
    ----------
    assembly : the plain-Python models; read them between steps
    time_s : every step before ``time_s`` [s since start] is simulated
    finished : the scenario ran to its end
    """

    #: event type -> ``handler(session, event)``; extend with :meth:`handles`.
    handlers: ClassVar[dict[type, Callable[[Session, Any], None]]] = {}

    def __init__(self, assembly: Assembly, out: Path | None = None) -> None:
        self.assembly = assembly
        self.scenario = assembly.scenario
        self.out = Path(out) if out is not None else None
        self._live = self.out if self.out is not None else Path(tempfile.mkdtemp(prefix="flexcosim-"))
        write_scenario(self._live, self.scenario)
        self.writer = TimeseriesWriter(self._live / "timeseries")
        self.gate = StepGate()
        self.time_s = 0
        self.finished = False
        self._closed = False
        self._wall_s = 0.0
        self.events: list[dict] = []  # injected events: time_s, kind, arguments
        self._thread = threading.Thread(target=self._world_main, name="flexcosim-world", daemon=True)
        self._thread.start()
        self._await()

    @classmethod
    def open(cls, name_or_path: str | Path, out: Path | None = None) -> Session:
        """Open a shipped scenario by name or a YAML file; paused before the first step.

        ``out`` is the run folder the time series go to while stepping (a temporary
        folder if ``None``).
        """
        scenario, base_dir = load_scenario(name_or_path)
        return cls(assemble(scenario, base_dir), out)

    # --- running -----------------------------------------------------------------------

    def _world_main(self) -> None:
        world = None
        try:
            world = build_world(self.assembly, self.writer, gate=self.gate).world
            world.run(until=world_until_s(self.scenario), print_progress=False)
            self.writer.flush()
            self.gate.reports.put(Finished())
        except SessionClosed:
            _stop(world)
        except BaseException as exc:  # noqa: BLE001 - every failure must reach the session
            if world is not None:
                _stop(world)
            self.gate.reports.put(Failed(exc))

    def _await(self) -> None:
        t0 = time.perf_counter()
        report = self.gate.report()
        self._wall_s += time.perf_counter() - t0
        match report:
            case Paused(time_s=t):
                self.time_s = t
            case Finished():
                self.time_s, self.finished = self.scenario.duration_s, True
            case Failed(error=exc):
                self._closed = True
                raise SessionError(f"simulation failed after t={self.time_s} s: "
                                   f"{type(exc).__name__}: {exc}") from exc

    def advance(self, steps: int = 1) -> int:
        """Simulate ``steps`` more steps (fewer at the end); returns the new :attr:`time_s`."""
        if steps < 1:
            raise ValueError(f"steps = {steps!r}; allowed: >= 1")
        return self.advance_to(self.time_s + steps * self.scenario.step_s)

    def advance_to(self, time_s: int) -> int:
        """Simulate every step before ``time_s`` [s since start, capped at the duration]."""
        self._check_open()
        if time_s <= self.time_s:
            raise ValueError(f"time_s = {time_s!r}; allowed: > the current time {self.time_s} s")
        self.gate.release(min(int(time_s), self.scenario.duration_s))
        self._await()
        return self.time_s

    def interrupt(self) -> int:
        """After Ctrl-C in :meth:`advance_to`: pause before the next step and wait there.

        Returns the new :attr:`time_s`; the session stays usable.
        """
        if not self._closed and not self.finished:
            self.gate.pause()
            self._await()
        return self.time_s
    def next_event_s(self) -> int | None:
        """The second of the next thing due (fleet event, agent timer, message), ``None`` if none."""
        due = [t for t in self.pending().time_s if t >= self.time_s and math.isfinite(t)]
        return int(math.ceil(min(due))) if due else None

    def advance_to_next_event(self) -> int:
        """Simulate up to and including the next event's second; returns the new :attr:`time_s`."""
        t = self.next_event_s()
        return self.advance_to(self.scenario.duration_s if t is None else t + 1)

    def run_to_end(self) -> int:
        """Simulate the rest of the scenario."""
        return self.advance_to(self.scenario.duration_s)

    def _check_open(self) -> None:
        if self._closed:
            raise SessionError("the session is closed")
        if self.finished:
            raise SessionError(f"the scenario has ended at {self.scenario.duration_s} s")

    def close(self) -> None:
        """End the world thread (the run stops where it is); idempotent."""
        if not self._closed and not self.finished:
            self.gate.release(None)
            self._thread.join(timeout=30)
        self._closed = True

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- results -----------------------------------------------------------------------

    def save(self, out: Path | str | None = None) -> Path:
        """Write the run folder so far (same layout as :func:`flexcosim.cosim.run.run_scenario`).

        ``out`` defaults to the session's folder, else ``runs/<name>-<timestamp>``.
        Saving writes the buffered rows as a Parquet part, so after a save the part
        boundaries (not the data) differ from an uninterrupted run's.
        """
        if self.time_s == 0:
            raise ValueError("nothing simulated yet; advance before saving")
        target = Path(out) if out is not None else (self.out or default_run_dir(self.scenario))
        self.writer.flush()
        if target.resolve() != self._live.resolve():
            write_scenario(target, self.scenario)
            shutil.rmtree(target / "timeseries", ignore_errors=True)
            shutil.copytree(self._live / "timeseries", target / "timeseries")
        write_results(target, self.assembly, self._wall_s, self.time_s, events=self.events)
        return target

    # --- state -------------------------------------------------------------------------

    def evs(self) -> pd.DataFrame:
        """One row per EV: group, place (``None`` while driving), site, charger, SOC, energy."""
        rows = []
        for group, (fleet, site_of_place, target) in self.assembly.fleets.items():
            energy = fleet.energy_kwh()
            for i, ev in enumerate(fleet.ids):
                place = fleet.place(i)
                site = site_of_place[i].get(place) if place is not None else None
                charger = self.assembly.sites[site][1].connected().get(ev) if site else None
                rows.append({"ev": ev, "group": group, "place": place, "site": site,
                             "charger": charger, "soc": float(fleet.soc[i]),
                             "energy_kwh": float(energy[i]), "target_soc": float(target[i])})
        return pd.DataFrame(rows).set_index("ev")

    def chargers(self) -> pd.DataFrame:
        """One row per charger: rating, in service, EV on it and its grid-side power last step."""
        rows = []
        for site, (_, model) in self.assembly.sites.items():
            on = {k: ev for ev, k in model.connected().items()}
            grid_kw = model.last.ev_grid_kw if model.last is not None else {}
            for k, spec in enumerate(model.chargers):
                ev = on.get(k)
                rows.append({"site": site, "charger": k, "rated_kw": spec.rated_kw,
                             "in_service": k not in model.out_of_service, "ev": ev,
                             "power_kw": float(grid_kw.get(ev, 0.0)) if ev else 0.0})
        return pd.DataFrame(rows).set_index(["site", "charger"])

    def sites(self) -> pd.DataFrame:
        """One row per site: bus, chargers, load at the meter last step, capacity limit.

        Sites with a book (a transformer) also show, for the step about to run, the
        transformer headroom for EVs (``headroom_kw``), the site's price signal
        (``price_per_kwh``) and the chargers reserved by the DSO platform.
        """
        agent_of = {agent.site: agent for agent in self.assembly.agents.values()}
        rows = []
        for site, (bus, model) in self.assembly.sites.items():
            agent = agent_of.get(site)
            row = {"site": site, "bus": bus, "chargers": len(model.chargers),
                   "in_service": len(model.chargers) - len(model.out_of_service),
                   "connected": len(model.connected()),
                   "load_kw": model.last.grid_kw if model.last is not None else 0.0,
                   "capacity_kw": agent.capacity_kw if agent else math.inf}
            book = self.assembly.books.get(site)
            if book is not None and self.time_s < self.assembly.scenario.duration_s:
                row["headroom_kw"] = float(book.capacity_kw(self.time_s, 1)[0])
                row["price_per_kwh"] = float(book.prices(self.time_s, 1).charge_price_per_kwh[0])
                row["reserved"] = sum(r.arrival_s <= self.time_s < r.departure_s
                                      for r in book.reservations.values())
            rows.append(row)
        return pd.DataFrame(rows).set_index("site")

    def grid(self) -> pd.DataFrame:
        """Last power flow: one row per bus (``vm_pu``), line and transformer (``loading_pct``)."""
        state = self.assembly.power_flow.last
        if state is None:
            return pd.DataFrame(columns=["kind", "vm_pu", "loading_pct"])
        rows = [{"element": n, "kind": "bus", "vm_pu": v} for n, v in state.vm_pu.items()]
        rows += [{"element": n, "kind": "line", "loading_pct": v}
                 for n, v in state.line_loading_pct.items()]
        rows += [{"element": n, "kind": "transformer", "loading_pct": v}
                 for n, v in state.trafo_loading_pct.items()]
        return pd.DataFrame(rows, columns=["element", "kind", "vm_pu", "loading_pct"]).set_index("element")

    def agents(self) -> pd.DataFrame:
        """One row per agent: strategy, limit, last decision (time, EVs, total kW), fallbacks."""
        rows = []
        for name, agent in self.assembly.agents.items():
            obs, decision = agent.last if agent.last is not None else (None, None)
            fallbacks = agent.fallbacks
            rows.append({"agent": name, "site": agent.site, "strategy": agent.strategy_name,
                         "capacity_kw": agent.capacity_kw,
                         "decided_at_s": obs.time_s if obs else None,
                         "evs": len(obs.evs) if obs else 0,
                         "decided_kw": float(sum(decision.power_kw.values())) if decision else 0.0,
                         "fallbacks": len(fallbacks),
                         "last_fallback": fallbacks[-1].reason if fallbacks else None})
        return pd.DataFrame(rows).set_index("agent")

    def decisions(self) -> pd.DataFrame:
        """The agents' last decisions with their inputs: one row per EV an agent observed."""
        rows = []
        for name, agent in self.assembly.agents.items():
            if agent.last is None:
                continue
            obs, decision = agent.last
            for ev in obs.evs:
                rows.append({"agent": name, "time_s": obs.time_s, "ev": ev.ev,
                             "energy_kwh": ev.energy_kwh, "target_kwh": ev.target_kwh,
                             "capacity_kw": obs.capacity_kw,
                             "setpoint_kw": float(decision.power_kw.get(ev.ev, 0.0))})
        return pd.DataFrame(rows, columns=["agent", "time_s", "ev", "energy_kwh", "target_kwh",
                                           "capacity_kw", "setpoint_kw"])

    # --- events ------------------------------------------------------------------------

    @classmethod
    def handles(cls, event_type: type) -> Callable:
        """Register ``handler(session, event)`` for ``event_type`` (a frozen dataclass)."""
        def add(handler: Callable[[Session, Any], None]) -> Callable[[Session, Any], None]:
            cls.handlers[event_type] = handler
            return handler
        return add

    def inject(self, event: object) -> None:
        """Apply ``event`` now; it acts from the next step on."""
        self._check_open()
        handler = self.handlers.get(type(event))
        if handler is None:
            known = ", ".join(t.__name__ for t in self.handlers)
            raise ValueError(f"event {type(event).__name__} is not handled; handled: {known}")
        handler(self, event)
        self.events.append({"time_s": self.time_s, "kind": type(event).__name__,
                            "arguments": dataclasses.asdict(event)})

    def platform(self) -> pd.DataFrame:
        """Every request the DSO platform answered: time, EV, site, arrival, strategy, offers, ..."""
        from flexcosim.agents.platform import Decision

        platform = self.assembly.platform
        rows = [dataclasses.astuple(d) for d in (platform.decisions if platform else [])]
        return pd.DataFrame(rows, columns=[f.name for f in dataclasses.fields(Decision)])

    def messages(self, in_flight: bool = False) -> pd.DataFrame:
        """The message log so far (``in_flight``: only messages sent and not yet delivered)."""
        from flexcosim.agents.network import LogRow

        net = self.assembly.runtime.network
        rows = [dataclasses.astuple(r) for r in (net.in_flight() if in_flight else net.log)]
        return pd.DataFrame(rows, columns=[f.name for f in dataclasses.fields(LogRow)])

    def pending(self) -> pd.DataFrame:
        """What is due next: the agents' pending timers and messages, the fleet's next event."""
        rt = self.assembly.runtime
        rows = [{"source": "agents", "time_s": rt.next_time(), "what": f"{len(rt.pending())} "
                 f"waiting processes, {len(rt.network.in_flight())} messages in flight"}]
        for group, (fleet, _, _) in self.assembly.fleets.items():
            t = fleet.next_event_s(self.time_s - 1)
            rows.append({"source": f"fleet {group}", "time_s": math.inf if t is None else t,
                         "what": "next trip start, arrival or departure"})
        return pd.DataFrame(rows)

    def _site(self, site: str):
        if site not in self.assembly.sites:
            raise ValueError(f"site = {site!r}; allowed: {', '.join(self.assembly.sites)}")
        return self.assembly.sites[site][1]


@Session.handles(ChargerOutage)
def _charger_outage(session: Session, e: ChargerOutage) -> None:
    model = session._site(e.site)
    n = len(model.chargers)
    if not 0 <= e.chargers <= n:
        raise ValueError(f"ChargerOutage.chargers = {e.chargers!r}; allowed: 0..{n} at {e.site!r}")
    model.set_out_of_service(range(n - e.chargers, n))
    book = session.assembly.books.get(e.site)
    if book is not None:  # the aggregator offers only chargers in service
        book.set_in_service(n - e.chargers)


@Session.handles(CapacityLimit)
def _capacity_limit(session: Session, e: CapacityLimit) -> None:
    session._site(e.site)
    if not e.capacity_kw >= 0:
        raise ValueError(f"CapacityLimit.capacity_kw = {e.capacity_kw!r}; allowed: >= 0 [kW] or inf")
    agents = [a for a in session.assembly.agents.values() if a.site == e.site]
    if not agents:
        raise ValueError(f"CapacityLimit.site = {e.site!r}: no aggregator schedules this site")
    for agent in agents:
        agent.capacity_kw = float(e.capacity_kw)


def _platform(session: Session):
    platform = session.assembly.platform
    if platform is None:
        raise ValueError("this scenario has no DSO platform (no visitors)")
    return platform


@Session.handles(PlatformOutage)
def _platform_outage(session: Session, e: PlatformOutage) -> None:
    _platform(session)
    _link_outage(session, LinkOutage("platform", e.until_s))


def _agent(session: Session, agent: str) -> None:
    names = session.assembly.runtime.roles
    if agent not in names:
        raise ValueError(f"agent = {agent!r}; allowed: {', '.join(names)}")


@Session.handles(LinkOutage)
def _link_outage(session: Session, e: LinkOutage) -> None:
    from flexcosim.agents.network import Outage

    _agent(session, e.agent)
    if not e.until_s > session.time_s:
        raise ValueError(f"LinkOutage.until_s = {e.until_s}; allowed: > now ({session.time_s})")
    session.assembly.runtime.network.add_outage(Outage(e.agent, session.time_s, e.until_s))


@Session.handles(LinkChange)
def _link_change(session: Session, e: LinkChange) -> None:
    from flexcosim.agents.network import Link

    _agent(session, e.agent)
    if not (e.latency_s >= 0 and 0 <= e.loss < 1):
        raise ValueError(f"LinkChange latency_s = {e.latency_s!r}, loss = {e.loss!r}; "
                         "allowed: latency_s >= 0 [s], 0 <= loss < 1")
    session.assembly.runtime.network.set_link(e.agent, Link(float(e.latency_s), None, float(e.loss)))


@Session.handles(ExtraEVRequest)
def _extra_request(session: Session, e: ExtraEVRequest) -> None:
    from flexcosim.agents.messages import TripStarted
    from flexcosim.cosim.models.arrivals import Visit
    from flexcosim.cosim.models.ev import VehicleModel

    _platform(session)
    emsp, runtime = session.assembly.emsp, session.assembly.runtime
    if e.ev in emsp.register:
        raise ValueError(f"ExtraEVRequest.ev = {e.ev!r} is already known; use a new name")
    if not e.departure_s > session.time_s:
        raise ValueError(f"ExtraEVRequest.departure_s = {e.departure_s}; allowed: > now ({session.time_s})")
    vehicle = VehicleModel("extra", e.capacity_kwh, e.max_charge_kw, 0.0, e.consumption_kwh_per_km)
    emsp.register[e.ev] = Visit(e.ev, session.time_s, e.departure_s, vehicle, e.soc, e.target_soc)
    # the world thread waits in the gate, so the agents' clock can be moved to now
    runtime.advance(session.time_s)
    runtime.sense("emsp", TripStarted(e.ev, session.time_s, e.soc))
    runtime.settle()
