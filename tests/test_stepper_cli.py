"""``flexcosim step`` under a pseudo-terminal: advance, show, inject, save, quit."""

import json
import sys
from pathlib import Path

import pexpect
import pytest

ROOT = Path(__file__).resolve().parents[1]
PROMPT = r"\[\w{3} \d\d:\d\d t=\d+s( \(end\))?\] > "

pytestmark = pytest.mark.mosaik


def test_step_advance_show_inject_save_quit(tmp_path):
    child = pexpect.spawn(sys.executable, ["-m", "flexcosim.cosim.cli", "step", "lv-feeder-20bus"],
                          cwd=str(ROOT), encoding="utf-8", timeout=60, dimensions=(50, 200))
    child.expect(r"\[Wed 00:00 t=0s\] > ")
    child.sendline("advance 3")
    child.expect(r"\[Wed 00:45 t=2700s\] > ")
    child.sendline("until 18:00")
    child.expect(r"\[Wed 18:00 t=64800s\] > ")
    child.sendline("show sites")
    child.expect(r"home_bus_19\s+bus_19\s+1\s+1\s+1")
    child.expect(PROMPT)
    child.sendline("inject outage home_bus_19 1")
    child.expect("injected outage at home_bus_19 from t=64800s")
    child.expect(PROMPT)
    child.sendline("advance")
    child.expect(r"\[Wed 18:15 t=65700s\] > ")
    child.sendline("show chargers")
    child.expect(r"home_bus_19 0\s+3.7\s+False\s+None\s+0.0")
    child.expect(PROMPT)
    child.sendline("inject capacity nowhere 3")
    child.expect("error: site = 'nowhere'; allowed: home_bus_4")
    child.expect(PROMPT)
    child.sendline(f"save {tmp_path / 'run'}")
    child.expect(f"run folder: {tmp_path / 'run'}")
    child.expect(PROMPT)
    child.sendline("quit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["simulated_until_s"] == 65700


def test_step_unknown_scenario_is_one_line():
    child = pexpect.spawn(sys.executable, ["-m", "flexcosim.cosim.cli", "step", "no-such"],
                          cwd=str(ROOT), encoding="utf-8", timeout=60)
    child.expect("flexcosim: error: scenario 'no-such' is neither a file nor a shipped scenario")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 2
