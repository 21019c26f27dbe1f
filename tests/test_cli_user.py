"""The command line as users expect it: version, overrides, describe, schema, clean stdout."""

import json
import shutil
import subprocess
import sys

import pytest
import yaml

from flexcosim.cosim.cli import LIST_WIDTH
from flexcosim.scenarios.catalog import load_scenario, shipped
from flexcosim.scenarios.overrides import apply_overrides
from flexcosim.scenarios.schema import ScenarioError

#: a quarter day of the LV feeder with its sites behind the transformer, so `optimal` solves
SHORT = ["--set", "duration_s=21600", "--set", "sites.0.transformer=tx", "--no-progress"]


def flexcosim(*args: str, cwd=None) -> subprocess.CompletedProcess:
    exe = shutil.which("flexcosim")
    cmd = [exe] if exe else [sys.executable, "-m", "flexcosim.cosim.cli"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=300, cwd=cwd)


def strict_json(text: str):
    def reject(constant):
        raise ValueError(f"{constant} is not JSON")
    return json.loads(text, parse_constant=reject)


def test_version():
    result = flexcosim("--version")
    assert result.returncode == 0 and result.stdout.startswith("flexcosim 0.")


def test_list_lines_are_short():
    lines = flexcosim("list").stdout.splitlines()
    assert lines and max(map(len, lines)) <= LIST_WIDTH


def test_set_and_seed_change_the_validated_scenario():
    scenario, _ = load_scenario("lv-feeder-20bus", ["fleet.0.count=8", "sites.0.v2g=true",
                                                    "agents.0.strategy=equal_share"], seed=11)
    assert (scenario.fleet[0].count, scenario.sites[0].v2g, scenario.seed) == (8, True, 11)
    assert scenario.agents[0].strategy == "equal_share"


@pytest.mark.parametrize("override, message", [
    ("fleet.0.count=-3", "scenario field 'fleet.0.count': value -3"),
    ("fleet.0.colour=red", "scenario field 'fleet.0.colour': unknown field"),
    ("sites.4.chargers=2", "--set sites.4.chargers: 'sites.4' is not an item of a list of 1"),
    ("grid.builder.kind=x", "--set grid.builder.kind: 'grid.builder' is a value"),
    ("nothing.here=1", "--set nothing.here: 'nothing' is not in the scenario"),
    ("duration_s", "--set 'duration_s': need path=value"),
])
def test_set_errors_name_the_path(override, message):
    with pytest.raises(ScenarioError) as err:
        load_scenario("lv-feeder-20bus", [override])
    assert message in str(err.value)


def test_set_error_on_the_command_line_is_one_line():
    result = flexcosim("describe", "lv-feeder-20bus", "--set", "sites.0.rated_kw=fast")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == ("flexcosim: error: scenario field 'sites.0.rated_kw': value 'fast' "
                                     "is not allowed: input should be a valid number, unable to parse "
                                     "string as a number")


def test_overrides_do_not_touch_the_input():
    data = yaml.safe_load(shipped()["lv-feeder-20bus"].read_text())
    changed = apply_overrides(data, ["sites.0.chargers=2"])
    assert data["sites"][0]["chargers"] == 1 and changed["sites"][0]["chargers"] == 2


def test_describe_lists_buses_sites_strategies_and_what_runs():
    result = flexcosim("describe", "ucd-campus")
    assert result.returncode == 0
    out = result.stdout
    assert "vet_college_lv" in out  # a bus name
    assert "strategy css" in out and "strategy optimal_soft" in out
    assert "will run  2 variants, each into its own folder: baseline, optimised" in out


def test_schema_is_a_json_schema_of_the_scenario():
    schema = strict_json(flexcosim("schema").stdout)
    assert schema["title"] == "Scenario" and "additionalProperties" in schema
    assert set(schema["required"]) >= {"name", "start", "duration_s", "step_s", "seed", "grid"}


def test_step_rejects_an_unknown_variant_and_a_sweep():
    result = flexcosim("step", "ucd-campus", "--variant", "nope")
    assert result.returncode == 2
    assert "--variant 'nope' is not a variant of 'ucd-campus'; allowed: baseline, optimised" in result.stderr
    result = flexcosim("step", "ucd-campus-annual")
    assert result.returncode == 2 and "is a sweep" in result.stderr


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
def test_a_failing_strategy_is_reported_once_per_agent_with_its_file_and_line(tmp_path):
    (tmp_path / "crash.py").write_text(CRASH)
    data = yaml.safe_load(shipped()["lv-feeder-20bus"].read_text())
    data["agents"][0]["strategy"] = "crash.py:Crash"
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(data))
    result = flexcosim("run", str(tmp_path / "s.yaml"), *SHORT, "--out", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr
    reports = [line for line in result.stderr.splitlines() if "crash.py:Crash" in line]
    assert len(reports) == 6  # one per site aggregator, not one per step
    assert all(f"{tmp_path / 'crash.py'}:4" in line for line in reports)
    fallbacks = strict_json((tmp_path / "run" / "fallbacks.json").read_text())["fallbacks"]
    assert len(fallbacks) > len(reports)  # every later failure is counted
    assert strict_json(result.stdout.split("\n", 1)[1])["agent_fallbacks"] == len(fallbacks)
