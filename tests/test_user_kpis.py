"""User KPIs of a run: requested, delivered and missing energy, waiting, warm-up, start of run."""

import numpy as np
import pytest

from flexcosim.cosim.run import run_scenario
from flexcosim.cosim.world import assemble
from flexcosim.scenarios.catalog import load_scenario
from flexcosim.scenarios.schema import ScenarioError

BATTERY_KW = 3.7 * 0.93  # a 3.7 kW wallbox at 93 % efficiency, into the battery


def test_evs_at_home_start_charged_unless_asked():
    scenario, base = load_scenario("lv-feeder-20bus", ["fleet.0.soc0_min=0.3", "fleet.0.soc0_max=0.5"])
    fleet = assemble(scenario, base).fleets["commuter"][0]
    assert np.allclose(fleet.soc, 0.9)  # charged before the run: no burst in the first step
    scenario, base = load_scenario("lv-feeder-20bus", ["fleet.0.soc0_min=0.3", "fleet.0.soc0_max=0.5",
                                                       "fleet.0.soc0_at_home=drawn"])
    fleet = assemble(scenario, base).fleets["commuter"][0]
    assert ((fleet.soc >= 0.3) & (fleet.soc <= 0.5)).all()


def test_warmup_must_leave_something():
    with pytest.raises(ScenarioError, match="warmup_s 86400 leaves nothing"):
        load_scenario("lv-feeder-20bus", ["warmup_s=86400"])


@pytest.mark.mosaik
def test_missing_energy_at_the_horizon_share_and_waiting(tmp_path):
    # 1 h from midnight, two EVs per one-charger site, each at SOC 0.5 wanting 0.9 of 40 kWh
    scenario, base = load_scenario("lv-feeder-20bus", [
        "duration_s=3600", "fleet.0.count=12", "fleet.0.soc0_at_home=drawn",
        "fleet.0.soc0_min=0.5", "fleet.0.soc0_max=0.5"])
    summary = run_scenario(scenario, tmp_path / "run", base, progress=False)
    requested = 6 * 16.0  # only the six EVs that got a charger asked the site for energy
    assert summary["ev_energy_requested_kwh"] == pytest.approx(requested)
    assert summary["ev_energy_missing_at_horizon_kwh"] == pytest.approx(requested - 6 * BATTERY_KW)
    assert summary["share_of_requested_energy_delivered"] == pytest.approx(BATTERY_KW / 16.0)
    assert summary["waiting_ev_hours"] == pytest.approx(6 * 1.0)  # one EV per site waited the hour
    assert summary["charging_sessions"] == 6
    evs = (tmp_path / "run" / "evs.csv").read_text().splitlines()
    assert len(evs) == 1 + 6 and evs[0].startswith("ev,site,sessions,requested_kwh")


@pytest.mark.mosaik
def test_the_warmup_is_simulated_but_not_counted(tmp_path):
    # each EV needs 4 kWh: the first hour brings BATTERY_KW, the second the rest
    sets = ["duration_s=14400", "fleet.0.soc0_at_home=drawn", "fleet.0.soc0_min=0.8",
            "fleet.0.soc0_max=0.8", "tariff={energy: {kind: flat, price_per_kwh: 0.4}}"]
    scenario, base = load_scenario("lv-feeder-20bus", [*sets, "warmup_s=3600"])
    summary = run_scenario(scenario, tmp_path / "run", base, progress=False)
    rest = 4.0 - BATTERY_KW
    assert summary["warmup_s"] == 3600
    assert summary["ev_energy_delivered_kwh"] == pytest.approx(6 * rest)
    assert summary["ev_energy_requested_kwh"] == pytest.approx(6 * rest)
    assert summary["costs"]["evs"]["energy_cost"] == pytest.approx(6 * rest / 0.93 * 0.4)


def test_the_v2g_example_is_a_valid_scenario_with_a_v1g_variant():
    from pathlib import Path

    scenario, _ = load_scenario(Path(__file__).resolve().parents[1] / "examples" / "v2g.yaml")
    assert scenario.sites[0].v2g and not scenario.variant("v1g").sites[0].v2g
    assert scenario.tariff is not None and scenario.fleet[0].vehicle.max_discharge_kw > 0
