"""Three-phase unbalanced feeder model (seed 001 section III-B) against hand-checkable cases."""

import numpy as np
import pytest

from flexcosim.cosim.models.grid import PowerFlowGrid
from flexcosim.cosim.models.grid3ph import (
    PHASES,
    Connection,
    ThreePhaseGrid,
    assign_phases,
    connections_of,
)
from flexcosim.grids.lv_feeder_3ph import add_zero_sequence, build_lv_feeder_3ph

LV = [f"bus_{i}" for i in range(1, 21)]


def test_balanced_case_equals_the_single_phase_power_flow():
    # 1.5 kW + 0.5 kvar per bus, once as balanced connections, once as three
    # single-phase households per bus (one per phase), once in the balanced runpp
    balanced = ThreePhaseGrid(build_lv_feeder_3ph(), {b: Connection(b) for b in LV})
    per_phase = ThreePhaseGrid(build_lv_feeder_3ph(),
                               {f"{b}{ph}": Connection(b, ph) for b in LV for ph in PHASES})
    single = PowerFlowGrid(build_lv_feeder_3ph())
    ref = single.solve({b: 1.5 for b in LV}, {b: 0.5 for b in LV})
    s1 = balanced.solve({b: 1.5 for b in LV}, {b: 0.5 for b in LV})
    s3 = per_phase.solve({f"{b}{ph}": 0.5 for b in LV for ph in PHASES},
                         {f"{b}{ph}": 0.5 / 3 for b in LV for ph in PHASES})
    assert ref.converged and s1.converged and s3.converged
    assert min(ref.vm_pu.values()) < 0.95  # loaded enough for the comparison to mean something
    for state in (s1, s3):
        for bus, v in ref.vm_pu.items():
            assert state.vm_pu[bus] == pytest.approx((v, v, v), abs=1e-6)
            assert state.unbalance_pct[bus] == pytest.approx(0.0, abs=1e-4)
        for line, loading in ref.line_loading_pct.items():
            assert state.line_loading_pct[line] == pytest.approx((loading,) * 3, abs=1e-3)
            assert state.neutral_current_ka[line] == pytest.approx(0.0, abs=1e-6)
        assert state.trafo_loading_pct["tx"] == pytest.approx((ref.trafo_loading_pct["tx"],) * 3, abs=1e-3)
        assert state.trafo_p_kw["tx"] == pytest.approx(ref.trafo_p_kw["tx"], rel=1e-5)


def test_one_loaded_phase_shows_the_unbalance():
    grid = ThreePhaseGrid(build_lv_feeder_3ph(), {"home": Connection("bus_20", "a")})
    state = grid.solve({"home": 5.0})
    v_a, v_b, v_c = state.vm_pu["bus_20"]
    assert v_a < 0.9 and v_a < min(v_b, v_c)
    assert max(v_b, v_c) > 1.0  # the neutral point shifts: an unloaded phase rises
    assert state.unbalance_pct["bus_20"] > 2.0 > state.unbalance_pct["bus_1"]
    # cos phi = 1: the household draws |I| = P / |V_a| with V_a = v_a * 400 V / sqrt(3)
    i_hand = 5.0 / (v_a * 400 / np.sqrt(3))  # kW / V = kA
    i_a, i_b, i_c = state.line_current_ka["line_19_20"]
    assert i_a == pytest.approx(i_hand, rel=1e-4)
    assert (i_b, i_c) == pytest.approx((0.0, 0.0), abs=1e-6)
    # the whole phase current returns in the neutral, on every line of the path
    for line in ("line_0_1", "line_7_14", "line_19_20"):
        assert state.neutral_current_ka[line] == pytest.approx(state.line_current_ka[line][0], rel=1e-4)
    assert state.neutral_current_ka["line_1_2"] == pytest.approx(0.0, abs=1e-6)  # off the path
    assert state.line_loading_pct["line_19_20"][0] == pytest.approx(100 * i_a / 0.283, rel=1e-4)
    # the weakest line on the path (14-15, 149 A, seed 003 Table I) is the most loaded
    assert state.max_loading_pct() == pytest.approx(100 * i_a / 0.149, rel=1e-3)


def test_phase_assignment_is_balanced_and_seeded():
    phases = assign_phases(20, np.random.default_rng(1))
    counts = sorted(phases.count(ph) for ph in PHASES)
    assert counts == [6, 7, 7]
    assert phases == assign_phases(20, np.random.default_rng(1))
    assert phases != assign_phases(20, np.random.default_rng(2))
    conns = connections_of([(f"h{i}", LV[i]) for i in range(20)], np.random.default_rng(1))
    assert [c.phase for c in conns.values()] == list(phases)


def test_bad_input_names_the_field():
    grid = build_lv_feeder_3ph()
    with pytest.raises(ValueError, match=r"connections\['h'\].bus='bus_99'"):
        ThreePhaseGrid(grid, {"h": Connection("bus_99", "a")})
    with pytest.raises(ValueError, match="Connection.phase='d'"):
        Connection("bus_1", "d")
    model = ThreePhaseGrid(grid, {"h": Connection("bus_1", "a")})
    with pytest.raises(ValueError, match=r"p_kw\['x'\]: not a connection"):
        model.solve({"x": 1.0})
    with pytest.raises(ValueError, match="vector_group='Dd'"):
        add_zero_sequence(grid.net, vector_group="Dd")
