"""Study reports a sweep adds to its own: ``sweep.report.study`` names one.

Most sweeps are summed like the UCD annual study (weighted energy, loading histograms;
:mod:`flexcosim.scenarios.sweep`). A study whose result is something else -- a congestion
probability over Monte-Carlo replications, the first-overload share over a penetration
axis -- registers a report function in :data:`STUDY_REPORTS` as ``"module:function"``, so a
sweep imports a study's code only when it reports. The function is called as
``report(scenario, out, points, per_point)`` with the complete points and their KPIs
(``summary.json`` of each point plus its levels); it writes its tables and figures into
``out`` and returns the JSON-safe dict stored under ``"study"`` in ``out/summary.json``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: Study name -> ``"module:function"`` of its report.
STUDY_REPORTS: dict[str, str] = {
    "seed002": "flexcosim.cosim.large_grid_report:seed002_report",
    "seed001_congestion": "flexcosim.cosim.congestion_report:congestion_report",
}

StudyReport = Callable[[Any, Path, list, dict[str, dict]], dict]


def study_report(name: str) -> StudyReport:
    """The report function registered as ``name`` (imported on first use)."""
    module, _, function = STUDY_REPORTS[name].partition(":")
    return getattr(importlib.import_module(module), function)
