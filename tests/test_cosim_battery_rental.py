"""End to end: seed 003 battery rental on the LV feeder through mosaik, pandapower and HiGHS.

The whole study day (96 steps of 15 min): the batteries start empty (seed 003 eq. 16)
and the morning peak already asks for support, so a shorter day leaves nothing to rent.
"""

import json

import numpy as np
import pytest

from flexcosim.cosim.results import read_timeseries, wide
from flexcosim.cosim.run import run_scenario
from flexcosim.scenarios.catalog import load_scenario

pytestmark = pytest.mark.mosaik


def day(variant):
    scenario, base = load_scenario("lv-feeder-20bus")
    return scenario.variant(variant), base


@pytest.fixture(scope="module")
def rental(tmp_path_factory):
    scenario, base = day("battery_rental_2kw")
    out = tmp_path_factory.mktemp("rental")
    return scenario, out, run_scenario(scenario, out, base, progress=False)


def test_dso_rents_batteries_and_payments_balance(rental):
    scenario, out, summary = rental
    da = summary["dayahead"]
    assert da["plan"]["status"] == "optimal" and da["rented_kwh_per_day"] > 0
    revenue = sum(da["aggregator_revenue_eur_per_year"].values())
    assert da["dso_payment_eur_per_year"] == pytest.approx(revenue)
    # the reservation half of the deferral value is spent exactly, activation at most
    assert revenue <= da["reinforcement_deferral_value_eur_per_year"] + 1e-6
    assert da["reservation_price_eur_per_kwh"] == pytest.approx(
        0.5 * da["reinforcement_deferral_value_eur_per_year"] / (da["reserved_kwh_per_day"] * 365))


def test_batteries_follow_the_request_and_soc_stays_within_limits(rental):
    scenario, out, _ = rental
    ts = read_timeseries(out / "timeseries")
    soc = wide(ts, "soc")
    soc = soc[[c for c in soc.columns if c.startswith("battery_")]]
    assert soc.shape[1] == 5
    assert soc.min().min() >= 0.0 and soc.max().max() <= 1.0
    requested = wide(ts, "requested_kw")
    delivered = wide(ts, "p_kw")
    for op in requested.columns:
        battery = op.removeprefix("op_")
        asked = requested[op] < -1e-6
        # in a rented hour the battery discharges; never more than asked
        assert (delivered.loc[asked, battery] < 0).all(), battery
        assert (delivered.loc[asked, battery] >= requested.loc[asked, op] - 1e-6).all()


@pytest.mark.slow
def test_rental_raises_the_feeder_end_voltage(rental, tmp_path):
    scenario, base = day("base")
    plain = run_scenario(scenario, tmp_path, base, progress=False)
    _, out, summary = rental
    ts = read_timeseries(out / "timeseries")
    rented = wide(ts, "requested_kw").lt(-1e-6).any(axis=1)
    v_rental = wide(ts, "vm_pu")["bus_20"][rented]
    v_plain = wide(read_timeseries(tmp_path / "timeseries"), "vm_pu")["bus_20"][rented.to_numpy()]
    assert np.all(v_rental.to_numpy() >= v_plain.to_numpy() - 1e-9)
    assert v_rental.mean() > v_plain.mean()
    assert summary["hours_voltage_below_0_9"] < plain["hours_voltage_below_0_9"]


def test_seed_sized_batteries_cannot_meet_the_limit_and_the_dso_falls_back(tmp_path):
    scenario, base = day("battery_rental")
    summary = run_scenario(scenario, tmp_path, base, progress=False)
    plan = summary["dayahead"]["plan"]
    assert plan["status"] == "fallback" and plan["dso_lp"] == "infeasible"
    assert "max_power_kw" in plan["message"]
    fallbacks = json.loads((tmp_path / "fallbacks.json").read_text())["fallbacks"]
    assert [f["strategy"] for f in fallbacks] == ["voltage_support_lp"]
    assert summary["dayahead"]["rented_kwh_per_day"] > 0  # the fallback still discharges
