"""Shared pytest setup: the tests import the installed ``flexcosim`` namespace."""

import importlib.util

import pytest


def pytest_configure(config: pytest.Config) -> None:
    if importlib.util.find_spec("flexcosim.cosim") is None:
        pytest.exit("flexcosim is not installed; run: python3 -m pip install -e \".[test]\"", returncode=4)
