"""The EMSP, ITS and DSO grid roles: plugged in from a scenario, guarded, and acting on the run."""

import json

import pytest
import yaml

from flexcosim.cosim.results import read_timeseries, wide
from flexcosim.cosim.run import run_scenario
from flexcosim.scenarios.catalog import load_scenario
from flexcosim.scenarios.schema import ScenarioError, parse_scenario

pytestmark = pytest.mark.mosaik

CRASHING_ITS = '''
class Broken:
    def estimate(self, query):
        raise RuntimeError("no traffic data")
'''


def small_ucd(tmp_path, **agents):
    scenario, _ = load_scenario("ucd-campus")
    data = scenario.variant("optimised").model_dump(mode="json")
    data["visitors"][0]["count"] = 20
    for site, n in zip(data["sites"], (8, 4, 10)):
        site["chargers"] = n
    data["agents"] += [{"role": role, "strategy": name} for role, name in agents.items()]
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_scenario(path)


def test_a_crashing_its_strategy_falls_back_and_the_run_goes_on(tmp_path):
    (tmp_path / "broken_its.py").write_text(CRASHING_ITS)
    scenario, base = small_ucd(tmp_path, its="broken_its.py:Broken")
    summary = run_scenario(scenario, tmp_path / "run", base, progress=False)
    fallbacks = json.loads((tmp_path / "run" / "fallbacks.json").read_text())["fallbacks"]
    its = [f for f in fallbacks if f["agent"] == "its"]
    assert len(its) == 20 and all("no traffic data" in f["reason"] for f in its)
    assert summary["platform"]["requests"] == 20 and summary["platform"]["fallbacks"] == 0
    assert summary["ev_energy_delivered_kwh"] > 0


def test_unknown_role_strategy_is_a_scenario_error(tmp_path):
    scenario, base = small_ucd(tmp_path, emsp="no_such_emsp")
    from flexcosim.cosim.world import assemble

    with pytest.raises(ScenarioError, match="emsp"):
        assemble(scenario, base)


def test_one_agent_per_platform_role():
    scenario, _ = load_scenario("ucd-campus")
    data = scenario.model_dump(mode="json")
    data["agents"] += [{"role": "its"}, {"role": "its"}]
    with pytest.raises(ScenarioError, match="2 agents with role its"):
        parse_scenario(data)


def test_dso_limit_guard_caps_ev_charging_on_low_voltage(tmp_path):
    scenario, base = load_scenario("lv-feeder-20bus")
    data = scenario.model_dump(mode="json")
    data["agents"] = [{"role": "site_aggregator", "sites": "home", "strategy": "equal_share"},
                      {"role": "dso_grid", "strategy": "limit_guard"}]
    guarded = run_scenario(parse_scenario(data), tmp_path / "guard", base, progress=False)
    free = run_scenario(scenario, tmp_path / "free", base, progress=False)
    ts = read_timeseries(tmp_path / "guard" / "timeseries")
    limits = wide(ts, "limit_kw")
    draw = wide(ts, "p_kw", list(limits.columns))
    # a limit decided at t (from the power flow of t - step) holds for the draw at t
    assert (draw <= limits + 1e-6).all().all()
    assert (limits < 1e6).any().any()  # the guard did act
    assert guarded["ev_energy_delivered_kwh"] < free["ev_energy_delivered_kwh"]
    assert guarded["min_voltage_pu"] >= free["min_voltage_pu"] - 1e-9


def test_dso_sensitivity_heuristic_turns_down_the_sites_that_matter(tmp_path):
    """Seed 001 III-B inside the run: on low voltage the DSO ranks sites by dV/dP."""
    scenario, base = load_scenario("lv-feeder-20bus")
    data = scenario.model_dump(mode="json")
    data.update(start="2019-01-16T15:00:00+01:00", duration_s=6 * 3600)
    # EVs at home that need charging from the first step
    data["fleet"][0].update(soc0_min=0.3, soc0_max=0.5, soc0_at_home="drawn")
    data["agents"] = [{"role": "site_aggregator", "sites": "home", "strategy": "equal_share"},
                      {"role": "dso_grid", "strategy": "sensitivity"}]
    summary = run_scenario(parse_scenario(data), tmp_path / "run", base, progress=False)
    ts = read_timeseries(tmp_path / "run" / "timeseries")
    sites = [f"home_{bus}" for bus in data["sites"][0]["buses"]]
    draw = wide(ts, "p_kw", sites)[sites]
    limits = wide(ts, "limit_kw").reindex(index=draw.index, columns=sites).fillna(float("inf"))
    assert (draw <= limits + 1e-6).all().all()
    assert summary["agent_fallbacks"] == 0
    # the first cap falls on the far end of the feeder, where dV/dP is largest
    first = limits.index[(limits < 1e6).any(axis=1)][0]
    capped = set(limits.columns[limits.loc[first] < 1e6])
    assert "home_bus_19" in capped and "home_bus_4" not in capped
