"""Seed 001 congestion study as a co-simulation (real mosaik, pandapower runpp_3ph).

Reduced: the shipped scenario cut to the evening of the first day (17:00-20:00 checked,
the owners move and charge from midnight on). The default test runs one co-simulation and
checks it against the plain loop; the Monte-Carlo sweep with its report is ``slow``.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from flexcosim.agents.grid_optim.feeder_replication import replicate
from flexcosim.cosim.check import check_run
from flexcosim.cosim.run import run_scenario
from flexcosim.cosim.world import assemble
from flexcosim.grids.lv_feeder_3ph import build_lv_feeder_3ph
from flexcosim.scenarios.catalog import load_scenario
from flexcosim.scenarios.schema import ScenarioError, parse_scenario
from flexcosim.scenarios.sweep import run_sweep


def reduced(variant: str | None = "with_heuristic", replications: int = 1, hours: tuple = (17, 20),
            **study):
    """The shipped scenario from midnight to ``hours[1]``, checked from ``hours[0]``; one
    variant, or all with a sweep of ``replications``."""
    scenario, base = load_scenario("seed001-congestion")
    data = scenario.model_dump(mode="json", exclude={"sweep"} if variant else set())
    data["duration_s"] = int(hours[1] * 3600)
    if variant:
        data = {**data, **data.pop("variants")[variant]}
        data["dayahead"] = {**data["dayahead"], "checked_from_h": hours[0], **study}
    else:
        for v in data["variants"].values():
            v["dayahead"] = {**v["dayahead"], "checked_from_h": hours[0], **study}
        data["sweep"]["replications"] = replications
    return parse_scenario(data), base


def test_cosimulation_equals_the_plain_loop_and_leaves_nothing_removable(tmp_path):
    scenario, base = reduced(hours=(18.5, 19.5), buses=["bus_18", "bus_19", "bus_20"], ev_share=1.0)
    summary = run_scenario(scenario, tmp_path / "run", base, progress=False)
    study = summary["dayahead"]
    assert study["removable_left"] == 0
    assert study["platform_disagrees_steps"] == 0  # the grid in the loop saw what the platform left
    assert study["statuses"].get("cleared", 0) > 0  # the heuristic had work to do
    # the same households, draws and steps without mosaik: the same congestion and adjustments
    assembly = assemble(scenario, base)
    homes, config = assembly.dayahead.households, assembly.dayahead.config
    plain = replicate(build_lv_feeder_3ph(), homes, scenario.seed, heuristic=True, config=config)
    first = config.first_checked_step
    congested = {e: [t - first for t in steps] for e, steps in study["congested_steps"].items()}
    assert congested == {e: np.flatnonzero(row).tolist()
                         for e, row in zip(plain.elements, plain.outcome.congested) if row.any()}
    for a, agent in enumerate(plain.agents):
        np.testing.assert_allclose(study["adjustments_kw"].get(agent, np.zeros(config.n_steps))[first:],
                                   plain.outcome.adjustments_kw[a], atol=1e-6)
    assert plain.removable_left == 0
    assert check_run(tmp_path / "run") == []


@pytest.mark.parametrize("field, value, message", [
    ("buses", ["bus_99"], "'dayahead.buses': 'bus_99' is not a bus"),
    ("checked_from_h", 20, "'dayahead.checked_from_h': 20.0 h leaves no step"),
])
def test_bad_study_fields_are_one_line_errors(field, value, message):
    scenario, base = reduced(**{field: value})
    with pytest.raises(ScenarioError, match=message) as err:
        assemble(scenario, base)
    assert "\n" not in str(err.value)


def test_a_start_off_midnight_is_refused():
    scenario, base = reduced()
    data = scenario.model_dump(mode="json")
    data["start"] = "2025-04-01T06:00:00+01:00"
    with pytest.raises(ScenarioError, match="'start': 2025-04-01T06:00:00\\+01:00 is not midnight"):
        assemble(parse_scenario(data), base)


@pytest.mark.slow
def test_monte_carlo_sweep_reports_probabilities_their_se_and_adjustments(tmp_path):
    n = 8
    scenario, base = reduced(None, replications=n)
    out = tmp_path / "sweep"
    run_sweep(scenario, out, base, workers=1)
    summary = json.loads((out / "summary.json").read_text())
    report = summary["study"]["variants"]
    without, with_h = report["without_heuristic"], report["with_heuristic"]
    assert without["replications"] == with_h["replications"] == n
    table = pd.read_csv(out / "congestion_probability.csv")
    assert table.probability.between(0, 1).all()
    # p recomputed from the points' own records: share of replications congested in the hour
    row = table[table.variant == "without_heuristic"].sort_values("probability").iloc[-1]
    hour = list(table[table.element == row.element].hour.unique()).index(row.hour)
    hits = 0
    for name, point in summary["points"].items():
        if name.startswith("without_heuristic"):
            study = point["dayahead"]
            steps = [t - study["first_checked_step"] for t in study["congested_steps"].get(row.element, [])]
            hits += any(t // 2 == hour for t in steps)
    assert row.probability == pytest.approx(hits / n)
    np.testing.assert_allclose(table.standard_error,
                               np.sqrt(table.probability * (1 - table.probability) / n))
    for variant in (without, with_h):
        se = {int(k): v for k, v in variant["mean_se_uncertain_cells"].items()}
        assert list(se) == [2, 4, 8] and se[2] > se[4] > se[8] > 0  # falls with N ...
        assert 0.5 < se[8] / se[4] < 1.0  # ... about as 1/sqrt(N)
    assert without["max_probability"] > 0 and not without["adjustments"]
    assert with_h["removable_left"] == 0 and with_h["platform_disagrees_steps"] == 0
    assert with_h["elements_ever_congested"] <= without["elements_ever_congested"]
    assert with_h["adjustments"]  # the heuristic moved agents
    for name in ("congestion_heatmap.png", "adjustments.png", "se_convergence.png", "congestion.md"):
        assert (out / name).stat().st_size > 0
