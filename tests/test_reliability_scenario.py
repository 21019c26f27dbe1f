"""Issue 9: scenario validation refuses what would lose data or give silently wrong results.

Each case here was accepted before the fix (and then wrote outside the run folder,
merged two groups, failed at every step or crashed in a model); now it is one line
naming the field, the value and what is allowed.
"""

import copy

import pytest

from flexcosim.scenarios.catalog import load_scenario
from flexcosim.scenarios.schema import ScenarioError, parse_scenario

LV = load_scenario("lv-feeder-20bus")[0].model_dump(mode="json")
UCD = load_scenario("ucd-campus")[0].model_dump(mode="json")


def edited(base: dict, edit) -> dict:
    data = copy.deepcopy(base)
    edit(data)
    return data


def refused(data: dict) -> str:
    with pytest.raises(ScenarioError) as err:
        parse_scenario(data)
    message = str(err.value)
    assert "\n" not in message
    return message


# --- item 1: names become folder names, so they cannot point outside -----------------


@pytest.mark.parametrize("name", ["../victim", "a/../../b", "/abs", ".hidden", "x y", "", "a" * 65])
def test_scenario_name_is_a_safe_identifier(name):
    assert "'name'" in refused(edited(LV, lambda d: d.update(name=name)))


@pytest.mark.parametrize("variant", ["x/../../victim", "..", "a/b", ".x"])
def test_variant_name_is_a_safe_identifier(variant):
    message = refused(edited(LV, lambda d: d.update(variants={variant: {}})))
    assert "variants" in message and repr(variant) in message


def test_group_names_are_safe_identifiers():
    assert "sites.0.name" in refused(edited(LV, lambda d: d["sites"][0].update(name="../x")))


def test_derived_names_stay_inside():
    scenario = parse_scenario(edited(LV, lambda d: d.update(variants={"low": {"seed": 1}})))
    assert scenario.variant("low").name == "lv-feeder-20bus/low"


# --- item 4: the fallback must be a safe built-in --------------------------------------


@pytest.mark.parametrize("fallback", ["optimal", "uncontrolled", "my_strategy.py:Mine", "os:system"])
def test_only_safe_builtins_may_be_fallbacks(fallback):
    message = refused(edited(LV, lambda d: d["agents"][0].update(fallback=fallback)))
    assert repr(fallback) in message and "allowed: equal_share" in message


# --- item 9: the scheduling built-ins work on a site without a transformer ---------------


@pytest.mark.mosaik
@pytest.mark.parametrize("strategy", ["optimal", "optimal_soft", "llf"])
def test_scheduler_without_transformer_schedules_without_fallbacks(strategy, tmp_path):
    from flexcosim.cosim.run import run_scenario

    def edit(d):
        d.update(duration_s=4 * 3600, variants={})
        d["agents"][0].update(strategy=strategy)
        d["fleet"][0].update(soc0_at_home="drawn")  # every EV has something to charge at t = 0

    summary = run_scenario(parse_scenario(edited(LV, edit)), tmp_path / "run", progress=False)
    assert summary["agent_fallbacks"] == 0  # before the fix: a fallback at every step
    assert summary["status"] == "complete"


# --- item 11: duplicate names -------------------------------------------------------------


def test_two_fleet_groups_with_one_name():
    message = refused(edited(LV, lambda d: d["fleet"].append(copy.deepcopy(d["fleet"][0]))))
    assert "'commuter'" in message and "fleet.0" in message and "fleet.1" in message


def test_duplicate_bus_in_a_site_group():
    message = refused(edited(LV, lambda d: d["sites"][0]["buses"].append("bus_4")))
    assert "sites.0.buses" in message and "'bus_4'" in message


def test_site_and_building_with_one_name():
    def edit(d):
        d["buildings"].append({"name": "home", "buses": ["bus_4"],
                               "profile": {"kind": "synthetic_household", "peak_kw": 1.0}})
        d["sites"][0]["buses"] = ["bus_4"]
    message = refused(edited(LV, edit))
    assert "'home'" in message and "buildings.1" in message and "sites.0" in message


def test_two_aggregators_for_one_site_group():
    message = refused(edited(LV, lambda d: d["agents"].append(copy.deepcopy(d["agents"][0]))))
    assert "site group 'home'" in message


# --- bad input classes: one line, never a traceback -----------------------------------------


@pytest.mark.parametrize("edit, field", [
    (lambda d: d["sites"][0].update(rated_kw=float("inf")), "sites.0.rated_kw"),
    (lambda d: d["pv"][0].update(peak_kw=float("nan")), "pv.0.peak_kw"),
    (lambda d: d["fleet"][0]["mobility"].update(knobs={"commute_share": 7.0}), "commute_share"),
    (lambda d: d["fleet"][0]["mobility"].update(knobs={"no_such_knob": 1.0}), "no_such_knob"),
    (lambda d: d["fleet"][0]["mobility"].update(knobs={"commute_share": "a lot"}), "knobs"),
    (lambda d: d.update(start="1500-01-01T00:00:00+00:00"), "year 1500"),
    (lambda d: d.update(duration_s=10**12), "duration_s"),
    (lambda d: d["fleet"][0].update(count=10**9), "fleet.0.count"),
    (lambda d: d["sites"][0].update(chargers=10**9), "sites.0.chargers"),
])
def test_nonsense_values_are_one_line(edit, field):
    assert field in refused(edited(LV, edit))


@pytest.mark.parametrize("edit, field, unit_hint", [
    (lambda d: d["sites"][0].update(rated_kw=3700), "sites.0.rated_kw", "1000 [kW]"),
    (lambda d: d["pv"][0].update(peak_kw=4000), "pv.0.peak_kw", "1000 [kWp]"),
    (lambda d: d["fleet"][0]["vehicle"].update(capacity_kwh=40000), "capacity_kwh", "1000 [kWh]"),
    (lambda d: d.update(step_s=90000, duration_s=90000), "step_s", "3600 [s]"),
])
def test_plausibility_bounds(edit, field, unit_hint):
    message = refused(edited(LV, edit))
    assert field in message and unit_hint in message


def test_every_problem_is_reported_with_a_suggestion():
    def edit(d):
        d["step_size"] = d.pop("step_s")
        d["sites"][0]["rated_kw"] = -1
    message = refused(edited(LV, edit))
    assert message.startswith("scenario: 3 problems") or "problems" in message
    assert "unknown field (did you mean 'step_s'?)" in message
    assert "'step_s': required but missing" in message
    assert "sites.0.rated_kw" in message


def test_ucd_variants_still_validate():
    scenario = parse_scenario(UCD)
    assert [scenario.variant(v).name for v in scenario.variants] == [
        "ucd-campus/baseline", "ucd-campus/optimised"]
