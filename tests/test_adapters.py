"""The mosaik adapters only translate: step() with hand-written inputs, no World."""

import math

import numpy as np
import pandapower as pp
import pandas as pd
import pytest

from flexcosim.cosim.adapters.chargers import ChargerSim
from flexcosim.cosim.adapters.fleet import FleetSim
from flexcosim.cosim.adapters.grid import GridSim
from flexcosim.cosim.adapters.recorder import RecorderSim
from flexcosim.cosim.models.charger import ChargerSpec, ChargingSite, PluggedEV
from flexcosim.cosim.models.ev import EVFleet, VehicleModel
from flexcosim.cosim.models.grid import PowerFlowGrid
from flexcosim.cosim.models.meter import Meter
from flexcosim.cosim.models.mobility import TripPlan
from flexcosim.cosim.results import TimeseriesWriter, read_timeseries
from flexcosim.grids import build_grid

STEP = 900


def _fleet_sim():
    plan = TripPlan(("away", "moving", "site"), [[(0, 900, "site"), (3600, 3600, "away")]])
    fleet = EVFleet(["ev"], [VehicleModel("v", 40.0, 11.0, 0.0, 0.2)], np.array([0.5]), plan,
                    np.array([0]), speed_kmh=8.0)
    sim = FleetSim()
    sim.init("Fleet-0", step_s=STEP, fleets={"f": (fleet, [{"site": "site"}], np.array([0.9]))},
             end_s=86400)
    sim.create(1, "Fleet", name="f")
    return sim, fleet


def test_fleet_adapter_steps_at_its_events_and_integrates_the_chargers_meter():
    sim, fleet = _fleet_sim()
    assert sim.step(0, {}, 0) == 900  # next: the arrival
    assert sim.get_data({"f": ["plugged"]})["f"]["plugged"] == {"site": {}}  # driving to the site
    assert sim.step(900, {}, 0) == 1800  # parked at a site: the next decision tick
    plugged = sim.get_data({"f": ["plugged"]})["f"]["plugged"]
    soc_parked = plugged["site"]["ev"].soc
    assert soc_parked == pytest.approx(0.5 - 2.0 * 0.2 / 40.0)  # 2 km at 8 km/h in 15 min
    # the charger delivered 8 kW to the battery from 1200 s on (its meter, time-shifted)
    meter = Meter(1200, {"ev": 0.0}, {"ev": 8.0})
    sim.step(1800, {"f": {"battery_kw": {"Chargers-0.site": meter}}}, 0)
    assert fleet.soc[0] == pytest.approx(soc_parked + 8.0 * 600 / 3600 / 40.0)
    stopped = Meter(1800, {"ev": 8.0 * 600 / 3600}, {})
    sim.step(3600, {"f": {"battery_kw": {"Chargers-0.site": stopped}}}, 0)
    out = sim.get_data({"f": ["unmet_kwh", "plugged", "events"]})["f"]
    assert out["plugged"] == {"site": {"ev": None}}  # the EV left the site
    assert out["unmet_kwh"].total == {"site": pytest.approx(0.9 * 40.0 - fleet.soc[0] * 40.0)}
    assert [type(e).__name__ for e in out["events"]] == ["Departure", "TripStart", "Arrival"]


def test_charger_adapter_plugs_in_clips_meters_and_wakes_when_the_ev_is_full():
    sim = ChargerSim()
    site = ChargingSite("site", [ChargerSpec(rated_kw=11.0, efficiency=0.9)])
    sim.init("Chargers-0", step_s=STEP, sites={"site": site}, end_s=86400)
    sim.create(1, "Site", name="site")
    evs = {ev: PluggedEV(ev, 0.5, 40.0, 7.4, 0.0) for ev in ("a", "b")}
    inputs = {"site": {"plugged": {"Fleet-0.f": {"site": evs}},
                       "setpoints_kw": {"Agents-0.agg": {"a": 20.0, "b": 5.0}}}}
    # a is full after 20 kWh at 7.4 kW (battery side): the charger steps then
    assert sim.step(100, inputs, 0) == 100 + math.ceil(20.0 / 7.4 * 3600)
    out = sim.get_data({"site": ["p_kw", "battery_kw", "connected", "waiting", "losses_kw"]})["site"]
    assert out["connected"].rate == {"site": 1.0} and out["waiting"].rate == {"site": 1.0}
    assert out["battery_kw"].rate == {"a": pytest.approx(7.4)}  # EV limit, battery side
    assert out["p_kw"].rate == {"site": pytest.approx(7.4 / 0.9)}
    assert out["losses_kw"].rate == {"site": pytest.approx(7.4 / 0.9 - 7.4)}
    full_s = 100 + math.ceil(20.0 / 7.4 * 3600)
    assert sim.step(full_s, {}, 0) is None  # full: nothing more to wait for
    out = sim.get_data({"site": ["p_kw", "battery_kw"]})["site"]
    assert out["battery_kw"].rate["a"] == pytest.approx(0.0, abs=0.01)
    assert out["p_kw"].total_at(full_s)["site"] == pytest.approx(
        7.4 / 0.9 * (full_s - 100) / 3600, rel=1e-9)


def test_grid_adapter_sums_sources_per_bus_and_reports_transformer_loading():
    grid = build_grid("lv_feeder_20bus")
    sim = GridSim()
    sim.init("Grid-0", step_s=STEP, grid=PowerFlowGrid(grid))
    for model, name in (("Grid", "grid"), ("Bus", "bus_20"), ("Transformer", "tx")):
        sim.create(1, model, name=name)
    sim.step(0, {}, 0)
    # a charger that drew 24 kW for the second half of the interval: 12 kW on average
    inputs = {"bus_20": {"p_kw": {"a.x": 10.0 - 12.0, "c.meter": Meter(450, {"s": 0.0}, {"s": 24.0}),
                                  "b.y": 5.0},
                         "p_gen_kw": {"c.z": 3.0}, "q_kvar": {"a.x": 2.0}}}
    assert sim.step(STEP, inputs, 0) == 2 * STEP
    out = sim.get_data({"bus_20": ["vm_pu"], "tx": ["p_kw", "loading_pct"],
                        "grid": ["converged", "metered_s"]})
    assert out["grid"]["converged"] and out["grid"]["metered_s"] == STEP
    reference = build_grid("lv_feeder_20bus")  # the same net load, straight in pandapower
    pp.create_load(reference.net, reference.buses["bus_20"], p_mw=0.012, q_mvar=0.002)
    pp.runpp(reference.net, numba=False)
    assert out["tx"]["p_kw"] == pytest.approx(reference.net.res_trafo.p_hv_mw.iloc[0] * 1e3)
    bus = reference.buses["bus_20"]
    assert out["bus_20"]["vm_pu"] == pytest.approx(reference.net.res_bus.vm_pu.at[bus])


def test_recorder_writes_the_interval_that_ended_at_its_start(tmp_path):
    sim = RecorderSim()
    sim.init("Recorder-0", step_s=STEP, writer=TimeseriesWriter(tmp_path, flush_every=1))
    sim.create(1, "Recorder")
    sim.step(0, {"recorder": {"p_kw": {"Chargers-0.site": Meter(0, {"site": 0.0}, {"site": 4.0})}}}, 0)
    sim.step(STEP, {"recorder": {"p_kw": {"Chargers-0.site": Meter(450, {"site": 0.5}, {"site": 0.0})},
                                 "soc": {"Fleet-0.f": {"ev1": 0.5, "ev2": 0.7}},
                                 "vm_pu": {"Grid-0.bus": 0.98},
                                 "events": {"Fleet-0.f": []}}}, 0)
    ts = read_timeseries(tmp_path)
    assert sorted(zip(ts.time_s, ts.entity, ts.quantity, ts.value)) == [
        (0, "bus", "vm_pu", 0.98), (0, "ev1", "soc", 0.5), (0, "ev2", "soc", 0.7),
        (0, "site", "p_kw", 2.0)]  # 4 kW for half of the interval


def test_recorder_rows_do_not_depend_on_the_order_mosaik_gives_the_inputs_in(tmp_path):
    """mosaik's order of attributes and sources may differ between two processes (string
    hashing); the Parquet of two runs of one scenario must not."""
    inputs = {"soc": {"Fleet-0.f": {"ev1": 0.5}, "Fleet-1.g": {"ev9": 0.2}},
              "vm_pu": {"Grid-0.b2": 0.97, "Grid-0.b1": 0.98}}
    shuffled = {attr: dict(reversed(sources.items())) for attr, sources in reversed(inputs.items())}
    rows = []
    for k, given in enumerate((inputs, shuffled)):
        sim = RecorderSim()
        sim.init("Recorder-0", step_s=STEP, writer=TimeseriesWriter(tmp_path / str(k), flush_every=1))
        sim.create(1, "Recorder")
        sim.step(0, {}, 0)
        sim.step(STEP, {"recorder": given}, 0)
        rows.append(read_timeseries(tmp_path / str(k)))
    pd.testing.assert_frame_equal(rows[0], rows[1])
