"""DSO rents aggregator batteries for voltage support instead of reinforcing (seed 003).

Three pieces, used in sequence:

1. :func:`request_voltage_support` — the DSO's problem (seed 003 eq. 12): the cheapest
   battery charge/discharge request that keeps every bus within voltage limits
   (eq. 6: 0.9..1.1 pu), with the feeder modelled by LinDistFlow
   (:mod:`flexcosim.agents.grid_optim.lindistflow`) instead of the seed's SOCP relaxation (eqs.
   1-5, 8-11): LinDistFlow drops the losses, so it is an LP and slightly optimistic
   about voltage drop (see ``docs/grid-optim-models.md``).
2. :func:`schedule_batteries` — the aggregator's arbitrage (eqs. 13-20) with the DSO's
   request fixed, a small MILP (binaries of eq. 20).
3. Reinforcement-deferral pricing (eqs. 21-25): :func:`annualised_investment_eur`,
   :func:`deferral_value_eur`, :func:`reservation_price_eur_per_kwh`,
   :func:`flexibility_payments`.

Sign convention as in seed 003 Table II: a request is a change of the battery's
consumption [kW], negative = discharge (the consumer draws less from the feeder).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from flexcosim.agents.grid_optim.lindistflow import (
    RadialNetwork,
    flow_blocks,
    linear_flow,
    non_slack,
)
from flexcosim.agents.solver import solve
from flexcosim.agents.validation import float_array

#: Requests smaller than this are treated as "no request" [kW].
_REQUEST_TOL_KW = 1e-6


@dataclass(frozen=True)
class Batteries:
    """Aggregator-owned batteries on the feeder (seed 003: nodes 7, 13, 15, 16, 20).

    Attributes
    ----------
    bus_ids : (M,) pandapower bus index of each battery
    capacity_kwh : (M,) usable energy SOC^max [kWh] (seed: 5 kWh)
    max_power_kw : (M,) charge and discharge limit P^max [kW] (seed: 0.5 kW)
    """

    bus_ids: np.ndarray
    capacity_kwh: np.ndarray
    max_power_kw: np.ndarray

    def __post_init__(self) -> None:
        ids = np.atleast_1d(np.asarray(self.bus_ids))
        if ids.ndim != 1 or ids.size == 0 or not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(
                f"bus_ids={self.bus_ids!r}; a non-empty 1-D sequence of bus indices is required"
            )
        object.__setattr__(self, "bus_ids", ids.astype(int))
        for name in ("capacity_kwh", "max_power_kw"):
            arr = np.broadcast_to(np.asarray(getattr(self, name), dtype=float), ids.shape).copy()
            if not np.all(np.isfinite(arr) & (arr > 0)):
                raise ValueError(f"{name}={getattr(self, name)!r}; finite values > 0 are required")
            object.__setattr__(self, name, arr)

    @property
    def count(self) -> int:
        return self.bus_ids.size


@dataclass(frozen=True)
class VoltageSupportProblem:
    """The DSO's voltage-support problem over T periods.

    Attributes
    ----------
    network : LinDistFlow branch data of the feeder
    load_bus_ids : (L,) pandapower bus index of each load
    load_p_kw, load_q_kvar : (L, T) consumption of each load [kW, kvar]
    batteries : the batteries the DSO may call on
    service_price_eur_per_kwh : (T,) cp_t, price of charging or discharging for the DSO
        [EUR/kWh] (seed: 1.5 x market price, or the reservation price of eq. 23)
    slot_h : period length [h] (seed: 1 h)
    v_min_pu, v_max_pu : voltage limits [pu] (seed eq. 6: 0.9 and 1.1)
    """

    network: RadialNetwork
    load_bus_ids: np.ndarray
    load_p_kw: np.ndarray
    load_q_kvar: np.ndarray
    batteries: Batteries
    service_price_eur_per_kwh: np.ndarray
    slot_h: float = 1.0
    v_min_pu: float = 0.9
    v_max_pu: float = 1.1

    def __post_init__(self) -> None:
        price = np.asarray(self.service_price_eur_per_kwh, dtype=float)
        if price.ndim != 1 or price.size == 0:
            raise ValueError(
                f"service_price_eur_per_kwh has shape {price.shape}; a (T,) vector is required"
            )
        shape = (np.atleast_1d(self.load_bus_ids).size, price.size)
        object.__setattr__(
            self,
            "service_price_eur_per_kwh",
            float_array("service_price_eur_per_kwh", price, price.shape),
        )
        object.__setattr__(
            self, "load_bus_ids", np.atleast_1d(np.asarray(self.load_bus_ids, dtype=int))
        )
        object.__setattr__(self, "load_p_kw", float_array("load_p_kw", self.load_p_kw, shape))
        object.__setattr__(self, "load_q_kvar", float_array("load_q_kvar", self.load_q_kvar, shape))
        self.network.bus_positions(self.load_bus_ids)
        self.network.bus_positions(self.batteries.bus_ids)
        if not self.slot_h > 0:
            raise ValueError(f"slot_h={self.slot_h}; a period length > 0 h is required")
        if not 0 < self.v_min_pu < self.v_max_pu:
            raise ValueError(
                f"v_min_pu={self.v_min_pu}, v_max_pu={self.v_max_pu}; 0 < v_min_pu < v_max_pu is required"
            )

    @property
    def n_steps(self) -> int:
        return self.service_price_eur_per_kwh.size


@dataclass(frozen=True)
class SupportRequest:
    """The DSO's request (seed 003 eq. 12 solution).

    Attributes
    ----------
    status : "optimal", "infeasible" or another solver status
    message : why no request exists (names buses, periods and limits), empty when optimal
    request_kw : (M, T) requested change of battery consumption, negative = discharge [kW]
    cost_eur : sum_t cp_t |request| dt [EUR]
    bus_ids : (n,) pandapower bus index of each row of the voltage arrays
    v_before_pu, v_after_pu : (n, T) LinDistFlow voltages without and with the request [pu]
    """

    status: str
    message: str = ""
    request_kw: np.ndarray | None = field(default=None, repr=False)
    cost_eur: float = float("nan")
    bus_ids: np.ndarray | None = field(default=None, repr=False)
    v_before_pu: np.ndarray | None = field(default=None, repr=False)
    v_after_pu: np.ndarray | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.request_kw is not None


def feeder_voltage_pu(
    problem: VoltageSupportProblem, battery_kw: np.ndarray | None = None
) -> np.ndarray:
    """LinDistFlow voltages (n, T) [pu] with batteries adding ``battery_kw`` (M, T) consumption."""
    net = problem.network
    p = np.zeros((net.n_buses, problem.n_steps))
    q = np.zeros_like(p)
    np.add.at(p, net.bus_positions(problem.load_bus_ids), problem.load_p_kw)
    np.add.at(q, net.bus_positions(problem.load_bus_ids), problem.load_q_kvar)
    if battery_kw is not None:
        np.add.at(p, net.bus_positions(problem.batteries.bus_ids), battery_kw)
    return linear_flow(net, p / 1000.0, q / 1000.0).v_pu


def _violations(
    v_pu: np.ndarray, bus_ids: np.ndarray, lo: float, hi: float, limit: int = 3
) -> list[str]:
    """Worst voltage violations as "bus 20 at t=19: 0.874 pu < 0.9 pu"."""
    below, above = lo - v_pu, v_pu - hi
    worst = np.maximum(below, above)
    out = []
    for flat in np.argsort(worst, axis=None)[::-1][:limit]:
        j, t = np.unravel_index(flat, v_pu.shape)
        if worst[j, t] <= 1e-9:
            break
        rel = f"< {lo}" if below[j, t] > 0 else f"> {hi}"
        out.append(f"bus {bus_ids[j]} at t={t}: {v_pu[j, t]:.4f} pu {rel} pu")
    return out


def request_voltage_support(problem: VoltageSupportProblem) -> SupportRequest:
    """Cheapest battery request keeping all voltages within limits (seed 003 eq. 12).

    min ``sum_t cp_t dt sum_m (d_mt + c_mt)`` over discharge ``d`` and charge ``c``
    requests, ``0 <= d, c <= P^max``, ``sum_t d dt <= SOC^max`` and likewise for ``c``
    (a request must fit in one battery), subject to LinDistFlow
    (balance, voltage drop) and ``v_min^2 <= w <= v_max^2`` at every bus and period.

    Returns
    -------
    SupportRequest
        ``status="infeasible"`` names the buses and periods that stay outside the
        limits even with every battery at full power.
    """
    net, bat = problem.network, problem.batteries
    n_t, n_m = problem.n_steps, bat.count
    blocks = flow_blocks(net, n_t)
    v_before = feeder_voltage_pu(problem)
    base = _violations(v_before, net.bus_ids, problem.v_min_pu, problem.v_max_pu)
    if not base:
        return SupportRequest(
            status="optimal",
            request_kw=np.zeros((n_m, n_t)),
            cost_eur=0.0,
            bus_ids=net.bus_ids,
            v_before_pu=v_before,
            v_after_pu=v_before,
        )

    m, n = net.n_branches, net.n_buses
    ns = non_slack(net)
    load_pos = net.bus_positions(problem.load_bus_ids)
    p_base = np.zeros((n, n_t))
    q_base = np.zeros((n, n_t))
    np.add.at(p_base, load_pos, problem.load_p_kw / 1000.0 / net.s_base_mva)
    np.add.at(q_base, load_pos, problem.load_q_kvar / 1000.0 / net.s_base_mva)
    p_base += net.shunt_p_pu[:, None]
    q_base += net.shunt_q_pu[:, None]

    # battery kW -> consumption [pu] in the balance row of its bus, per period
    row_of_pos = np.full(n, -1)
    row_of_pos[ns] = np.arange(ns.size)
    inject = sp.csr_matrix(
        (
            np.full(n_m, 1.0 / 1000.0 / net.s_base_mva),
            (row_of_pos[net.bus_positions(bat.bus_ids)], np.arange(n_m)),
        ),
        shape=(ns.size, n_m),
    )
    inject_t = sp.kron(sp.identity(n_t), inject)
    z_bal = sp.csr_matrix((n_t * (n - 1), n_t * m))
    z_w = sp.csr_matrix((n_t * (n - 1), n_t * n))
    z_bat = sp.csr_matrix((n_t * (n - 1), n_t * n_m))
    z_drop = sp.csr_matrix((n_t * m, n_t * n_m))
    energy = sp.kron(np.ones((1, n_t)), sp.identity(n_m)) * problem.slot_h
    z_e = sp.csr_matrix((n_m, n_t * (2 * m + n)))
    # columns: [P | Q | w | discharge d | charge c], all time-major
    A = sp.vstack(
        [
            sp.hstack([blocks.balance, z_bal, z_w, inject_t, -inject_t]),
            sp.hstack([z_bal, blocks.balance, z_w, z_bat, z_bat]),
            sp.hstack([blocks.drop_r, blocks.drop_x, blocks.drop_w, z_drop, z_drop]),
            sp.hstack([z_e, energy, sp.csr_matrix((n_m, n_t * n_m))]),
            sp.hstack([z_e, sp.csr_matrix((n_m, n_t * n_m)), energy]),
        ],
        format="csc",
    )
    rhs_p = p_base[ns].T.ravel()
    rhs_q = q_base[ns].T.ravel()
    row_lo = np.concatenate([rhs_p, rhs_q, np.zeros(n_t * m), np.full(2 * n_m, -np.inf)])
    row_hi = np.concatenate([rhs_p, rhs_q, np.zeros(n_t * m), bat.capacity_kwh, bat.capacity_kwh])

    w_lo = np.full((n_t, n), problem.v_min_pu**2)
    w_hi = np.full((n_t, n), problem.v_max_pu**2)
    w_lo[:, net.slack] = w_hi[:, net.slack] = net.v_slack_pu**2
    p_max = np.tile(bat.max_power_kw, n_t)
    col_lo = np.concatenate([np.full(2 * n_t * m, -np.inf), w_lo.ravel(), np.zeros(2 * n_t * n_m)])
    col_hi = np.concatenate([np.full(2 * n_t * m, np.inf), w_hi.ravel(), p_max, p_max])
    price = np.repeat(problem.service_price_eur_per_kwh * problem.slot_h, n_m)
    c = np.concatenate([np.zeros(n_t * (2 * m + n)), price, price])

    res = solve(c, A, row_lo, row_hi, col_lo, col_hi)
    if not res.ok:
        return SupportRequest(
            status=res.status,
            message=_infeasibility_reason(problem) or res.message,
            bus_ids=net.bus_ids,
            v_before_pu=v_before,
        )
    off = n_t * (2 * m + n)
    discharge = res.x[off : off + n_t * n_m].reshape(n_t, n_m).T
    charge = res.x[off + n_t * n_m :].reshape(n_t, n_m).T
    request = charge - discharge
    return SupportRequest(
        status=res.status,
        request_kw=request,
        cost_eur=float(res.objective),
        bus_ids=net.bus_ids,
        v_before_pu=v_before,
        v_after_pu=feeder_voltage_pu(problem, request),
    )


def _infeasibility_reason(problem: VoltageSupportProblem) -> str:
    """Which limits no request can meet: full discharge and full charge everywhere."""
    bat, net = problem.batteries, problem.network
    full = np.repeat(bat.max_power_kw[:, None], problem.n_steps, axis=1)
    low = _violations(feeder_voltage_pu(problem, -full), net.bus_ids, problem.v_min_pu, np.inf)
    high = _violations(feeder_voltage_pu(problem, full), net.bus_ids, -np.inf, problem.v_max_pu)
    if low or high:
        return "voltage limits missed even with every battery at max_power_kw: " + "; ".join(
            low + high
        )
    return "voltage limits need more energy than capacity_kwh of the batteries allows"


@dataclass(frozen=True)
class BatterySchedule:
    """The aggregator's battery schedule (seed 003 eqs. 13-20 solution).

    Attributes
    ----------
    status, message : solver outcome; message names the request that cannot be met
    charge_kw, discharge_kw : (M, T) [kW]
    soc_kwh : (M, T+1) stored energy at the start of each period and at the end [kWh]
    cost_eur : (M,) energy cost of each battery, sum_t mp_t (charge - discharge) dt [EUR]
        (negative = arbitrage income; the load's own cost is not included)
    """

    status: str
    message: str = ""
    charge_kw: np.ndarray | None = field(default=None, repr=False)
    discharge_kw: np.ndarray | None = field(default=None, repr=False)
    soc_kwh: np.ndarray | None = field(default=None, repr=False)
    cost_eur: np.ndarray | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.charge_kw is not None

    @property
    def net_kw(self) -> np.ndarray:
        """Battery consumption (M, T), charge minus discharge [kW]."""
        return self.charge_kw - self.discharge_kw


def schedule_batteries(
    batteries: Batteries,
    market_price_eur_per_kwh: np.ndarray,
    request_kw: np.ndarray | None = None,
    slot_h: float = 1.0,
) -> BatterySchedule:
    """Aggregator arbitrage with the DSO's request fixed (seed 003 eqs. 13, 15-20).

    min ``sum_t mp_t dt sum_m (c_mt - d_mt)`` (the battery part of eq. 13; the load's cost
    is a constant) s.t. ``SOC_t = SOC_{t-1} + (c - d) dt`` (15), ``SOC_0 = SOC_T = 0``
    (16), ``SOC <= SOC^max`` (17), ``c <= P^max x^ch``, ``d <= P^max x^dis`` (18-19),
    ``x^ch + x^dis <= 1`` (20); and ``c - d = request`` for every battery in each
    service period (a period in which any battery has a non-zero request).

    Parameters
    ----------
    batteries : the aggregator's batteries
    market_price_eur_per_kwh : (T,) day-ahead or ToU price mp_t [EUR/kWh]
    request_kw : (M, T) DSO request, negative = discharge [kW]; periods where all
        entries are zero are free for arbitrage
    slot_h : period length [h]

    Returns
    -------
    BatterySchedule
        ``status="infeasible"`` when the request cannot be met from an empty battery
        (e.g. a discharge before any period to charge in), naming the batteries.
    """
    price = np.asarray(market_price_eur_per_kwh, dtype=float)
    if price.ndim != 1 or price.size == 0 or not np.all(np.isfinite(price)):
        raise ValueError(
            f"market_price_eur_per_kwh has shape {price.shape}; a finite (T,) vector is required"
        )
    n_t, n_m = price.size, batteries.count
    request = (
        np.zeros((n_m, n_t))
        if request_kw is None
        else float_array("request_kw", request_kw, (n_m, n_t))
    )
    if not slot_h > 0:
        raise ValueError(f"slot_h={slot_h}; a period length > 0 h is required")
    p_max = batteries.max_power_kw[:, None]
    if np.any(np.abs(request) > p_max + _REQUEST_TOL_KW):
        j = int(np.argmax(np.max(np.abs(request) - p_max, axis=1)))
        raise ValueError(
            f"request_kw of battery {j} exceeds max_power_kw={p_max[j, 0]}; |request| <= P^max is required"
        )

    # columns (each (M, T) row-major): [c | d | x_ch | x_dis | soc at end of period]
    nv = n_m * n_t
    eye = sp.identity(nv, format="csr")
    zero = sp.csr_matrix((nv, nv))
    # soc_t - soc_{t-1} - (c - d) dt = 0 with soc_{-1} = 0 (16)
    step = sp.kron(sp.identity(n_m), sp.diags([np.ones(n_t), -np.ones(n_t - 1)], [0, -1]))
    dyn = sp.hstack([-slot_h * eye, slot_h * eye, zero, zero, step])
    pmax = sp.diags(np.repeat(batteries.max_power_kw, n_t))
    limit_c = sp.hstack([eye, zero, -pmax, zero, zero])
    limit_d = sp.hstack([zero, eye, zero, -pmax, zero])
    excl = sp.hstack([zero, zero, eye, eye, zero])
    # in a service period every battery is held at its request, zero included, so that
    # arbitrage cannot undo the support by charging a neighbouring battery
    service = np.any(np.abs(request) > _REQUEST_TOL_KW, axis=0)
    fixed = np.flatnonzero(np.broadcast_to(service, request.shape).ravel())
    fix = sp.hstack([eye, -eye, zero, zero, zero]).tocsr()[fixed]
    A = sp.vstack([dyn, limit_c, limit_d, excl, fix], format="csc")
    row_lo = np.concatenate(
        [np.zeros(nv), np.full(2 * nv, -np.inf), np.zeros(nv), request.ravel()[fixed]]
    )
    row_hi = np.concatenate([np.zeros(nv), np.zeros(2 * nv), np.ones(nv), request.ravel()[fixed]])

    soc_hi = np.repeat(batteries.capacity_kwh[:, None], n_t, axis=1)
    soc_hi[:, -1] = 0.0  # SOC_T = 0 (16)
    col_lo = np.zeros(5 * nv)
    col_hi = np.concatenate([np.full(2 * nv, np.inf), np.ones(2 * nv), soc_hi.ravel()])
    cost = np.tile(price * slot_h, n_m)
    c = np.concatenate([cost, -cost, np.zeros(3 * nv)])
    integer = np.concatenate([np.zeros(2 * nv, bool), np.ones(2 * nv, bool), np.zeros(nv, bool)])

    res = solve(c, A, row_lo, row_hi, col_lo, col_hi, integer)
    if not res.ok:
        asked = sorted(
            {int(i) for i in np.flatnonzero(np.any(np.abs(request) > _REQUEST_TOL_KW, axis=1))}
        )
        return BatterySchedule(
            status=res.status,
            message=f"request_kw of batteries {asked} cannot be met within capacity_kwh and max_power_kw "
            f"starting and ending empty ({res.message})",
        )
    ch, dis, _, _, soc = res.x.reshape(5, n_m, n_t)
    return BatterySchedule(
        status=res.status,
        charge_kw=ch,
        discharge_kw=dis,
        soc_kwh=np.hstack([np.zeros((n_m, 1)), soc]),
        cost_eur=((ch - dis) * price * slot_h).sum(axis=1),
    )


def annualised_investment_eur(
    investment_eur: float, discount_rate: float, lifetime_years: int
) -> float:
    """Annual cost of an investment as seed 003 eq. 21: ``I (1 + R)^L / L`` [EUR/year].

    This is the seed's own formula (not a standard annuity): 1000 EUR at 5 % over 8 years
    gives 184.68 EUR/year.
    """
    if investment_eur < 0 or discount_rate < 0 or lifetime_years < 1:
        raise ValueError(
            f"investment_eur={investment_eur}, discount_rate={discount_rate}, lifetime_years={lifetime_years}; "
            "investment >= 0, rate >= 0 and lifetime >= 1 year are required"
        )
    return investment_eur * (1 + discount_rate) ** lifetime_years / lifetime_years


def deferral_value_eur(
    investment_eur: float, interest_rate: float, inflation_rate: float, years: int = 1
) -> float:
    """Value of postponing a reinforcement by ``years`` (seed 003 eq. 22) [EUR].

    ``I - I (1 + inflation)^t / (1 + interest)^t``; the seed's 31,880 EUR cable at 7 %
    interest and 1.3 % inflation gives 1698.28 EUR for one year, the maximum the DSO
    should pay for flexibility in that year.
    """
    if investment_eur < 0 or interest_rate <= -1 or inflation_rate <= -1 or years < 0:
        raise ValueError(
            f"investment_eur={investment_eur}, interest_rate={interest_rate}, inflation_rate={inflation_rate}, "
            f"years={years}; investment >= 0, rates > -1 and years >= 0 are required"
        )
    return (
        investment_eur
        - investment_eur * (1 + inflation_rate) ** years / (1 + interest_rate) ** years
    )


def reservation_price_eur_per_kwh(
    flexibility_value_eur: float, reserved_energy_kwh: float, reservation_share: float = 0.5
) -> float:
    """Reservation (= activation) price, seed 003 eq. 23 [EUR/kWh].

    ``share * value / reserved energy``; the seed splits 1698.28 EUR half-half and
    reserves 4 kWh a day (1460 kWh a year): 0.5816 EUR/kWh, quoted as 0.58.
    """
    if reserved_energy_kwh <= 0 or not 0 <= reservation_share <= 1:
        raise ValueError(
            f"reserved_energy_kwh={reserved_energy_kwh}, reservation_share={reservation_share}; "
            "energy > 0 kWh and a share in [0, 1] are required"
        )
    return reservation_share * flexibility_value_eur / reserved_energy_kwh


@dataclass(frozen=True)
class FlexibilityPayments:
    """What the DSO pays each battery for one day's request repeated ``days`` times.

    Attributes
    ----------
    reserved_kwh : (M,) energy reserved per day: P^max times periods with a request [kWh]
    activated_kwh : (M,) energy actually requested per day, sum |request| dt [kWh]
    reservation_eur, activation_eur : (M,) income over ``days`` (seed 003 eqs. 24, 25) [EUR]
    """

    reserved_kwh: np.ndarray
    activated_kwh: np.ndarray
    reservation_eur: np.ndarray
    activation_eur: np.ndarray


def flexibility_payments(
    request_kw: np.ndarray,
    max_power_kw: np.ndarray,
    price_eur_per_kwh: float,
    slot_h: float = 1.0,
    days: int = 365,
) -> FlexibilityPayments:
    """Reservation and activation income per battery (seed 003 eqs. 24-25).

    The DSO reserves the full power P^max of a battery in every period it requests
    anything from it ("the DSO pays the reservation for the entire discharging storage
    capacity"), and pays activation for the energy actually requested.
    """
    request = np.atleast_2d(np.asarray(request_kw, dtype=float))
    p_max = np.broadcast_to(np.asarray(max_power_kw, dtype=float), request.shape[:1])
    if price_eur_per_kwh < 0 or days < 0 or not slot_h > 0:
        raise ValueError(
            f"price_eur_per_kwh={price_eur_per_kwh}, days={days}, slot_h={slot_h}; "
            "price >= 0, days >= 0 and slot_h > 0 are required"
        )
    asked = np.abs(request) > _REQUEST_TOL_KW
    reserved = p_max * asked.sum(axis=1) * slot_h
    activated = np.abs(request).sum(axis=1) * slot_h
    return FlexibilityPayments(
        reserved_kwh=reserved,
        activated_kwh=activated,
        reservation_eur=price_eur_per_kwh * reserved * days,
        activation_eur=price_eur_per_kwh * activated * days,
    )
