"""Scenario validation: a wrong field fails before anything runs, in one line."""

import copy

import pytest
import yaml

from flexcosim.scenarios.catalog import load_scenario, shipped
from flexcosim.scenarios.reference import render_reference
from flexcosim.scenarios.schema import ScenarioError, parse_scenario

ROOT = load_scenario("lv-feeder-20bus")[0].model_dump(mode="json")


def _with(**changes):
    data = copy.deepcopy(ROOT)
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        node = data
        for p in parents:
            node = node[int(p)] if p.isdigit() else node[p]
        node[leaf] = value
    return data


def test_shipped_scenarios_validate():
    assert "lv-feeder-20bus" in shipped()
    for name in shipped():
        load_scenario(name)


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"durration_s": 10}, "'durration_s': unknown field (did you mean 'duration_s'?); allowed here: name, description, start"),
        ({"fleet__0__vehicle__capacity_kwh": -40}, "'fleet.0.vehicle.capacity_kwh': value -40"),
        ({"fleet__0__vehicle__capcity_kwh": 40}, "allowed here: name, capacity_kwh"),
        ({"step_s": 0}, "'step_s': value 0 is not allowed: input should be greater than 0"),
        ({"duration_s": 1000}, "duration_s 1000 is not a multiple of step_s 900"),
        ({"fleet__0__home_sites": "work"}, "'work' is not a site group; allowed: ['home']"),
        ({"start": "2019-01-16T00:00:00"}, "has no UTC offset"),
        ({"sites__0__efficiency": 1.5}, "'sites.0.efficiency': value 1.5"),
        ({"fleet__0__soc0_min": 0.95}, "soc0_min 0.95 > soc0_max 0.9"),
    ],
)
def test_bad_field_is_one_line_naming_field_and_value(changes, expected):
    with pytest.raises(ScenarioError) as err:
        parse_scenario(_with(**changes))
    message = str(err.value)
    assert expected in message
    assert "\n" not in message


def test_bad_yaml_and_unknown_name(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ScenarioError, match="not valid YAML"):
        load_scenario(bad)
    with pytest.raises(ScenarioError, match="shipped: "):
        load_scenario("no-such-study")


def test_unknown_bus_is_caught_before_the_run(tmp_path):
    from flexcosim.cosim.world import assemble

    scenario = parse_scenario(_with(sites__0__buses=["bus_4", "bus_99"]))
    with pytest.raises(ScenarioError, match="'sites.0.buses': 'bus_99' is not a bus of grid"):
        assemble(scenario)


def test_reference_page_is_current():
    from pathlib import Path

    page = Path(__file__).resolve().parents[1] / "docs" / "scenario-reference.md"
    assert page.read_text().strip() == render_reference().strip()


def test_resolved_scenario_round_trips():
    again = parse_scenario(yaml.safe_load(yaml.safe_dump(ROOT)))
    assert again.model_dump(mode="json") == ROOT
