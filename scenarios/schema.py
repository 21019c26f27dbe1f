"""A scenario is validated data: this module says what a scenario file may contain.

Every model forbids unknown fields, so a misspelt key fails before anything runs.
:func:`parse_scenario` turns pydantic's error into one line naming the field, the
value and what is allowed (:class:`ScenarioError`). Units are in the field names.
The reference of every field is generated from these models (``docs/scenario-reference.md``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, get_args, get_origin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class ScenarioError(ValueError):
    """A scenario that cannot run; the message is one line meant for the user."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- profiles -------------------------------------------------------------------------


class SyntheticHouseholdProfile(_Model):
    """Documented synthetic residential load shape (``flexcosim.cosim.models.building``)."""

    kind: Literal["synthetic_household"]
    peak_kw: float = Field(gt=0, description="expected daily peak of the aggregate load at one bus [kW]")
    power_factor: float = Field(0.97, gt=0, le=1, description="cos phi of the load [-]")


class SyntheticOfficeProfile(_Model):
    """Documented synthetic office/campus building shape (``flexcosim.cosim.models.building``)."""

    kind: Literal["synthetic_office"]
    peak_kw: float = Field(gt=0, description="expected daily peak [kW]")
    power_factor: float = Field(1.0, gt=0, le=1, description="cos phi of the load [-]")


class CsvProfile(_Model):
    """A user's measured load: CSV with a time column and a kW column."""

    kind: Literal["csv"]
    path: str = Field(description="CSV file; relative paths are relative to the scenario file")
    column: str | None = Field(None, description="column holding kW (default: the only numeric one)")
    power_factor: float = Field(1.0, gt=0, le=1, description="cos phi of the load [-]")


Profile = Annotated[
    SyntheticHouseholdProfile | SyntheticOfficeProfile | CsvProfile,
    Field(discriminator="kind"),
]


# --- components -----------------------------------------------------------------------


class GridSpec(_Model):
    """Which network to build (a registered builder in ``grids``) and its parameters."""

    builder: str = Field(description="registered grid builder, see `grids.BUILDERS`")
    params: dict[str, Any] = Field(default_factory=dict, description="builder keyword arguments")
    step_s: int | None = Field(
        None, gt=0, description="metering interval: one power flow and one recorded row per "
        "interval, of its energy-correct averages [s]; must divide the scenario's step_s; "
        "default: the scenario's step_s")


class BuildingGroup(_Model):
    """Non-EV load: one building per listed bus, each with its own seeded profile."""

    name: str = Field(description="group name; entities are named <name>_<bus>")
    buses: list[str] = Field(min_length=1, description="grid bus names, one building each")
    profile: Profile


class PVGroup(_Model):
    """Rooftop PV: one system per listed bus."""

    name: str
    buses: list[str] = Field(min_length=1, description="grid bus names, one PV system each")
    peak_kw: float = Field(gt=0, description="DC peak power of each system [kWp]")
    tilt_deg: float = Field(30.0, ge=0, le=90, description="module tilt [deg]")
    azimuth_deg: float = Field(180.0, ge=0, lt=360, description="module azimuth, 180 = south [deg]")
    cloudiness: float = Field(0.0, ge=0, le=1, description="weather variability, 0 = clear sky [-]")
    export_limit_kw: float | None = Field(None, ge=0, description="fixed export cap per system [kW]")


class SiteGroup(_Model):
    """Charging sites: chargers behind one meter; one site per listed bus."""

    name: str = Field(description="group name; sites are named <name>_<bus>, or <name> for one bus")
    buses: list[str] = Field(min_length=1, description="grid bus names, one site each")
    transformer: str | None = Field(
        None, description="transformer feeding the site; its rating minus the building load "
        "at the site's bus is the site's capacity for EV charging (power factor 1)")
    pricing: str = Field("congestion", description="price rule of the site's aggregator "
                         "(`flexcosim.agents.optim.pricing.PRICING`)")
    chargers: int = Field(gt=0, description="chargers per site [-]")
    rated_kw: float = Field(gt=0, description="charger rating [kW]")
    efficiency: float = Field(0.95, gt=0, le=1, description="charger efficiency [-]")
    v2g: bool = Field(False, description="chargers can discharge EVs")


class VehicleSpec(_Model):
    """One vehicle model."""

    name: str = "generic"
    capacity_kwh: float = Field(gt=0, description="usable battery capacity [kWh]")
    max_charge_kw: float = Field(gt=0, description="on-board charge limit [kW]")
    max_discharge_kw: float = Field(0.0, ge=0, description="on-board discharge limit [kW]")
    consumption_kwh_per_km: float = Field(gt=0, description="driving consumption [kWh/km]")


class MarkovCommuter(_Model):
    """Time-inhomogeneous Markov chain moving/residential/commercial (seed 001 eqs 1-2)."""

    kind: Literal["markov_commuter"]
    slot_s: int = Field(900, gt=0, description="length of one Markov slot [s]")
    knobs: dict[str, float] = Field(
        default_factory=dict, description="keyword overrides of `MarkovChain.commuter`"
    )


Mobility = Annotated[MarkovCommuter, Field(discriminator="kind")]


class FleetGroup(_Model):
    """EVs of one vehicle model, homed round-robin at the sites of one site group."""

    name: str
    count: int = Field(gt=0, description="number of EVs [-]")
    home_sites: str = Field(description="name of the site group where the EVs charge at home")
    vehicle: VehicleSpec
    soc0_min: float = Field(0.2, ge=0, le=1, description="initial SOC drawn uniformly from [soc0_min, soc0_max] [-]")
    soc0_max: float = Field(0.6, ge=0, le=1, description="see soc0_min [-]")
    target_soc: float = Field(1.0, gt=0, le=1, description="SOC the driver wants at departure [-]")
    speed_kmh: float = Field(30.0, gt=0, description="average driving speed [km/h]")
    mobility: Mobility

    @model_validator(mode="after")
    def _soc_range(self) -> FleetGroup:
        if self.soc0_min > self.soc0_max:
            raise ValueError(f"soc0_min {self.soc0_min} > soc0_max {self.soc0_max}; need soc0_min <= soc0_max")
        return self


class RouteSpec(_Model):
    """How far a site is from where visitors send their request (for the ITS agent)."""

    distance_km: float = Field(gt=0, description="driving distance [km]")
    drive_s: int = Field(gt=0, description="driving time [s]")
    walk_s: int = Field(0, ge=0, description="walk from the site to the destination [s]")


class VisitorGroup(_Model):
    """EVs that come for the day and ask the DSO platform where to charge (seed 004 5.2).

    Times, vehicles and SOCs are drawn from ``flexcosim.cosim.models.arrivals.campus_visits``.
    """

    name: str = Field(description="EV names are <name>_<k>")
    count: int = Field(gt=0, description="EVs arriving that day [-]")
    routes: dict[str, RouteSpec] = Field(
        min_length=1, description="site name -> route from the request point")


class AgentSpec(_Model):
    """A decision-making agent and the strategy it uses."""

    role: Literal["site_aggregator", "dso_platform", "emsp", "its", "dso_grid"]
    sites: str | None = Field(
        None, description="site_aggregator: the site group it serves (one agent per site)")
    strategy: str | None = Field(
        None, description="registered name, entry point, `file.py:Class` or `module:Class`; "
        "default per role: site_aggregator uncontrolled, dso_platform css, emsp "
        "driver_preferences, its static_routes, dso_grid none")
    fallback: str | None = Field(
        None, description="built-in used when `strategy` fails; default per role: "
        "site_aggregator equal_share, emsp driver_preferences, its static_routes, dso_grid none")


class LatencyRange(_Model):
    """A one-way delay drawn uniformly per message from ``[low_s, high_s]``."""

    low_s: float = Field(ge=0, description="shortest delay [s]")
    high_s: float = Field(ge=0, description="longest delay [s]")

    @model_validator(mode="after")
    def _ordered(self) -> LatencyRange:
        if self.high_s < self.low_s:
            raise ValueError(f"network latency high_s {self.high_s} < low_s {self.low_s}; need high_s >= low_s")
        return self


class LinkSpec(_Model):
    """Latency and loss of the messages to or from one agent."""

    latency_s: Annotated[float, Field(ge=0)] | LatencyRange = Field(
        0.0, description="one-way delay per message [s], or {low_s, high_s} for a uniform draw")
    loss: float = Field(0.0, ge=0, lt=1, description="probability that a message is lost [-]")


class OutageSpec(_Model):
    """An agent that sends and receives nothing for a while (its link is down)."""

    agent: str = Field(description="agent name: emsp, its, platform, dso or agg_<site>")
    start_s: float = Field(ge=0, description="start of the outage [s since start]")
    end_s: float = Field(gt=0, description="end of the outage (exclusive) [s since start]")

    @model_validator(mode="after")
    def _ordered(self) -> OutageSpec:
        if self.end_s <= self.start_s:
            raise ValueError(f"network outage of {self.agent!r}: end_s {self.end_s} <= start_s {self.start_s}")
        return self


class NetworkSpec(_Model):
    """The network the agents' messages travel on (``flexcosim.agents.network``).

    The default (no latency, no loss) makes every exchange complete within the second
    it starts, as if the roles called each other.
    """

    latency_s: Annotated[float, Field(ge=0)] | LatencyRange = Field(
        0.0, description="one-way delay of every message [s], or {low_s, high_s}")
    loss: float = Field(0.0, ge=0, lt=1, description="probability that a message is lost [-]")
    timeout_s: float = Field(30.0, gt=0, description="how long a requester waits for a reply "
                             "before its fallback decides [s]")
    selection_timeout_s: float = Field(
        120.0, gt=0, description="how long the EMSP waits for the DSO platform's answer to a "
        "site request, which takes the platform several exchanges and may queue [s]")
    links: dict[str, LinkSpec] = Field(
        default_factory=dict, description="agent name -> link for every message to or from it "
        "(the receiver's link wins)")
    outages: list[OutageSpec] = Field(default_factory=list, description="windows in which an agent is cut off")


class EventTiming(_Model):
    """When events happen inside a run (the engine counts whole seconds)."""

    grid_s: int | None = Field(
        None, gt=0, description="round visitors' request and departure times and the fleet's "
        "own events up to this grid [s] (900 reproduces a fixed 15-min engine); "
        "default: every event at its own second")


class Location(_Model):
    """Where the scenario is, for solar position (PV)."""

    latitude_deg: float = Field(ge=-90, le=90, description="latitude, north positive [deg]")
    longitude_deg: float = Field(ge=-180, le=180, description="longitude, east positive [deg]")


class Penetration(_Model):
    """One EV penetration level of a sweep: the base fleet scaled, optionally other site strategies."""

    fleet_factor: float = Field(gt=0, description="scales the chargers of every site and the "
                                "visitors of every group, rounded to whole numbers [-]")
    site_strategy: str | None = Field(
        None, description="replaces the strategy of every site_aggregator (e.g. `optimal`: "
        "hard transformer limit, curtails and reports unmet energy)")


class Sweep(_Model):
    """Representative days x penetrations x variants, run point by point (``flexcosim.scenarios.sweep``).

    Day ``m`` is the first weekday (Mon-Fri) of month ``m`` of ``year`` at the clock time
    of ``start``, with the UTC offset ``timezone`` has that day; each day stands for
    every weekday of its month in the annual figures (seed 004 section 5.3).
    """

    year: int = Field(ge=1900, le=2100, description="calendar year of the representative days")
    months: list[int] = Field(min_length=1, description="months (1-12) whose first weekday is simulated")
    timezone: str = Field(description="IANA time zone of the site, e.g. Europe/Dublin")
    building_peak_factor: dict[int, float] = Field(
        default_factory=dict, description="month -> factor on the peak_kw of every synthetic "
        "building profile (seasonal non-EV load; missing months 1.0) [-]")
    penetrations: dict[str, Penetration] = Field(min_length=1, description="name -> penetration level")
    profile_months: list[int] = Field(
        default_factory=list, description="months whose day is plotted over the day (first penetration)")

    @model_validator(mode="after")
    def _months(self) -> Sweep:
        for field in ("months", "profile_months", "building_peak_factor"):
            for m in getattr(self, field):
                if not 1 <= m <= 12:
                    raise ValueError(f"sweep.{field}: month {m} is not allowed; need 1-12")
        for m in self.profile_months:
            if m not in self.months:
                raise ValueError(f"sweep.profile_months: month {m} is not swept; allowed: {self.months}")
        for m, factor in self.building_peak_factor.items():
            if factor <= 0:
                raise ValueError(f"sweep.building_peak_factor: {factor} for month {m} is not allowed; need > 0")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"sweep.timezone: {self.timezone!r} is not an IANA time zone, "
                             "e.g. Europe/Dublin") from None
        return self


class Scenario(_Model):
    """A whole study: grid, loads, PV, sites, fleet, agents, time span, seed."""

    name: str = Field(description="scenario name, used for the run folder")
    description: str = Field("", description="one paragraph; its first line is shown by `flexcosim list`")
    start: datetime = Field(description="simulation start, ISO 8601 with UTC offset")
    duration_s: int = Field(gt=0, description="simulated time span [s]")
    step_s: int = Field(gt=0, description="decision tick of the agents and step of their "
                        "forecasts and schedules [s]")
    seed: int = Field(ge=0, description="seed of every random draw in the run")
    location: Location = Field(description="site of the study (solar position)")
    grid: GridSpec = Field(description="the network")
    buildings: list[BuildingGroup] = Field(default_factory=list, description="non-EV loads")
    pv: list[PVGroup] = Field(default_factory=list, description="PV systems")
    sites: list[SiteGroup] = Field(default_factory=list, description="charging sites")
    fleet: list[FleetGroup] = Field(default_factory=list, description="EV fleet groups")
    visitors: list[VisitorGroup] = Field(default_factory=list,
                                         description="EVs routed by the DSO platform")
    agents: list[AgentSpec] = Field(default_factory=list, description="decision-making agents")
    network: NetworkSpec = Field(default_factory=NetworkSpec,
                                 description="latency, loss and outages of the agents' messages")
    events: EventTiming = Field(default_factory=EventTiming, description="event timing")
    variants: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="named overrides of top-level fields; `flexcosim run` "
        "runs every variant into its own subfolder and compares them")
    sweep: Sweep | None = Field(
        None, description="run the scenario over representative days and penetrations "
        "(`flexcosim run` then runs every point and writes the annual report)")

    def variant(self, name: str) -> "Scenario":
        """This scenario with the overrides of variant ``name`` applied (no variants or sweep left)."""
        data = self.model_dump(mode="json", exclude={"variants", "sweep"})
        return parse_scenario({**data, **self.variants[name], "name": f"{self.name}/{name}"})

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        if self.start.tzinfo is None:
            raise ValueError(f"start {self.start.isoformat()} has no UTC offset; write e.g. 2019-01-16T00:00:00+01:00")
        if self.duration_s % self.step_s:
            raise ValueError(f"duration_s {self.duration_s} is not a multiple of step_s {self.step_s}")
        if self.grid.step_s is not None and self.step_s % self.grid.step_s:
            raise ValueError(f"grid.step_s {self.grid.step_s} does not divide step_s {self.step_s}; "
                             "allowed: a divisor, e.g. 60 or 300 for step_s 900")
        site_groups = {s.name for s in self.sites}
        for i, f in enumerate(self.fleet):
            if f.home_sites not in site_groups:
                raise ValueError(
                    f"fleet.{i}.home_sites: {f.home_sites!r} is not a site group; allowed: {sorted(site_groups)}"
                )
        roles = [a.role for a in self.agents]
        for role in ("dso_platform", "emsp", "its", "dso_grid"):
            if roles.count(role) > 1:
                raise ValueError(f"agents: {roles.count(role)} agents with role {role}; allowed: one")
        for i, a in enumerate(self.agents):
            if a.role == "site_aggregator" and a.sites not in site_groups:
                raise ValueError(
                    f"agents.{i}.sites: {a.sites!r} is not a site group; allowed: {sorted(site_groups)}"
                )
        return self


# --- one-line errors ------------------------------------------------------------------


def parse_scenario(data: Any) -> Scenario:
    """Validate raw scenario data (e.g. loaded YAML).

    Raises
    ------
    ScenarioError
        one line: the field path, the offending value and what is allowed.
    """
    if not isinstance(data, dict):
        raise ScenarioError(f"scenario: expected a mapping of fields, got {type(data).__name__}")
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_one_line(exc.errors()[0])) from None
    for name in scenario.variants:
        try:
            scenario.variant(name)
        except ScenarioError as exc:
            raise ScenarioError(f"variant {name!r}: {exc}") from None
    return scenario


def _one_line(err: dict[str, Any]) -> str:
    loc = tuple(err["loc"])
    field = ".".join(str(p) for p in loc) or "scenario"
    kind = err["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_fields(loc[:-1])
        return f"scenario field {field!r}: unknown field; allowed here: {', '.join(allowed)}"
    if kind == "missing":
        return f"scenario field {field!r}: required but missing"
    if kind == "value_error":
        return f"scenario: {err['msg'].removeprefix('Value error, ')}"
    value = err.get("input")
    return f"scenario field {field!r}: value {value!r} is not allowed: {err['msg'].lower()}"


def _allowed_fields(loc: tuple[Any, ...]) -> list[str]:
    """Field names of the model found by walking ``loc`` from :class:`Scenario`."""
    model: Any = Scenario
    for part in loc:
        if isinstance(part, int):
            continue
        if isinstance(part, str) and isinstance(model, type) and issubclass(model, BaseModel):
            if part in model.model_fields:
                model = _inner_model(model.model_fields[part].annotation, None)
            else:  # a discriminated-union tag, e.g. 'csv'
                model = _inner_model(model, part)
        else:
            model = _inner_model(model, part)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


def _inner_model(annotation: Any, tag: str | None) -> Any:
    """Unwrap list/Optional/Annotated/Union down to a model (by discriminator tag if given)."""
    stack = [annotation]
    candidates = []
    while stack:
        a = stack.pop()
        if isinstance(a, type) and issubclass(a, BaseModel):
            candidates.append(a)
        elif get_origin(a) is not None or get_args(a):
            stack.extend(get_args(a))
    if tag is not None:
        for c in candidates:
            kind = c.model_fields.get("kind")
            if kind is not None and tag in get_args(kind.annotation):
                return c
    return candidates[0] if candidates else None
