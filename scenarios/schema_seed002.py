"""Scenario model of seed 002's large-grid charging study (``dayahead.kind: large_grid_charging``).

One run is one point of the seed's comparison: one charging strategy at one EV share on a
grid whose loads carry SimBench profiles (the large feeder, ``grid.builder: large_feeder``;
any SimBench grid built with its own loads for small tests). What the fields mean in the
run: :mod:`flexcosim.cosim.large_grid`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class LargeGridCharging(BaseModel):
    """Seed 002: uncontrolled (a), cost-optimal (b) or grid-constrained cost-optimal (c) charging."""

    # the settings of scenarios.schema._Model (importing it would make the modules circular)
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    kind: Literal["large_grid_charging"]
    strategy: Literal["a", "b", "c"] = Field(
        "c", description="a: every charger at its rating from arrival; b: cost-optimal LP "
        "without grid limits; c: the DSO's cost-optimal multi-period OPF with line, transformer "
        "and voltage limits, corrected until its own AC check passes (seed 002 section 4)")
    ev_share: float = Field(
        1.0, ge=0, le=1, description="share of the EV population (1.3 EVs per load point, "
        "seed 002 assumption vii) that is present [-]")
    heating_scale: float | None = Field(
        1.348, ge=0, description="household loads follow SimBench's electric-heating profile "
        "H0-H times this factor times their rating (calibrated: the AC base-load peak of the "
        "large feeder is the seed's 89 %); null: SimBench's own household profiles [-]")
    optimise_price: Literal["NO3", "DK2"] = Field(
        "NO3", description="price day strategies b and c minimise (seed 002 section 5.3); "
        "the cost KPIs are given for both days")
    ac_iterations: int = Field(
        3, ge=0, le=10, description="strategy c: passes of the DSO's AC check and limit "
        "tightening after the first LP [-]")
