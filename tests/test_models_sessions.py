"""Charging sessions from CSV and from an ACN-Data JSON export, on the scenario clock."""

import json

import pandas as pd
import pytest

from flexcosim.cosim.models.sessions import read_acn_json, read_sessions_csv

START = pd.Timestamp("2019-04-10 00:00", tz="Europe/Dublin")  # IST = UTC+1 that day
DAY = 86400


def test_csv_with_energy_naive_local_times_and_an_offset(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text(
        "ev,arrival,departure,energy_kwh,battery_kwh,max_power_kw,site\n"
        "a,2019-04-10 08:30:00,2019-04-10 17:00:00,12.0,40,7.4,richview\n"
        "b,2019-04-10T09:07:13+01:00,2019-04-10T12:00:00+01:00,30.0,60,11,vet\n"
        "c,2019-04-09 22:00:00,2019-04-10 06:00:00,5.0,60,11,vet\n")
    table = read_sessions_csv(path, START, DAY)
    assert table.outside_period == 1  # c starts the day before
    a, b = table.sessions
    assert (a.arrival_s, a.departure_s) == (8.5 * 3600, 17 * 3600)
    assert b.arrival_s == 9 * 3600 + 7 * 60 + 13  # the offset is honoured, to the second
    # no SOC in the file: target 0.9, arrival SOC so that the energy fills the gap
    assert a.target_soc == 0.9 and a.arrival_soc == pytest.approx(0.9 - 12 / 40)
    assert a.energy_kwh == pytest.approx(12.0) and b.energy_kwh == pytest.approx(30.0)
    assert (a.site, a.max_power_kw, a.battery_kwh) == ("richview", 7.4, 40.0)


def test_csv_with_socs_and_defaults(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("arrival,departure,arrival_soc,target_soc\n"
                    "2019-04-10 08:00,2019-04-10 10:00,0.2,0.8\n")
    (s,) = read_sessions_csv(path, START, DAY, battery_kwh=50, max_power_kw=7.4).sessions
    assert s.ev == "session_0000" and s.site is None
    assert s.energy_kwh == pytest.approx(0.6 * 50)


@pytest.mark.parametrize("body, words", [
    ("arrival,energy_kwh\n2019-04-10 08:00,3\n", "'departure' is missing"),
    ("arrival,departure\n2019-04-10 08:00,2019-04-10 09:00\n", "need column 'energy_kwh'"),
    ("arrival,departure,energy_kwh\nsoon,2019-04-10 09:00,3\n", "row 1, column 'arrival': 'soon'"),
    ("arrival,departure,energy_kwh\n2019-04-10 08:00,2019-04-10 07:00,3\n", "row 1: departure"),
    ("arrival,departure,energy_kwh\n2019-04-10 08:00,2019-04-10 09:00,-3\n", "column 'energy_kwh'"),
    ("arrival,departure,arrival_soc,target_soc\n2019-04-10 08:00,2019-04-10 09:00,0.9,0.5\n",
     "0 <= arrival_soc <= target_soc <= 1"),
])
def test_bad_rows_are_one_line_errors_naming_the_place(tmp_path, body, words):
    path = tmp_path / "bad.csv"
    path.write_text(body)
    with pytest.raises(ValueError, match="bad.csv") as info:
        read_sessions_csv(path, START, DAY)
    assert words in str(info.value) and "\n" not in str(info.value)


def test_acn_json_export(tmp_path):
    items = [
        {"sessionID": "s1", "siteID": "caltech", "connectionTime": "Wed, 10 Apr 2019 07:00:00 GMT",
         "disconnectTime": "Wed, 10 Apr 2019 15:30:00 GMT", "kWhDelivered": 9.5,
         "userInputs": [{"kWhRequested": 8.0}, {"kWhRequested": 12.0}]},
        {"sessionID": "s2", "siteID": "caltech", "connectionTime": "Wed, 10 Apr 2019 09:00:00 GMT",
         "disconnectTime": "Wed, 10 Apr 2019 10:00:00 GMT", "kWhDelivered": 70.0, "userInputs": None},
    ]
    path = tmp_path / "acn.json"
    path.write_text(json.dumps({"_items": items, "_meta": {"total": 2}}))
    table = read_acn_json(path, START, DAY)
    s1, s2 = table.sessions
    assert s1.arrival_s == 8 * 3600  # 07:00 GMT is 08:00 in Dublin on that day
    assert s1.energy_kwh == pytest.approx(9.5) and s1.site == "caltech"
    assert table.energy_capped == 1 and s2.arrival_soc == 0.0  # 70 kWh > 0.9 x 60 kWh
    asked = read_acn_json(path, START, DAY, requested=True).sessions[0]
    assert asked.energy_kwh == pytest.approx(12.0)  # the driver's last input


def test_not_an_acn_export(tmp_path):
    path = tmp_path / "x.json"
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match="not an ACN-Data export"):
        read_acn_json(path, START, DAY)
