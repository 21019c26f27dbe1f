"""Issue 9: a run folder never loses or mixes data, and says whether it is complete.

Items 2 (existing --out), 3 (non-converged power flows), 4 (failing fallback), 5 (a
strategy calling ``sys.exit``), 6 (Ctrl-C) and 8 (injected events are recorded), on a
four-hour cut of the LV feeder study (16 steps, about a second per run). The CLI
runs in-process (``main``) except where the process itself is under test (Ctrl-C).
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from flexcosim.agents.registry import Guarded, Registry
from flexcosim.agents.site import SITE_STRATEGIES, SiteSetpoints, check_setpoints
from flexcosim.cosim.cli import main
from flexcosim.cosim.results import read_timeseries
from flexcosim.cosim.run import LOCK, run_scenario
from flexcosim.cosim.session import ChargerOutage, Session
from flexcosim.cosim.world import assemble
from flexcosim.scenarios.catalog import shipped
from flexcosim.scenarios.schema import ScenarioError, parse_scenario

pytestmark = pytest.mark.mosaik

HOURS = 4


def lv_data(**edits) -> dict:
    data = yaml.safe_load(shipped()["lv-feeder-20bus"].read_text())
    data["duration_s"] = HOURS * 3600
    data["variants"] = {}  # one run, not the study's four variants
    data.update(edits)
    return data


def write(tmp_path: Path, data: dict, name: str = "scenario.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def flexcosim(*args: str, cwd=None) -> subprocess.CompletedProcess:
    exe = shutil.which("flexcosim", path=str(Path(sys.executable).parent))
    cmd = [exe] if exe else [sys.executable, "-m", "flexcosim.cosim.cli"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=300, cwd=cwd)


def one_line_error(result: subprocess.CompletedProcess, code: int = 2) -> str:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def cli(capsys, *args: str) -> subprocess.CompletedProcess:
    """``flexcosim *args`` in this process, as a CompletedProcess."""
    code = main(list(args))
    captured = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, captured.out, captured.err)


# --- item 2: an existing --out is not trusted ---------------------------------------------


def test_second_run_into_one_folder_is_refused_and_overwrite_clears_only_run_outputs(
        tmp_path, capsys):
    long_run = write(tmp_path, lv_data(duration_s=7200))
    short_run = write(tmp_path, lv_data(duration_s=3600), "short.yaml")
    out = tmp_path / "run"
    assert cli(capsys, "run", str(long_run), "--out", str(out), "--no-progress").returncode == 0
    (out / "notes.txt").write_text("mine")

    line = one_line_error(cli(capsys, "run", str(short_run), "--out", str(out), "--no-progress"))
    assert "not empty" in line and "--overwrite" in line
    assert json.loads((out / "manifest.json").read_text())["status"] == "complete"

    result = cli(capsys, "run", str(short_run), "--out", str(out), "--no-progress", "--overwrite")
    assert result.returncode == 0, result.stderr
    assert (out / "notes.txt").read_text() == "mine"
    ts = read_timeseries(out / "timeseries")
    assert sorted(ts.time_s.unique()) == [0, 900, 1800, 2700]  # no part of the 4-h run left
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"]["recorded"] == summary["steps"]["expected"] == 4


def test_a_folder_in_use_is_refused_and_a_stale_lock_is_taken_over(tmp_path):
    scenario = parse_scenario(lv_data(duration_s=1800))
    out = tmp_path / "run"
    out.mkdir()
    (out / LOCK).write_text(json.dumps({"pid": os.getpid(), "host": os.uname().nodename}))
    with pytest.raises(ScenarioError, match="in use by another run"):
        run_scenario(scenario, out, progress=False)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    (out / LOCK).write_text(json.dumps({"pid": int(dead), "host": os.uname().nodename}))
    run_scenario(scenario, out, progress=False)
    assert not (out / LOCK).exists()


@pytest.mark.parametrize("bad_out", ["a_file", "/proc/flexcosim-x"])
def test_unusable_out_is_one_line(tmp_path, capsys, bad_out):
    (tmp_path / "a_file").write_text("x")
    out = bad_out if bad_out.startswith("/") else str(tmp_path / bad_out)
    line = one_line_error(cli(capsys, "run", str(write(tmp_path, lv_data())), "--out", out))
    assert "--out" in line and out in line


# --- item 3: non-converged power flows are counted, flagged, and never crash -------------


def test_non_converged_steps_are_counted_and_flagged(tmp_path, capsys):
    data = lv_data(duration_s=3600)
    data["buildings"][0]["profile"]["peak_kw"] = 2000.0  # 2 MW per house on a 400 V feeder
    path = write(tmp_path, data)
    result = cli(capsys, "run", str(path), "--out", str(tmp_path / "run"), "--no-progress")
    assert result.returncode == 0, result.stderr
    assert "warning: power flow did not converge at 4 of 4 steps" in result.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    steps = summary["steps"]
    assert steps["power_flow_not_converged"] == steps["recorded"] == 4
    assert steps["power_flow_converged"] == 0
    assert summary["min_voltage_pu"] is None and summary["max_transformer_loading_pct"] is None
    assert summary["flags"] and (tmp_path / "run" / "voltage_band.png").is_file()
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["flags"] == summary["flags"]


# --- items 4 and 5: strategies that exit, fallbacks that fail -------------------------------


EXIT = """
import sys


class Quitter:
    def decide(self, obs):
        sys.exit(3)
"""


def test_a_strategy_calling_sys_exit_is_a_strategy_failure(tmp_path):
    (tmp_path / "quitter.py").write_text(EXIT)
    data = lv_data()
    data["agents"][0]["strategy"] = "quitter.py:Quitter"
    scenario = parse_scenario(data)
    summary = run_scenario(scenario, tmp_path / "run", tmp_path, progress=False)
    assert summary["status"] == "complete"
    assert summary["agent_fallbacks"] == 6 * HOURS * 4  # six sites, every step
    reasons = json.loads((tmp_path / "run" / "fallbacks.json").read_text())["fallbacks"]
    assert reasons[0]["reason"].startswith("raised SystemExit: 3 (at ")
    assert reasons[0]["reason"].endswith("quitter.py:7)")  # where the strategy called exit


@pytest.mark.parametrize("target", ["sys:exit", "os:system", "json:dumps"])
def test_targets_that_are_not_strategies_are_refused_before_the_run(tmp_path, target):
    data = lv_data()
    data["agents"][0]["strategy"] = target
    with pytest.raises(ScenarioError, match="neither a class"):
        assemble(parse_scenario(data), tmp_path)


class _Broken:
    def decide(self, obs):
        raise RuntimeError("broken")


def test_a_failing_fallback_falls_to_the_last_resort():
    registry = Registry("site strategy", builtins={"broken": _Broken},
                        last_resort=SITE_STRATEGIES.last_resort)
    guarded = Guarded("agg", registry, "broken", "broken", check_setpoints)
    from tests.test_plugins import observation

    assert guarded(observation(), 0) == SiteSetpoints({})
    assert [f.strategy for f in guarded.fallbacks] == ["broken", "broken"]


# --- item 6: Ctrl-C keeps what was simulated -------------------------------------------------


CTRL_C = """
import os
import signal

from flexcosim.agents.site import SiteSetpoints


class CtrlC:
    def decide(self, obs):
        if obs.time_s >= 3600:
            os.kill(os.getpid(), signal.SIGINT)
        return SiteSetpoints({})
"""


def test_ctrl_c_flushes_marks_the_folder_and_exits_130(tmp_path, sigint_as_in_a_terminal):
    (tmp_path / "ctrl_c.py").write_text(CTRL_C)
    data = lv_data()
    data["agents"][0]["strategy"] = "ctrl_c.py:CtrlC"
    out = tmp_path / "run"
    line = one_line_error(flexcosim("run", str(write(tmp_path, data)), "--out", str(out),
                                    "--no-progress"), code=130)
    assert "interrupted at t=" in line
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    until = manifest["simulated_until_s"]
    # the strategy fires at 3600 s, when the row of [2700, 3600) is not yet written
    assert 2700 <= until < HOURS * 3600 and f"t={until} s" in line
    ts = read_timeseries(out / "timeseries")
    assert sorted(ts.time_s.unique()) == list(range(0, until, 900))  # every step, none partial
    assert ts.groupby("time_s").size().nunique() == 1
    assert json.loads((out / "summary.json").read_text())["status"] == "interrupted"
    assert not (out / LOCK).exists()


# --- item 8: injected events are in the saved run folder -------------------------------------


def test_injected_events_are_recorded(tmp_path):
    scenario = parse_scenario(lv_data(duration_s=3600))
    with Session(assemble(scenario), tmp_path / "run") as session:
        session.advance(2)
        session.inject(ChargerOutage("home_bus_4", 1))
        session.advance(1)
        out = session.save()
    events = (out / "events_injected.csv").read_text().splitlines()
    assert events[0] == "time_s,kind,arguments"
    assert events[1].startswith("1800,ChargerOutage,")
    assert '""site"": ""home_bus_4""' in events[1]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["events_injected"] == [
        {"time_s": 1800, "kind": "ChargerOutage",
         "arguments": {"site": "home_bus_4", "chargers": 1}}]
    assert manifest["status"] == "partial" and manifest["simulated_until_s"] == 2700


def test_run_help_says_that_strategy_targets_run_code(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "imported and run" in text and "--overwrite" in text


def test_a_scenario_error_found_while_building_leaves_no_folder(tmp_path):
    data = lv_data()
    data["sites"][0]["buses"] = ["no_such_bus"]
    with pytest.raises(ScenarioError, match="no_such_bus"):
        run_scenario(parse_scenario(data), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_a_bad_strategy_in_a_later_variant_is_refused_before_any_run(tmp_path, capsys):
    data = lv_data(variants={"first": {}, "second": {"agents": [
        {"role": "site_aggregator", "sites": "home", "strategy": "sys:exit"}]}})
    out = tmp_path / "run"
    line = one_line_error(cli(capsys, "run", str(write(tmp_path, data)), "--out", str(out)))
    assert "variants.second.agents.0.strategy" in line and "'sys:exit'" in line
    assert not out.exists()
