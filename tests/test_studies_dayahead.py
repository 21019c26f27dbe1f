"""The whole day-ahead studies as shipped (slow): what their study pages report."""

import json

import pytest

from flexcosim.cosim.compare import run_variants
from flexcosim.scenarios.catalog import load_scenario

pytestmark = [pytest.mark.slow, pytest.mark.mosaik]


def test_seed000_study(tmp_path):
    scenario, base = load_scenario("seed000-pv-ev")
    s = run_variants(scenario, tmp_path, base, progress=False)
    for name in ("aggregator_power.png", "net_power.png", "kpis.md"):
        assert (tmp_path / name).is_file()
    agg = lambda v, a: s[v]["dayahead"]["aggregators"][a]  # noqa: E731
    # moderate needs no export limit; critical curtails aggregator 2 more than 1
    assert agg("moderate", "agg1")["pv_curtailed_kwh"] == agg("moderate", "agg2")["pv_curtailed_kwh"] == 0
    assert agg("critical", "agg2")["pv_curtailed_kwh"] > agg("critical", "agg1")["pv_curtailed_kwh"]
    # without control aggregator 2 exceeds its feeder, with control far less
    assert agg("critical_no_coordination", "agg2")["head"]["hours_over_100"] > \
        agg("critical", "agg2")["head"]["hours_over_100"]
    assert s["critical_half_ratings"]["dayahead"]["plan"]["status"] == "fallback"
    for v in s:
        assert s[v]["dayahead"]["transformer"]["hours_unexplained"] == 0 or v.endswith(
            ("no_coordination", "half_ratings"))


def test_lv_feeder_study(tmp_path):
    scenario, base = load_scenario("lv-feeder-20bus")
    s = run_variants(scenario, tmp_path, base, progress=False)
    assert (tmp_path / "voltage_profile.png").is_file()
    assert s["base"]["min_voltage_pu"] == pytest.approx(0.869, abs=1e-3)
    assert s["base"]["hours_voltage_below_0_9"] == pytest.approx(7.5)
    for v in ("reinforcement", "battery_rental", "battery_rental_2kw"):
        assert s[v]["hours_voltage_below_0_9"] < s["base"]["hours_voltage_below_0_9"]
    rental = s["battery_rental"]["dayahead"]
    assert rental["dso_payment_eur_per_year"] == pytest.approx(
        sum(rental["aggregator_revenue_eur_per_year"].values()))
    json.dumps(s)  # the summary is plain data
