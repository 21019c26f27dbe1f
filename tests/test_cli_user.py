"""The command line as users expect it: version, overrides, describe, schema, clean stdout."""

import json
import shutil
import subprocess
import sys

import pytest
import yaml

from flexcosim.cosim.cli import LIST_WIDTH, main
from flexcosim.scenarios.catalog import load_scenario, shipped
from flexcosim.scenarios.overrides import apply_overrides
from flexcosim.scenarios.schema import ScenarioError

#: a quarter day of the LV feeder with its sites behind the transformer, so `optimal` solves
SHORT = ["--set", "duration_s=21600", "--set", "sites.0.transformer=tx", "--set", "variants={}",
         "--no-progress"]


def flexcosim(*args: str, cwd=None) -> subprocess.CompletedProcess:
    exe = shutil.which("flexcosim")
    cmd = [exe] if exe else [sys.executable, "-m", "flexcosim.cosim.cli"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=300, cwd=cwd)


def strict_json(text: str):
    def reject(constant):
        raise ValueError(f"{constant} is not JSON")
    return json.loads(text, parse_constant=reject)


def test_version(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.startswith("flexcosim 0.")


def test_list_lines_are_short(capsys):
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines and max(map(len, lines)) <= LIST_WIDTH


def test_set_and_seed_change_the_validated_scenario():
    scenario, _ = load_scenario("lv-feeder-20bus", ["fleet.0.count=8", "sites.0.v2g=true",
                                                    "agents.0.strategy=equal_share"], seed=11)
    assert (scenario.fleet[0].count, scenario.sites[0].v2g, scenario.seed) == (8, True, 11)
    assert scenario.agents[0].strategy == "equal_share"


def test_set_star_sets_every_item():
    scenario, _ = load_scenario("ucd-campus", ["sites.*.chargers=3"])
    assert [site.chargers for site in scenario.sites] == [3, 3, 3]


@pytest.mark.parametrize("override, message", [
    ("fleet.0.count=-3", "scenario field 'fleet.0.count': value -3"),
    ("fleet.0.colour=red", "scenario field 'fleet.0.colour': unknown field"),
    ("sites.4.chargers=2", "--set sites.4.chargers: path 'sites.4.chargers': '4' is not an index "
     "of a list of 1; allowed: 0-0 or '*'"),
    ("grid.builder.kind=x", "--set grid.builder.kind: path 'grid.builder.kind': 'grid.builder' is "
     "a value"),
    ("nothing.here=1", "--set nothing.here: path 'nothing.here': no field 'nothing'; allowed: name"),
    ("duration_s", "--set 'duration_s': need path=value"),
])
def test_set_errors_name_the_path(override, message):
    with pytest.raises(ScenarioError) as err:
        load_scenario("lv-feeder-20bus", [override])
    assert message in str(err.value)


def test_set_error_on_the_command_line_is_one_line(capsys):
    assert main(["describe", "lv-feeder-20bus", "--set", "sites.0.rated_kw=fast"]) == 2
    assert capsys.readouterr().err.strip() == (
        "flexcosim: error: scenario field 'sites.0.rated_kw': value 'fast' is not allowed: "
        "input should be a valid number, unable to parse string as a number")


def test_overrides_do_not_touch_the_input():
    data = yaml.safe_load(shipped()["lv-feeder-20bus"].read_text())
    changed = apply_overrides(data, ["sites.0.chargers=2"])
    assert data["sites"][0]["chargers"] == 1 and changed["sites"][0]["chargers"] == 2


def test_describe_lists_buses_sites_strategies_and_what_runs(capsys):
    assert main(["describe", "lv-feeder-20bus", "--set", "variants={a: {}, b: {seed: 4}}"]) == 0
    out = capsys.readouterr().out
    assert "buses     bus_0, bus_1, bus_2," in out and "bus_20" in out
    assert "sites     home: 6 site(s) x 1 charger(s) of 3.7 kW: home_bus_4, home_bus_8" in out
    assert "agent     site_aggregator for home: strategy uncontrolled, fallback equal_share" in out
    assert "will run  2 variants, each into its own folder: a, b" in out


def test_schema_is_a_json_schema_of_the_scenario(capsys):
    assert main(["schema"]) == 0
    schema = strict_json(capsys.readouterr().out)
    assert schema["title"] == "Scenario" and "additionalProperties" in schema
    assert set(schema["required"]) >= {"name", "start", "duration_s", "step_s", "seed", "grid"}


def test_step_rejects_an_unknown_variant_and_a_sweep(capsys):
    assert main(["step", "ucd-campus", "--variant", "nope"]) == 2
    err = capsys.readouterr().err
    assert "--variant 'nope' is not a variant of 'ucd-campus'; allowed: baseline, optimised" in err
    assert main(["step", "ucd-campus-annual"]) == 2
    assert "is a sweep" in capsys.readouterr().err


def test_step_picks_the_variant():
    from flexcosim.cosim.cli import _one_scenario

    scenario, _ = load_scenario("ucd-campus")
    chosen = _one_scenario(scenario, "baseline")
    assert chosen.name == "ucd-campus/baseline" and not chosen.variants
    assert chosen.agents[-1].strategy == "random_share"


@pytest.mark.mosaik
def test_run_stdout_is_strict_json_without_the_solver_banner(tmp_path):
    result = flexcosim("run", "lv-feeder-20bus", *SHORT, "--set", "agents.0.strategy=optimal",
                       "--out", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr
    first, rest = result.stdout.split("\n", 1)
    assert first == f"run folder: {tmp_path / 'run'}"
    summary = strict_json(rest)
    assert summary["agent_fallbacks"] == 0  # HiGHS solved every schedule ...
    assert "HiGHS" not in result.stdout  # ... and its banner did not reach stdout


CRASH = """
class Crash:
    def decide(self, obs):
        raise RuntimeError("no idea what to do")
"""


@pytest.mark.mosaik
def test_a_failing_strategy_is_reported_once_with_its_file_and_line(tmp_path, capsys, caplog):
    (tmp_path / "crash.py").write_text(CRASH)
    data = yaml.safe_load(shipped()["lv-feeder-20bus"].read_text())
    data["agents"][0]["strategy"] = "crash.py:Crash"
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(data))
    assert main(["run", str(tmp_path / "s.yaml"), *SHORT, "--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    reports = [r.getMessage() for r in caplog.records if r.name == "flexcosim.strategies"]
    assert len(reports) == 1  # six site aggregators fail every step with it: one line
    assert f"{tmp_path / 'crash.py'}:4" in reports[0]
    fallbacks = strict_json((tmp_path / "run" / "fallbacks.json").read_text())["fallbacks"]
    assert len(fallbacks) > len(reports)  # every later failure is counted
    assert strict_json(out.split("\n", 1)[1])["agent_fallbacks"] == len(fallbacks)


def test_overrides_keep_the_order_of_mappings():
    plain, _ = load_scenario("ucd-campus")
    changed, _ = load_scenario("ucd-campus", ["seed=5"])
    assert list(changed.visitors[0].routes) == list(plain.visitors[0].routes)
    assert list(changed.variants) == list(plain.variants)
