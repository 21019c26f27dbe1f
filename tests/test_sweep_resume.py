"""Sweeps at scale on a reduced LV feeder (2 h, 6 EVs): executors agree, resume cannot lie, failures stay local."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from flexcosim.scenarios.catalog import load_scenario
from flexcosim.scenarios.schema import parse_scenario
from flexcosim.scenarios.sweep import run_sweep
from flexcosim.scenarios.sweep_points import sweep_points
from flexcosim.scenarios.sweep_state import MARKER, point_state

pytestmark = pytest.mark.mosaik


def feeder(sweep: dict, hours: int = 1) -> dict:
    """The LV feeder for ``hours`` from midnight, EVs at home half charged, with ``sweep``."""
    scenario, _ = load_scenario("lv-feeder-20bus")
    data = scenario.model_dump(mode="json")
    data["variants"] = {}  # the points of the sweep alone, not of the study's four variants
    data["duration_s"] = hours * 3600
    data["fleet"][0].update(soc0_min=0.3, soc0_max=0.6)
    data["sweep"] = sweep
    return data


#: Two dotted fields zipped, three Monte-Carlo replications: 6 points.
ZIPPED = {"axes": [{"path": "fleet.0.count", "values": [4, 6]},
                   {"path": "pv.0.peak_kw", "values": [2.0, 6.0]}],
          "combine": "zip", "replications": 3}


def point_files(out: Path) -> dict[str, bytes]:
    return {p.parent.name: p.read_bytes() for p in sorted(out.glob("*/summary.json"))}


def markers(out: Path) -> dict[str, int]:
    return {p.parent.name: p.stat().st_mtime_ns for p in out.glob(f"*/{MARKER}")}


@pytest.mark.slow
def test_process_pool_and_dask_localcluster_give_identical_results(tmp_path):
    scenario = parse_scenario(feeder(ZIPPED, hours=2))
    out = tmp_path / "pool"
    result = run_sweep(scenario, out, workers=2, progress=False)
    assert result["status"] | {"complete": 6, "ran": 6, "reused": 0, "failed": {}, "missing": []} == result["status"]
    dask = run_sweep(scenario, tmp_path / "dask", workers=2, executor="dask", progress=False)
    assert dask["status"]["ran"] == 6 and not dask["status"]["failed"]
    assert point_files(tmp_path / "dask") == point_files(out) and len(point_files(out)) == 6
    assert dask["annual"] == result["annual"]
    per_point = json.loads((out / "summary.json").read_text())["points"]
    # replications draw differently; the weighted totals are their mean
    loading = {p: per_point[p]["max_transformer_loading_pct"] for p in per_point if p.startswith("count-6")}
    assert len(set(loading.values())) == 3
    energy = [per_point[f"count-6_peak_kw-6.0_rep{r}"]["ev_energy_delivered_kwh"] for r in range(3)]
    assert result["annual"]["count-6_peak_kw-6.0"]["base"]["total_energy_mwh"] == pytest.approx(sum(energy) / 3 / 1e3)


def test_truncated_summary_or_parquet_part_reruns_that_point(tmp_path):
    # 4 steps, flushed every 16: each point's series is one Parquet part
    scenario = parse_scenario(feeder({"axes": [{"path": "fleet.0.count", "values": [2, 3, 4, 5, 6]}]}))
    out = tmp_path
    result = run_sweep(scenario, out, workers=1, progress=False)
    parts = {p.name: sorted((out / p.name / "timeseries").glob("part-*.parquet")) for p in sweep_points(scenario)}
    summary = out / "count-3" / "summary.json"
    summary.write_bytes(summary.read_bytes()[:40])
    parts["count-4"][0].write_bytes(parts["count-4"][0].read_bytes()[:100])
    shutil.copy(parts["count-5"][0], parts["count-5"][0].with_name("part-00007.parquet"))  # rows twice
    parts["count-6"][0].unlink()  # a point missing a part would report too little if trusted
    before = markers(out)
    again = run_sweep(scenario, out, workers=1, progress=False)
    assert again["status"]["ran"] == 4 and again["status"]["reused"] == 1
    after = markers(out)
    assert {p for p in after if after[p] != before[p]} == {"count-3", "count-4", "count-5", "count-6"}
    assert again["annual"] == result["annual"]
    assert len(list((out / "_aside").iterdir())) == 4  # the damaged folders, kept for inspection


@pytest.mark.slow
def test_sigkill_mid_sweep_then_resume_recomputes_only_unfinished(tmp_path):
    data = feeder({"axes": [{"path": "fleet.0.count", "values": [3, 4, 5, 6]}]})
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(data))
    out = tmp_path / "out"
    exe = shutil.which("flexcosim")
    cmd = [exe] if exe else [sys.executable, "-m", "flexcosim.cosim.cli"]
    proc = subprocess.Popen([*cmd, "sweep", "run", str(path), "--out", str(out), "--workers", "1",
                             "--no-progress"], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not markers(out) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = markers(out)
    assert 1 <= len(done) < 4, "the kill should land mid-sweep"
    again = run_sweep(parse_scenario(data), out, workers=2, progress=False)
    assert again["status"]["reused"] == len(done) and again["status"]["ran"] == 4 - len(done)
    assert {p: t for p, t in markers(out).items() if p in done} == done
    assert again["status"]["complete"] == 4


def test_editing_the_scenario_reruns_exactly_the_affected_points(tmp_path):
    data = feeder({"axes": [{"name": "pv", "levels": {"small": {"set": {"pv.0.peak_kw": 2.0}},
                                                      "large": {"set": {"pv.0.peak_kw": 6.0}}}},
                            {"path": "fleet.0.count", "values": [4]}]})
    first = run_sweep(parse_scenario(data), tmp_path, workers=1, progress=False)
    assert first["status"]["ran"] == 2
    before = markers(tmp_path)
    data["sweep"]["axes"][0]["levels"]["large"]["set"]["pv.0.peak_kw"] = 8.0
    edited = parse_scenario(data)
    again = run_sweep(edited, tmp_path, workers=1, progress=False)
    assert again["status"]["ran"] == 1 and again["status"]["reused"] == 1
    after = markers(tmp_path)
    assert {p for p in after if after[p] != before[p]} == {"large_count-4"}
    resolved = yaml.safe_load((tmp_path / "large_count-4" / "scenario.yaml").read_text())
    assert resolved["pv"][0]["peak_kw"] == 8.0
    assert all(point_state(tmp_path / p.name, p.hash) == "complete" for p in sweep_points(edited))


def test_a_point_that_raises_leaves_the_others_finished_and_listed(tmp_path):
    broken = {"set": {"buildings.0.profile": {"kind": "csv", "path": "no-such-load.csv"}}}
    data = feeder({"axes": [{"name": "load", "levels": {"ok": {}, "broken": broken}}]})
    scenario = parse_scenario(data)
    result = run_sweep(scenario, tmp_path, workers=2, progress=False)
    status = result["status"]
    assert list(status["failed"]) == ["broken"] and "no-such-load.csv" in status["failed"]["broken"]
    assert status["complete"] == 1 and "over the 1 complete points of 2" in status["note"]
    assert "Incomplete sweep" in (tmp_path / "annual_energy.md").read_text()
    assert list(result["annual"]["ok"]) == ["base"] and "broken" not in result["annual"]
    done = markers(tmp_path)
    again = run_sweep(scenario, tmp_path, workers=2, progress=False)  # failed points are not retried
    assert again["status"]["ran"] == 0 and list(again["status"]["failed"]) == ["broken"]
    retried = run_sweep(scenario, tmp_path, workers=2, retry_failed=True, progress=False)
    assert retried["status"]["ran"] == 1 and list(retried["status"]["failed"]) == ["broken"]
    assert markers(tmp_path) == done


def test_a_point_over_its_timeout_is_killed_and_recorded(tmp_path):
    data = feeder({"axes": [{"path": "fleet.0.count", "values": [4, 6]}]})
    result = run_sweep(parse_scenario(data), tmp_path, workers=1, timeout_s=0.2, progress=False)
    assert result["status"]["failed"] == {name: "timeout: still running after 0.2 s"
                                          for name in ("count-4", "count-6")}
    assert result["annual"] == {} and not (tmp_path / "loading_histograms.png").exists()


def test_cli_lists_runs_one_point_and_reports_what_is_missing(tmp_path, capsys):
    from flexcosim.cosim.cli import main

    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(feeder({"axes": [{"path": "fleet.0.count", "values": [4, 6]}],
                                           "replications": 2})))
    assert main(["sweep", "list", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in lines] == [
        ["0", "count-4_rep0"], ["1", "count-4_rep1"], ["2", "count-6_rep0"], ["3", "count-6_rep1"]]
    out = tmp_path / "out"
    assert main(["sweep", "run", str(path), "--out", str(out), "--point", "2", "--no-progress"]) == 0
    assert markers(out).keys() == {"count-6_rep0"} and not (out / "summary.json").exists()
    capsys.readouterr()
    assert main(["sweep", "report", str(out)]) == 1  # three points missing
    status = json.loads((out / "summary.json").read_text())["status"]
    assert status["missing"] == ["count-4_rep0", "count-4_rep1", "count-6_rep1"] and status["complete"] == 1
    assert main(["sweep", "run", str(path), "--point", "4"]) == 2
    assert "--point 4 is not a point; allowed: 0-3" in capsys.readouterr().err
    assert main(["sweep", "run", str(path), "--out", str(out), "--executor", "dask", "--timeout", "5"]) == 2
    assert "timeout is enforced by the local executor only" in capsys.readouterr().err


def test_a_killed_worker_is_recorded_and_the_others_finish(tmp_path):
    (tmp_path / "killer.py").write_text(
        "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)  # as the OOM killer would\n"
        "class Strategy:\n    pass\n")
    killed = {"set": {"agents.0.strategy": "killer.py:Strategy"}}
    data = feeder({"axes": [{"name": "agent", "levels": {"ok": {}, "killed": killed}}]})
    result = run_sweep(parse_scenario(data), tmp_path / "out", tmp_path, workers=2, progress=False)
    assert result["status"]["failed"] == {"killed": "worker process died (exit code -9)"}
    assert result["status"]["complete"] == 1 and list(result["annual"]) == ["ok"]
