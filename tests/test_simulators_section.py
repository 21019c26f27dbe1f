"""The scenario's ``simulators`` section: any mosaik-api-v3 simulator feeds grid buses.

mosaik-csv (a real third-party simulator, not a mock) plays a building load in W at
5-min rows and a PV source in kW at 15-min rows on a 6-hour LV-feeder morning; the
recorded energies are checked against the CSV files and the grid must carry them.
"""

import numpy as np
import pandas as pd
import pytest

from flexcosim.cosim.results import TimeseriesWriter, read_timeseries, wide
from flexcosim.cosim.world import assemble, build_world, world_until_s
from flexcosim.scenarios.catalog import load_scenario
from flexcosim.scenarios.schema import ScenarioError, parse_scenario

pytest.importorskip("mosaik_csv")
pytestmark = pytest.mark.mosaik

START = pd.Timestamp("2019-01-16 06:00:00")
HOURS = 6


def write_csvs(folder):
    """A household in W (5-min rows) and a PV system in kW (15-min rows), mosaik-csv format."""
    rng = np.random.default_rng(7)
    t5 = pd.date_range(START, periods=HOURS * 12 + 1, freq="5min")
    load_w = rng.uniform(500, 3000, len(t5)).round(1)
    with open(folder / "house.csv", "w") as f:
        f.write("Building\nDate,P\n")
        f.writelines(f"{t:%Y-%m-%d %H:%M:%S},{p}\n" for t, p in zip(t5, load_w))
    t15 = pd.date_range(START, periods=HOURS * 4 + 1, freq="15min")
    pv_kw = np.clip(np.sin(np.linspace(-0.5, 2.0, len(t15))), 0, None).round(3)
    with open(folder / "pv.csv", "w") as f:
        f.write("PV\nDate,P_gen\n")
        f.writelines(f"{t:%Y-%m-%d %H:%M:%S},{p}\n" for t, p in zip(t15, pv_kw))
    return load_w[:-1], pv_kw[:-1]


def feeder(simulators: list) -> dict:
    scenario, _ = load_scenario("lv-feeder-20bus")
    data = scenario.model_dump(mode="json", exclude={"variants"})
    data.update(start="2019-01-16T06:00:00+01:00", duration_s=HOURS * 3600,
                simulators=simulators)
    return data


SIMULATORS = [
    {"name": "csvhouse", "python": "mosaik_csv:CSV", "model": "Building",
     "params": {"sim_start": str(START), "datafile": "house.csv"}, "paths": ["datafile"],
     "connect": [{"attr": "P", "to": "p_kw", "buses": ["bus_1"], "scale": 0.001}]},
    {"name": "csvpv", "python": "mosaik_csv:CSV", "model": "PV",
     "params": {"sim_start": str(START), "datafile": "pv.csv"}, "paths": ["datafile"],
     "connect": [{"attr": "P_gen", "to": "p_gen_kw", "buses": ["bus_1"]}]},
]


def run(tmp_path, simulators, name):
    s = parse_scenario(feeder(simulators))
    a = assemble(s, tmp_path)
    writer = TimeseriesWriter(tmp_path / name)
    built = build_world(a, writer)
    built.world.run(until=world_until_s(s), print_progress=False)
    writer.flush()
    return built, read_timeseries(tmp_path / name)


def test_mosaik_csv_as_building_and_pv_delivers_the_csv_energy_to_the_grid(tmp_path):
    load_w, pv_kw = write_csvs(tmp_path)
    built, ts = run(tmp_path, SIMULATORS, "with")
    _, base = run(tmp_path, [], "without")

    assert [e.type for e in built.entities["simulators"]["csvhouse"]] == ["Building"]
    assert [e.type for e in built.entities["simulators"]["csvpv"]] == ["PV"]
    assert set(built.entities["buses"]) >= {"bus_1", "bus_20"}

    house = wide(ts, "p_kw", ["csvhouse_0"])["csvhouse_0"]
    pv = wide(ts, "p_gen_kw", ["csvpv_0"])["csvpv_0"]
    assert len(house) == len(pv) == HOURS * 4
    # each 15-min interval is the mean of its three 5-min rows, W -> kW
    np.testing.assert_allclose(house.to_numpy(), load_w.reshape(-1, 3).mean(axis=1) / 1e3)
    np.testing.assert_allclose(pv.to_numpy(), pv_kw)
    house_kwh, pv_kwh = house.sum() * 0.25, pv.sum() * 0.25
    assert house_kwh == pytest.approx(load_w.sum() / 1e3 / 12)

    # the transformer carries the added net load (within the feeder's losses)
    added = (wide(ts, "p_kw", ["tx"])["tx"].sum() - wide(base, "p_kw", ["tx"])["tx"].sum()) * 0.25
    assert house_kwh - pv_kwh > 3
    assert added == pytest.approx(house_kwh - pv_kwh, rel=0.05)


@pytest.mark.parametrize("change, message", [
    ({"python": "mosaik_csv"}, "need module:Class"),
    ({"connect": [{"attr": "P", "to": "p_kw", "buses": ["bus_1", "bus_2"]}]},
     "2 buses for 1 entities"),
    ({"paths": ["nofile"]}, "paths ['nofile'] are not in params"),
    ({"connect": [{"attr": "P", "to": "power", "buses": ["bus_1"]}]}, "simulators.0.connect.0.to"),
])
def test_a_bad_simulators_entry_is_a_one_line_error(change, message):
    with pytest.raises(ScenarioError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_scenario(feeder([{**SIMULATORS[0], **change}]))


@pytest.mark.parametrize("change, message", [
    ({"connect": [{"attr": "P", "to": "p_kw", "buses": ["bus_99"]}]},
     "'simulators.0.connect.0.buses': 'bus_99' is not a bus"),
    ({"python": "no_such_module:CSV"}, "'simulators.0.python': 'no_such_module:CSV' cannot be imported"),
    ({"params": {"sim_start": str(START), "datafile": "missing.csv"}},
     "'simulators.0.params.datafile': file"),
])
def test_what_needs_the_grid_or_files_is_checked_before_the_run(tmp_path, change, message):
    s = parse_scenario(feeder([{**SIMULATORS[0], **change}]))
    with pytest.raises(ScenarioError, match=message):
        assemble(s, tmp_path)
