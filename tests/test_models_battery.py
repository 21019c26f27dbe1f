"""Stationary battery model and its mosaik adapter (stepped by hand, no World)."""

import pytest

from flexcosim.cosim.adapters.storage import StorageSim
from flexcosim.cosim.models.battery import Battery, BatterySpec


def test_charge_and_discharge_losses():
    b = Battery(BatterySpec(5.0, 0.5, 0.9, 0.8), energy_kwh=1.0)
    assert b.step(0.5, 2.0) == 0.5
    assert b.energy_kwh == pytest.approx(1.0 + 0.9 * 0.5 * 2.0)
    assert b.step(-0.4, 1.0) == -0.4
    assert b.energy_kwh == pytest.approx(1.9 - 0.4 / 0.8)


def test_limits_reduce_the_setpoint_and_soc_stays_in_range():
    b = Battery(BatterySpec(1.0, 2.0, 1.0, 1.0), energy_kwh=0.9)
    assert b.step(5.0, 1.0) == pytest.approx(0.1)  # power limit 2 kW, then only 0.1 kWh room
    assert b.soc == pytest.approx(1.0)
    assert b.step(-5.0, 0.25) == pytest.approx(-2.0)  # power limit
    assert b.step(-5.0, 1.0) == pytest.approx(-0.5)  # what is left
    assert b.energy_kwh == 0.0
    assert b.step(-1.0, 1.0) == 0.0


def test_bad_ratings_name_the_field():
    with pytest.raises(ValueError, match="capacity_kwh"):
        BatterySpec(0.0, 1.0)
    with pytest.raises(ValueError, match="discharge_efficiency"):
        BatterySpec(1.0, 1.0, 1.0, 1.5)
    with pytest.raises(ValueError, match="energy_kwh"):
        Battery(BatterySpec(1.0, 1.0), energy_kwh=2.0)


def test_adapter_steps_the_battery_from_its_setpoint():
    sim = StorageSim()
    sim.init("Storage", step_s=900, batteries={"b": Battery(BatterySpec(5.0, 0.5, 1.0, 1.0))},
             end_s=86400)
    sim.create(1, "Battery", name="b")
    assert sim.step(0, {"b": {"setpoint_kw": {"agents.x": 0.4}}}, 900) == 900
    out = sim.get_data({"b": ["p_kw", "energy_kwh", "soc"]})["b"]
    assert out == {"p_kw": 0.4, "energy_kwh": pytest.approx(0.1), "soc": pytest.approx(0.02)}
    sim.step(900, {}, 1800)
    assert sim.get_data({"b": ["p_kw"]})["b"]["p_kw"] == 0.0
