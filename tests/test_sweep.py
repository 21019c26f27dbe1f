"""Sweeps: calendar, point scenarios, dotted paths, and a tiny UCD sweep that runs, reports and resumes."""

import json
from datetime import date, timedelta

import numpy as np
import pytest

from flexcosim.scenarios.catalog import load_scenario
from flexcosim.scenarios.schema import ScenarioError, parse_scenario
from flexcosim.scenarios.sweep import run_sweep
from flexcosim.scenarios.sweep_calendar import first_weekday, weekdays_in_month
from flexcosim.scenarios.sweep_points import replication_seed, scale_path, set_path, sweep_points

pytestmark = pytest.mark.mosaik


def annual_data() -> dict:
    scenario, _ = load_scenario("ucd-campus-annual")
    return scenario.model_dump(mode="json")


def test_first_weekday_and_weekday_counts_match_the_calendar():
    assert first_weekday(2019, 1) == date(2019, 1, 1)  # a Tuesday
    assert first_weekday(2019, 6) == date(2019, 6, 3)  # June 1st is a Saturday
    assert weekdays_in_month(2019, 1) == 23  # seed 004 section 5.3
    for month in range(1, 13):
        start = date(2019, month, 1)
        end = (start + timedelta(days=32)).replace(day=1)
        assert weekdays_in_month(2019, month) == np.busday_count(start, end)


def test_points_scale_the_fleet_move_the_day_and_keep_draws_across_variants():
    scenario, _ = load_scenario("ucd-campus-annual")
    points = sweep_points(scenario)
    assert len(points) == 9 * 2 * 2
    assert len({p.name for p in points}) == len(points)
    by_name = {p.name: p.scenario for p in points}
    jan = by_name["2019-01-01_p75_baseline"]
    assert jan.start.isoformat() == "2019-01-01T00:00:00+00:00"  # Irish winter time
    assert by_name["2019-04-01_p50_optimised"].start.isoformat() == "2019-04-01T00:00:00+01:00"
    assert [s.chargers for s in jan.sites] == [255, 99, 363]
    assert jan.visitors[0].count == 717
    assert {a.strategy for a in jan.agents if a.role == "site_aggregator"} == {"optimal_committed"}
    assert jan.buildings[0].profile.peak_kw == pytest.approx(420.0 * 1.10)
    assert jan.seed == by_name["2019-01-01_p50_optimised"].seed != by_name["2019-04-01_p50_optimised"].seed
    assert jan.sweep is None and not jan.variants


@pytest.mark.parametrize("edit, message", [
    (lambda s: s["axes"][0]["days"].update(months=[13]), "month 13"),
    (lambda s: s["axes"][0]["days"].update(timezone="Europe/Nowhere"), "IANA"),
    (lambda s: s["report"].update(profile_levels=["2019-06-03"]), "not swept"),
    (lambda s: s["report"].update(sum_over="month"), "not an axis"),
    (lambda s: s["axes"][1]["levels"].update({"x/../../victim": {}}), "'x/../../victim' is not allowed"),
    (lambda s: s["axes"].append({"path": "seed", "values": ["a/b"]}), "'seed-a/b' is not allowed"),
    (lambda s: s["axes"].append({"path": "seed", "values": [1], "levels": {"a": {}}}), "exactly one"),
    (lambda s: s["axes"].append({"name": "penetration", "path": "seed", "values": [1]}), "used twice"),
    (lambda s: s.update(combine="zip"), "equal length"),
    (lambda s: s["axes"].append({"path": "seed", "range": {"start": 0, "stop": 1e9, "step": 1}}),
     "allowed: 1 to 100000"),
])
def test_bad_sweep_fields_fail_in_one_line(edit, message):
    data = annual_data()
    edit(data["sweep"])
    with pytest.raises(ScenarioError, match=message) as err:
        parse_scenario(data)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("path, message", [
    ("fleet.0.count", "not an index of a list of 0"),
    ("sites.7.chargers", "not an index of a list of 3"),
    ("sites.0.chargers.x", "is a value"),
    ("location.altitude_m", "unknown field"),
])
def test_bad_paths_name_the_path(path, message):
    data = annual_data()
    data["sweep"]["axes"].append({"name": "x", "path": path, "values": [1]})
    with pytest.raises(ScenarioError, match=message):
        sweep_points(parse_scenario(data))


def test_variant_names_that_leave_the_folder_are_refused():
    data = annual_data()
    data["variants"]["x/../../victim"] = {}
    with pytest.raises(ScenarioError, match="name 'x/../../victim' is not allowed"):
        sweep_points(parse_scenario(data))


def test_dotted_paths_set_scale_and_fan_out():
    data = {"sites": [{"chargers": 3, "rated_kw": 11.0}, {"chargers": 5, "rated_kw": 7.4}],
            "grid": {"params": {}}, "buildings": [{"profile": {"peak_kw": 10.0}}, {"profile": {"path": "x.csv"}}]}
    set_path(data, "grid.params.base_load_factor", 0.5)
    scale_path(data, "sites.*.chargers", 1.5)
    scale_path(data, "sites.1.rated_kw", 2.0)
    scale_path(data, "buildings.*.profile.peak_kw", 1.1)  # the CSV profile has none: skipped
    assert data["grid"]["params"] == {"base_load_factor": 0.5}
    assert [s["chargers"] for s in data["sites"]] == [4, 8] and data["sites"][1]["rated_kw"] == 14.8
    assert data["buildings"][0]["profile"]["peak_kw"] == pytest.approx(11.0)
    with pytest.raises(ScenarioError, match="not a number"):
        scale_path(data, "buildings.1.profile.path", 2.0)


def test_product_zip_ranges_and_replications():
    scenario, _ = load_scenario("lv-feeder-20bus")
    data = scenario.model_dump(mode="json")
    data["variants"] = {}  # the axes and replications alone
    data["sweep"] = {"axes": [{"path": "fleet.0.count", "values": [2, 4, 6]},
                              {"path": "sites.0.rated_kw", "range": {"start": 3.7, "stop": 11.1, "step": 3.7}}],
                     "replications": 2}
    points = sweep_points(parse_scenario(data))
    assert len(points) == 3 * 3 * 2
    assert points[0].name == "count-2_rated_kw-3.7_rep0" and points[-1].name == "count-6_rated_kw-11.1_rep1"
    assert [p.scenario.sites[0].rated_kw for p in points[:6:2]] == pytest.approx([3.7, 7.4, 11.1])
    seeds = {p.replication: p.scenario.seed for p in points}
    assert seeds == {0: replication_seed(3, 0), 1: replication_seed(3, 1)} and seeds[0] != seeds[1] != 3
    assert all(p.scenario.seed == seeds[p.replication] for p in points)  # common random numbers
    assert len({p.hash for p in points}) == len(points)
    data["sweep"]["combine"] = "zip"
    zipped = sweep_points(parse_scenario(data))
    assert [(p.scenario.fleet[0].count, p.scenario.sites[0].rated_kw) for p in zipped[::2]] == [
        (2, 3.7), (4, 7.4), (6, 11.1)]


def tiny_sweep():
    """Two points: one April day, 50 %, baseline vs optimised, 20 EVs and few chargers."""
    data = annual_data()
    data["visitors"][0]["count"] = 20
    data["step_s"] = 1800  # half the power flows; the sweep logic does not care
    for site, chargers in zip(data["sites"], (8, 4, 10)):
        site["chargers"] = chargers
    for b in data["buildings"]:
        b["profile"]["peak_kw"] *= 0.25
    data["sweep"]["axes"][0]["days"]["months"] = [4]
    data["sweep"]["axes"][1]["levels"] = {"p50": {}}
    data["sweep"]["report"]["profile_levels"] = ["2019-04-01"]
    return parse_scenario(data)


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep")
    scenario = tiny_sweep()
    annual = run_sweep(scenario, out, workers=1, progress=False)["annual"]
    return scenario, out, annual


def test_sweep_runs_every_point_and_writes_the_report(swept):
    scenario, out, annual = swept
    names = [p.name for p in sweep_points(scenario)]
    assert names == ["2019-04-01_p50_baseline", "2019-04-01_p50_optimised"]
    for name in names:
        assert (out / name / "summary.json").exists()
    for report in ("summary.json", "annual_energy.md", "annual_energy.csv",
                   "loading_histograms.png", "day_profiles.png"):
        assert (out / report).stat().st_size > 0
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["points"]) == set(names)
    for variant, fig in annual["p50"].items():
        point = summary["points"][f"2019-04-01_p50_{variant}"]
        # the one day stands for April's 22 weekdays; site energies add up to the run's EV energy
        assert fig["weight"] == 22 and fig["points"] == 1
        assert sum(point["site_energy_kwh"].values()) == pytest.approx(point["ev_energy_delivered_kwh"])
        assert fig["total_energy_mwh"] == pytest.approx(point["ev_energy_delivered_kwh"] * 22 / 1e3)
        assert sum(fig["site_energy_mwh"].values()) == pytest.approx(fig["total_energy_mwh"])
    assert "total supplied" in (out / "annual_energy.md").read_text()
    assert (out / "annual_energy.csv").read_text().startswith("penetration,site,variant,energy_mwh\n")


def test_sweep_resumes_and_reruns_a_half_written_point(swept):
    scenario, out, annual = swept
    done = out / "2019-04-01_p50_baseline" / "summary.json"
    half = out / "2019-04-01_p50_optimised"
    mtime = done.stat().st_mtime_ns
    (half / "summary.json").unlink()  # as if the run stopped before its summary
    (half / "timeseries" / "part-99999.parquet").write_bytes(b"left over")
    again = run_sweep(scenario, out, workers=1, progress=False)
    assert done.stat().st_mtime_ns == mtime
    assert (half / "summary.json").exists()
    assert not (half / "timeseries" / "part-99999.parquet").exists()
    assert list((out / "_aside").iterdir())[0].name.startswith(half.name)  # moved aside, not deleted
    assert again["annual"] == annual
    assert again["status"] | {"reused": 1, "ran": 1} == again["status"]


def test_a_scenario_name_that_leaves_runs_is_refused_as_default_sweep_folder(tmp_path, monkeypatch, capsys):
    import yaml

    from flexcosim.cosim.cli import main

    data = annual_data()
    data["name"] = "../victim"
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(data))
    monkeypatch.chdir(tmp_path)
    for argv in (["run", str(path)], ["sweep", "run", str(path)]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "name '../victim' is not allowed" in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study.yaml"]
