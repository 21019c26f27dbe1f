"""LinDistFlow: the linearised branch-flow model of a radial feeder, as sparse matrices.

The branch-flow (DistFlow) equations of a radial network are linearised by dropping
the loss terms ``r (P^2 + Q^2) / v^2`` (Baran & Wu; the linear stand-in for the AC
balance and line-flow constraints of seed 002 eqs. 6 and 9). For every branch ``k``
from bus ``i`` (towards the slack) to bus ``j`` and every period ``t``::

    sum_{k: to=j} P_k - sum_{k: from=j} P_k = p_j            (active balance at bus j)
    sum_{k: to=j} Q_k - sum_{k: from=j} Q_k = q_j            (reactive balance at bus j)
    w_j = w_i / n_k^2 - 2 (r_k P_k + x_k Q_k)                 (voltage drop, w = v^2)
    w_slack = v_slack^2

``p_j``, ``q_j`` are the net consumption at bus ``j`` (loads minus generation),
``P_k``, ``Q_k`` the flow at the sending end, ``n_k`` the off-nominal ratio of a
transformer (1 for lines). Units: everything is per unit on ``s_base_mva`` and on
each bus's nominal voltage ``vn_kv``; with the default ``s_base_mva = 1`` a flow of
1 pu is 1 MW / 1 Mvar.

Modelling choices (documented because they bound the accuracy, tested against
pandapower AC in ``tests/test_grid_lindistflow.py``):

* lines: series ``r``, ``x`` from ``r_ohm_per_km``, ``x_ohm_per_km``, ``length_km``,
  ``parallel``; the charging susceptance is a constant reactive injection of
  ``b/2`` at each end (exact at v = 1 pu);
* transformers: short-circuit impedance from ``vk_percent``/``vkr_percent`` referred
  to the low-voltage side, ideal ratio including the tap position; the magnetising
  branch (``pfe_kw``, ``i0_percent``) is a constant consumption at the HV bus;
  phase shift is ignored (it does not change magnitudes in a radial network);
* closed bus-bus switches are zero-impedance branches without limit; lines and
  transformers behind an open switch are out of service; buses not reachable from
  the ext_grid are left out (pandapower reports them as unsupplied).

Limits: a line carries ``sqrt(3) vn_kv max_i_ka df parallel`` MVA at 1 pu voltage,
a transformer ``sn_mva parallel`` MVA (both times ``max_loading_percent`` when set).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandapower as pp
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.sparse import csgraph

#: Branch kinds in :attr:`RadialNetwork.kind`.
LINE, TRAFO, SWITCH = 0, 1, 2
_KIND_NAMES = {LINE: "line", TRAFO: "trafo", SWITCH: "switch"}


@dataclass(frozen=True)
class RadialNetwork:
    """Per-unit branch data of a radial network, branches oriented away from the slack.

    Buses and branches are addressed by position (0..n-1, 0..m-1); ``bus_ids`` and
    ``element`` map back to pandapower indices.

    Attributes
    ----------
    bus_ids : (n,) pandapower bus index of each position
    slack : position of the ext_grid bus
    v_slack_pu : ext_grid voltage setpoint [pu]
    s_base_mva : power base [MVA]
    from_bus, to_bus : (m,) bus positions; ``from_bus`` is on the slack side
    r_pu, x_pu : (m,) series resistance and reactance [pu]
    ratio_sq : (m,) squared off-nominal ratio ``n^2`` (1 for lines and switches)
    s_max_pu : (m,) apparent-power limit [pu]; ``inf`` for switches
    kind : (m,) LINE, TRAFO or SWITCH
    element : (m,) index in ``net.line`` / ``net.trafo`` / ``net.switch``
    shunt_p_pu, shunt_q_pu : (n,) constant consumption of line charging and
        transformer magnetising branches [pu]
    """

    bus_ids: np.ndarray
    slack: int
    v_slack_pu: float
    s_base_mva: float
    from_bus: np.ndarray
    to_bus: np.ndarray
    r_pu: np.ndarray
    x_pu: np.ndarray
    ratio_sq: np.ndarray
    s_max_pu: np.ndarray
    kind: np.ndarray
    element: np.ndarray
    shunt_p_pu: np.ndarray
    shunt_q_pu: np.ndarray

    @property
    def n_buses(self) -> int:
        return len(self.bus_ids)

    @property
    def n_branches(self) -> int:
        return len(self.from_bus)

    def branch_name(self, k: int) -> str:
        """Human-readable name of branch position ``k``, e.g. ``"line 17"``."""
        return f"{_KIND_NAMES[int(self.kind[k])]} {int(self.element[k])}"

    def bus_positions(self, bus_ids: np.ndarray) -> np.ndarray:
        """Positions of pandapower bus indices; ``ValueError`` for a bus not in the network."""
        lookup = {int(b): i for i, b in enumerate(self.bus_ids)}
        try:
            return np.array([lookup[int(b)] for b in np.atleast_1d(bus_ids)], dtype=int)
        except KeyError as exc:
            raise ValueError(f"bus_ids: bus {exc.args[0]} is not supplied from the ext_grid") from None


def radial_network(net: pp.pandapowerNet, s_base_mva: float = 1.0) -> RadialNetwork:
    """Derive :class:`RadialNetwork` from a radial pandapower net (lines, 2-winding trafos).

    Raises ``ValueError`` when the net has not exactly one in-service ext_grid, holds
    elements LinDistFlow does not model (trafo3w, impedance, dcline, xward) or is meshed.
    """
    if s_base_mva <= 0:
        raise ValueError(f"s_base_mva = {s_base_mva}: must be > 0")
    eg = net.ext_grid[net.ext_grid.in_service]
    if len(eg) != 1:
        raise ValueError(f"net.ext_grid: {len(eg)} in service, exactly 1 allowed (the slack)")
    for table in ("trafo3w", "impedance", "dcline", "xward"):
        if table in net and len(net[table]) and net[table].in_service.any():
            raise ValueError(f"net.{table}: in-service elements are not modelled by LinDistFlow")

    vn_kv = net.bus.vn_kv
    sw = net.switch
    open_lines = set(sw.element[(sw.et == "l") & ~sw.closed.astype(bool)].astype(int))
    open_trafos = set(sw.element[(sw.et == "t") & ~sw.closed.astype(bool)].astype(int))

    line = net.line[net.line.in_service & ~net.line.index.isin(open_lines)]
    z_base = vn_kv.loc[line.from_bus].to_numpy() ** 2 / s_base_mva
    par = line.parallel.to_numpy()
    line_b_pu = (2 * np.pi * net.f_hz * line.c_nf_per_km.to_numpy() * 1e-9
                 * line.length_km.to_numpy() * par * z_base)
    line_s_max = (np.sqrt(3) * vn_kv.loc[line.from_bus].to_numpy() * line.max_i_ka.to_numpy()
                  * line.df.to_numpy() * par * _max_loading(line) / s_base_mva)

    tr = net.trafo[net.trafo.in_service & ~net.trafo.index.isin(open_trafos)]
    tap = (tr.tap_pos.fillna(0).to_numpy() - tr.tap_neutral.fillna(0).to_numpy()) * \
        tr.tap_step_percent.fillna(0).to_numpy() / 100
    on_hv = (tr.tap_side == "hv").to_numpy()
    on_lv = (tr.tap_side == "lv").to_numpy()
    vn_hv = tr.vn_hv_kv.to_numpy() * (1 + np.where(on_hv, tap, 0))
    vn_lv = tr.vn_lv_kv.to_numpy() * (1 + np.where(on_lv, tap, 0))
    bus_hv = vn_kv.loc[tr.hv_bus].to_numpy()
    bus_lv = vn_kv.loc[tr.lv_bus].to_numpy()
    tr_ratio = (vn_hv / bus_hv) / (vn_lv / bus_lv)
    # impedance given on the trafo's own LV rating; re-base it to the LV bus voltage
    z_scale = s_base_mva / (tr.sn_mva.to_numpy() * tr.parallel.to_numpy()) * (vn_lv / bus_lv) ** 2
    tr_z = tr.vk_percent.to_numpy() / 100 * z_scale
    tr_r = tr.vkr_percent.to_numpy() / 100 * z_scale
    tr_x = np.sqrt(np.maximum(tr_z**2 - tr_r**2, 0.0))
    tr_s_max = tr.sn_mva.to_numpy() * tr.parallel.to_numpy() * _max_loading(tr) / s_base_mva
    mag_p = tr.pfe_kw.to_numpy() / 1000 * tr.parallel.to_numpy() / s_base_mva
    mag_s = tr.i0_percent.to_numpy() / 100 * tr.sn_mva.to_numpy() * tr.parallel.to_numpy() / s_base_mva
    mag_q = np.sqrt(np.maximum(mag_s**2 - mag_p**2, 0.0))

    bb = sw[(sw.et == "b") & sw.closed.astype(bool)]

    a = np.concatenate([line.from_bus, tr.hv_bus, bb.bus]).astype(int)
    b = np.concatenate([line.to_bus, tr.lv_bus, bb.element]).astype(int)
    r = np.concatenate([line.r_ohm_per_km * line.length_km / par / z_base, tr_r, np.zeros(len(bb))])
    x = np.concatenate([line.x_ohm_per_km * line.length_km / par / z_base, tr_x, np.zeros(len(bb))])
    ratio_sq = np.concatenate([np.ones(len(line)), tr_ratio**2, np.ones(len(bb))])
    s_max = np.concatenate([line_s_max, tr_s_max, np.full(len(bb), np.inf)])
    kind = np.concatenate([np.full(len(line), LINE), np.full(len(tr), TRAFO), np.full(len(bb), SWITCH)])
    element = np.concatenate([line.index, tr.index, bb.index]).astype(int)

    in_service_bus = net.bus.index[net.bus.in_service.astype(bool)]
    keep = np.isin(a, in_service_bus) & np.isin(b, in_service_bus)
    a, b, r, x, ratio_sq, s_max, kind, element = (
        v[keep] for v in (a, b, r, x, ratio_sq, s_max, kind, element))

    ids = np.asarray(net.bus.index, dtype=int)
    pos = np.full(ids.max() + 1, -1)
    pos[ids] = np.arange(len(ids))
    graph = sp.coo_matrix((np.ones(len(a)), (pos[a], pos[b])), shape=(len(ids), len(ids)))
    slack_all = pos[int(eg.bus.iloc[0])]
    order, pred = csgraph.breadth_first_order(graph, slack_all, directed=False)
    reached = np.zeros(len(ids), dtype=bool)
    reached[order] = True
    on_tree = reached[pos[a]] & reached[pos[b]]
    a, b, r, x, ratio_sq, s_max, kind, element = (
        v[on_tree] for v in (a, b, r, x, ratio_sq, s_max, kind, element))
    if len(a) != len(order) - 1:
        raise ValueError(
            f"net: {len(a)} in-service branches for {len(order)} supplied buses; "
            "LinDistFlow needs a radial net (open a switch in every loop)")
    pa, pb = pos[a], pos[b]
    forward = pred[pb] == pa
    if not np.all(forward | (pred[pa] == pb)):
        raise ValueError("net: branch orientation failed; the net is not radial")
    fb, tb = np.where(forward, pa, pb), np.where(forward, pb, pa)
    # flip the ratio of a trafo whose HV side faces away from the slack
    ratio_sq = np.where(forward, ratio_sq, 1 / ratio_sq)

    new_pos = np.full(len(ids), -1)
    new_pos[order] = np.arange(len(order))
    shunt_q = np.zeros(len(ids))
    ln = kind == LINE
    line_b_by_elem = dict(zip(line.index.astype(int), line_b_pu))
    half_b = np.array([line_b_by_elem[e] / 2 for e in element[ln]])
    np.add.at(shunt_q, pa[ln], -half_b)
    np.add.at(shunt_q, pb[ln], -half_b)
    shunt_p = np.zeros(len(ids))
    tr_keep = reached[pos[tr.hv_bus.to_numpy().astype(int)]]
    np.add.at(shunt_p, pos[tr.hv_bus.to_numpy().astype(int)][tr_keep], mag_p[tr_keep])
    np.add.at(shunt_q, pos[tr.hv_bus.to_numpy().astype(int)][tr_keep], mag_q[tr_keep])

    return RadialNetwork(
        bus_ids=ids[order],
        slack=int(new_pos[slack_all]),
        v_slack_pu=float(eg.vm_pu.iloc[0]),
        s_base_mva=float(s_base_mva),
        from_bus=new_pos[fb],
        to_bus=new_pos[tb],
        r_pu=np.asarray(r, dtype=float),
        x_pu=np.asarray(x, dtype=float),
        ratio_sq=np.asarray(ratio_sq, dtype=float),
        s_max_pu=np.asarray(s_max, dtype=float),
        kind=kind.astype(int),
        element=element,
        shunt_p_pu=shunt_p[order],
        shunt_q_pu=shunt_q[order],
    )


def _max_loading(table) -> np.ndarray:
    if "max_loading_percent" not in table:
        return np.ones(len(table))
    return table.max_loading_percent.fillna(100.0).to_numpy() / 100


def bus_consumption(network: RadialNetwork, net: pp.pandapowerNet) -> tuple[np.ndarray, np.ndarray]:
    """Net consumption per bus position of the net's loads, sgens and storages now [MW, Mvar].

    Loads count positive, sgens negative, storages with their sign convention (charging
    positive); ``scaling`` is applied. Shunt terms of the network are not included.
    """
    p = np.zeros(network.n_buses)
    q = np.zeros(network.n_buses)
    pos = {int(b): i for i, b in enumerate(network.bus_ids)}
    for table, sign in (("load", 1.0), ("sgen", -1.0), ("storage", 1.0)):
        if table not in net or not len(net[table]):
            continue
        el = net[table][net[table].in_service.astype(bool) & net[table].bus.isin(network.bus_ids)]
        idx = np.array([pos[int(b)] for b in el.bus], dtype=int)
        np.add.at(p, idx, sign * (el.p_mw * el.scaling).to_numpy())
        np.add.at(q, idx, sign * (el.q_mvar * el.scaling).to_numpy())
    return p, q


def balance_matrix(network: RadialNetwork) -> sp.csc_matrix:
    """Square (n-1, m) bus-balance matrix ``B``: ``B @ P = p[non-slack buses]``.

    Row ``i`` belongs to bus ``non_slack(network)[i]``; +1 for the branch feeding the
    bus, -1 for each branch leaving it. In a radial net ``B`` is invertible.
    """
    m = network.n_branches
    rows = np.concatenate([network.to_bus, network.from_bus])
    vals = np.concatenate([np.ones(m), -np.ones(m)])
    cols = np.concatenate([np.arange(m), np.arange(m)])
    full = sp.csr_matrix((vals, (rows, cols)), shape=(network.n_buses, m))
    return sp.csc_matrix(full[non_slack(network)])


def drop_matrix(network: RadialNetwork) -> sp.csr_matrix:
    """(m, n) matrix ``D`` with ``D @ w = w_to - w_from / n^2`` per branch."""
    m = network.n_branches
    rows = np.concatenate([np.arange(m), np.arange(m)])
    cols = np.concatenate([network.to_bus, network.from_bus])
    vals = np.concatenate([np.ones(m), -1 / network.ratio_sq])
    return sp.csr_matrix((vals, (rows, cols)), shape=(m, network.n_buses))


def non_slack(network: RadialNetwork) -> np.ndarray:
    """Positions of all buses except the slack, in the row order of :func:`balance_matrix`."""
    return np.delete(np.arange(network.n_buses), network.slack)


@dataclass(frozen=True)
class FlowBlocks:
    """LinDistFlow constraint blocks for ``n_steps`` periods, stacked time-major.

    A variable vector over branches is ordered ``[P_0(t=0), ..., P_{m-1}(t=0), P_0(t=1), ...]``
    (index ``t * m + k``), over buses ``t * n + j``; every block is ``kron(I_T, .)``.

    The equations for all periods are::

        balance @ P = stack(p[non_slack])           (T (n-1) rows)
        balance @ Q = stack(q[non_slack])
        drop_w @ w + drop_r @ P + drop_x @ Q = 0    (T m rows)
        w[slack rows] = v_slack^2                   (a column bound)

    Attributes
    ----------
    n_steps : number of periods T
    balance : (T (n-1), T m)
    drop_w : (T m, T n)
    drop_r, drop_x : (T m, T m) diagonal ``2 r``, ``2 x``
    balance_bus : (T (n-1),) bus position of each balance row
    """

    n_steps: int
    balance: sp.csc_matrix
    drop_w: sp.csr_matrix
    drop_r: sp.dia_matrix
    drop_x: sp.dia_matrix
    balance_bus: np.ndarray


def flow_blocks(network: RadialNetwork, n_steps: int) -> FlowBlocks:
    """Build :class:`FlowBlocks` for ``n_steps`` periods (vectorised, scipy.sparse kron)."""
    if n_steps < 1:
        raise ValueError(f"n_steps = {n_steps}: must be >= 1")
    eye = sp.identity(n_steps, format="csr")
    m = network.n_branches
    return FlowBlocks(
        n_steps=n_steps,
        balance=sp.csc_matrix(sp.kron(eye, balance_matrix(network))),
        drop_w=sp.csr_matrix(sp.kron(eye, drop_matrix(network))),
        drop_r=sp.diags(np.tile(2 * network.r_pu, n_steps), shape=(n_steps * m, n_steps * m)),
        drop_x=sp.diags(np.tile(2 * network.x_pu, n_steps), shape=(n_steps * m, n_steps * m)),
        balance_bus=np.tile(non_slack(network), n_steps),
    )


@dataclass(frozen=True)
class LinearFlow:
    """LinDistFlow state for ``T`` periods.

    Attributes
    ----------
    v_pu : (n, T) bus voltage magnitude [pu]
    p_pu, q_pu : (m, T) branch flow at the sending end [pu on ``s_base_mva``]
    loading : (m, T) ``|S| / (v_from s_max)`` [-] (1.0 = 100 %); 0 for switches
    """

    v_pu: np.ndarray
    p_pu: np.ndarray
    q_pu: np.ndarray
    loading: np.ndarray


def branch_flows(network: RadialNetwork, p_pu: np.ndarray) -> np.ndarray:
    """Branch flows (m, T) carrying net consumption ``p_pu`` (n, T) [pu]; shunts excluded."""
    p_pu = np.asarray(p_pu, dtype=float).reshape(network.n_buses, -1)
    return np.asarray(spla.spsolve(balance_matrix(network), p_pu[non_slack(network)])).reshape(
        network.n_branches, -1)


def loss_factors(network: RadialNetwork, p0_pu: np.ndarray, q0_pu: np.ndarray) -> np.ndarray:
    """Marginal losses per unit of extra consumption at each bus (n, T) [-].

    Derivative of the branch losses ``sum_k r_k (P_k^2 + Q_k^2)`` (v = 1 pu) with
    respect to active consumption at each bus, evaluated at the flows of ``p0, q0``:
    ``B^-T (2 r P0)``. Used as the linear losses proxy of seed 002 eq. 4 (the slack
    pays for losses).
    """
    flows = branch_flows(network, p0_pu + network.shunt_p_pu[:, None])
    lf = np.zeros((network.n_buses, flows.shape[1]))
    lf[non_slack(network)] = spla.spsolve(
        sp.csc_matrix(balance_matrix(network).T), 2 * network.r_pu[:, None] * flows).reshape(
        network.n_buses - 1, -1)
    return lf


def linear_flow(network: RadialNetwork, p_mw: np.ndarray, q_mvar: np.ndarray) -> LinearFlow:
    """LinDistFlow voltages and flows for net consumption per bus and step.

    Parameters
    ----------
    network : the radial network
    p_mw, q_mvar : (n, T) or (n,) net consumption per bus position [MW, Mvar];
        the network's constant shunt terms are added here

    Returns
    -------
    LinearFlow
    """
    p = np.asarray(p_mw, dtype=float).reshape(network.n_buses, -1) / network.s_base_mva
    q = np.asarray(q_mvar, dtype=float).reshape(network.n_buses, -1) / network.s_base_mva
    if p.shape != q.shape:
        raise ValueError(f"q_mvar: shape {q.shape} differs from p_mw shape {p.shape}")
    pf = branch_flows(network, p + network.shunt_p_pu[:, None])
    qf = branch_flows(network, q + network.shunt_q_pu[:, None])
    return state_from_flows(network, pf, qf)


def state_from_flows(network: RadialNetwork, pf: np.ndarray, qf: np.ndarray) -> LinearFlow:
    """Voltages and loadings implied by branch flows ``pf``, ``qf`` (m, T) [pu]."""
    n, T = network.n_buses, pf.shape[1]
    # D restricted to non-slack columns is invertible; the slack column goes right
    d = drop_matrix(network).tocsc()
    ns = non_slack(network)
    rhs = -2 * (network.r_pu[:, None] * pf + network.x_pu[:, None] * qf)
    rhs -= d[:, [network.slack]].toarray() * network.v_slack_pu**2
    w = np.empty((n, T))
    w[network.slack] = network.v_slack_pu**2
    w[ns] = np.asarray(spla.spsolve(sp.csc_matrix(d[:, ns]), rhs)).reshape(len(ns), T)
    v = np.sqrt(np.maximum(w, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        loading = np.hypot(pf, qf) / (v[network.from_bus] * network.s_max_pu[:, None])
    loading = np.where(np.isfinite(network.s_max_pu)[:, None], loading, 0.0)
    return LinearFlow(v_pu=v, p_pu=pf, q_pu=qf, loading=loading)


@dataclass(frozen=True)
class Sensitivities:
    """Dense LinDistFlow sensitivities to active consumption (v = 1 pu, shunts constant).

    Attributes
    ----------
    flow : (m, n) d P_k / d p_j [-]: 1 where branch k lies on the path from the slack to
        bus j, else 0 (column of the slack is zero)
    w : (n, n) d (v_i^2) / d p_j [pu^2 / pu]: ``-2`` x resistance shared by the paths to
        i and j, scaled by the transformer ratios between them (row/column of the slack zero)
    """

    flow: np.ndarray
    w: np.ndarray


def sensitivities(network: RadialNetwork) -> Sensitivities:
    """Path and voltage sensitivity matrices (dense; fine up to a few thousand buses)."""
    n, m = network.n_buses, network.n_branches
    ns = non_slack(network)
    flow = np.zeros((m, n))
    flow[:, ns] = spla.spsolve(balance_matrix(network), np.eye(n - 1)).reshape(m, n - 1)
    d = drop_matrix(network).tocsc()
    w = np.zeros((n, n))
    w[np.ix_(ns, ns)] = spla.spsolve(
        sp.csc_matrix(d[:, ns]), -2 * network.r_pu[:, None] * flow[:, ns]).reshape(n - 1, n - 1)
    return Sensitivities(flow=flow, w=w)
