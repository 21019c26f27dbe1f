"""The mosaik adapters only translate: step() with hand-written inputs, no World."""

import numpy as np
import pandapower as pp
import pytest

from flexcosim.cosim.adapters.chargers import ChargerSim
from flexcosim.cosim.adapters.fleet import FleetSim
from flexcosim.cosim.adapters.grid import GridSim
from flexcosim.cosim.adapters.recorder import RecorderSim
from flexcosim.cosim.models.charger import ChargerSpec, ChargingSite, PluggedEV
from flexcosim.cosim.models.ev import EVFleet, VehicleModel
from flexcosim.cosim.models.grid import PowerFlowGrid
from flexcosim.cosim.models.mobility import TripPlan
from flexcosim.cosim.results import TimeseriesWriter, read_timeseries
from flexcosim.grids import build_grid

STEP = 900


def _fleet_sim():
    plan = TripPlan(("away", "moving", "site"), [[(0, 900, "site"), (3600, 3600, "away")]])
    fleet = EVFleet(["ev"], [VehicleModel("v", 40.0, 11.0, 0.0, 0.2)], np.array([0.5]), plan,
                    np.array([0]), speed_kmh=8.0)
    sim = FleetSim()
    sim.init("Fleet-0", step_s=STEP, fleets={"f": (fleet, [{"site": "site"}], np.array([0.9]))})
    sim.create(1, "Fleet", name="f")
    return sim, fleet


def test_fleet_adapter_applies_battery_power_and_reports_the_plug():
    sim, fleet = _fleet_sim()
    sim.step(0, {}, 0)
    assert sim.get_data({"f": ["plugged"]})["f"]["plugged"] == {}  # driving to the site
    sim.step(900, {}, 0)
    plugged = sim.get_data({"f": ["plugged"]})["f"]["plugged"]
    soc_parked = plugged["site"]["ev"].soc
    assert soc_parked == pytest.approx(0.5 - 2.0 * 0.2 / 40.0)  # 2 km at 8 km/h in 15 min
    sim.step(1800, {"f": {"battery_kw": {"Chargers-0.site": {"ev": 8.0}}}}, 0)
    assert fleet.soc[0] == pytest.approx(soc_parked + 2.0 / 40.0)  # 8 kW x 0.25 h
    sim.step(3600, {}, 0)
    out = sim.get_data({"f": ["unmet_kwh", "plugged"]})["f"]
    assert out["plugged"] == {}
    assert out["unmet_kwh"] == {"site": pytest.approx(0.9 * 40.0 - fleet.soc[0] * 40.0)}


def test_charger_adapter_plugs_in_clips_and_ignores_evs_without_a_charger():
    sim = ChargerSim()
    site = ChargingSite("site", [ChargerSpec(rated_kw=11.0, efficiency=0.9)])
    sim.init("Chargers-0", step_s=STEP, sites={"site": site})
    sim.create(1, "Site", name="site")
    evs = {ev: PluggedEV(ev, 0.5, 40.0, 7.4, 0.0) for ev in ("a", "b")}
    inputs = {"site": {"plugged": {"Fleet-0.f": {"site": evs}},
                       "setpoints_kw": {"Agents-0.agg": {"a": 20.0, "b": 5.0}}}}
    sim.step(0, inputs, 0)
    out = sim.get_data({"site": ["p_kw", "battery_kw", "connected", "waiting", "losses_kw"]})["site"]
    assert out["connected"] == 1 and out["waiting"] == 1
    assert out["battery_kw"] == {"a": pytest.approx(7.4)}  # EV limit, battery side
    assert out["p_kw"] == pytest.approx(7.4 / 0.9)
    assert out["losses_kw"] == pytest.approx(7.4 / 0.9 - 7.4)


def test_grid_adapter_sums_sources_per_bus_and_reports_transformer_loading():
    grid = build_grid("lv_feeder_20bus")
    sim = GridSim()
    sim.init("Grid-0", step_s=STEP, grid=PowerFlowGrid(grid))
    for model, name in (("Grid", "grid"), ("Bus", "bus_20"), ("Transformer", "tx")):
        sim.create(1, model, name=name)
    inputs = {"bus_20": {"p_kw": {"a.x": 10.0, "b.y": 5.0}, "p_gen_kw": {"c.z": 3.0},
                         "q_kvar": {"a.x": 2.0}}}
    sim.step(0, inputs, 0)
    out = sim.get_data({"bus_20": ["vm_pu"], "tx": ["p_kw", "loading_pct"], "grid": ["converged"]})
    assert out["grid"]["converged"]
    reference = build_grid("lv_feeder_20bus")  # the same net load, straight in pandapower
    pp.create_load(reference.net, reference.buses["bus_20"], p_mw=0.012, q_mvar=0.002)
    pp.runpp(reference.net, numba=False)
    assert out["tx"]["p_kw"] == pytest.approx(reference.net.res_trafo.p_hv_mw.iloc[0] * 1e3)
    bus = reference.buses["bus_20"]
    assert out["bus_20"]["vm_pu"] == pytest.approx(reference.net.res_bus.vm_pu.at[bus])


def test_recorder_writes_scalars_and_per_key_dicts(tmp_path):
    sim = RecorderSim()
    sim.init("Recorder-0", step_s=STEP, writer=TimeseriesWriter(tmp_path, flush_every=1))
    sim.create(1, "Recorder")
    sim.step(0, {"recorder": {"p_kw": {"Chargers-0.site": 4.0},
                              "soc": {"Fleet-0.f": {"ev1": 0.5, "ev2": 0.7}},
                              "events": {"Fleet-0.f": []}}}, 0)
    ts = read_timeseries(tmp_path)
    assert sorted(zip(ts.entity, ts.quantity, ts.value)) == [
        ("ev1", "soc", 0.5), ("ev2", "soc", 0.7), ("site", "p_kw", 4.0)]
