"""The Ctrl-C tests' fixture ``sigint_as_in_a_terminal`` (tests/conftest.py): a Ctrl-C sent
with ``os.kill`` reaches the test process and the processes it starts even when the test
run itself was started with SIGINT ignored and blocked (as a background job of a script)."""

import os
import signal
import subprocess
import sys
import time

import pytest

CHILD = "import os, signal; os.kill(os.getpid(), signal.SIGINT); print('not interrupted')"


def child_pressing_ctrl_c() -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                          timeout=60)


def test_ctrl_c_reaches_the_test_and_its_children_when_the_run_ignores_it(
        sigint_ignored_and_blocked, request):
    # without the fixture: what made both Ctrl-C tests fail in a backgrounded test run
    assert child_pressing_ctrl_c().stdout == "not interrupted\n"

    request.getfixturevalue("sigint_as_in_a_terminal")
    child = child_pressing_ctrl_c()
    assert child.returncode == -signal.SIGINT and "KeyboardInterrupt" in child.stderr
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(10)  # interrupted at once if the signal arrives
