"""Network sensitivity heuristic (seed 001 section III-B) on small pandapower nets."""

import copy
import itertools

import numpy as np
import pandapower as pp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flexcosim.agents.grid_optim.sensitivity import FlexAgent, OperatingLimits, resolve_violations


def chain(max_i_ka: float = 0.2) -> tuple[pp.pandapowerNet, list[int]]:
    """0.4 kV chain 0 - 1 - 2 of two equal 0.5 km lines (0.2 ohm each), with zero-sequence data."""
    net = pp.create_empty_network()
    buses = [pp.create_bus(net, 0.4) for _ in range(3)]
    pp.create_ext_grid(
        net, buses[0], vm_pu=1.0, s_sc_max_mva=10, rx_max=0.1, x0x_max=1.0, r0x0_max=0.1
    )
    for a, b in itertools.pairwise(buses):
        pp.create_line_from_parameters(
            net,
            a,
            b,
            0.5,
            0.4,
            0.08,
            0.0,
            max_i_ka,
            r0_ohm_per_km=1.6,
            x0_ohm_per_km=0.32,
            c0_nf_per_km=0.0,
        )
    return net, buses


def balanced_state(net, agents, positions):
    """Independent check: the net with the agents at ``positions`` as plain loads."""
    check = copy.deepcopy(net)
    for a in agents:
        pp.create_load(check, a.bus, p_mw=positions[a.name] / 1000.0)
    pp.runpp(check)
    return check


def test_far_agent_is_most_sensitive_and_clears_undervoltage():
    net, (_b0, b1, b2) = chain()
    agents = [FlexAgent("far", b2, 30, 0, 30), FlexAgent("mid", b1, 30, 0, 30)]
    res = resolve_violations(net, agents)
    assert res.status == "cleared" and res.power_flow == "balanced"
    assert (
        res.initial_violations[0].kind == "undervoltage" and res.initial_violations[0].index == b2
    )
    assert [s.agent for s in res.ranking] == ["far", "mid"]
    # dV_2/dP is proportional to the resistance shared with bus 2: 0.4 ohm vs 0.2 ohm
    assert res.ranking[0].per_kw / res.ranking[1].per_kw == pytest.approx(2.0, rel=0.1)
    assert set(res.adjustments_kw) == {"far"} and res.adjustments_kw["far"] < 0
    check = balanced_state(net, agents, res.positions_kw)
    assert check.res_bus.vm_pu.min() >= 0.94 - 1e-6
    assert check.res_bus.vm_pu.min() < 0.945  # the heuristic stops at the limit, not far beyond
    assert len(net.load) == 0  # the caller's net is untouched


def test_single_phase_agents_use_three_phase_flow():
    net, (_b0, b1, b2) = chain()
    agents = [
        FlexAgent("far_a", b2, 5, 0, 6, phase="a"),
        FlexAgent("far_b", b2, 3, 0, 3, phase="b"),
        FlexAgent("mid_a", b1, 3, 0, 3, phase="a"),
    ]
    res = resolve_violations(net, agents)
    assert res.status == "cleared" and res.power_flow == "3ph"
    worst = res.initial_violations[0]
    assert (worst.kind, worst.index, worst.phase) == ("undervoltage", b2, "a")
    assert res.ranking[0].agent == "far_a"
    assert set(res.adjustments_kw) == {"far_a"}
    check = copy.deepcopy(net)
    for a in agents:
        pp.create_asymmetric_load(
            check, a.bus, **{f"p_{a.phase}_mw": res.positions_kw[a.name] / 1000.0}
        )
    pp.runpp_3ph(check)
    assert check.res_bus_3ph[["vm_a_pu", "vm_b_pu", "vm_c_pu"]].to_numpy().min() >= 0.94 - 1e-6


def test_pv_overvoltage_is_cleared_by_curtailment():
    net, (_b0, _b1, b2) = chain()
    agents = [FlexAgent("pv", b2, -30, -30, 0)]
    res = resolve_violations(net, agents, OperatingLimits(v_max_pu=1.05))
    assert res.status == "cleared"
    assert res.initial_violations[0].kind == "overvoltage"
    assert 0 > res.positions_kw["pv"] > -30
    assert balanced_state(net, agents, res.positions_kw).res_bus.vm_pu.max() <= 1.05 + 1e-6


def test_line_overload_is_cleared():
    net, (_b0, b1, b2) = chain(max_i_ka=0.05)  # 35 kVA at 0.4 kV
    agents = [FlexAgent("ev", b1, 20, 0, 22), FlexAgent("heat", b2, 20, 10, 20)]
    res = resolve_violations(net, agents, OperatingLimits(v_min_pu=0.8))
    assert res.status == "cleared"
    assert {v.kind for v in res.initial_violations} == {"overload"}
    check = balanced_state(net, agents, res.positions_kw)
    assert check.res_line.loading_percent.max() <= 100 + 1e-6
    assert res.positions_kw["heat"] >= 10 - 1e-9


def test_no_headroom_reports_what_is_left():
    net, (_b0, b1, b2) = chain()
    agents = [FlexAgent("far", b2, 30, 28, 30), FlexAgent("mid", b1, 30, 28, 30)]
    res = resolve_violations(net, agents)
    assert res.status == "not_cleared"
    assert "undervoltage at bus 2" in res.message
    assert res.positions_kw == {"far": 28.0, "mid": 28.0}
    assert res.remaining_violations


def test_within_limits_needs_one_power_flow():
    net, (_b0, _b1, b2) = chain()
    res = resolve_violations(net, [FlexAgent("far", b2, 2, 0, 5)])
    assert res.status == "ok" and res.power_flows == 1 and not res.adjustments_kw


def test_bad_agents_raise():
    net, (_b0, b1, _b2) = chain()
    with pytest.raises(ValueError, match="phase"):
        FlexAgent("x", b1, 1, 0, 2, phase="d")
    with pytest.raises(ValueError, match="power_kw=3"):
        FlexAgent("x", b1, 3, 0, 2)
    with pytest.raises(ValueError, match="bus=99"):
        resolve_violations(net, [FlexAgent("x", 99, 1, 0, 2)])


@settings(max_examples=6, deadline=None)
@given(
    far=st.floats(5, 35), mid=st.floats(5, 35), far_floor=st.floats(0, 1), mid_floor=st.floats(0, 1)
)
def test_adjusted_positions_stay_in_bounds_and_clear(far, mid, far_floor, mid_floor):
    net, (_b0, b1, b2) = chain()
    agents = [
        FlexAgent("far", b2, far, far * far_floor, far),
        FlexAgent("mid", b1, mid, mid * mid_floor, mid),
    ]
    res = resolve_violations(net, agents)
    for a in agents:
        assert a.lower_kw - 1e-9 <= res.positions_kw[a.name] <= a.upper_kw + 1e-9
    v = balanced_state(net, agents, res.positions_kw).res_bus.vm_pu.to_numpy()
    if res.status in ("ok", "cleared"):
        assert v.min() >= 0.94 - 1e-6
    else:
        assert res.status == "not_cleared" and v.min() < 0.94
        assert np.all([res.positions_kw[a.name] == pytest.approx(a.lower_kw) for a in agents])
