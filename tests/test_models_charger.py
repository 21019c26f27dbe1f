"""Charging site: plugging, set-point clipping, efficiency (flexcosim.cosim.models.charger)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flexcosim.cosim.models.charger import ChargerSpec, ChargingSite, PluggedEV

UCD = ChargerSpec(rated_kw=11.0, efficiency=0.95)  # seed 004 section 5.2
V2G = ChargerSpec(rated_kw=11.0, efficiency=0.9, v2g=True)


def ev(name="a", soc=0.5, cap=40.0, pc=7.4, pd=7.4, **kw):
    return PluggedEV(
        ev=name, soc=soc, capacity_kwh=cap, max_charge_kw=pc, max_discharge_kw=pd, **kw
    )


def test_spec_validation():
    with pytest.raises(ValueError, match=r"efficiency: 1.2"):
        ChargerSpec(11, 1.2)
    with pytest.raises(ValueError, match="rated_kw"):
        ChargerSpec(0, 0.9)


def test_connect_disconnect():
    site = ChargingSite("richview", [UCD, UCD])
    assert site.connect("a") == 0
    assert site.connect("b") == 1
    assert site.free_chargers() == 0
    with pytest.raises(ValueError, match="no free charger"):
        site.connect("c")
    with pytest.raises(ValueError, match="already on charger 0"):
        site.connect("a")
    site.disconnect("a")
    assert site.connected() == {"b": 1}
    with pytest.raises(ValueError, match="already in use"):
        site.connect("c", 1)
    assert site.connect("c", 0) == 0
    with pytest.raises(ValueError, match="not connected"):
        site.disconnect("zz")


def test_charging_efficiency_and_battery_limit():
    site = ChargingSite("s", [UCD, UCD])
    site.connect("a")
    site.connect("b")
    # a: on-board 7.4 kW battery side -> at most 7.4 / 0.95 = 7.789 kW from the grid
    step = site.apply({"a": 11.0, "b": 5.0}, {"a": ev("a"), "b": ev("b")}, 900)
    assert step.ev_grid_kw["a"] == pytest.approx(7.4 / 0.95)
    assert step.battery_kw["a"] == pytest.approx(7.4)
    assert step.battery_kw["b"] == pytest.approx(4.75)
    assert step.grid_kw == pytest.approx(7.4 / 0.95 + 5.0)
    assert step.losses_kw == pytest.approx(0.05 * (7.4 / 0.95 + 5.0))


def test_energy_headroom_and_rating():
    site = ChargingSite("s", [UCD])
    site.connect("a")
    # 1 kWh headroom over 15 min -> 4 kW at the battery, 4/0.95 at the grid
    step = site.apply({"a": 100.0}, {"a": ev(soc=0.975, pc=50)}, 900)
    assert step.battery_kw["a"] == pytest.approx(4.0)
    step = site.apply({"a": 100.0}, {"a": ev(soc=0.1, pc=50)}, 900)
    assert step.ev_grid_kw["a"] == pytest.approx(11.0)


def test_update_changes_only_the_evs_it_names_and_unplugging_drops_their_power():
    site = ChargingSite("s", [UCD, UCD, UCD])
    for name in "abc":
        site.connect(name)
    site.apply({"a": 5.0, "b": 5.0, "c": 5.0}, {n: ev(n) for n in "abc"}, 900)
    step = site.update({"b": 2.0}, {"b": ev("b")}, 900)
    assert step.ev_grid_kw == {"a": 5.0, "b": 2.0, "c": 5.0}
    assert step.grid_kw == pytest.approx(12.0) and step.losses_kw == pytest.approx(0.05 * 12.0)
    site.disconnect("a")
    assert site.set_out_of_service([2]) == ["c"]
    assert site.take_unplugged() == ["a", "c"] and site.take_unplugged() == []
    step = site.update({}, {}, 900)
    assert step.ev_grid_kw == {"b": 2.0} and step.grid_kw == 2.0
    with pytest.raises(ValueError, match="'a' is not connected"):
        site.update({"a": 1.0}, {"a": ev("a")}, 900)


def test_v1g_never_discharges_and_idle_ev_gets_zero():
    site = ChargingSite("s", [UCD, UCD])
    site.connect("a")
    site.connect("b")
    step = site.apply({"a": -5.0}, {"a": ev("a"), "b": ev("b")}, 900)
    assert step.ev_grid_kw == {"a": 0.0, "b": 0.0}
    assert step.grid_kw == 0.0 and step.losses_kw == 0.0


def test_v2g_discharge_battery_delivers_losses():
    site = ChargingSite("s", [V2G])
    site.connect("a")
    step = site.apply({"a": -4.5}, {"a": ev()}, 900)
    assert step.ev_grid_kw["a"] == pytest.approx(-4.5)
    assert step.battery_kw["a"] == pytest.approx(-5.0)
    assert step.losses_kw == pytest.approx(0.5)
    # only 1 kWh above soc_min over 30 min -> 2 kW battery, 1.8 kW grid
    step = site.apply({"a": -11.0}, {"a": ev(soc=0.225, soc_min=0.2)}, 1800)
    assert step.battery_kw["a"] == pytest.approx(-2.0)
    assert step.ev_grid_kw["a"] == pytest.approx(-1.8)


def test_apply_rejects_unknown_ev_and_missing_state():
    site = ChargingSite("s", [UCD])
    site.connect("a")
    with pytest.raises(ValueError, match="'x' is not connected"):
        site.apply({"x": 1.0}, {}, 900)
    with pytest.raises(ValueError, match="no PluggedEV"):
        site.apply({"a": 1.0}, {}, 900)


@settings(max_examples=25, deadline=None)
@given(
    setpoint=st.floats(-40, 40),
    soc=st.floats(0, 1),
    eff=st.floats(0.5, 1.0),
    rated=st.floats(1, 50),
    pc=st.floats(0, 30),
    pd=st.floats(0, 30),
    v2g=st.booleans(),
    dt_s=st.sampled_from([60, 900, 3600]),
)
def test_clipping_respects_every_limit_and_energy_balance(
    setpoint, soc, eff, rated, pc, pd, v2g, dt_s
):
    spec = ChargerSpec(rated, eff, v2g)
    site = ChargingSite("s", [spec])
    site.connect("a")
    car = ev(soc=soc, cap=30.0, pc=pc, pd=pd, soc_min=0.0, soc_max=1.0)
    step = site.apply({"a": setpoint}, {"a": car}, dt_s)
    g, b = step.ev_grid_kw["a"], step.battery_kw["a"]
    tol = 1e-9
    assert abs(g) <= rated + tol
    assert abs(g) <= abs(setpoint) + tol and g * setpoint >= 0
    assert step.losses_kw >= -tol
    if g > 0:
        assert b == pytest.approx(g * eff)
        assert b <= pc + tol
        assert soc + b * dt_s / 3600 / 30 <= 1 + tol
    if g < 0:
        assert v2g
        assert g == pytest.approx(b * eff)
        assert -b <= pd + tol
        assert soc + b * dt_s / 3600 / 30 >= -tol
