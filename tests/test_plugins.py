"""Strategy plug-ins: lookup by name, entry point, user file and module; fallback on failure."""

import json
import time
from pathlib import Path

import pytest
import yaml

from flexcosim.agents.optim.pricing import PRICING
from flexcosim.agents.optim.site_scheduler import SCHEDULERS
from flexcosim.agents.registry import ENTRY_POINT_GROUP, Guarded, Registry
from flexcosim.agents.site import (
    SITE_STRATEGIES,
    SiteEV,
    SiteObservation,
    SiteSetpoints,
    check_setpoints,
)
from flexcosim.cosim.run import run_scenario
from flexcosim.cosim.world import assemble
from flexcosim.scenarios.catalog import load_scenario, shipped
from flexcosim.scenarios.schema import ScenarioError, parse_scenario

HALF = """
from flexcosim.agents.site import SiteSetpoints


class Half:
    '''Half the rated power for every EV on a charger.'''

    def decide(self, obs):
        return SiteSetpoints({ev.ev: obs.charger_kw / 2 for ev in obs.evs})
"""

CRASH_IN_THE_EVENING = """
from flexcosim.agents.site import SiteSetpoints


class CrashAfterSix:
    def decide(self, obs):
        if obs.time_s >= 18 * 3600 and obs.evs:
            raise RuntimeError("no idea what to do")
        return SiteSetpoints({ev.ev: obs.charger_kw for ev in obs.evs})
"""


def observation(time_s=0, v2g=False):
    ev = SiteEV("ev1", energy_kwh=10.0, capacity_kwh=40.0, target_kwh=36.0,
                max_charge_kw=7.4, max_discharge_kw=7.4)
    return SiteObservation("s", time_s, 900, (ev,), charger_kw=3.7, efficiency=0.93, v2g=v2g)


def scenario_file(tmp_path: Path, strategy: str, **edits) -> Path:
    data = yaml.safe_load(shipped()["lv-feeder-20bus"].read_text())
    data["agents"][0]["strategy"] = strategy
    data.update(edits)
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_strategy_from_a_user_file_named_in_the_scenario(tmp_path):
    (tmp_path / "strategies").mkdir()
    (tmp_path / "strategies" / "half.py").write_text(HALF)
    scenario, base = load_scenario(scenario_file(tmp_path, "strategies/half.py:Half"))
    a = assemble(scenario, base)
    agent = next(iter(a.agents.values()))
    assert type(agent.guarded.strategy).__name__ == "Half"
    assert agent.decide(observation()).power_kw == {"ev1": 1.85}
    # every agent of the group shares one imported module
    assert len({type(g.guarded.strategy) for g in a.agents.values()}) == 1


def test_strategy_from_an_installed_entry_point(tmp_path, monkeypatch):
    pkg = tmp_path / "flexcosim_demo_plugin"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(HALF)
    info = tmp_path / "flexcosim_demo_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: flexcosim-demo-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\ndemo_half = flexcosim_demo_plugin:Half\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    strategy = SITE_STRATEGIES.create("demo_half")
    assert type(strategy).__module__ == "flexcosim_demo_plugin"
    assert strategy.decide(observation()).power_kw == {"ev1": 1.85}


def test_strategy_from_a_module_on_sys_path(tmp_path, monkeypatch):
    (tmp_path / "my_site_rules.py").write_text(HALF)
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("my_site_rules:Half", "my_site_rules.Half"):
        assert type(SITE_STRATEGIES.create(name)).__name__ == "Half"


@pytest.mark.parametrize("name, expected", [
    ("no_such_strategy", "unknown; allowed: btm_ems, equal_share"),
    ("missing.py:Half", "could not be loaded: FileNotFoundError"),
    ("broken.py:Half", "could not be loaded: SyntaxError"),
    ("half.py:Nope", "could not be loaded: AttributeError"),
    ("half.py:SiteSetpoints", "SiteSetpoints has no decide() method"),
])
def test_bad_strategy_names_are_one_line_errors(tmp_path, name, expected):
    (tmp_path / "half.py").write_text(HALF)
    (tmp_path / "broken.py").write_text("def oops(:\n")
    with pytest.raises(ValueError, match="site strategy") as err:
        SITE_STRATEGIES.create(name, tmp_path)
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_a_bad_strategy_in_a_scenario_is_a_scenario_error(tmp_path):
    scenario, base = load_scenario(scenario_file(tmp_path, "nowhere.py:Mine"))
    with pytest.raises(ScenarioError, match=r"agents\.0\.strategy"):
        assemble(scenario, base)


class Raises:
    def decide(self, obs):
        raise ZeroDivisionError("oops")


class Discharges:
    def decide(self, obs):
        return SiteSetpoints({ev.ev: -1.0 for ev in obs.evs})


class WrongType:
    def decide(self, obs):
        return {"ev1": 1.0}


class Slow:
    def decide(self, obs):
        time.sleep(0.05)
        return SiteSetpoints({})


@pytest.mark.parametrize("cls, timeout_s, reason", [
    (Raises, None, "raised ZeroDivisionError: oops"),
    (Discharges, None, "discharge set-point -1.0 kW for 'ev1' on a V1G site"),
    (WrongType, None, "returned dict, expected SiteSetpoints"),
    (Slow, 0.01, "limit 0.01 s"),
])
def test_failing_strategy_is_recorded_and_the_fallback_decides(cls, timeout_s, reason):
    registry = Registry("site strategy", "decide", {"bad": cls, **SITE_STRATEGIES})
    guarded = Guarded("agg_s", registry, "bad", "equal_share", check_setpoints,
                      timeout_s=timeout_s)
    obs = observation(time_s=900)
    decision = guarded(obs, 900)
    assert decision == SITE_STRATEGIES.create("equal_share").decide(obs)
    (fb,) = guarded.fallbacks
    assert (fb.time_s, fb.agent, fb.strategy, fb.observation) == (900, "agg_s", "bad", obs)
    assert reason in fb.reason


def test_timeout_must_be_positive():
    with pytest.raises(ValueError, match="timeout_s"):
        Guarded("a", SITE_STRATEGIES, "uncontrolled", "equal_share", check_setpoints, timeout_s=0)


def test_capacity_limit_reaches_the_strategy():
    from flexcosim.agents.site import SiteAggregator

    agent = SiteAggregator("s", "equal_share")
    agent.capacity_kw = 1.0
    assert agent.decide(observation()).power_kw["ev1"] == pytest.approx(1.0)
    assert agent.last[0].capacity_kw == 1.0


@pytest.mark.mosaik
def test_a_crashing_user_strategy_does_not_end_the_run(tmp_path):
    (tmp_path / "crash.py").write_text(CRASH_IN_THE_EVENING)
    scenario, base = load_scenario(scenario_file(tmp_path, "crash.py:CrashAfterSix"))
    summary = run_scenario(scenario, tmp_path / "run", base, progress=False)
    fallbacks = json.loads((tmp_path / "run" / "fallbacks.json").read_text())["fallbacks"]
    assert summary["agent_fallbacks"] == len(fallbacks) > 0
    first = fallbacks[0]
    assert first["strategy"] == "crash.py:CrashAfterSix"
    assert first["reason"].startswith("raised RuntimeError: no idea what to do (at ")
    assert first["reason"].endswith("crash.py:8)")  # the file and line of the raise
    assert first["time_s"] >= 18 * 3600 and first["observation"]["evs"]
    # the run went on to the end of the day with the fallback charging the EVs
    assert summary["ev_energy_delivered_kwh"] > 1.0
    assert max(f["time_s"] for f in fallbacks) <= scenario.duration_s - scenario.step_s


def test_every_role_registry_is_a_registry_with_its_decision_method():
    for registry, method in ((SITE_STRATEGIES, "decide"), (PRICING, "offer"),
                             (SCHEDULERS, "schedule")):
        assert isinstance(registry, Registry) and registry.method == method
        for name in registry:
            assert callable(getattr(registry.create(name), method))


def test_scenario_schema_accepts_a_file_strategy():
    data = yaml.safe_load(shipped()["lv-feeder-20bus"].read_text())
    data["agents"][0]["strategy"] = "x/y.py:Z"
    assert parse_scenario(data).agents[0].strategy == "x/y.py:Z"
