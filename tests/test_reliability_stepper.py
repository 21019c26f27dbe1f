"""Issue 9: the stepper's bad input is an error line, and Ctrl-C returns to the prompt."""

import io
import os
import signal
import threading

import pytest

from flexcosim.cosim.session import Session
from flexcosim.cosim.stepper import Stepper
from flexcosim.cosim.world import assemble
from flexcosim.scenarios.catalog import load_scenario
from flexcosim.scenarios.schema import parse_scenario

pytestmark = pytest.mark.mosaik


def stepper(hours: int) -> Stepper:
    data = load_scenario("lv-feeder-20bus")[0].model_dump(mode="json")
    data["duration_s"] = hours * 3600
    return Stepper(Session(assemble(parse_scenario(data))), stdout=io.StringIO())


def said(st: Stepper, line: str) -> str:
    st.stdout.seek(0)
    st.stdout.truncate()
    st.onecmd(line)
    return st.stdout.getvalue()


def test_bad_clock_times_and_save_paths_are_errors():
    st = stepper(4)
    try:
        assert said(st, "until 25:99").startswith("error: '25:99'; need HH:MM with HH 00-23")
        assert "after the scenario's end" in said(st, "until 05:00")  # the run ends at 04:00
        assert st.session.time_s == 0 and not st.session.finished
        said(st, "advance")
        assert said(st, "save /proc/flexcosim-x").startswith("error:")
        said(st, "until 02:00")
        assert st.session.time_s == 7200
    finally:
        st.session.close()


def test_ctrl_c_while_simulating_returns_to_the_prompt(sigint_as_in_a_terminal):
    st = stepper(7 * 24)  # a week: the event engine runs a day in about a second
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    try:
        timer.start()
        out = said(st, "end")
        assert out.startswith("interrupted at t=")
        assert 0 < st.session.time_s < 7 * 86400 and not st.session.finished
        t = st.session.time_s
        said(st, "advance 2")
        assert st.session.time_s == t + 1800
    finally:
        timer.cancel()
        st.session.close()
