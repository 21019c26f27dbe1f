"""Issue 9: ``flexcosim check`` holds on every shipped scenario's reduced run, and bites.

The reduced runs: the LV feeder day as shipped, and the UCD campus day (and one point
of the annual sweep) with 40 visitors and a few chargers per site (as test_cosim_ucd).
"""

import copy
import shutil

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flexcosim.cosim.check import check_run
from flexcosim.cosim.cli import main
from flexcosim.cosim.run import run_scenario
from flexcosim.scenarios.catalog import load_scenario, shipped
from flexcosim.scenarios.schema import parse_scenario
from tests.test_cosim_ucd import CHARGERS
from tests.test_sharing_study import evening

pytestmark = pytest.mark.mosaik


def reduced(name: str):
    scenario, base = load_scenario(name)
    data = scenario.model_dump(mode="json", exclude={"sweep", "variants"})
    if scenario.variants:
        data = copy.deepcopy(scenario.variant(next(iter(scenario.variants))).model_dump(mode="json"))
    for group in data["visitors"]:
        group["count"] = 40
    for site in data["sites"]:
        site["chargers"] = CHARGERS.get(site["name"], site["chargers"])
    if name == "capacity-sharing":  # its evening only, as tests/test_sharing_study.py runs it
        data = evening(data)
    if (data.get("dayahead") or {}).get("kind") == "large_grid_charging":
        data["duration_s"] = 4 * 3600  # 16 AC power flows, not 96, and the smallest MV
        data["grid"]["params"]["feeders"] = [3]  # feeder: 159 buses, not 890
    if (data.get("dayahead") or {}).get("kind") == "seed001_congestion":
        data["duration_s"] = 2 * 3600  # 4 of its 96 three-phase steps
    return parse_scenario(data), base


@pytest.fixture(scope="module")
def lv_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("lv") / "run"
    scenario, base = reduced("lv-feeder-20bus")
    run_scenario(scenario, out, base, progress=False)
    return out


@pytest.mark.parametrize("name", [n for n in shipped() if n != "lv-feeder-20bus"])
def test_invariants_hold_on_each_shipped_scenario(tmp_path, name):
    out = tmp_path / "run"
    scenario, base = reduced(name)
    run_scenario(scenario, out, base, progress=False)
    assert check_run(out) == []


def test_invariants_hold_on_the_lv_feeder_and_cli_says_ok(lv_run, capsys):
    assert main(["check", str(lv_run)]) == 0
    assert capsys.readouterr().out.startswith("ok: every invariant holds over 96 steps")


def corrupt(src, dst, edit):
    shutil.copytree(src, dst)
    for part in sorted((dst / "timeseries").glob("part-*.parquet")):  # every part: the
        frame = pq.read_table(part).to_pandas()  # run's last part may hold a quiet night only
        pq.write_table(pa.Table.from_pandas(edit(frame), preserve_index=False), part)
    return dst


@pytest.mark.parametrize("edit, invariant", [
    (lambda f: f.assign(value=f.value.where(f.quantity != "soc", 1.5)), "soc"),
    (lambda f: f.assign(value=f.value.where(f.quantity != "battery_kw", f.value * 2)), "ev_energy"),
    (lambda f: f.assign(value=f.value.where(f.quantity != "losses_kw", 0.0)), "site_energy"),
    (lambda f: f.iloc[: len(f) // 2], "steps"),
    (lambda f: pd.concat([f, f.iloc[:3]]), "duplicates"),
])
def test_a_broken_folder_is_caught(lv_run, tmp_path, capsys, edit, invariant):
    bad = corrupt(lv_run, tmp_path / "bad", edit)
    assert invariant in {v.invariant for v in check_run(bad)}
    assert main(["check", str(bad)]) == 1
