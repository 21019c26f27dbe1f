"""Sweeps: calendar, point scenarios, and a tiny UCD sweep that runs, reports and resumes."""

import json
from datetime import date, timedelta

import numpy as np
import pytest

from flexcosim.scenarios.catalog import load_scenario
from flexcosim.scenarios.schema import ScenarioError, parse_scenario
from flexcosim.scenarios.sweep import first_weekday, run_sweep, sweep_points, weekdays_in_month

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
    assert {a.strategy for a in jan.agents if a.role == "site_aggregator"} == {"optimal"}
    assert jan.buildings[0].profile.peak_kw == pytest.approx(420.0 * 1.10)
    assert jan.seed == by_name["2019-01-01_p50_optimised"].seed != by_name["2019-04-01_p50_optimised"].seed
    assert jan.sweep is None and not jan.variants


@pytest.mark.parametrize("field, value, message", [
    ("months", [13], "month 13"),
    ("timezone", "Europe/Nowhere", "IANA"),
    ("profile_months", [6], "not swept"),
])
def test_bad_sweep_fields_fail_in_one_line(field, value, message):
    data = annual_data()
    data["sweep"][field] = value
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(data)


def tiny_sweep():
    """Two points: one April day, 50 %, baseline vs optimised, 20 EVs and few chargers."""
    data = annual_data()
    data["visitors"][0]["count"] = 20
    data["step_s"] = 1800  # half the power flows; the sweep logic does not care
    for site, chargers in zip(data["sites"], (8, 4, 10)):
        site["chargers"] = chargers
    for b in data["buildings"]:
        b["profile"]["peak_kw"] *= 0.25
    data["sweep"].update(months=[4], profile_months=[4], penetrations={"p50": {"fleet_factor": 1.0}})
    return parse_scenario(data)


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep")
    scenario = tiny_sweep()
    annual = run_sweep(scenario, out, progress=False)
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
        assert fig["weekdays"] == 22
        assert sum(point["site_energy_kwh"].values()) == pytest.approx(point["ev_energy_delivered_kwh"])
        assert fig["total_energy_mwh"] == pytest.approx(point["ev_energy_delivered_kwh"] * 22 / 1e3)
        assert sum(fig["site_energy_mwh"].values()) == pytest.approx(fig["total_energy_mwh"])
    assert "total supplied" in (out / "annual_energy.md").read_text()


def test_sweep_resumes_and_reruns_a_half_written_point(swept):
    scenario, out, annual = swept
    done = out / "2019-04-01_p50_baseline" / "summary.json"
    half = out / "2019-04-01_p50_optimised"
    mtime = done.stat().st_mtime_ns
    (half / "summary.json").unlink()  # as if the run stopped before its summary
    (half / "timeseries" / "part-99999.parquet").write_bytes(b"left over")
    again = run_sweep(scenario, out, progress=False)
    assert done.stat().st_mtime_ns == mtime
    assert (half / "summary.json").exists()
    assert not (half / "timeseries" / "part-99999.parquet").exists()
    assert again == annual
