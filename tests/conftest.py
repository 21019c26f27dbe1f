"""Shared pytest setup: the tests import the installed ``flexcosim`` namespace."""

import importlib.util
import signal
from collections.abc import Iterator
from contextlib import contextmanager

import pytest


def pytest_configure(config: pytest.Config) -> None:
    if importlib.util.find_spec("flexcosim.cosim") is None:
        pytest.exit("flexcosim is not installed; run: python3 -m pip install -e \".[test]\"", returncode=4)


@contextmanager
def sigint_set(handler, how: int) -> Iterator[None]:
    """SIGINT handled by ``handler`` and its mask in the main thread changed by ``how``
    (``signal.SIG_BLOCK`` or ``SIG_UNBLOCK``); both restored afterwards."""
    old = signal.signal(signal.SIGINT, handler)
    mask = signal.pthread_sigmask(how, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        if old is not None:  # None: set outside Python, which cannot be put back from here
            signal.signal(signal.SIGINT, old)


@pytest.fixture
def sigint_as_in_a_terminal() -> Iterator[None]:
    """SIGINT for one test as a foreground terminal gives it: Python's ``KeyboardInterrupt``
    handler, not blocked in the main thread; restored afterwards.

    For the tests that press Ctrl-C with ``os.kill(pid, SIGINT)``. A test run started as a
    background job of a non-interactive shell (``python3 -m pytest -q > log &`` in a
    script) inherits SIGINT *ignored*, as POSIX shells set it for such jobs; Python then
    leaves it ignored, and so does every process the tests start, so the Ctrl-C would be
    dropped and the run would go on to its end.
    """
    with sigint_set(signal.default_int_handler, signal.SIG_UNBLOCK):
        yield


@pytest.fixture
def sigint_ignored_and_blocked() -> Iterator[None]:
    """SIGINT as a backgrounded test run gets it: ignored and blocked (tests of the above)."""
    with sigint_set(signal.SIG_IGN, signal.SIG_BLOCK):
        yield
