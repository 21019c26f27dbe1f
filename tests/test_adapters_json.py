"""JSON-safe starts of the recorder, storage, home-EV and day-ahead simulators (as from any
mosaik World): they give what flexcosim's own world, which hands objects, gets."""

import numpy as np
import pytest

from flexcosim.cosim.adapters.dayahead import DayAheadSim
from flexcosim.cosim.adapters.gate import GateSim
from flexcosim.cosim.adapters.home_evs import HomeEVSim
from flexcosim.cosim.adapters.recorder import RecorderSim
from flexcosim.cosim.adapters.storage import StorageSim
from flexcosim.cosim.results import read_timeseries
from flexcosim.cosim.world import assemble_from, sim_params
from flexcosim.scenarios.catalog import load_scenario


def test_recorder_writes_to_an_output_dir_and_refuses_a_second_entity(tmp_path):
    sim = RecorderSim()
    sim.init("Recorder-0", step_s=900, output_dir=str(tmp_path / "ts"))
    with pytest.raises(ValueError, match="create Recorder: num=2"):
        sim.create(2, "Recorder")
    sim.create(1, "Recorder")
    with pytest.raises(ValueError, match="one Recorder per simulator"):
        sim.create(1, "Recorder")
    sim.step(0, {}, 0)
    sim.step(900, {"recorder": {"p_kw": {"Grid-0.tx": 4.0}}}, 0)
    sim.finalize()
    rows = read_timeseries(tmp_path / "ts")
    assert rows[["time_s", "entity", "quantity", "value"]].values.tolist() == [[0, "tx", "p_kw", 4.0]]
    with pytest.raises(ValueError, match="give output_dir= .* or writer=, exactly one"):
        RecorderSim().init("Recorder-1", step_s=900)
    from_scenario = RecorderSim()  # the scenario gives the metering interval
    from_scenario.init("Recorder-2", scenario="workplace-sessions", output_dir=str(tmp_path / "b"))
    assert from_scenario.step_s == 900 and (tmp_path / "b").is_dir()


def test_storage_from_json_fields_steps_like_the_battery_model():
    sim = StorageSim()
    sim.init("Storage-0", step_s=3600, batteries={"b": {"capacity_kwh": 5.0, "max_power_kw": 0.5,
                                                        "charge_efficiency": 0.9}})
    sim.create(1, "Battery", name="b")
    sim.step(0, {"b": {"setpoint_kw": {"op.b": 2.0}}}, 0)  # clipped to 0.5 kW
    assert sim.get_data({"b": ["p_kw", "energy_kwh", "soc"]})["b"] == {
        "p_kw": 0.5, "energy_kwh": pytest.approx(0.45), "soc": pytest.approx(0.09)}
    with pytest.raises(ValueError, match="name 'x' is not a battery of this simulator; allowed: b"):
        sim.create(1, "Battery", name="x")
    with pytest.raises(ValueError, match="batteries.c: .*'volts'.*allowed keys: capacity_kwh"):
        StorageSim().init("Storage-1", step_s=900, batteries={"c": {"capacity_kwh": 5.0,
                                                                    "max_power_kw": 1.0, "volts": 400}})
    with pytest.raises(ValueError, match="BatterySpec.max_power_kw: -1.0"):
        StorageSim().init("Storage-2", step_s=900, batteries={"c": {"capacity_kwh": 5.0,
                                                                    "max_power_kw": -1.0}})


@pytest.mark.parametrize("sim", [RecorderSim, StorageSim, HomeEVSim, DayAheadSim, GateSim])
def test_every_simulator_refuses_another_time_resolution_in_one_line(sim):
    with pytest.raises(ValueError, match=f"{sim.__name__}: time_resolution 60 is not supported"):
        sim().init("X-0", time_resolution=60, step_s=900)


def test_the_gate_is_internal_and_home_evs_need_a_coordination_study():
    with pytest.raises(ValueError, match="GateSim: cannot be built from a scenario"):
        GateSim().init("Gate-0", scenario="workplace-sessions")
    with pytest.raises(ValueError, match="HomeEVSim: the scenario has no HomeEVs models"):
        HomeEVSim().init("HomeEVs-0", scenario="lv-feeder-20bus")


def test_rental_study_from_a_scenario_dict_decides_as_from_the_objects():
    """seed 003: DayAhead and Storage started with the variant as a scenario dict give the
    set-points, battery powers and energies of the ones flexcosim's world starts with its
    objects."""
    scenario, base = load_scenario("lv-feeder-20bus")
    data = scenario.variant("battery_rental").model_dump(mode="json")
    params = sim_params(assemble_from(data, str(base)))
    pairs = []
    for cls, part in ((DayAheadSim, "DayAhead"), (StorageSim, "Storage")):
        objects, json_safe = cls(), cls()
        objects.init(f"{part}-0", **params[part])
        json_safe.init(f"{part}-1", scenario=data, base_dir=str(base))
        pairs.append((objects, json_safe))
    (agents_o, agents_j), (storage_o, storage_j) = pairs
    batteries = list(params["Storage"]["batteries"])
    for agents, storage in ((agents_o, storage_o), (agents_j, storage_j)):
        assert agents.step_s == storage.step_s == 900
        agents.create(1, "DSO")
        for b in batteries:
            agents.create(1, "BatteryOperator", name=f"op_{b}")
            storage.create(1, "Battery", name=b)
    with pytest.raises(ValueError, match="name 'op_x' is not one of this study's; allowed: op_"):
        agents_j.create(1, "BatteryOperator", name="op_x")
    with pytest.raises(ValueError, match="create Aggregator: name 'feeder' .* allowed: none"):
        agents_j.create(1, "Aggregator", name="feeder")
    seen = {"objects": [], "json": []}
    for key, agents, storage in (("objects", agents_o, storage_o), ("json", agents_j, storage_j)):
        energy = {b: 0.0 for b in batteries}
        for t in range(0, 86400, 900):
            agents.step(t, {f"op_{b}": {"energy_kwh": {"s": energy[b]}} for b in batteries}, 0)
            out = agents.get_data({f"op_{b}": ["setpoint_kw"] for b in batteries})
            storage.step(t, {b: {"setpoint_kw": {"a": out[f"op_{b}"]["setpoint_kw"]}}
                             for b in batteries}, 0)
            got = storage.get_data({b: ["p_kw", "energy_kwh"] for b in batteries})
            energy = {b: got[b]["energy_kwh"] for b in batteries}
            seen[key].append([got[b]["p_kw"] for b in batteries])
    assert agents_o.get_data({"dso": ["plan_ok"]}) == agents_j.get_data({"dso": ["plan_ok"]})
    assert np.abs(seen["objects"]).sum() > 1.0  # the batteries did something
    np.testing.assert_allclose(seen["json"], seen["objects"], rtol=0, atol=1e-12)
    assert storage_j.end_s == 86400


@pytest.mark.slow  # three seed-000 assemblies with their PV statistics: ~6 s
def test_coordination_study_from_the_scenario_name_plans_and_charges_as_from_the_objects():
    """seed 000: DayAhead and HomeEVs started with scenario= (each builds the scenario on its
    own, from its seed) hold the same EVs and give the same set-points and charging."""
    params = sim_params(assemble_from("seed000-pv-ev"))
    study = params["DayAhead"]["study"]
    feeder = next(iter(study.plants))
    bus = study.plants[feeder].evs.bus[0]
    runs = []
    for how in ("objects", "json"):
        agents, evs = DayAheadSim(), HomeEVSim()
        start = ({"DayAhead": params["DayAhead"], "HomeEVs": params["HomeEVs"]} if how == "objects"
                 else {"DayAhead": {"scenario": "seed000-pv-ev"}, "HomeEVs": {"scenario": "seed000-pv-ev"}})
        agents.init("DayAhead-0", **start["DayAhead"])
        evs.init("HomeEVs-0", **start["HomeEVs"])
        agents.create(1, "Aggregator", name=feeder)
        evs.create(1, "HomeEVs", name="ev", plant=feeder, bus=bus)
        out, energy = [], {}
        for t in range(0, 86400, agents.step_s):
            agents.step(t, {feeder: {"energy_kwh": {"ev": energy}}}, 0)
            setpoints = agents.get_data({feeder: ["setpoints_kw"]})[feeder]
            evs.step(t, {"ev": {"setpoints_kw": {"agg": setpoints["setpoints_kw"]}}}, 0)
            got = evs.get_data({"ev": ["p_kw", "energy_kwh", "stored_kwh", "n_parked"]})["ev"]
            energy = got["energy_kwh"]
            out.append([got["p_kw"], got["stored_kwh"], got["n_parked"]])
        runs.append(np.array(out))
    assert runs[0][:, 0].sum() > 0 and runs[0][:, 2].max() >= 1  # EVs parked and charged
    np.testing.assert_allclose(runs[1], runs[0], rtol=0, atol=1e-9)
    with pytest.raises(ValueError, match="plant 'nowhere' is not known; allowed: "):
        evs.create(1, "HomeEVs", name="x", plant="nowhere", bus=bus)
