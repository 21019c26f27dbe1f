"""Scenario section of the capacity-sharing study (seed 004 sections 3.3 and 4.2.1).

``dayahead: {kind: capacity_sharing, ...}``: behind-the-meter units behind one shared
transformer. Each unit is one charging site of the scenario (its bus is the unit's
connection; the buildings and PV on that bus are the unit's non-flexible load), plus
an optional stationary battery and deferrable loads. The FTM coordinator splits the
shared capacity every sharing period; with ``mode: p2p_sharing`` the units' energy
aggregators negotiate capacity peer to peer and the coordinator validates every
agreement against the grid (:mod:`flexcosim.cosim.sharing`).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}")


class UnitBattery(_Model):
    """A unit's stationary battery (``flexcosim.cosim.models.battery``)."""

    capacity_kwh: float = Field(gt=0, description="usable energy [kWh]")
    max_power_kw: float = Field(gt=0, description="charge/discharge limit, grid side [kW]")
    efficiency: float = Field(0.95, gt=0, le=1, description="one-way charge and discharge "
                              "efficiency [-] (the BTM EMS model has one for both)")
    soc0: float = Field(0.5, ge=0, le=1, description="state of charge at the start [-]")
    soc_min: float = Field(0.1, ge=0, lt=1, description="lowest state of charge the EMS plans [-]")

    @model_validator(mode="after")
    def _soc(self) -> UnitBattery:
        if self.soc0 < self.soc_min:
            raise ValueError(f"soc0 {self.soc0} < soc_min {self.soc_min}; need soc0 >= soc_min")
        return self


class UnitDeferrableLoad(_Model):
    """A deferrable load (``flexcosim.cosim.models.flexible_load``): energy due in a window."""

    name: str = Field(description="load name (unique in the scenario)")
    energy_kwh: float = Field(gt=0, description="energy due in the window [kWh]")
    max_power_kw: float = Field(gt=0, description="power bound [kW]")
    release_s: int = Field(ge=0, description="window start [s since the run start]")
    deadline_s: int = Field(gt=0, description="energy due by then [s since the run start]")

    @model_validator(mode="after")
    def _window(self) -> UnitDeferrableLoad:
        if self.deadline_s <= self.release_s:
            raise ValueError(f"deadline_s {self.deadline_s} <= release_s {self.release_s}; "
                             "need deadline_s > release_s")
        room = (self.deadline_s - self.release_s) / 3600 * self.max_power_kw
        if self.energy_kwh > room:
            raise ValueError(f"energy_kwh {self.energy_kwh} > max_power_kw x window = {room:g} "
                             "kWh; need a window long enough for the energy")
        return self


class SharingUnit(_Model):
    """One behind-the-meter unit: a charging site and what else sits at its bus."""

    name: str = Field(description="unit (and its energy aggregator's) name")
    site: str = Field(description="the unit's charging site (a site entity name); its bus "
                      "is the unit's connection")
    connection_kw: float = Field(gt=0, description="rating of the unit's grid connection [kW]")
    battery: UnitBattery | None = Field(None, description="stationary battery")
    deferrable_loads: list[UnitDeferrableLoad] = Field(
        default_factory=list, description="deferrable loads")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.fullmatch(value) or value in ("coordinator", "dso"):
            raise ValueError(f"{value!r} is not allowed; need a letter, then letters, digits "
                             "or _ (up to 32), not 'coordinator' or 'dso'")
        return value


class CapacitySharing(_Model):
    """Seed 004 4.2.1: dynamic capacity sharing among BTM units behind one transformer."""

    kind: Literal["capacity_sharing"]
    mode: Literal["no_sharing", "p2p_sharing"] = Field(
        "p2p_sharing", description="no_sharing: every unit keeps its Phi_c; p2p_sharing: "
        "units negotiate capacity, the coordinator validates")
    units: list[SharingUnit] = Field(min_length=2, description="the BTM units")
    transformer: str = Field("tx", description="the shared transformer")
    shared_kw: float = Field(gt=0, description="capacity the coordinator splits among the "
                             "units each period [kW] (the rating less a reserve for reactive "
                             "power and what the DSO keeps back)")
    period_s: int = Field(900, gt=0, description="sharing period T^R [s]; a multiple of step_s")
    lead_s: int = Field(300, gt=0, description="the coordinator sends Phi_c(k) this long "
                        "before the period starts [s]")
    deadline_s: int = Field(240, gt=1, description="negotiation deadline after Phi_c(k) "
                            "arrives [s]; below lead_s")
    collect_s: int = Field(1, ge=0, description="a deficit aggregator waits this long for "
                           "its peers' surplus announcements [s]")
    split: Literal["proportional", "previous_use"] = Field(
        "proportional", description="initial split strategy: proportional to the connection "
        "ratings, or to each unit's last reported peak draw (previous_use)")
    partner_order: str = Field("largest_surplus", description="largest_surplus or best_fit")
    grid_check: Literal["lindistflow", "ac"] = Field(
        "lindistflow", description="the coordinator's validation of an agreement")
    v_min_pu: float = Field(0.9, gt=0, lt=1, description="lowest bus voltage the grid check "
                            "allows with every unit at its limit [p.u.] (EN 50160: 0.9)")
    power_factor: float = Field(0.95, gt=0, le=1, description="cos phi the grid check "
                                "assumes for the units' draw [-]")
    service_fee: float = Field(0.1, ge=0, description="DSO fee per validated agreement "
                               "[currency] (an assumption: the seed gives none)")
    compensation_share: float = Field(0.0, ge=0, lt=1, description="share of the consumer's "
                                      "net gain paid to the provider on top of its loss [-]")
    unmet_value_per_kwh: float = Field(1.0, ge=0, description="what a kWh an EV or load "
                                       "ends short costs its unit [currency/kWh]")
    import_price_per_kwh: list[float] = Field(
        min_length=24, max_length=24, description="hourly import price, clock hours 0-23 "
        "[currency/kWh]")

    @model_validator(mode="after")
    def _consistent(self) -> CapacitySharing:
        names = [u.name for u in self.units]
        sites = [u.site for u in self.units]
        loads = [d.name for u in self.units for d in u.deferrable_loads]
        for what, values in (("names", names), ("sites", sites), ("deferrable load names", loads)):
            if len(set(values)) != len(values):
                raise ValueError(f"units: {what} {values} repeat; need unique ones")
        if self.deadline_s >= self.lead_s:
            raise ValueError(f"deadline_s {self.deadline_s} >= lead_s {self.lead_s}; the "
                             "negotiation must end before the period starts")
        if self.lead_s > self.period_s:
            raise ValueError(f"lead_s {self.lead_s} > period_s {self.period_s}; need at most one period")
        if self.collect_s >= self.deadline_s:
            raise ValueError(f"collect_s {self.collect_s} >= deadline_s {self.deadline_s}")
        if any(p < 0 for p in self.import_price_per_kwh):
            raise ValueError("import_price_per_kwh: a price is negative; need >= 0")
        return self
