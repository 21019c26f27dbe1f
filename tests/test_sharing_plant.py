"""A unit's BTM EMS in the capacity-sharing study, against hand-checked optima of a tiny unit
(:class:`flexcosim.agents.sharing.plant.UnitPlant`)."""

import numpy as np
import pytest

from flexcosim.agents.sharing.plant import UnitBatterySpec, UnitPlant, UnitState
from flexcosim.cosim.models.charger import PluggedEV


def plant(battery: UnitBatterySpec | None = None) -> UnitPlant:
    """One 15-min step with 40 kW of building load; an EV that wants 30 kWh by 1 h."""
    return UnitPlant(name="u", step_s=900, fixed_net_kw=np.array([40.0, 40.0]),
                     import_price_per_kwh=np.array([0.3, 0.3]), connection_kw=100.0,
                     charger_kw=22.0, charger_efficiency=0.95, targets_kwh={"ev": 30.0},
                     departures_s={"ev": 3600}, battery=battery)


def state(battery_kwh: float = 0.0) -> UnitState:
    ev = PluggedEV(ev="ev", soc=10.0 / 60.0, capacity_kwh=60.0, max_charge_kw=22.0,
                   max_discharge_kw=0.0)
    return UnitState(evs={"ev": ev}, battery_kwh=battery_kwh)


def test_the_ev_gets_its_even_share_and_the_battery_covers_the_rest():
    # the EV's reference for the step: 10 + (30 - 10) x 900 / 3600 = 15 kWh, i.e.
    # 5 kWh / 0.95 / 0.25 h = 21.05 kW at the grid side; the battery (10 kWh, 2 kWh
    # floor, 20 kW) discharges at full power because each kWh it gives saves an imported
    # kWh, so the unit imports 40 + 21.05 - 20 = 41.05 kW, within its 50 kW
    setpoints, why = plant(UnitBatterySpec(20.0, 20.0, 0.95, 2.0)).schedule(state(10.0), 0, 900, 50.0)
    assert why == ""
    assert setpoints.evs_kw["ev"] == pytest.approx(5.0 / 0.95 / 0.25, abs=1e-5)
    assert setpoints.battery_kw == pytest.approx(-20.0, abs=1e-5)
    assert setpoints.import_kw == pytest.approx(40.0 + 5.0 / 0.95 / 0.25 - 20.0, abs=1e-5)


def test_without_a_battery_the_capacity_caps_the_ev():
    setpoints, _ = plant().schedule(state(), 0, 900, 45.0)
    assert setpoints.evs_kw["ev"] == pytest.approx(5.0, abs=1e-5)  # 45 - 40 kW of building
    assert setpoints.import_kw == pytest.approx(45.0, abs=1e-5)


def test_a_capacity_below_the_building_load_has_no_schedule():
    setpoints, why = plant().schedule(state(), 0, 900, 30.0)
    assert setpoints is None and "infeasible" in why


def test_pv_surplus_goes_into_the_battery():
    # 30 kW of PV surplus for 15 min: the battery's reference is its energy plus what it
    # can store of the surplus, 5 + 0.95 x 7.5 kWh, so it charges 20 kW (its limit)
    p = plant(UnitBatterySpec(20.0, 20.0, 0.95, 2.0))
    p = UnitPlant(**{**p.__dict__, "fixed_net_kw": np.array([-30.0, -30.0]), "departures_s": {}})
    setpoints, _ = p.schedule(UnitState(battery_kwh=5.0), 0, 900, 50.0)
    assert setpoints.battery_kw == pytest.approx(20.0, abs=1e-5)
