"""Scenario section of the seed-001 congestion study (``dayahead.kind: seed001_congestion``).

Seed 001 (sections III-A/B, IV): single-phase DER owners (households with EVs, PV, home
batteries) on a three-phase LV feeder; the aggregator platform proposes their positions
every half hour, the network heuristic checks them with a three-phase power flow and
adjusts the most sensitive agents. The study is built by :mod:`flexcosim.cosim.congestion`;
its Monte-Carlo replications are the sweep's ``replications``.

Self-contained (no import of :mod:`flexcosim.scenarios.schema`, which imports this module
for its ``DayAhead`` union).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: Upper bound of households per bus [-] (a bus of an LV feeder, not a town).
MAX_HOUSEHOLDS_PER_BUS = 50


class Seed001Congestion(BaseModel):
    """Seed 001: probability of congestion of a three-phase LV feeder with DER-owner agents."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    kind: Literal["seed001_congestion"]
    buses: list[str] = Field(min_length=1, description="buses with households (one phase each, "
                             "drawn in rotation as a DNO connects them)")
    households_per_bus: int = Field(1, ge=1, le=MAX_HOUSEHOLDS_PER_BUS, description="[-]")
    ev_share: float = Field(0.5, ge=0, le=1, description="share of households with an EV [-]")
    pv_share: float = Field(0.3, ge=0, le=1, description="share with PV [-]")
    battery_share: float = Field(0.2, ge=0, le=1, description="share with a home battery [-]")
    ev_kw: float = Field(3.7, gt=0, description="single-phase home charger rating [kW] (chosen)")
    pv_kwp: float = Field(4.0, gt=0, description="PV per owner [kWp] (chosen)")
    battery_kw: float = Field(3.0, gt=0, description="battery power [kW] (chosen)")
    battery_kwh: float = Field(6.0, gt=0, description="battery capacity [kWh] (chosen)")
    base_peak_kw: float = Field(1.0, gt=0, description="peak of a household's base-load shape [kW]")
    ev_kwh_per_moving_step: float = Field(
        2.7, ge=0, description="energy an EV uses per moving half hour [kWh] (30 km/h x 0.18 kWh/km)")
    checked_from_h: float = Field(
        0.0, ge=0, description="hours from the start before which the owners only move and "
        "charge (no power flow, no check, nothing recorded) [h]; 0 = every step")
    layout_seed: int = Field(0, ge=0, lt=2**63, description="seed of the feeder layout (phases, "
                             "who owns what), fixed over the replications [-]")
    heuristic: bool = Field(True, description="the network heuristic checks and adjusts the "
                            "positions (false: it only checks; the positions are applied as proposed)")
    v_min_pu: float = Field(0.94, gt=0, lt=1, description="lowest phase voltage [pu] (seed 001)")
    v_max_pu: float = Field(1.10, gt=1, description="highest phase voltage [pu] (seed 001)")
    loading_max_pct: float = Field(100.0, gt=0, description="phase loading limit of lines and "
                                   "transformers [%]")
    neutral_max_pct: float | None = Field(100.0, gt=0, description="neutral current limit [% of "
                                          "the line's rated current]; null = not checked")
    unbalance_max_pct: float | None = Field(None, gt=0, description="voltage unbalance factor limit "
                                            "[%] (EN 50160: 2); null = not checked (seed 001 names none)")

    @model_validator(mode="after")
    def _unique_buses(self) -> Seed001Congestion:
        if len(set(self.buses)) != len(self.buses):
            raise ValueError(f"dayahead.buses: {self.buses} lists a bus twice; list each once "
                             "and set households_per_bus")
        return self
