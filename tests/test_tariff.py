"""Tariffs: price series, meter cost by hand, and a tariff's effect on the cost KPIs of a run."""

import numpy as np
import pandas as pd
import pytest

from flexcosim.cosim.models.tariff import TariffSeries, meter_cost, tariff_series
from flexcosim.cosim.run import run_scenario
from flexcosim.scenarios.catalog import load_scenario
from flexcosim.scenarios.schema import ScenarioError, Tariff

START = pd.Timestamp("2019-01-16T00:00:00+01:00")
TOU = {"kind": "time_of_use", "periods": [{"start": "07:00", "price_per_kwh": 0.30},
                                          {"start": "23:00", "price_per_kwh": 0.12}]}


def test_time_of_use_wraps_around_midnight():
    series = tariff_series(Tariff(energy=TOU), START + pd.Timedelta(hours=6), 3600, 20)
    # 06:00 is still the 23:00 period of the day before; 07:00-22:00 day price; 23:00 night again
    assert series.import_per_kwh.tolist() == [0.12] + [0.30] * 16 + [0.12] * 3
    assert series.export_per_kwh is series.import_per_kwh  # export earns the energy price


def test_price_csv_and_fixed_export_price(tmp_path):
    times = pd.date_range("2019-01-16", periods=4, freq="6h")
    pd.DataFrame({"time": times.strftime("%Y-%m-%dT%H:%M"), "eur": [0.1, 0.2, 0.3, 0.4]}).to_csv(
        tmp_path / "p.csv", index=False)
    tariff = Tariff(energy={"kind": "csv", "path": "p.csv"}, export_per_kwh=0.05)
    series = tariff_series(tariff, START + pd.Timedelta(hours=3), 3 * 3600, 4, tmp_path)
    assert series.import_per_kwh.tolist() == [0.1, 0.2, 0.2, 0.3]  # 03:00, 06:00, 09:00, 12:00
    assert series.export_per_kwh.tolist() == [0.05] * 4


def test_meter_cost_by_hand_over_two_months():
    # 4 steps of 1 h from 22:00 on 31 January: two in January, two in February
    start = pd.Timestamp("2019-01-31T22:00:00+00:00")
    tariff = TariffSeries(np.array([0.2, 0.2, 0.1, 0.1]), np.array([0.05] * 4), demand_charge_per_kw=10.0)
    cost = meter_cost(np.array([5.0, -2.0, 3.0, 4.0]), tariff, start, 3600)
    assert cost["energy_cost"] == pytest.approx(5 * 0.2 + 3 * 0.1 + 4 * 0.1)  # 1.7
    assert cost["export_revenue"] == pytest.approx(2 * 0.05)
    assert cost["demand_charge"] == pytest.approx(10.0 * (5.0 + 4.0))  # January peak + February peak
    assert cost["net_cost"] == pytest.approx(1.7 + 90.0 - 0.1)


def test_a_bad_tariff_names_its_field():
    with pytest.raises(ScenarioError, match="'tariff.energy.time_of_use.periods.0.start': value '7:00'"):
        load_scenario("lv-feeder-20bus", ['tariff={energy: {kind: time_of_use, periods: '
                                          '[{start: "7:00", price_per_kwh: 0.3}]}}'])
    with pytest.raises(ScenarioError, match="'tariff.energy.path'"):
        from flexcosim.cosim.world import assemble

        scenario, base = load_scenario("lv-feeder-20bus", ["tariff={energy: {kind: csv, path: none.csv}}"])
        assemble(scenario, base)


#: the LV feeder from midnight for 4 h: each of the 6 EVs at home needs 0.9 - 0.8 of 40 kWh = 4 kWh
SHORT = ["duration_s=14400", "fleet.0.soc0_at_home=drawn", "fleet.0.soc0_min=0.8",
         "fleet.0.soc0_max=0.8",
         'tariff={energy: {kind: time_of_use, periods: [{start: "00:00", price_per_kwh: 0.40}, '
         '{start: "02:00", price_per_kwh: 0.10}]}, demand_charge_per_kw: 10}']


def run(tmp_path, strategy, *extra):
    scenario, base = load_scenario("lv-feeder-20bus", [*SHORT, f"agents.0.strategy={strategy}", *extra])
    return run_scenario(scenario, tmp_path / strategy, base, progress=False)


@pytest.mark.mosaik
def test_the_tariff_sets_the_cost_and_the_optimal_strategy_sees_it(tmp_path):
    grid_kwh = 4.0 / 0.93  # 4 kWh into the battery through a 93 % charger
    free = run(tmp_path, "uncontrolled")
    cheap = run(tmp_path, "optimal")
    assert cheap["agent_fallbacks"] == 0
    for summary, price in ((free, 0.40), (cheap, 0.10)):
        # uncontrolled charges at once (before 02:00); optimal waits for the cheap hours
        for site in summary["costs"]["sites"].values():
            assert site["energy_cost"] == pytest.approx(grid_kwh * price)
            assert site["demand_charge"] == pytest.approx(3.7 * 10)  # one charger at full power
        assert summary["costs"]["evs"]["energy_cost"] == pytest.approx(6 * grid_kwh * price)
        assert summary["share_of_requested_energy_delivered"] == pytest.approx(1.0)
    evs = pd.read_csv(tmp_path / "optimal" / "evs.csv", index_col="ev")
    assert evs.energy_cost.to_numpy() == pytest.approx([grid_kwh * 0.10] * 6)
