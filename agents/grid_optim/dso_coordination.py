"""DSO coordination of PV export limits and EV charging profiles of aggregators (seed 000).

Each aggregator reports only aggregates: the PV power its households could produce
(eq. 1) and the energy/power boundaries of its EV fleet (eqs. 2-10). The DSO solves one
LP (eqs. 11-16) that sets every aggregator's PV export limit ``zeta`` and charging
profile so that the distribution transformer and each feeder's main cable stay within
their ratings, with a penalised overload slack keeping the problem feasible.

Deviations from the seed, each because the seed's text is ambiguous or unphysical:

* The seed calls (12)-(13) MILP after linearising ``|x| <= b``; two linear rows are an
  exact reformulation, so the model stays an LP.
* ``P^EV`` is the power stored in the batteries (eq. 8 bounds it by ``p_max * eta``, and
  eq. 16 integrates it into battery energy); the grid sees ``P^EV / eta`` in (12)-(14).
  With ``eta = 1`` this is the seed's model.
* The charger limit ``P^EV <= P^upper`` (eqs. 8, 10) is a hard bound; only the cable
  headroom in (14) is relaxed by the overload slack, as a charger cannot exceed its
  rating.
* An optional hard ramp limit bounds ``Delta^P`` of (15), which the seed only penalises.
* An optional cap ``max_overload_kw`` on the overload slack OL (the seed leaves it
  unbounded): with a cap of 0 the ratings are hard and the LP can be infeasible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from flexcosim.agents.solver import solve
from flexcosim.agents.validation import float_array

#: Numerical slack when checking bounds handed in by aggregators [kWh or kW].
_TOL = 1e-6


def _as_vector(name: str, values: object, length: int | None = None) -> np.ndarray:
    """``values`` as a finite read-only float vector, optionally of a required ``length``."""
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name} has shape {arr.shape}; a 1-D array is required")
    return float_array(name, arr, (arr.size if length is None else length,))


@dataclass(frozen=True)
class EvFleet:
    """The EVs of one aggregator for one evaluation period (seed 000 section 2.2).

    Slots are counted from the start of the period; EV ``j`` can charge in slots
    ``arrival_slot[j] .. departure_slot[j] - 1`` and leaves at the start of slot
    ``departure_slot[j]`` (which may lie beyond the horizon).

    Attributes
    ----------
    battery_kwh : (n,) battery capacity BC [kWh]
    consumption_kwh_per_km : (n,) energy consumption rate ECR [kWh/km]
    distance_km : (n,) distance driven before arrival d [km]
    arrival_slot : (n,) first slot at the charger t^arr [-]
    departure_slot : (n,) slot at which the EV has left t^dis [-]
    soc_target : (n,) objective state of charge SOC^obj [-]
    soc_max : maximum state of charge SOC^max [-] (seed: 0.95)
    """

    battery_kwh: np.ndarray
    consumption_kwh_per_km: np.ndarray
    distance_km: np.ndarray
    arrival_slot: np.ndarray
    departure_slot: np.ndarray
    soc_target: np.ndarray
    soc_max: float = 0.95

    def __post_init__(self) -> None:
        n = np.asarray(self.battery_kwh).size
        for name in ("battery_kwh", "consumption_kwh_per_km", "distance_km", "soc_target"):
            arr = _as_vector(name, getattr(self, name), n)
            if np.any(arr < 0):
                raise ValueError(f"{name} has negative entries; values >= 0 are required")
            object.__setattr__(self, name, arr)
        if np.any(self.battery_kwh <= 0):
            raise ValueError("battery_kwh has entries <= 0; capacities > 0 kWh are required")
        if np.any(self.soc_target > 1):
            raise ValueError("soc_target has entries > 1; values in [0, 1] are required")
        if not 0 < self.soc_max <= 1:
            raise ValueError(f"soc_max={self.soc_max}; a value in (0, 1] is required")
        for name in ("arrival_slot", "departure_slot"):
            raw = _as_vector(name, getattr(self, name), n)
            if np.any(raw != np.round(raw)) or np.any(raw < 0):
                raise ValueError(
                    f"{name} has non-integer or negative entries; slot numbers >= 0 are required"
                )
            object.__setattr__(self, name, raw.astype(int))
        if np.any(self.departure_slot <= self.arrival_slot):
            j = int(np.argmax(self.departure_slot <= self.arrival_slot))
            raise ValueError(
                f"departure_slot[{j}]={self.departure_slot[j]} is not after "
                f"arrival_slot[{j}]={self.arrival_slot[j]}; departure > arrival is required"
            )

    @property
    def arrival_energy_kwh(self) -> np.ndarray:
        """Arrival energy e^arr = SOC^max BC - ECR d (seed 000 eq. 2) [kWh].

        A trip longer than the battery's range arrives empty rather than negative (the
        rest is taken as charged en route), which the log-normal distance tail produces.
        """
        return np.maximum(
            self.soc_max * self.battery_kwh - self.consumption_kwh_per_km * self.distance_km, 0.0
        )

    @property
    def objective_energy_kwh(self) -> np.ndarray:
        """Objective energy e^obj = SOC^obj BC (seed 000 eq. 3) [kWh]."""
        return self.soc_target * self.battery_kwh


@dataclass(frozen=True)
class FleetBoundaries:
    """Aggregated energy and power boundaries of an EV fleet (seed 000 eqs. 9-10).

    ``energy_*_kwh[t]`` is the fleet's stored energy at the start of slot ``t``
    (``t = 0 .. n_slots``); ``power_upper_kw[t]`` bounds the power stored during slot ``t``.

    Attributes
    ----------
    energy_upper_kwh : (T+1,) E^upper [kWh]
    energy_lower_kwh : (T+1,) E^lower [kWh]; ``energy_lower_kwh[0]`` must equal
        ``energy_upper_kwh[0]`` (the summed arrival energy, eq. 4)
    power_upper_kw : (T,) P^upper, battery side [kW]
    shortfall_kwh : energy by which EVs that cannot reach e^obj within their stay miss it
        (their target is lowered to what the charger can deliver) [kWh]
    """

    energy_upper_kwh: np.ndarray
    energy_lower_kwh: np.ndarray
    power_upper_kw: np.ndarray
    shortfall_kwh: float = 0.0

    def __post_init__(self) -> None:
        power = _as_vector("power_upper_kw", self.power_upper_kw)
        if np.any(power < 0):
            raise ValueError("power_upper_kw has negative entries; values >= 0 kW are required")
        upper = _as_vector("energy_upper_kwh", self.energy_upper_kwh, power.size + 1)
        lower = _as_vector("energy_lower_kwh", self.energy_lower_kwh, power.size + 1)
        if abs(upper[0] - lower[0]) > _TOL:
            raise ValueError(
                f"energy_upper_kwh[0]={upper[0]} differs from energy_lower_kwh[0]={lower[0]}; "
                "both must be the fleet's arrival energy"
            )
        object.__setattr__(self, "power_upper_kw", power)
        object.__setattr__(self, "energy_upper_kwh", upper)
        object.__setattr__(self, "energy_lower_kwh", lower)

    @property
    def n_slots(self) -> int:
        return self.power_upper_kw.size

    @property
    def initial_energy_kwh(self) -> float:
        return float(self.energy_lower_kwh[0])


def fleet_boundaries(
    fleet: EvFleet,
    n_slots: int,
    slot_h: float,
    charger_power_kw: float,
    charger_efficiency: float,
) -> FleetBoundaries:
    """Energy and power boundaries of every EV, summed over the fleet (seed 000 eqs. 2-10).

    Per EV with arrival ``a``, departure ``d`` and rate ``r = p_max eta dt``:
    ``e_up(t) = min(e_arr + r * clip(t - a, 0, d - a), e_obj)`` (eqs. 4-5) and
    ``e_lo(t) = max(e_obj - r * clip(d - t, 0, d - a), e_arr)`` (eqs. 4, 6-7);
    ``p_up(t) = p_max eta`` for ``a <= t < d``, else 0 (eq. 8).

    Parameters
    ----------
    fleet : the aggregator's EVs
    n_slots : number of slots T in the horizon
    slot_h : slot length Delta t [h]
    charger_power_kw : charger rating p^max_ch [kW]
    charger_efficiency : eta_ch [-]

    Returns
    -------
    FleetBoundaries
        An EV that cannot reach e^obj in its stay gets the reachable energy as its
        objective (the shortfall is reported); one that arrives above e^obj needs nothing.
    """
    if n_slots < 1:
        raise ValueError(f"n_slots={n_slots}; at least 1 slot is required")
    if slot_h <= 0:
        raise ValueError(f"slot_h={slot_h}; a slot length > 0 h is required")
    if charger_power_kw <= 0:
        raise ValueError(f"charger_power_kw={charger_power_kw}; a rating > 0 kW is required")
    if not 0 < charger_efficiency <= 1:
        raise ValueError(f"charger_efficiency={charger_efficiency}; a value in (0, 1] is required")
    rate_kw = charger_power_kw * charger_efficiency
    arrival = fleet.arrival_slot[:, None]
    departure = fleet.departure_slot[:, None]
    e_arr = fleet.arrival_energy_kwh
    reachable = e_arr + rate_kw * slot_h * (fleet.departure_slot - fleet.arrival_slot)
    target = np.clip(fleet.objective_energy_kwh, e_arr, reachable)
    shortfall = float(np.sum(np.maximum(fleet.objective_energy_kwh - reachable, 0.0)))

    t = np.arange(n_slots + 1)[None, :]
    stay = departure - arrival
    upper = np.minimum(
        e_arr[:, None] + rate_kw * slot_h * np.clip(t - arrival, 0, stay), target[:, None]
    )
    lower = np.maximum(
        target[:, None] - rate_kw * slot_h * np.clip(departure - t, 0, stay), e_arr[:, None]
    )
    slots = t[:, :-1]
    present = (slots >= arrival) & (slots < departure)
    return FleetBoundaries(
        energy_upper_kwh=upper.sum(axis=0),
        energy_lower_kwh=lower.sum(axis=0),
        power_upper_kw=rate_kw * present.sum(axis=0).astype(float),
        shortfall_kwh=shortfall,
    )


@dataclass(frozen=True)
class AggregatorRequest:
    """What one aggregator tells the DSO for the coming horizon.

    Attributes
    ----------
    name : aggregator name (used in messages)
    pv_available_kw : (T,) aggregated available PV power P^PV_k (eq. 1) [kW]
    ev : aggregated EV boundaries (eqs. 9-10)
    line_forecast_kw : (T,) forecast demand on the feeder's main cable without EVs and
        PV, P^fc_Line [kW]
    line_rating_kva : rating of the feeder's main cable S^rated_Line [kVA]
    charger_efficiency : eta_ch, converts stored EV power into grid power [-]
    ramp_limit_kw : hard bound on the charging-power change between slots [kW]
        (``inf``: only the ramp penalty of eq. 11 applies)
    previous_charging_kw : charging power in the slot before the horizon, the reference
        for the first ramp in (15) [kW]
    """

    name: str
    pv_available_kw: np.ndarray
    ev: FleetBoundaries
    line_forecast_kw: np.ndarray
    line_rating_kva: float
    charger_efficiency: float = 1.0
    ramp_limit_kw: float = float("inf")
    previous_charging_kw: float = 0.0

    def __post_init__(self) -> None:
        n = self.ev.n_slots
        pv = _as_vector(f"{self.name}.pv_available_kw", self.pv_available_kw, n)
        if np.any(pv < 0):
            raise ValueError(
                f"{self.name}.pv_available_kw has negative entries; values >= 0 kW are required"
            )
        object.__setattr__(self, "pv_available_kw", pv)
        object.__setattr__(
            self,
            "line_forecast_kw",
            _as_vector(f"{self.name}.line_forecast_kw", self.line_forecast_kw, n),
        )
        if not self.line_rating_kva > 0:
            raise ValueError(
                f"{self.name}.line_rating_kva={self.line_rating_kva}; a rating > 0 kVA is required"
            )
        if not 0 < self.charger_efficiency <= 1:
            raise ValueError(
                f"{self.name}.charger_efficiency={self.charger_efficiency}; a value in (0, 1] is required"
            )
        if not self.ramp_limit_kw > 0:
            raise ValueError(
                f"{self.name}.ramp_limit_kw={self.ramp_limit_kw}; a limit > 0 kW is required"
            )
        if not (np.isfinite(self.previous_charging_kw) and self.previous_charging_kw >= 0):
            raise ValueError(
                f"{self.name}.previous_charging_kw={self.previous_charging_kw}; a power >= 0 kW is required"
            )


@dataclass(frozen=True)
class CoordinationProblem:
    """The DSO's coordination LP for one horizon (seed 000 eqs. 11-16).

    Attributes
    ----------
    aggregators : one request per feeder/aggregator k
    transformer_rating_kva : S^rated_Trans of the transformer feeding all aggregators [kVA]
    power_factor : cos(phi) converting kVA ratings into kW limits [-] (seed: 0.95)
    slot_h : slot length Delta t [h]
    overload_weight : omega, objective weight per kW of overload slack (seed: 1000)
    ramp_weight : gamma, objective weight per kW of charging-power change (seed: 1000)
    max_overload_kw : upper bound on each OL_k,t [kW] (seed: unbounded)
    """

    aggregators: Sequence[AggregatorRequest]
    transformer_rating_kva: float
    power_factor: float = 0.95
    slot_h: float = 1.0 / 6.0
    overload_weight: float = 1000.0
    ramp_weight: float = 1000.0
    max_overload_kw: float = float("inf")

    def __post_init__(self) -> None:
        object.__setattr__(self, "aggregators", tuple(self.aggregators))
        if not self.aggregators:
            raise ValueError("aggregators is empty; at least one aggregator is required")
        lengths = {a.ev.n_slots for a in self.aggregators}
        if len(lengths) != 1:
            raise ValueError(
                f"aggregators have horizons of {sorted(lengths)} slots; one common horizon is required"
            )
        names = [a.name for a in self.aggregators]
        if len(set(names)) != len(names):
            raise ValueError(f"aggregator names {names} repeat; unique names are required")
        if not self.transformer_rating_kva > 0:
            raise ValueError(
                f"transformer_rating_kva={self.transformer_rating_kva}; a rating > 0 kVA is required"
            )
        if not 0 < self.power_factor <= 1:
            raise ValueError(f"power_factor={self.power_factor}; a value in (0, 1] is required")
        if not self.slot_h > 0:
            raise ValueError(f"slot_h={self.slot_h}; a slot length > 0 h is required")
        if not self.max_overload_kw >= 0:
            raise ValueError(f"max_overload_kw={self.max_overload_kw}; a cap >= 0 kW is required")
        for name in ("overload_weight", "ramp_weight"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name}={getattr(self, name)}; a weight >= 0 is required")

    @property
    def n_slots(self) -> int:
        return self.aggregators[0].ev.n_slots


@dataclass(frozen=True)
class CoordinationResult:
    """The DSO's decision per aggregator k and slot t; arrays are (K, T) unless noted.

    Attributes
    ----------
    status : "optimal", "infeasible" or another solver status
    message : why there is no solution (names the violated limits), empty when optimal
    names : aggregator names, in row order
    export_limit : zeta, share of available PV allowed (1 where no PV is available) [-]
    pv_kw : PV power allowed, P^PV zeta [kW]
    charging_kw : EV charging power, battery side P^EV [kW]
    overload_kw : overload slack OL [kW]
    ramp_kw : charging-power change Delta^P [kW]
    feeder_net_kw : export on each main cable, P^PV zeta - P^EV/eta - P^fc [kW]
    transformer_net_kw : (T,) export through the transformer [kW]
    objective : value of eq. 11 (maximised)
    """

    status: str
    message: str = ""
    names: tuple[str, ...] = ()
    export_limit: np.ndarray | None = field(default=None, repr=False)
    pv_kw: np.ndarray | None = field(default=None, repr=False)
    charging_kw: np.ndarray | None = field(default=None, repr=False)
    overload_kw: np.ndarray | None = field(default=None, repr=False)
    ramp_kw: np.ndarray | None = field(default=None, repr=False)
    feeder_net_kw: np.ndarray | None = field(default=None, repr=False)
    transformer_net_kw: np.ndarray | None = field(default=None, repr=False)
    objective: float = float("nan")

    @property
    def ok(self) -> bool:
        return self.charging_kw is not None


def _energy_bound_conflicts(problem: CoordinationProblem) -> list[str]:
    """Energy boundaries that no charging profile within P^upper can satisfy."""
    conflicts = []
    for agg in problem.aggregators:
        ev = agg.ev
        most = ev.initial_energy_kwh + problem.slot_h * np.concatenate(
            ([0.0], np.cumsum(ev.power_upper_kw))
        )
        checks = (
            (
                ev.energy_lower_kwh - ev.energy_upper_kwh,
                "energy_lower_kwh exceeds energy_upper_kwh",
            ),
            (
                ev.energy_lower_kwh - most,
                "energy_lower_kwh exceeds the energy reachable at power_upper_kw",
            ),
            (
                ev.initial_energy_kwh - ev.energy_upper_kwh,
                "energy_upper_kwh is below the arrival energy",
            ),
        )
        for excess, what in checks:
            if np.any(excess > _TOL):
                t = int(np.argmax(excess))
                conflicts.append(f"aggregator {agg.name!r}: {what} at t={t} by {excess[t]:.3f} kWh")
    return conflicts


def _build_lp(problem: CoordinationProblem, ramp_limits: bool) -> tuple:
    """Arrays of the LP; columns are [zeta | P^EV | OL | Delta^P], each (K, T) row-major."""
    aggs = problem.aggregators
    n_agg, n_t = len(aggs), problem.n_slots
    kt = n_agg * n_t
    pv = np.concatenate([a.pv_available_kw for a in aggs])
    fc = np.concatenate([a.line_forecast_kw for a in aggs])
    inv_eta = np.repeat([1.0 / a.charger_efficiency for a in aggs], n_t)
    p_up = np.concatenate([a.ev.power_upper_kw for a in aggs])
    line_kw = np.repeat([a.line_rating_kva * problem.power_factor for a in aggs], n_t)
    trafo_kw = problem.transformer_rating_kva * problem.power_factor

    eye = sp.identity(kt, format="csr")
    zero = sp.csr_matrix((kt, kt))
    # feeder export x = PV zeta - P/eta - fc, as the coefficients on [zeta | P]
    export = sp.hstack([sp.diags(pv), sp.diags(-inv_eta)])
    summ = sp.kron(np.ones((1, n_agg)), sp.identity(n_t))

    blocks, lo, hi = [], [], []

    def rows(matrix: sp.spmatrix, row_lo: np.ndarray, row_hi: np.ndarray) -> None:
        blocks.append(sp.csr_matrix(matrix))
        lo.append(np.asarray(row_lo, dtype=float))
        hi.append(np.asarray(row_hi, dtype=float))

    inf_t, inf_kt = np.full(n_t, np.inf), np.full(kt, np.inf)
    # (12) |sum_k x_k| <= S_trans cos(phi) + sum_k OL_k, as two rows per slot
    fc_sum = summ @ fc
    for sign in (1.0, -1.0):
        rows(
            sp.hstack([sign * (summ @ export), -summ, sp.csr_matrix((n_t, kt))]),
            -inf_t,
            trafo_kw + sign * fc_sum,
        )
    # (13) |x_k| <= S_line cos(phi) + OL_k
    for sign in (1.0, -1.0):
        rows(sp.hstack([sign * export, -eye, zero]), -inf_kt, line_kw + sign * fc)
    # (14) cable headroom for charging: P/eta <= S_line cos(phi) - fc + OL
    rows(sp.hstack([zero, sp.diags(inv_eta), -eye, zero]), -inf_kt, line_kw - fc)
    # (15) |P_t - P_{t-1}| <= Delta_t where the fleet can charge
    diff = sp.kron(sp.identity(n_agg), sp.diags([np.ones(n_t), -np.ones(n_t - 1)], [0, -1]))
    prev = np.zeros(kt)
    prev[::n_t] = [a.previous_charging_kw for a in aggs]
    active = np.flatnonzero(p_up > 0)
    sel = eye[active]
    for sign in (1.0, -1.0):
        rows(
            sp.hstack([zero[active], sign * (sel @ diff), zero[active], -sel]),
            -inf_kt[active],
            sign * prev[active],
        )
    # (16) cumulative energy within the fleet boundaries, at the end of every slot
    cum = sp.kron(sp.identity(n_agg), sp.csr_matrix(np.tril(np.ones((n_t, n_t))))) * problem.slot_h
    e0 = np.repeat([a.ev.initial_energy_kwh for a in aggs], n_t)
    e_lo = np.concatenate([a.ev.energy_lower_kwh[1:] for a in aggs]) - e0
    e_hi = np.concatenate([a.ev.energy_upper_kwh[1:] for a in aggs]) - e0
    rows(sp.hstack([zero, cum, zero, zero]), e_lo, e_hi)

    ramp_cap = np.repeat([a.ramp_limit_kw if ramp_limits else np.inf for a in aggs], n_t)
    ramp_cap[p_up <= 0] = 0.0
    col_lo = np.zeros(4 * kt)
    col_hi = np.concatenate([np.ones(kt), p_up, np.full(kt, problem.max_overload_kw), ramp_cap])
    # eq. 11 maximised -> minimise its negative
    c = np.concatenate(
        [-pv, -np.ones(kt), np.full(kt, problem.overload_weight), np.full(kt, problem.ramp_weight)]
    )
    return (
        c,
        sp.vstack(blocks, format="csc"),
        np.concatenate(lo),
        np.concatenate(hi),
        col_lo,
        col_hi,
    )


def coordinate_aggregators(problem: CoordinationProblem) -> CoordinationResult:
    """Solve the DSO coordination LP (seed 000 eqs. 11-16).

    maximise ``sum P^PV zeta + sum P^EV - omega sum OL - gamma sum Delta^P`` (11)
    subject to transformer (12) and cable (13) limits on the absolute net power, the
    cable headroom for charging (14), ramps (15) and the cumulative fleet energy within
    its boundaries (16); ``0 <= zeta <= 1``, ``0 <= P^EV <= P^upper``, ``OL >= 0``.

    Returns
    -------
    CoordinationResult
        ``status != "optimal"`` with a message naming the conflicting boundaries or
        ramp limits when no schedule exists; never raises for infeasible data.
    """
    names = tuple(a.name for a in problem.aggregators)
    conflicts = _energy_bound_conflicts(problem)
    if conflicts:
        return CoordinationResult(status="infeasible", message="; ".join(conflicts), names=names)
    res = solve(*_build_lp(problem, ramp_limits=True))
    if not res.ok:
        message = res.message
        limited = [a for a in problem.aggregators if np.isfinite(a.ramp_limit_kw)]
        if limited and solve(*_build_lp(problem, ramp_limits=False)).ok:
            message = "energy boundaries cannot be met within ramp_limit_kw of " + ", ".join(
                f"{a.name!r} ({a.ramp_limit_kw} kW)" for a in limited
            )
        return CoordinationResult(status=res.status, message=message, names=names)

    n_agg, n_t = len(names), problem.n_slots
    zeta, p_ev, overload, ramp = res.x.reshape(4, n_agg, n_t)
    pv_avail = np.stack([a.pv_available_kw for a in problem.aggregators])
    fc = np.stack([a.line_forecast_kw for a in problem.aggregators])
    inv_eta = np.array([1.0 / a.charger_efficiency for a in problem.aggregators])[:, None]
    pv = pv_avail * zeta
    feeder = pv - p_ev * inv_eta - fc
    return CoordinationResult(
        status=res.status,
        message=res.message,
        names=names,
        # with no PV available zeta is arbitrary in the LP; no PV means no limit
        export_limit=np.where(pv_avail > 0, zeta, 1.0),
        pv_kw=pv,
        charging_kw=p_ev,
        overload_kw=overload,
        ramp_kw=ramp,
        feeder_net_kw=feeder,
        transformer_net_kw=feeder.sum(axis=0),
        objective=-res.objective,
    )
