"""Issue 13: the capacity-sharing study end to end (real mosaik, pandapower, HiGHS).

The reduced case is the shipped scenario's evening: 17:00-23:00 with the 17 residential
EVs that come and go within it (the office and commercial EVs come and go outside it),
the office's battery, the commercial building; 24 steps, both variants. The whole shipped day is the
``slow`` test at the end.
"""

import copy
import json

import numpy as np
import pandas as pd
import pytest

from flexcosim.agents.optim.capacity_demand import CapacityDemand
from flexcosim.agents.sharing.messages import Settlement
from flexcosim.agents.sharing.record import RECORD_NAME, verify_record
from flexcosim.cosim.check import check_run
from flexcosim.cosim.cli import main
from flexcosim.cosim.results import TimeseriesWriter, read_timeseries
from flexcosim.cosim.run import run_scenario
from flexcosim.cosim.sharing_report import (
    METER_TOL_KW,
    outcomes,
    unit_capacity_kw,
    unit_power_kw,
)
from flexcosim.cosim.world import assemble, build_world, world_until_s
from flexcosim.scenarios.catalog import load_scenario
from flexcosim.scenarios.schema import ScenarioError, parse_scenario

pytestmark = pytest.mark.mosaik

def evening(data: dict) -> dict:
    """The shipped scenario's data cut to 17:00-23:00 with the residential EVs only."""
    data = copy.deepcopy(data)
    data["start"] = data["start"].replace("T00:00:00", "T17:00:00")
    data["duration_s"] = 6 * 3600
    data["sessions"] = [g for g in data["sessions"] if g["site"] == "residential_site"]
    for unit in data["dayahead"]["units"]:
        unit["deferrable_loads"] = []
    return data


def scenario(variant: str, **dayahead):
    s, base = load_scenario("capacity-sharing")
    data = evening(s.variant(variant).model_dump(mode="json"))
    data["dayahead"].update(dayahead)
    return parse_scenario(data), base


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("sharing")
    out = {}
    for variant in ("no_sharing", "p2p_sharing"):
        s, base = scenario(variant)
        run_scenario(s, root / variant, base, progress=False)
        out[variant] = root / variant
        studies[root / variant] = assemble(s, base).dayahead
    return out


#: run folder -> its study (the models, to read the units' meters from the time series)
studies = {}


def summary(folder):
    return json.loads((folder / "summary.json").read_text())


def draw_and_capacity(folder):
    """Each unit's metered draw and its capacity per interval [kW], from the run folder."""
    ts = read_timeseries(folder / "timeseries")
    draw = unit_power_kw(ts, studies[folder])
    return draw, unit_capacity_kw(ts, studies[folder]).reindex(draw.index)


@pytest.mark.parametrize("variant", ["no_sharing", "p2p_sharing"])
def test_every_interval_stays_within_the_units_approved_capacity(runs, variant):
    draw, capacity = draw_and_capacity(runs[variant])
    assert len(draw) == 24 and list(draw.columns) == ["office", "residential", "commercial"]
    assert (draw <= capacity + METER_TOL_KW).all().all(), (draw - capacity).max()
    assert summary(runs[variant])["dayahead"]["units"]["residential"]["peak_kw"] > 149.0


def test_p2p_sharing_moves_capacity_within_the_transformer_rating(runs):
    p2p, none = summary(runs["p2p_sharing"]), summary(runs["no_sharing"])
    draw, capacity = draw_and_capacity(runs["p2p_sharing"])
    assert capacity.residential.max() > 200.0  # it bought capacity from its peers
    assert (capacity.sum(axis=1) <= 450.0 + 1e-6).all()  # never more than the shared kW
    assert p2p["transformers"]["tx"]["peak_loading_pct"] <= 100.0
    agreements = p2p["dayahead"]["agreements"]
    assert agreements["validated"] > 0 and agreements["rejected"] == 0
    assert none["dayahead"]["agreements"]["proposed"] == 0
    # sharing leaves less EV energy unmet than the fixed split on the same evening
    assert p2p["ev_energy_unmet_kwh"] < none["ev_energy_unmet_kwh"] - 50.0


def test_agreement_chain_verifies_and_payments_balance(runs, capsys):
    folder = runs["p2p_sharing"]
    check = verify_record(folder / RECORD_NAME)
    assert check.ok and check.entries == summary(folder)["dayahead"]["record_entries"] > 0
    assert main(["verify", str(folder)]) == 0
    entries = [json.loads(line) for line in (folder / RECORD_NAME).read_text().splitlines()]
    settlements = [Settlement(**e["message"]) for e in entries if e["type"] == "Settlement"]
    paid = sum(s.amount for s in settlements)
    to_dso = sum(s.amount for s in settlements if s.payee == "dso")
    to_providers = sum(s.amount for s in settlements if s.payee != "dso")
    pay = summary(folder)["dayahead"]["payments"]
    assert paid == pytest.approx(pay["paid_by_consumers"])
    assert to_providers == pytest.approx(pay["received_by_providers"], abs=1e-9)
    assert to_dso == pytest.approx(pay["dso_fees"]) and to_dso > 0
    assert abs(pay["balance"]) < 1e-9
    # the protocol messages are in messages.parquet too, one row each
    log = pd.read_parquet(folder / "messages.parquet")
    assert (log.type == "Settlement").sum() == len(settlements)
    assert len(log) == len(entries)


def test_the_runs_pass_flexcosim_check(runs):
    for folder in runs.values():
        assert check_run(folder) == []


def test_bad_input_is_recorded_and_the_run_goes_on(tmp_path):
    """The coordinator's link down for 45 min, the residential forecast missing for 30 min,
    the commercial capacity-demand LP failing every period: each is recorded, the units
    keep their capacity, the run completes."""
    s, base = scenario("p2p_sharing")
    outage = {"agent": "coordinator", "start_s": 3600, "end_s": 6300}  # 18:00-18:45
    s = parse_scenario({**s.model_dump(mode="json"), "network": {"outages": [outage]}})
    a = assemble(s, base)
    study = a.dayahead
    study.fixed_net_kw["residential"][12:14] = np.nan  # 20:00-20:30: no load forecast

    def failing_lp(problem):
        return CapacityDemand("infeasible", np.nan, None, None, None, None, None, np.zeros(0),
                              0.0, "injected failure")

    study.unit_roles["commercial"].aggregator._demand = failing_lp
    writer = TimeseriesWriter(tmp_path / "timeseries")
    build_world(a, writer).world.run(until=world_until_s(s), print_progress=False)
    writer.flush()
    ts = read_timeseries(tmp_path / "timeseries")
    periods = outcomes(study)
    # coordinator down: no Φ_c for the periods sent in the outage, the units ran on their share
    sent = periods.period_start_s - s.dayahead.lead_s
    assert not ((sent >= 3600) & (sent < 6300)).any()
    missing = [f for f in study.fallbacks if f.reason == "no capacity allocation for this period"]
    assert {f.agent for f in missing} == {"office", "residential", "commercial"}
    capacity = unit_capacity_kw(ts, study)
    assert (capacity.loc[4500:6300] == 150.0).all().all()  # periods 18:15-19:00
    assert capacity.loc[7200].residential > 150.0  # sharing resumes after the outage
    lost = [r for r in a.network.log if "coordinator" in (r.sender, r.receiver)]
    assert any(r.outcome == "lost" for r in lost)
    # residential forecast missing: recorded, Φ_c kept, the EMS idled the flexible assets
    res = periods[(periods.unit == "residential") & periods.period_start_s.isin([10800, 11700])]
    assert set(res.status) == {"no_forecast"}
    assert (res.capacity_kw == res.allocation_kw).all()
    assert any(f.agent == "residential" and f.strategy == "btm_ems" for f in study.fallbacks)
    # commercial LP failing: every period recorded, nothing bought or sold
    com = periods[periods.unit == "commercial"]
    assert set(com.status) == {"lp_failed"} and (com.sold_kw == 0).all()
    # the others still shared, and every unit stayed within its capacity
    assert (periods.bought_kw > 0).any()
    draw = unit_power_kw(ts, study)
    assert (draw <= capacity.reindex(draw.index) + METER_TOL_KW).all().all()


def test_a_unit_on_a_site_that_does_not_exist_is_a_scenario_error():
    s, base = load_scenario("capacity-sharing")
    data = s.variant("p2p_sharing").model_dump(mode="json")
    data["dayahead"]["units"][0]["site"] = "nowhere"
    with pytest.raises(ScenarioError, match=r"'dayahead.units.0.site': 'nowhere' is not a site"):
        assemble(parse_scenario(data), base)


@pytest.mark.slow
def test_the_shipped_day(tmp_path):
    """The whole shipped day, both variants: sharing leaves less EV energy unmet."""
    s, base = load_scenario("capacity-sharing")
    got = {}
    for variant in s.variants:
        got[variant] = run_scenario(s.variant(variant), tmp_path / variant, base, progress=False)
        studies[tmp_path / variant] = assemble(s.variant(variant), base).dayahead
        draw, capacity = draw_and_capacity(tmp_path / variant)
        assert (draw <= capacity + METER_TOL_KW).all().all()
        assert check_run(tmp_path / variant) == []
    assert got["p2p_sharing"]["ev_energy_unmet_kwh"] < got["no_sharing"]["ev_energy_unmet_kwh"]
    assert got["p2p_sharing"]["transformers"]["tx"]["peak_loading_pct"] <= 100.0
    assert verify_record(tmp_path / "p2p_sharing" / RECORD_NAME).ok


def test_no_unit_is_worse_off_with_sharing(runs):
    """Each unit's cost (energy at the hourly prices + unmet energy at its value + payments
    - compensation received) with sharing is at most its cost without."""
    p2p = summary(runs["p2p_sharing"])["dayahead"]["units"]
    none = summary(runs["no_sharing"])["dayahead"]["units"]
    for unit in p2p:
        assert p2p[unit]["net_cost"] <= none[unit]["net_cost"] + 1e-6, unit
    assert p2p["residential"]["net_cost"] < none["residential"]["net_cost"] - 10.0
