"""Issue 9 item 10: a measured (CSV) load profile is placed by its timestamps.

Before the fix a profile was applied from t = 0 whatever its timestamps: one starting
at 12:00 was silently shifted by 12 h. Now rows are aligned by timestamp and UTC
offset, and a profile that does not cover the scenario's period is refused.
"""

import copy

import numpy as np
import pandas as pd
import pytest

from flexcosim.cosim.models.building import load_profile_csv
from flexcosim.cosim.world import assemble
from flexcosim.scenarios.catalog import load_scenario
from flexcosim.scenarios.schema import ScenarioError, parse_scenario

START = pd.Timestamp("2019-01-16T00:00:00+01:00")
DAY = 86_400


def meter(path, first: str, hours: int, tz: str | None = "+01:00"):
    """Hourly CSV whose value is the hour of day (in UTC+1) of each row [kW]."""
    times = pd.date_range(pd.Timestamp(first), periods=hours, freq="h")
    local = times.tz_convert("+01:00") if times.tz is not None else times
    text = [t.isoformat() if tz else t.strftime("%Y-%m-%dT%H:%M:%S") for t in times]
    pd.DataFrame({"time": text, "p_kw": local.hour.astype(float)}).to_csv(path, index=False)
    return path


def test_rows_are_placed_by_timestamp_in_any_utc_offset(tmp_path):
    path = meter(tmp_path / "utc.csv", "2019-01-15T20:00:00Z", 30)  # from 21:00 local, in UTC
    profile = load_profile_csv(path, "p_kw", clock=(START, DAY))
    hours = [profile.at(h * 3600)[0] for h in range(24)]  # clock: s after local midnight
    assert hours == [float(h) for h in range(24)]


def test_a_profile_that_starts_late_is_refused(tmp_path):
    path = meter(tmp_path / "noon.csv", "2019-01-16T12:00:00+01:00", 48)
    with pytest.raises(ValueError, match=r"covers 2019-01-16T12:00:00\+01:00 .*needs 2019-01-16T00:00"):
        load_profile_csv(path, "p_kw", clock=(START, DAY))


def test_a_profile_that_ends_early_is_refused(tmp_path):
    path = meter(tmp_path / "short.csv", "2019-01-16T00:00:00+01:00", 12)
    with pytest.raises(ValueError, match="needs"):
        load_profile_csv(path, "p_kw", clock=(START, DAY))


def test_timestamps_without_offset_are_refused(tmp_path):
    path = meter(tmp_path / "naive.csv", "2019-01-16T00:00:00", 24, tz=None)
    with pytest.raises(ValueError, match="no UTC offset"):
        load_profile_csv(path, "p_kw", clock=(START, DAY))


def test_scenario_with_a_late_profile_is_one_line(tmp_path):
    meter(tmp_path / "noon.csv", "2019-01-16T12:00:00+01:00", 48)
    data = copy.deepcopy(load_scenario("lv-feeder-20bus")[0].model_dump(mode="json"))
    data["buildings"][0]["profile"] = {"kind": "csv", "path": "noon.csv", "column": "p_kw"}
    with pytest.raises(ScenarioError, match=r"buildings.0.profile.path.*covers") as err:
        assemble(parse_scenario(data), tmp_path)
    assert "\n" not in str(err.value)


def test_scenario_reads_an_aligned_profile(tmp_path):
    meter(tmp_path / "ok.csv", "2019-01-15T22:00:00+01:00", 30)
    data = copy.deepcopy(load_scenario("lv-feeder-20bus")[0].model_dump(mode="json"))
    data["start"] = "2019-01-16T06:00:00+01:00"
    data["duration_s"] = 6 * 3600
    data["buildings"][0]["profile"] = {"kind": "csv", "path": "ok.csv", "column": "p_kw"}
    assembly = assemble(parse_scenario(data), tmp_path)
    _, profile = assembly.buildings["household_bus_1"]
    assert np.isclose(profile.at(6 * 3600)[0], 6.0)  # 06:00 local reads the 06:00 row
