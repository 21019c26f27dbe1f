"""The ``sessions`` fleet source: EVs from a sessions file arrive at their second.

The shipped workplace-sessions scenario (its CSV is synthetic) runs through mosaik and
pandapower; nothing is mocked.
"""

import json

import pandas as pd
import pytest

from flexcosim.cosim.results import read_timeseries, wide
from flexcosim.cosim.run import run_scenario
from flexcosim.cosim.world import assemble
from flexcosim.scenarios.catalog import SHIPPED, load_scenario
from flexcosim.scenarios.schema import ScenarioError, parse_scenario

pytestmark = pytest.mark.mosaik


def test_workplace_sessions_deliver_or_miss_exactly_the_sessions_energy(tmp_path):
    scenario, base = load_scenario("workplace-sessions")
    run_scenario(scenario, tmp_path / "run", base, progress=False)
    sessions = pd.read_csv(SHIPPED / "workplace-sessions.csv")
    site = json.loads((tmp_path / "run" / "summary.json").read_text())["sites"]["work"]
    assert site["ev_energy_delivered_kwh"] + site["ev_energy_unmet_kwh"] == pytest.approx(
        sessions.energy_kwh.sum())
    assert site["ev_energy_delivered_kwh"] > 0.5 * sessions.energy_kwh.sum()

    # nothing before the first arrival (07:32:00); then car02 from 07:32:00 and car05
    # from 07:36:45 draw 11 kW each: 13 + 8.25 min of 11 kW in the 07:30-07:45 interval
    p = wide(read_timeseries(tmp_path / "run" / "timeseries"), "p_kw", ["work"])["work"]
    assert p.loc[: 7 * 3600 + 900].abs().max() == 0
    assert p.loc[7 * 3600 + 1800] == pytest.approx(11.0 * (780 + 495) / 900)


def test_an_ev_is_parked_from_arrival_to_departure_with_its_arrival_soc():
    scenario, base = load_scenario("workplace-sessions")
    a = assemble(scenario, base)
    fleet, site_of_place, target = a.fleets["staff"]
    row = pd.read_csv(SHIPPED / "workplace-sessions.csv").iloc[0]  # car00, 40 kWh
    assert fleet.ids[0] == "staff_0000"
    assert fleet.soc[0] == pytest.approx(0.9 - row.energy_kwh / 40)
    assert target[0] == 0.9
    assert a.departures_s["staff_0000"] == 16 * 3600 + 32 * 60 + 49  # 16:32:49 in the file
    assert site_of_place[0] == {"work": "work"}
    assert fleet.mobility.trips[0] == ((8 * 3600 + 50 * 60 + 47,) * 2 + ("work",),
                                       (16 * 3600 + 32 * 60 + 49,) * 2 + ("away",))
    assert fleet.mobility.next_change_s(0) == 7 * 3600 + 32 * 60  # car02, the first arrival


@pytest.mark.parametrize("change, message", [
    ({"site": "office"}, r"'sessions.0.site': session 1 is at 'office', not a site; allowed: work"),
    ({"path": "nothing.csv"}, r"'sessions.0.path': .*nothing.csv"),
    ({"format": "parquet"}, r"sessions.0.format"),
])
def test_a_bad_sessions_entry_is_a_one_line_error(change, message):
    scenario, base = load_scenario("workplace-sessions")
    data = scenario.model_dump(mode="json")
    data["sessions"][0].update(change)
    with pytest.raises(ScenarioError, match=message):
        assemble(parse_scenario(data), base)


def test_an_acn_data_export_feeds_the_sites_named_in_it(tmp_path):
    items = [{"sessionID": "acn-1", "siteID": "work", "kWhDelivered": 12.5,
              "connectionTime": "Wed, 16 Jan 2019 07:00:00 GMT",
              "disconnectTime": "Wed, 16 Jan 2019 15:00:00 GMT", "userInputs": None},
             {"sessionID": "acn-2", "siteID": "work", "kWhDelivered": 30.0,
              "connectionTime": "Wed, 16 Jan 2019 08:30:05 GMT",
              "disconnectTime": "Wed, 16 Jan 2019 17:00:00 GMT", "userInputs": None}]
    (tmp_path / "acn.json").write_text(json.dumps({"_items": items}))
    scenario, base = load_scenario("workplace-sessions")
    data = scenario.model_dump(mode="json")
    data["sessions"][0].update(path=str(tmp_path / "acn.json"), format="acn_json", site=None,
                               battery_kwh=50.0)
    a = assemble(parse_scenario(data), base)
    fleet, _, target = a.fleets["staff"]
    assert fleet.ids == ("staff_0000", "staff_0001")
    # 08:00 and 09:30:05 at UTC+1; energy 12.5 and 30 kWh of a 50 kWh battery to 0.9
    assert [trips[0][0] for trips in fleet.mobility.trips] == [8 * 3600, 9 * 3600 + 1805]
    assert (fleet.soc * 50).tolist() == pytest.approx([45 - 12.5, 45 - 30.0])
