"""LinDistFlow network data and voltages against pandapower AC (seed 003 feeder, SimBench LV)."""

import itertools
import warnings

import numpy as np
import pandapower as pp
import pytest
import simbench as sb
from scipy.sparse.linalg import spsolve

from flexcosim.agents.grid_optim.lindistflow import (
    TRAFO,
    bus_consumption,
    flow_blocks,
    linear_flow,
    non_slack,
    radial_network,
    sensitivities,
)
from flexcosim.grids import build_grid


def _ac_vs_linear(net):
    network = radial_network(net)
    pp.runpp(net, numba=False)
    p, q = bus_consumption(network, net)
    lin = linear_flow(network, p, q)
    v_ac = net.res_bus.vm_pu.loc[network.bus_ids].to_numpy()
    return network, lin, v_ac


@pytest.mark.parametrize("house_kw", [0.5, 1.0, 1.5])
def test_seed003_feeder_voltages_within_001_pu_of_ac(house_kw):
    # 20 houses at 0.95 power factor. The feeder is 1.6 km of thin cable: 1.5 kW per
    # house already pulls its end to ~0.9 pu (AC does not converge beyond ~2.5 kW).
    grid = build_grid("lv_feeder_20bus")
    net = grid.net
    for bus in grid.buses.values():
        pp.create_load(net, bus, house_kw / 1000, q_mvar=house_kw / 1000 * np.tan(np.arccos(0.95)))
    network, lin, v_ac = _ac_vs_linear(net)
    assert network.n_buses == len(net.bus)
    assert v_ac.min() < 0.99  # the loads are felt
    assert np.abs(lin.v_pu[:, 0] - v_ac).max() < 0.01
    trafo = network.kind == TRAFO
    ac_loading = net.res_trafo.loading_percent.to_numpy() / 100
    assert lin.loading[trafo, 0] == pytest.approx(ac_loading, abs=0.03)


@pytest.fixture(scope="module")
def lv_rural():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = sb.get_simbench_net("1-LV-rural3--0-sw")
        profiles = sb.get_absolute_values(net, profiles_instead_of_study_cases=True)
    return net, profiles


@pytest.mark.parametrize("step", [31 * 96 + 72, 200 * 96 + 48])  # winter evening, summer noon (PV)
def test_simbench_lv_voltages_within_001_pu_of_ac(lv_rural, step):
    net, profiles = lv_rural
    # three times the standard profile: households with heat pumps and EVs
    net.load.p_mw = 3 * profiles[("load", "p_mw")].iloc[step]
    net.load.q_mvar = 3 * profiles[("load", "q_mvar")].iloc[step]
    net.sgen.p_mw = profiles[("sgen", "p_mw")].iloc[step]
    network, lin, v_ac = _ac_vs_linear(net)
    assert network.n_buses == 129
    assert np.abs(lin.v_pu[:, 0] - v_ac).max() < 0.01


def _chain(n_lines=2, r_ohm_per_km=0.5, x_ohm_per_km=0.1):
    net = pp.create_empty_network()
    buses = [pp.create_bus(net, 0.4) for _ in range(n_lines + 1)]
    pp.create_ext_grid(net, buses[0], vm_pu=1.0)
    for a, b in itertools.pairwise(buses):
        pp.create_line_from_parameters(net, a, b, 0.1, r_ohm_per_km, x_ohm_per_km, 0.0, 0.2)
    return net, buses


def test_two_line_chain_by_hand():
    # 0.4 kV, s_base 1 MVA: z_base = 0.16 ohm, each line r = 0.05 ohm = 0.3125 pu, x = 0.0625 pu
    net, _buses = _chain()
    network = radial_network(net)
    assert network.r_pu == pytest.approx([0.3125, 0.3125])
    assert network.x_pu == pytest.approx([0.0625, 0.0625])
    p = np.array([0.0, 0.01, 0.02])  # MW at buses 0, 1, 2
    q = np.array([0.0, 0.0, 0.01])
    lin = linear_flow(network, p, q)
    assert lin.p_pu[:, 0] == pytest.approx([0.03, 0.02])
    w1 = 1 - 2 * (0.3125 * 0.03 + 0.0625 * 0.01)
    w2 = w1 - 2 * (0.3125 * 0.02 + 0.0625 * 0.01)
    assert lin.v_pu[:, 0] == pytest.approx(np.sqrt([1.0, w1, w2]))
    # s_max = sqrt(3) 0.4 kV 0.2 kA = 0.13856 MVA
    assert lin.loading[0, 0] == pytest.approx(np.hypot(0.03, 0.01) / (0.138564 * 1.0), rel=1e-4)


def test_flow_blocks_reproduce_linear_flow():
    net, _ = _chain(n_lines=3)
    network = radial_network(net)
    T, n, m = 2, network.n_buses, network.n_branches
    p = np.array([[0, 0], [0.01, 0.0], [0.02, 0.01], [0.0, 0.03]])
    q = 0.3 * p
    blocks = flow_blocks(network, T)
    ns = non_slack(network)
    P = spsolve(blocks.balance, p[ns].T.ravel())
    Q = spsolve(blocks.balance, q[ns].T.ravel())
    # solve drop_w w = -(drop_r P + drop_x Q) with the slack column moved right
    slack_cols = np.arange(T) * n + network.slack
    rest = np.setdiff1d(np.arange(T * n), slack_cols)
    rhs = -(blocks.drop_r @ P + blocks.drop_x @ Q) - blocks.drop_w[:, slack_cols] @ np.ones(T)
    w = np.ones(T * n)
    w[rest] = spsolve(blocks.drop_w[:, rest].tocsc(), rhs)
    lin = linear_flow(network, p, q)
    assert P.reshape(T, m).T == pytest.approx(lin.p_pu)
    assert np.sqrt(w.reshape(T, n).T) == pytest.approx(lin.v_pu)


def test_sensitivities_match_finite_difference():
    net, _ = _chain(n_lines=3)
    network = radial_network(net)
    sens = sensitivities(network)
    p0 = np.array([0.0, 0.01, 0.0, 0.02])
    bump = np.zeros(4)
    bump[2] = 1e-3
    lin0 = linear_flow(network, p0, np.zeros(4))
    lin1 = linear_flow(network, p0 + bump, np.zeros(4))
    assert (lin1.p_pu - lin0.p_pu)[:, 0] == pytest.approx(sens.flow[:, 2] * 1e-3)
    assert (lin1.v_pu**2 - lin0.v_pu**2)[:, 0] == pytest.approx(sens.w[:, 2] * 1e-3)


def test_meshed_net_is_rejected():
    net, buses = _chain()
    pp.create_line_from_parameters(net, buses[0], buses[2], 0.1, 0.5, 0.1, 0.0, 0.2)
    with pytest.raises(ValueError, match="radial"):
        radial_network(net)


def test_open_switch_breaks_the_loop_and_two_slacks_are_rejected():
    net, buses = _chain()
    loop = pp.create_line_from_parameters(net, buses[0], buses[2], 0.1, 0.5, 0.1, 0.0, 0.2)
    pp.create_switch(net, buses[2], loop, et="l", closed=False)
    assert radial_network(net).n_branches == 2
    pp.create_ext_grid(net, buses[1])
    with pytest.raises(ValueError, match="ext_grid"):
        radial_network(net)
