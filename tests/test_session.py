"""Interactive stepping: pieces equal one run, state between steps, injected events."""

import asyncio
import hashlib
import json

import pandas as pd
import pytest
import yaml

from flexcosim.cosim.results import read_timeseries, wide
from flexcosim.cosim.run import run_scenario
from flexcosim.cosim.session import CapacityLimit, ChargerOutage, Session, SessionError
from flexcosim.scenarios.catalog import load_scenario, shipped

pytestmark = pytest.mark.mosaik

HOUR = 3600


def digests(folder):
    return [hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((folder / "timeseries").glob("part-*.parquet"))]


def equal_share_scenario(tmp_path):
    data = yaml.safe_load(shipped()["lv-feeder-20bus"].read_text())
    data["agents"][0]["strategy"] = "equal_share"
    path = tmp_path / "equal-share.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_stepping_in_pieces_equals_one_run_bit_for_bit(tmp_path):
    scenario, base = load_scenario("lv-feeder-20bus")
    run_scenario(scenario, tmp_path / "whole", base, progress=False)
    with Session.open("lv-feeder-20bus", out=tmp_path / "stepped") as s:
        s.advance()
        s.advance(3)
        s.advance_to(12 * HOUR + 1)  # not on a step: the event engine pauses at any second
        assert s.time_s == 12 * HOUR + 1
        for table in (s.evs, s.chargers, s.sites, s.grid, s.agents, s.decisions):
            table()
        s.advance(7)
        s.run_to_end()
        assert s.finished and s.time_s == scenario.duration_s
    whole = read_timeseries(tmp_path / "whole" / "timeseries")
    stepped = read_timeseries(tmp_path / "stepped" / "timeseries")
    pd.testing.assert_frame_equal(whole, stepped, check_exact=True)
    assert digests(tmp_path / "whole") == digests(tmp_path / "stepped")


def test_gate_pauses_between_steps_with_every_simulator_done(tmp_path):
    with Session.open("lv-feeder-20bus") as s:
        step = s.scenario.step_s
        assert s.time_s == 0 and s.writer._steps == 0
        s.advance_to(19 * HOUR)
        # the recorder, last in the data flow, has finished every step before the pause ...
        assert s.writer._steps == 19 * HOUR // step
        # ... and no simulator has started the next one
        decided = {agent.last[0].time_s for agent in s.assembly.agents.values()}
        assert max(decided) < 19 * HOUR
        evs = s.evs()
        assert evs.soc.between(0, 1).all() and set(evs.columns) >= {"site", "charger", "soc"}
        grid = s.grid()
        assert grid[grid.kind == "bus"].vm_pu.between(0.85, 1.05).all()
        assert (grid.kind == "transformer").sum() == 1
        out = s.save(tmp_path / "so-far")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["simulated_until_s"] == 19 * HOUR
    ts = read_timeseries(out / "timeseries")
    # the interval [19:00 - step, 19:00) is metered by the recorder's step at 19:00, not yet run
    assert ts.time_s.max() == 19 * HOUR - 2 * step
    assert json.loads((out / "summary.json").read_text())["min_voltage_pu"] > 0.8


def test_injected_capacity_limit_and_charger_outage_act_from_the_next_step(tmp_path):
    with Session.open(equal_share_scenario(tmp_path), out=tmp_path / "run") as s:
        s.advance_to(16 * HOUR)
        for site in s.assembly.sites:
            s.inject(CapacityLimit(site, 1.0))
        s.inject(ChargerOutage("home_bus_19", chargers=1))
        s.advance_to(20 * HOUR)
        assert s.sites().loc["home_bus_19", "in_service"] == 0
        assert (s.decisions().capacity_kw == 1.0).all()
        s.inject(ChargerOutage("home_bus_19", chargers=0))  # repaired
        s.run_to_end()
    ts = read_timeseries(tmp_path / "run" / "timeseries")
    p = wide(ts, "p_kw", [f"home_{b}" for b in ("bus_4", "bus_8", "bus_11", "bus_14", "bus_16", "bus_19")])
    after = p.index >= 16 * HOUR
    assert p[after].max().max() <= 1.0 + 1e-9
    assert p[after].max().max() == pytest.approx(1.0)  # the limit binds
    assert p[~after].max().max() > 1.0  # and did not before
    out_steps = (p.index >= 16 * HOUR) & (p.index < 20 * HOUR)
    connected = wide(ts, "connected", ["home_bus_19"])["home_bus_19"]
    waiting = wide(ts, "waiting", ["home_bus_19"])["home_bus_19"]
    assert (connected[out_steps] == 0).all() and (p.loc[out_steps, "home_bus_19"] == 0).all()
    assert waiting[out_steps].max() == 1  # its EV came home and found no working charger
    assert connected[p.index >= 20 * HOUR].max() == 1  # and plugged in once repaired


def test_session_works_inside_a_running_event_loop():
    async def notebook_cell():
        with Session.open("lv-feeder-20bus") as s:
            return s.advance(2)

    assert asyncio.run(notebook_cell()) == 2 * 900


def test_a_failure_in_the_world_thread_reaches_the_session():
    s = Session.open("lv-feeder-20bus")
    s.advance()
    site = next(iter(s.assembly.sites.values()))[1]
    site.update = lambda *args: 1 / 0  # a fault in a model
    with pytest.raises(SessionError, match="ZeroDivisionError"):
        s.advance()
    with pytest.raises(SessionError, match="closed"):
        s.advance()


def test_close_ends_the_world_thread_and_bad_commands_are_refused():
    s = Session.open("lv-feeder-20bus")
    with pytest.raises(ValueError, match="steps"):
        s.advance(0)
    with pytest.raises(ValueError, match="current time"):
        s.advance_to(0)
    with pytest.raises(ValueError, match="nothing simulated"):
        s.save()
    with pytest.raises(ValueError, match="site = 'nowhere'"):
        s.inject(ChargerOutage("nowhere", 1))
    with pytest.raises(ValueError, match="allowed: 0..1"):
        s.inject(ChargerOutage("home_bus_4", 2))
    with pytest.raises(ValueError, match="not handled; handled: ChargerOutage, CapacityLimit"):
        s.inject("a string")
    s.close()
    assert not s._thread.is_alive()
    with pytest.raises(SessionError, match="closed"):
        s.advance()
