"""A scenario is validated data: this module says what a scenario file may contain.

Every model forbids unknown fields, so a misspelt key fails before anything runs.
:func:`parse_scenario` turns pydantic's errors into one line naming, for every problem,
the field, the value and what is allowed (:class:`ScenarioError`). Units are in the
field names. Numbers must be finite; quantities where an order-of-magnitude slip is
likely (charger kW, PV kWp, battery kWh, step and duration seconds, counts) have
plausibility bounds. Names become parts of file and entity names, so they are safe
identifiers and unique (:data:`Identifier`).
The reference of every field is generated from these models (``docs/scenario-reference.md``).
"""

from __future__ import annotations

import difflib
import inspect
import math
import re
from collections import Counter
from datetime import date, datetime
from typing import Annotated, Any, Literal, get_args, get_origin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from flexcosim.scenarios.schema_congestion import Seed001Congestion
from flexcosim.scenarios.schema_seed002 import LargeGridCharging
from flexcosim.scenarios.schema_sharing import CapacitySharing
from flexcosim.scenarios.sweep_calendar import first_weekday
from flexcosim.scenarios.sweep_studies import STUDY_REPORTS


class ScenarioError(ValueError):
    """A scenario that cannot run; the message is one line meant for the user."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}")


def _identifier(value: str) -> str:
    if not _NAME.fullmatch(value) or ".." in value:
        raise ValueError(f"name {value!r} is not allowed; need 1-64 letters, digits, '_', '-', "
                         "'+' or '.', starting with a letter or digit (it becomes a file name)")
    return value


def _scenario_name(value: str) -> str:
    for part in value.split("/"):  # a variant or sweep point is <scenario>/<variant>
        try:
            _identifier(part)
        except ValueError as exc:
            raise ValueError(str(exc).replace(repr(part), repr(value), 1)) from None
    return value


#: A name that becomes part of a folder or entity name: nothing in it can point
#: outside the run folder (no '/', no '..', no leading '.').
Identifier = Annotated[str, AfterValidator(_identifier)]

#: Plausibility bounds: an order-of-magnitude slip (3700 for a 3.7 kW wallbox) is an error.
MAX_CHARGER_KW = 1000.0  # above the largest (megawatt) truck chargers in service [kW]
MAX_PV_KWP = 1000.0  # one rooftop or ground-mounted system at one bus [kWp]
MAX_BATTERY_KWH = 1000.0  # above the largest truck batteries [kWh]
MAX_BUILDING_KW = 100_000.0  # a whole campus at one bus [kW]
MAX_STEP_S = 3600  # [s]
MAX_DURATION_S = 366 * 86_400  # one (leap) year [s]
MAX_STEPS = 200_000  # simulated steps per run (memory of the time series) [-]
MAX_COUNT = 100_000  # EVs per group, chargers per site [-]
MAX_HOUSEHOLDS = 1000  # on one LV feeder; the seeds' have 55 and 75 [-]


# --- profiles -------------------------------------------------------------------------


class SyntheticHouseholdProfile(_Model):
    """Documented synthetic residential load shape (``flexcosim.cosim.models.building``)."""

    kind: Literal["synthetic_household"]
    peak_kw: float = Field(gt=0, le=MAX_BUILDING_KW,
                           description="expected daily peak of the aggregate load at one bus [kW]")
    power_factor: float = Field(0.97, gt=0, le=1, description="cos phi of the load [-]")


class SyntheticOfficeProfile(_Model):
    """Documented synthetic office/campus building shape (``flexcosim.cosim.models.building``)."""

    kind: Literal["synthetic_office"]
    peak_kw: float = Field(gt=0, le=MAX_BUILDING_KW, description="expected daily peak [kW]")
    power_factor: float = Field(1.0, gt=0, le=1, description="cos phi of the load [-]")


class CsvProfile(_Model):
    """A user's measured load: CSV with a time column and a load column (kW, or any unit
    with ``scale``); mosaik-csv files (a model-name line first) are read too."""

    kind: Literal["csv"]
    path: str = Field(description="CSV file; relative paths are relative to the scenario file. "
                      "Its first column holds ISO 8601 timestamps with UTC offset; the rows are "
                      "aligned to the scenario's clock and must cover its whole period")
    column: str | None = Field(None, description="column holding the load (default: the only numeric one)")
    power_factor: float = Field(1.0, gt=0, le=1, description="cos phi of the load [-]")
    scale: float = Field(1.0, gt=0, description="factor from the column's unit to kW, e.g. "
                         "0.001 for a mosaik-csv file in W [-]")


Profile = Annotated[
    SyntheticHouseholdProfile | SyntheticOfficeProfile | CsvProfile,
    Field(discriminator="kind"),
]


# --- tariffs --------------------------------------------------------------------------


class FlatPrice(_Model):
    """One energy price at all times."""

    kind: Literal["flat"]
    price_per_kwh: float = Field(ge=0, description="energy price [currency/kWh]")


class TimeOfUsePeriod(_Model):
    """A price that holds from ``start`` until the next period's start (wrapping at midnight)."""

    start: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
                       description="clock time HH:MM in the UTC offset of the scenario's `start`")
    price_per_kwh: float = Field(ge=0, description="energy price [currency/kWh]")


class TimeOfUsePrice(_Model):
    """Energy prices by clock time, the same every day."""

    kind: Literal["time_of_use"]
    periods: list[TimeOfUsePeriod] = Field(min_length=1, description="periods in any order")


class CsvPrice(_Model):
    """A price series from a CSV file, read like a CSV load profile (first row = midnight of the start day)."""

    kind: Literal["csv"]
    path: str = Field(description="CSV file; relative paths are relative to the scenario file")
    column: str | None = Field(None, description="column holding the price [currency/kWh] "
                               "(default: the only numeric one)")


EnergyPrice = Annotated[FlatPrice | TimeOfUsePrice | CsvPrice, Field(discriminator="kind")]


class Tariff(_Model):
    """What a meter pays: energy price, demand charge, and what exported (V2G) energy earns."""

    energy: EnergyPrice
    demand_charge_per_kw: float = Field(
        0.0, ge=0, description="charge per kW of the highest step-average import of each calendar "
        "month (a run touching a month pays that month's charge in full) [currency/kW]")
    export_per_kwh: float | None = Field(
        None, ge=0, description="paid for exported energy (V2G); default: the energy price "
        "at that time [currency/kWh]")


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

    name: Identifier = Field(description="group name; entities are named <name>_<bus>")
    buses: list[str] = Field(min_length=1, description="grid bus names, one building each")
    profile: Profile


class PVGroup(_Model):
    """Rooftop PV: one system per listed bus."""

    name: Identifier = Field(description="group name; systems are named <name>_<bus>, or <name> for one bus")
    buses: list[str] = Field(min_length=1, description="grid bus names, one PV system each")
    peak_kw: float = Field(gt=0, le=MAX_PV_KWP, description="DC peak power of each system [kWp]")
    tilt_deg: float = Field(30.0, ge=0, le=90, description="module tilt [deg]")
    azimuth_deg: float = Field(180.0, ge=0, lt=360, description="module azimuth, 180 = south [deg]")
    cloudiness: float = Field(0.0, ge=0, le=1, description="weather variability, 0 = clear sky [-]")
    export_limit_kw: float | None = Field(None, ge=0, description="fixed export cap per system [kW]")


class SiteGroup(_Model):
    """Charging sites: chargers behind one meter; one site per listed bus."""

    name: Identifier = Field(description="group name; sites are named <name>_<bus>, or <name> for one bus")
    buses: list[str] = Field(min_length=1, description="grid bus names, one site each")
    transformer: str | None = Field(
        None, description="transformer feeding the site; its rating minus the building load "
        "at the site's bus is the site's capacity for EV charging (power factor 1)")
    pricing: str = Field("congestion", description="price rule of the site's aggregator "
                         "(`flexcosim.agents.optim.pricing.PRICING`)")
    chargers: int = Field(gt=0, le=MAX_COUNT, description="chargers per site [-]")
    parking_spaces: int | None = Field(None, gt=0, le=MAX_COUNT, description="parking spaces per site: "
                                       "bound on the booked EVs present at once (default: the chargers) [-]")
    rated_kw: float = Field(gt=0, le=MAX_CHARGER_KW, description="charger rating [kW]")
    efficiency: float = Field(0.95, gt=0, le=1, description="charger efficiency [-]")
    v2g: bool = Field(False, description="chargers can discharge EVs")
    tariff: Tariff | None = Field(None, description="the sites' tariff (default: the scenario's)")


class VehicleSpec(_Model):
    """One vehicle model."""

    name: str = "generic"
    capacity_kwh: float = Field(gt=0, le=MAX_BATTERY_KWH, description="usable battery capacity [kWh]")
    max_charge_kw: float = Field(gt=0, le=MAX_CHARGER_KW, description="on-board charge limit [kW]")
    max_discharge_kw: float = Field(0.0, ge=0, le=MAX_CHARGER_KW,
                                    description="on-board discharge limit [kW]")
    consumption_kwh_per_km: float = Field(gt=0, le=5.0, description="driving consumption [kWh/km]")


class MarkovCommuter(_Model):
    """Time-inhomogeneous Markov chain moving/residential/commercial (seed 001 eqs 1-2)."""

    kind: Literal["markov_commuter"]
    slot_s: int = Field(900, gt=0, le=86_400, description="length of one Markov slot [s]")
    knobs: dict[str, float] = Field(
        default_factory=dict, description="keyword overrides of `MarkovChain.commuter`"
    )

    @model_validator(mode="after")
    def _chain(self) -> MarkovCommuter:
        from flexcosim.cosim.models.mobility import MarkovChain

        try:
            MarkovChain.commuter(slot_s=self.slot_s, **self.knobs)
        except TypeError:
            allowed = _keyword_only(MarkovChain.commuter)
            unknown = sorted(set(self.knobs) - set(allowed))
            raise ValueError(f"mobility.knobs: {unknown} unknown; allowed: {', '.join(allowed)}") from None
        except ValueError as exc:
            raise ValueError(f"mobility: {exc}") from None
        return self


Mobility = Annotated[MarkovCommuter, Field(discriminator="kind")]


class FleetGroup(_Model):
    """EVs of one vehicle model, homed round-robin at the sites of one site group."""

    name: Identifier = Field(description="group name; EVs are named <name>_<k>")
    count: int = Field(gt=0, le=MAX_COUNT, description="number of EVs [-]")
    home_sites: str = Field(description="name of the site group where the EVs charge at home")
    vehicle: VehicleSpec
    soc0_min: float = Field(0.2, ge=0, le=1, description="initial SOC drawn uniformly from "
                            "[soc0_min, soc0_max], capped below by target_soc unless "
                            "soc0_at_home is `drawn` [-]")
    soc0_max: float = Field(0.6, ge=0, le=1, description="see soc0_min [-]")
    target_soc: float = Field(1.0, gt=0, le=1, description="SOC the driver wants at departure [-]")
    soc0_at_home: Literal["target", "drawn"] = Field(
        "target", description="EVs start the run at home: `target` = they charged before the "
        "run and start at target_soc (no start-up burst); `drawn` = they start at the drawn "
        "soc0 and all begin charging in the first step")
    speed_kmh: float = Field(30.0, gt=0, le=200, description="average driving speed [km/h]")
    mobility: Mobility

    @model_validator(mode="after")
    def _soc_range(self) -> FleetGroup:
        if self.soc0_min > self.soc0_max:
            raise ValueError(f"soc0_min {self.soc0_min} > soc0_max {self.soc0_max}; need soc0_min <= soc0_max")
        return self


class RouteSpec(_Model):
    """How far a site is from where visitors send their request (for the ITS agent)."""

    distance_km: float = Field(gt=0, le=1000, description="driving distance [km]")
    drive_s: int = Field(gt=0, le=86_400, description="driving time [s]")
    walk_s: int = Field(0, ge=0, le=86_400, description="walk from the site to the destination [s]")


class VisitorGroup(_Model):
    """EVs that come for the day and ask the DSO platform where to charge (seed 004 5.2).

    Times, vehicles and SOCs are drawn from ``flexcosim.cosim.models.arrivals.campus_visits``.
    """

    name: Identifier = Field(description="EV names are <name>_<k>")
    count: int = Field(gt=0, le=MAX_COUNT, description="EVs arriving that day [-]")
    routes: dict[str, RouteSpec] = Field(
        min_length=1, description="site name -> route from the request point")


class SessionsGroup(_Model):
    """EVs from charging-session data (``flexcosim.cosim.models.sessions``): one EV per
    session, away until its arrival second, parked at its site until its departure, wanting
    the session's energy. Columns of the CSV: docs/scenario-reference.md and the module."""

    name: Identifier = Field(description="group name; EVs are named <name>_<k>")
    path: str = Field(description="sessions file; relative paths are relative to the scenario file")
    format: Literal["csv", "acn_json"] = Field(
        "csv", description="`csv` (columns arrival, departure, energy_kwh or arrival_soc and "
        "target_soc; optional battery_kwh, max_power_kw, ev, site) or `acn_json` (the ACN-Data "
        "API export)")
    site: str | None = Field(
        None, description="site (entity name) every session charges at; default: the file's "
        "`site` column (`siteID` of ACN-Data), whose values must be site names")
    battery_kwh: float = Field(60.0, gt=0, le=MAX_BATTERY_KWH,
                               description="battery capacity where the file has none [kWh]")
    max_power_kw: float = Field(11.0, gt=0, le=MAX_CHARGER_KW,
                                description="on-board charge limit where the file has none [kW]")
    target_soc: float = Field(0.9, gt=0, le=1, description="SOC wanted at departure where the "
                              "file gives energy, not SOCs [-]")
    requested: bool = Field(False, description="acn_json: energy the driver asked for "
                            "(kWhRequested) instead of kWhDelivered")


class AgentSpec(_Model):
    """A decision-making agent and the strategy it uses."""

    role: Literal["site_aggregator", "dso_platform", "emsp", "its", "dso_grid"]
    sites: str | None = Field(
        None, description="site_aggregator: the site group it serves (one agent per site)")
    strategy: str | None = Field(
        None, description="registered name, entry point, `file.py:Class` or `module:Class`; "
        "default per role: site_aggregator uncontrolled, dso_platform css, emsp "
        "driver_preferences, its static_routes, dso_grid none. A file or module target is "
        "imported and run: a scenario file naming one executes that code")
    fallback: str | None = Field(
        None, description="built-in used when `strategy` fails; allowed (and default) per role: "
        "site_aggregator equal_share, emsp driver_preferences, its static_routes, dso_grid none")

    @model_validator(mode="after")
    def _safe_fallback(self) -> AgentSpec:
        safe = SAFE_FALLBACKS.get(self.role, ())
        if self.fallback is not None and self.fallback not in safe:
            allowed = ", ".join(safe) if safe else "none (this role has no fallback)"
            raise ValueError(f"agents: fallback {self.fallback!r} for role {self.role} is not a "
                             f"safe built-in; allowed: {allowed}")
        return self


#: role -> built-ins allowed as its fallback: closed-form rules on validated data
#: (no solver, no user code), so the fallback itself cannot fail.
SAFE_FALLBACKS = {
    "site_aggregator": ("equal_share",),
    "emsp": ("driver_preferences",),
    "its": ("static_routes",),
    "dso_grid": ("none",),
}

class HomeEVSpec(_Model):
    """Home-charging EVs drawn as in seed 000 section 4 (``flexcosim.cosim.models.home_evs``)."""

    battery_kwh: float = Field(24.0, gt=0, description="battery capacity BC [kWh] (seed: Nissan Leaf 24)")
    consumption_kwh_per_km: float = Field(0.1778, gt=0, description="ECR [kWh/km]")
    charger_kw: float = Field(3.7, gt=0, description="home charger rating p^max_ch [kW]")
    efficiency: float = Field(0.92, gt=0, le=1, description="charger efficiency eta_ch [-]")
    soc_target: float = Field(0.95, gt=0, le=1, description="SOC^obj = SOC^max [-]")
    arrival_h: tuple[float, float, float, float] = Field(
        (16.0, 3.0, 11.0, 23.0), description="arrival (mean, sd, min, max), clock hours [h]")
    departure_h: tuple[float, float, float, float] = Field(
        (31.0, 1.0, 29.0, 33.5), description="departure (mean, sd, min, max), clock hours, > 24 "
        "next day [h] (not in the seed; chosen)")
    distance_lognormal: tuple[float, float] = Field(
        (2.89257, 0.91779), description="daily distance log-normal (mu_ln, sigma_ln) [ln km]")

    @model_validator(mode="after")
    def _distributions(self) -> HomeEVSpec:
        for field in ("arrival_h", "departure_h"):
            mean, sd, lo, hi = getattr(self, field)
            if not (sd > 0 and lo < hi):
                raise ValueError(f"dayahead.ev.{field}: {getattr(self, field)} is not allowed; "
                                 "need (mean, sd, min, max) with sd > 0 and min < max")
        if self.departure_h[2] <= self.arrival_h[3]:
            raise ValueError(f"dayahead.ev.departure_h: min {self.departure_h[2]} h is not after "
                             f"arrival_h max {self.arrival_h[3]} h; every EV must leave after it arrives")
        if self.distance_lognormal[1] <= 0:
            raise ValueError(f"dayahead.ev.distance_lognormal: sigma_ln {self.distance_lognormal[1]} "
                             "is not allowed; need > 0")
        return self


class CoordinatedFeeder(_Model):
    """One feeder and its aggregator (seed 000: one aggregator per feeder)."""

    name: str = Field(description="aggregator name")
    buses: list[str] = Field(min_length=1, description="feeder buses; households spread round-robin")
    households: int = Field(gt=0, le=MAX_HOUSEHOLDS, description="households on the feeder [-]")
    head_line: str = Field(description="the feeder's main cable (its rating is enforced)")


class PvEvCoordination(_Model):
    """Seed 000: the DSO sets each aggregator's PV export limit and EV profile day-ahead."""

    kind: Literal["pv_ev_coordination"]
    feeders: list[CoordinatedFeeder] = Field(min_length=1, description="aggregators")
    control: Literal["coordinated", "none"] = Field(
        "coordinated", description="coordinated: DSO LP day-ahead; none: no limit, EVs charge on arrival")
    penetration: float = Field(gt=0, le=1, description="share of households with PV and an EV [-]")
    household_peak_kw: float = Field(gt=0, description="expected evening peak of one household [kW]")
    power_factor: float = Field(0.95, gt=0, le=1, description="cos phi of loads and ratings [-]")
    pv_peak_kw: float = Field(5.0, gt=0, description="PV per participating household [kWp]")
    pv_weather_correlation: float = Field(
        0.5, ge=0, le=1, description="share of PV variance common to all households [-] (seed: 0)")
    pv_statistics_days: int = Field(30, ge=2, description="days the PV statistics span [-]")
    ev: HomeEVSpec = Field(default_factory=HomeEVSpec)
    overload_weight: float = Field(1000.0, ge=0, description="omega of seed 000 eq. 11")
    ramp_weight: float = Field(1000.0, ge=0, description="gamma of seed 000 eq. 11")
    max_overload_kw: float | None = Field(
        None, ge=0, description="cap on the LP's overload slack [kW]; 0 = hard ratings (seed: none)")

    @model_validator(mode="after")
    def _feeders(self) -> PvEvCoordination:
        names = [f.name for f in self.feeders]
        buses = [b for f in self.feeders for b in f.buses]
        if len(set(names)) != len(names):
            raise ValueError(f"dayahead.feeders: names {names} repeat; need unique aggregator names")
        if len(set(buses)) != len(buses):
            raise ValueError("dayahead.feeders: a bus is listed twice; each bus belongs to one feeder")
        return self


class BatteryRental(_Model):
    """Seed 003: the DSO rents aggregator batteries day-ahead for voltage support."""

    kind: Literal["battery_rental"]
    buses: list[str] = Field(min_length=1, description="battery buses (seed: nodes 7, 13, 15, 16, 20)")
    capacity_kwh: float = Field(5.0, gt=0, description="usable energy per battery [kWh]")
    max_power_kw: float = Field(0.5, gt=0, description="charge/discharge limit per battery [kW]")
    charge_efficiency: float = Field(0.95, gt=0, le=1, description="[-]")
    discharge_efficiency: float = Field(0.95, gt=0, le=1, description="[-]")
    market_price_eur_per_kwh: list[float] = Field(
        min_length=24, max_length=24, description="hourly day-ahead price mp_t [EUR/kWh]")
    v_min_pu: float = Field(0.9, gt=0, lt=1, description="lowest voltage the DSO plans for [pu]")
    forecast_margin: float = Field(
        0.0, ge=0, description="the DSO plans for its load forecast times (1 + margin) [-]")
    reinforcement_eur: float = Field(31880.0, ge=0, description="cable reinforcement it defers [EUR]")
    interest_rate: float = Field(0.07, gt=-1, description="seed 003 eq. 22 [-]")
    inflation_rate: float = Field(0.013, gt=-1, description="seed 003 eq. 22 [-]")
    battery_investment_eur: float = Field(1000.0, ge=0, description="per battery [EUR]")
    discount_rate: float = Field(0.05, ge=0, description="seed 003 eq. 21 [-]")
    lifetime_years: int = Field(8, ge=1, description="seed 003 eq. 21 [years]")


DayAhead = Annotated[PvEvCoordination | BatteryRental | CapacitySharing | LargeGridCharging
                     | Seed001Congestion, Field(discriminator="kind")]


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


#: Most points a sweep may have (a typo in a range should not queue a million runs).
MAX_POINTS = 100_000


def safe_name(where: str, name: str) -> str:
    """``name`` if it is an :data:`Identifier`, else ``ValueError`` naming ``where``."""
    try:
        return _identifier(name)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


class SweepRange(_Model):
    """Evenly spaced numbers ``start, start + step, ...`` up to ``stop`` (included when on the grid)."""

    start: float = Field(description="first value")
    stop: float = Field(description="last value (included when start + k * step hits it)")
    step: float = Field(gt=0, description="spacing")

    def values(self) -> list[float]:
        """The range's values; whole numbers come out as ``int``."""
        count = int(math.floor((self.stop - self.start) / self.step + 1e-9)) + 1
        values = [self.start + k * self.step for k in range(max(count, 0))]
        return [int(v) if float(v).is_integer() else round(v, 12) for v in values]

    @model_validator(mode="after")
    def _length(self) -> SweepRange:
        count = (self.stop - self.start) / self.step + 1
        if not 1 <= count <= MAX_POINTS:
            raise ValueError(f"sweep range {self.start}..{self.stop} step {self.step} gives "
                             f"{max(int(count), 0)} values; allowed: 1 to {MAX_POINTS}")
        return self


class SweepLevel(_Model):
    """One named level of a sweep axis: scenario fields set and scaled together.

    Paths are dotted (``fleet.0.count``, ``grid.params.base_load_factor``); ``*`` stands for
    every item of a list (``sites.*.chargers``). Scaled whole-number fields are rounded.
    """

    set: dict[str, Any] = Field(default_factory=dict, description="dotted path -> value")
    scale: dict[str, float] = Field(default_factory=dict, description="dotted path -> factor [-]")
    weight: float = Field(1.0, gt=0, description="weight of the level's points in the report's "
                          "weighted totals (multiplied across axes) [-]")


class RepresentativeDays(_Model):
    """Levels that are days: the first weekday (Mon-Fri) of each month, weighted by the month's weekdays.

    Day ``m`` starts at the clock time of the scenario's ``start`` with the UTC offset
    ``timezone`` has that day; its seed is ``seed * 100 + m`` (days draw different EVs, the
    other levels of one day the same ones); each day stands for every weekday of its month
    (its weight, seed 004 section 5.3).
    """

    year: int = Field(ge=1900, le=2100, description="calendar year of the representative days")
    months: list[int] = Field(min_length=1, description="months (1-12) whose first weekday is simulated")
    timezone: str = Field(description="IANA time zone of the site, e.g. Europe/Dublin")
    scale: dict[str, dict[int, float]] = Field(
        default_factory=dict, description="dotted path -> {month: factor} (e.g. seasonal "
        "`buildings.*.profile.peak_kw`; missing months 1.0) [-]")

    @model_validator(mode="after")
    def _months(self) -> RepresentativeDays:
        for m in [*self.months, *(m for by_month in self.scale.values() for m in by_month)]:
            if not 1 <= m <= 12:
                raise ValueError(f"sweep days: month {m} is not allowed; need 1-12")
        for path, by_month in self.scale.items():
            for m, factor in by_month.items():
                if factor <= 0:
                    raise ValueError(f"sweep days scale {path!r}: {factor} for month {m} is not allowed; need > 0")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"sweep days timezone: {self.timezone!r} is not an IANA time zone, "
                             "e.g. Europe/Dublin") from None
        return self


class SweepAxis(_Model):
    """One dimension of a sweep: one dotted ``path`` over ``values`` or a ``range``, or named ``levels``, or ``days``."""

    name: str | None = Field(None, description="axis name (default: the last part of `path`; "
                             "`day` for days)")
    path: str | None = Field(None, description="dotted scenario field set by `values` or `range`")
    values: list[Any] | None = Field(None, min_length=1, description="values of `path`")
    range: SweepRange | None = Field(None, description="evenly spaced values of `path`")
    levels: dict[str, SweepLevel] | None = Field(None, min_length=1, description="name -> level")
    days: RepresentativeDays | None = Field(None, description="representative days as levels")

    @model_validator(mode="after")
    def _one_kind(self) -> SweepAxis:
        given = [k for k in ("values", "range", "levels", "days") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"sweep axis {self.name or self.path!r}: give exactly one of values, "
                             f"range, levels, days; got {given or 'none'}")
        if (self.path is None) != (given[0] in ("levels", "days")):
            raise ValueError(f"sweep axis {self.name or self.path!r}: `path` goes with values or "
                             "range, not with levels or days")
        safe_name("sweep axis", self.axis_name)
        for level in self.levels or {}:
            safe_name(f"sweep axis {self.axis_name!r} level", level)
        levels = axis_levels(self)
        if len(set(levels)) < len(levels):
            raise ValueError(f"sweep axis {self.axis_name!r}: levels repeat ({levels}); give distinct values")
        return self

    @property
    def axis_name(self) -> str:
        """``name``, or the last part of ``path``, or ``day``."""
        return self.name or (self.path.rsplit(".", 1)[-1] if self.path else "day")


class SweepReport(_Model):
    """What the report of a sweep sums and plots (``flexcosim.scenarios.sweep``)."""

    sum_over: str | None = Field(
        None, description="axis the weighted totals add up over (e.g. `day`: annual figures); "
        "the other axes' levels make the table sections, variants its columns")
    profile_levels: list[str] = Field(
        default_factory=list, description="levels of `sum_over` whose transformer loading is "
        "plotted over time (first section)")
    study: str | None = Field(
        None, description="a study's own report written beside the sweep's (registered in "
        "`flexcosim.scenarios.sweep_studies.STUDY_REPORTS`), e.g. a congestion probability")

    @field_validator("study")
    @classmethod
    def _known_study(cls, value: str | None) -> str | None:
        if value is not None and value not in STUDY_REPORTS:
            raise ValueError(f"sweep.report.study: {value!r} is not a study report; allowed: "
                             f"{', '.join(STUDY_REPORTS) or 'none registered'}")
        return value

    @field_validator("profile_levels", mode="before")
    @classmethod
    def _dates_as_names(cls, value: Any) -> Any:
        # YAML reads an unquoted 2019-04-01 as a date; a days level is named by its ISO date
        return [v.isoformat() if isinstance(v, date) else v for v in value] if isinstance(value, list) else value


class Sweep(_Model):
    """Many runs of one scenario: axes (product or zip) x variants x replications (``flexcosim.scenarios.sweep``).

    A point applies its variant's overrides, then each axis' level in axis order, then its
    replication's seed. Replication ``r`` of ``N > 1`` uses seed
    ``numpy.random.SeedSequence([seed, r])`` (32 bits), ``seed`` being the point's seed before
    replication, so replication ``r`` of different levels shares its random draws.
    """

    axes: list[SweepAxis] = Field(default_factory=list, description="the swept dimensions")
    combine: Literal["product", "zip"] = Field(
        "product", description="every combination of the axes' levels, or the k-th level of "
        "each axis together (equal lengths)")
    replications: int = Field(1, ge=1, le=MAX_POINTS,
                              description="Monte-Carlo runs per point, independent seeds [-]")
    report: SweepReport = Field(default_factory=SweepReport, description="weighted totals and plots")

    @model_validator(mode="after")
    def _consistent(self) -> Sweep:
        names = [a.axis_name for a in self.axes]
        for name in names:
            if names.count(name) > 1 or name == "variant":
                raise ValueError(f"sweep axes: axis name {name!r} is used twice (or is 'variant'); "
                                 "give each axis its own `name`")
        if self.combine == "zip" and len({axis_length(a) for a in self.axes}) > 1:
            raise ValueError("sweep: combine zip needs axes of equal length; got "
                             + ", ".join(f"{a.axis_name} {axis_length(a)}" for a in self.axes))
        report = self.report
        if report.sum_over is not None and report.sum_over not in names:
            raise ValueError(f"sweep.report.sum_over: {report.sum_over!r} is not an axis; allowed: {names}")
        if report.profile_levels:
            if report.sum_over is None:
                raise ValueError("sweep.report.profile_levels needs sweep.report.sum_over")
            axis = self.axes[names.index(report.sum_over)]
            for level in report.profile_levels:
                if level not in axis_levels(axis):
                    raise ValueError(f"sweep.report.profile_levels: {level!r} is not swept; "
                                     f"allowed: {axis_levels(axis)}")
        return self


def axis_length(axis: SweepAxis) -> int:
    """Number of levels of ``axis``."""
    return len(axis_levels(axis))


def axis_levels(axis: SweepAxis) -> list[str]:
    """Level names of ``axis`` (the days' ISO dates; ``<name>-<value>`` for values and ranges)."""
    if axis.levels is not None:
        return list(axis.levels)
    if axis.days is not None:
        return [first_weekday(axis.days.year, m).isoformat() for m in axis.days.months]
    values = axis.values if axis.values is not None else axis.range.values()
    return [safe_name(f"sweep axis {axis.axis_name!r} value", f"{axis.axis_name}-{v}") for v in values]


# --- third-party simulators ------------------------------------------------------------

_PYTHON_TARGET = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*")


class SimulatorLink(_Model):
    """One output attribute of a third-party simulator's entities, fed to grid buses."""

    attr: str = Field(description="output attribute of the simulator's entities")
    to: Literal["p_kw", "q_kvar", "p_gen_kw"] = Field(
        description="bus input it feeds: demand `p_kw` [kW], `q_kvar` [kvar] or generation "
        "`p_gen_kw` [kW]")
    buses: list[str] = Field(min_length=1, description="grid bus of each entity, in the "
                             "order the simulator creates them (one bus per entity)")
    scale: float = Field(1.0, description="factor from the simulator's unit to the input's, "
                         "e.g. 0.001 for W -> kW, -1 for a generator reported as negative load [-]")


class SimulatorSpec(_Model):
    """Any mosaik-api-v3 simulator added to the run (``flexcosim.cosim.simulators``).

    Its entities' values are held from the time they are output until the next output,
    and the grid and the recorder average them exactly over each metering interval.
    """

    name: Identifier = Field(description="simulator name; its values are recorded under "
                             "<name>_<k> for entity k")
    python: str = Field(description="`module:Class` of a mosaik-api-v3 simulator, started in "
                        "this process. The module is imported and run: a scenario naming one "
                        "executes that code")
    params: dict[str, Any] = Field(default_factory=dict,
                                   description="keyword arguments of the simulator's init")
    paths: list[str] = Field(default_factory=list, description="names of `params` that are file "
                             "paths; relative ones are relative to the scenario file")
    model: str = Field(description="model of the simulator to create entities of")
    count: int = Field(1, gt=0, le=MAX_COUNT, description="entities to create with "
                       "`model_params` (ignored when `entities` is given) [-]")
    model_params: dict[str, Any] = Field(default_factory=dict,
                                         description="model parameters of each entity")
    entities: list[dict[str, Any]] | None = Field(
        None, min_length=1, description="model parameters per entity, one entity each")
    connect: list[SimulatorLink] = Field(min_length=1, description="what feeds the grid")

    @model_validator(mode="after")
    def _consistent(self) -> SimulatorSpec:
        if not _PYTHON_TARGET.fullmatch(self.python):
            raise ValueError(f"simulators: python {self.python!r} is not allowed; need "
                             "module:Class, e.g. mosaik_csv:CSV")
        missing = [p for p in self.paths if p not in self.params]
        if missing:
            raise ValueError(f"simulators ({self.name}): paths {missing} are not in params; "
                             f"allowed: {sorted(self.params)}")
        n = self.n_entities
        for i, link in enumerate(self.connect):
            if len(link.buses) != n:
                raise ValueError(f"simulators ({self.name}): connect.{i}.buses has "
                                 f"{len(link.buses)} buses for {n} entities; need one per entity")
        feeds = [link.to for link in self.connect]
        if len(set(feeds)) < len(feeds):
            raise ValueError(f"simulators ({self.name}): connect feeds {feeds}; each of "
                             "p_kw, q_kvar, p_gen_kw at most once per simulator")
        return self

    @property
    def n_entities(self) -> int:
        """Entities this simulator creates [-]."""
        return len(self.entities) if self.entities is not None else self.count


class Scenario(_Model):
    """A whole study: grid, loads, PV, sites, fleet, agents, time span, seed."""

    name: Annotated[str, AfterValidator(_scenario_name)] = Field(
        description="scenario name, used for the run folder (letters, digits, '_', '-', '.')")
    description: str = Field("", description="one paragraph; its first line is shown by `flexcosim list`")
    start: datetime = Field(description="simulation start, ISO 8601 with UTC offset, years 1900-2200")
    duration_s: int = Field(gt=0, le=MAX_DURATION_S, description="simulated time span [s]")
    step_s: int = Field(gt=0, le=MAX_STEP_S, description="decision tick of the agents and step of "
                        "their forecasts and schedules [s]")
    seed: int = Field(ge=0, lt=2**63, description="seed of every random draw in the run")
    warmup_s: int = Field(0, ge=0, description="the KPIs (summary, costs, per-EV table) leave "
                          "out the first warmup_s seconds; default 0: every step counts [s]")
    location: Location = Field(description="site of the study (solar position)")
    grid: GridSpec = Field(description="the network")
    buildings: list[BuildingGroup] = Field(default_factory=list, description="non-EV loads")
    pv: list[PVGroup] = Field(default_factory=list, description="PV systems")
    sites: list[SiteGroup] = Field(default_factory=list, description="charging sites")
    fleet: list[FleetGroup] = Field(default_factory=list, description="EV fleet groups")
    visitors: list[VisitorGroup] = Field(default_factory=list,
                                         description="EVs routed by the DSO platform")
    sessions: list[SessionsGroup] = Field(
        default_factory=list, description="EVs from charging-session data")
    agents: list[AgentSpec] = Field(default_factory=list, description="decision-making agents")
    tariff: Tariff | None = Field(
        None, description="tariff of the grid connection (transformers) and of every site "
        "without its own; no tariff, no cost KPIs")
    network: NetworkSpec = Field(default_factory=NetworkSpec,
                                 description="latency, loss and outages of the agents' messages")
    events: EventTiming = Field(default_factory=EventTiming, description="event timing")
    variants: dict[Identifier, dict[str, Any]] = Field(
        default_factory=dict, description="named overrides of top-level fields; `flexcosim run` "
        "runs every variant into its own subfolder and compares them")
    dayahead: DayAhead | None = Field(
        None, description="a DSO coordination study: day-ahead (seed 000, seed 003 or seed 002), "
        "capacity sharing (seed 004 4.2.1) or the seed-001 congestion study")
    simulators: list[SimulatorSpec] = Field(
        default_factory=list, description="third-party mosaik simulators feeding grid buses")
    sweep: Sweep | None = Field(
        None, description="run the scenario over many points (`flexcosim run` then runs every "
        "point and writes the sweep report; docs/sweeps.md)")

    def variant(self, name: str) -> "Scenario":
        """This scenario with the overrides of variant ``name`` applied (no variants or sweep left)."""
        data = self.model_dump(mode="json", exclude={"variants", "sweep"})
        return parse_scenario({**data, **self.variants[name], "name": f"{self.name}/{name}"})

    @field_validator("start", mode="before")
    @classmethod
    def _iso_start(cls, value: Any) -> Any:
        if not isinstance(value, (str, datetime)):  # pydantic would read a number as Unix time
            raise ValueError(f"{value!r} is not allowed; need ISO 8601 with UTC offset, "
                             "e.g. 2019-01-16T00:00:00+01:00")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        if self.start.tzinfo is None:
            raise ValueError(f"start {self.start.isoformat()} has no UTC offset; write e.g. 2019-01-16T00:00:00+01:00")
        if not 1900 <= self.start.year <= 2200:
            raise ValueError(f"start {self.start.isoformat()}: year {self.start.year} is not allowed; need 1900-2200")
        if self.duration_s % self.step_s:
            raise ValueError(f"duration_s {self.duration_s} is not a multiple of step_s {self.step_s}")
        if self.duration_s // self.step_s > MAX_STEPS:
            raise ValueError(f"duration_s {self.duration_s} / step_s {self.step_s} = "
                             f"{self.duration_s // self.step_s} steps; allowed: at most {MAX_STEPS}")
        if self.warmup_s >= self.duration_s:
            raise ValueError(f"warmup_s {self.warmup_s} leaves nothing of duration_s {self.duration_s}; "
                             "need warmup_s < duration_s")
        if self.grid.step_s is not None and self.step_s % self.grid.step_s:
            raise ValueError(f"grid.step_s {self.grid.step_s} does not divide step_s {self.step_s}; "
                             "allowed: a divisor, e.g. 60 or 300 for step_s 900")
        self._unique_names()
        site_groups = {s.name for s in self.sites}
        for i, f in enumerate(self.fleet):
            if f.home_sites not in site_groups:
                raise ValueError(
                    f"fleet.{i}.home_sites: {f.home_sites!r} is not a site group; allowed: {sorted(site_groups)}"
                )
        roles = [a.role for a in self.agents]
        served = Counter(a.sites for a in self.agents if a.role == "site_aggregator")
        for group, n in served.items():
            if n > 1:
                raise ValueError(f"agents: {n} site_aggregator agents for site group {group!r}; allowed: one")
        for role in ("dso_platform", "emsp", "its", "dso_grid"):
            if roles.count(role) > 1:
                raise ValueError(f"agents: {roles.count(role)} agents with role {role}; allowed: one")
        for i, a in enumerate(self.agents):
            if a.role == "site_aggregator" and a.sites not in site_groups:
                raise ValueError(
                    f"agents.{i}.sites: {a.sites!r} is not a site group; allowed: {sorted(site_groups)}"
                )
        return self

    def _unique_names(self) -> None:
        """Entities (buildings, PV, sites), fleet and visitor groups and buses per group are unique."""
        seen: dict[str, str] = {}

        def claim(name: str, where: str) -> None:
            if name in seen:
                raise ValueError(f"name {name!r} is used twice, by {seen[name]} and by {where}; "
                                 "names must be unique")
            seen[name] = where

        for field in ("buildings", "pv", "sites"):
            for i, g in enumerate(getattr(self, field)):
                dup = [bus for bus, n in Counter(g.buses).items() if n > 1]
                if dup:
                    raise ValueError(f"{field}.{i}.buses: bus {dup[0]!r} is listed twice; "
                                     "each bus at most once per group")
                for bus in g.buses:
                    claim(g.name if len(g.buses) == 1 else f"{g.name}_{bus}",
                          f"{field}.{i} ({g.name!r}, bus {bus!r})")
        for field in ("fleet", "visitors", "sessions", "simulators"):
            for i, g in enumerate(getattr(self, field)):
                claim(g.name, f"{field}.{i}")


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
        problems = list(dict.fromkeys(_one_line(e) for e in exc.errors()))
        if len(problems) == 1:
            raise ScenarioError(problems[0]) from None
        raise ScenarioError(f"{len(problems)} problems: " + "; ".join(problems)) from None
    except RecursionError:
        raise ScenarioError("scenario: nested too deeply to validate") from None
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
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"scenario field {field!r}: unknown field{hint}; allowed here: {', '.join(allowed)}"
    if kind == "missing":
        return f"scenario field {field!r}: required but missing"
    if kind == "value_error":
        msg = err["msg"].removeprefix("Value error, ")
        return f"scenario field {field!r}: {msg}" if loc else f"scenario: {msg}"
    value = _short(err.get("input"))
    unit = _unit(loc) if kind.startswith(("greater_than", "less_than")) else ""
    return f"scenario field {field!r}: value {value} is not allowed: {err['msg'].lower()}{unit}"


#: Field-name suffix -> unit, for bounds in error messages (longest suffix first).
UNITS = (("_kwh_per_km", "kWh/km"), ("_kwh", "kWh"), ("_kmh", "km/h"), ("_kw", "kW"),
         ("_km", "km"), ("_deg", "deg"), ("_pu", "p.u."), ("_s", "s"))


def _unit(loc: tuple[Any, ...]) -> str:
    name = str(loc[-1]) if loc else ""
    if name == "peak_kw" and "pv" in loc:
        return " [kWp]"
    return next((f" [{unit}]" for suffix, unit in UNITS if name.endswith(suffix)), "")


def _short(value: Any, limit: int = 80) -> str:
    """``repr`` of a value, cut to ``limit`` characters (a whole mapping would not fit a line)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _keyword_only(function: Any) -> list[str]:
    """Names of a function's keyword-only parameters."""
    return [n for n, p in inspect.signature(function).parameters.items()
            if p.kind is inspect.Parameter.KEYWORD_ONLY]


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
