"""CSV profiles in mosaik-csv's format: a model-name line, then the header; timestamps
without offset are read in the scenario's UTC offset and still placed by timestamp."""

import copy

import pandas as pd
import pytest

from flexcosim.cosim.models.building import load_profile_csv
from flexcosim.cosim.world import assemble
from flexcosim.scenarios.catalog import load_scenario
from flexcosim.scenarios.schema import parse_scenario

START = pd.Timestamp("2019-01-16T00:00:00+01:00")
DAY = 86_400


def mosaik_csv(path, first: str, hours: int):
    """Hourly mosaik-csv file in W whose value is 1000 x the local hour of each row."""
    times = pd.date_range(pd.Timestamp(first), periods=hours, freq="h")
    with open(path, "w") as f:
        f.write("Building\nDate,P # active power in W\n")
        f.writelines(f"{t:%Y-%m-%d %H:%M:%S},{1000.0 * t.hour}\n" for t in times)
    return path


def test_a_mosaik_csv_file_starting_the_day_before_is_aligned_by_timestamp(tmp_path):
    path = mosaik_csv(tmp_path / "house.csv", "2019-01-15 18:00:00", 36)
    profile = load_profile_csv(path, "P", clock=(START, DAY), scale=0.001)
    assert [profile.at(h * 3600)[0] for h in range(24)] == [float(h) for h in range(24)]


def test_a_plain_csv_with_one_column_is_not_taken_for_mosaik_csv(tmp_path):
    path = tmp_path / "plain.csv"
    path.write_text("p_kw\n1.0\n2.0\n")
    assert load_profile_csv(path, resolution_s=3600).at(3600)[0] == 2.0


def test_a_scenario_building_reads_a_mosaik_csv_profile_in_w(tmp_path):
    mosaik_csv(tmp_path / "house.csv", "2019-01-15 18:00:00", 36)
    data = copy.deepcopy(load_scenario("lv-feeder-20bus")[0].model_dump(mode="json"))
    data.pop("variants")
    data["buildings"][0]["profile"] = {"kind": "csv", "path": "house.csv", "scale": 0.001}
    a = assemble(parse_scenario(data), tmp_path)
    _, profile = a.buildings["household_bus_1"]
    assert profile.at(19 * 3600)[0] == pytest.approx(19.0)
