"""Typed inputs and outputs of the site-side optimisation models.

Time is discretised in steps of ``dt_s`` seconds; step ``k`` covers
``[k * dt_s, (k + 1) * dt_s)`` from the start of the model's horizon. Powers are in
kW, energies in kWh, prices in currency/kWh and states of charge (SOC) are fractions
of the battery capacity in ``[0, 1]`` (seed 004 writes them in %).

Every dataclass is frozen and validates itself on construction: arrays become
read-only numpy arrays of the checked shape, and a bad value raises a one-line
``ValueError`` naming the field. Array-holding classes compare by identity
(``eq=False``); compare their arrays explicitly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from flexcosim.agents.validation import bool_array, float_array, int_array, ordered


def _scalar(
    name: str, value: float, lo: float = 0.0, hi: float = np.inf, *, open_lo=False
) -> float:
    value = float(value)
    if not np.isfinite(value) or value < lo or value > hi or (open_lo and value == lo):
        low = f"({lo}" if open_lo else f"[{lo}"
        raise ValueError(f"{name} = {value!r}; allowed: finite, in {low}, {hi}]")
    return value


def _step(name: str, value: int, lo: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lo:
        raise ValueError(f"{name} = {value!r}; allowed: an integer >= {lo}")
    return int(value)


def _horizon(name: str, value: object) -> tuple[int]:
    """The ``(n_steps,)`` shape fixed by a per-step array; one-line error otherwise."""
    shape = np.shape(value)
    if len(shape) != 1 or shape[0] == 0:
        raise ValueError(f"{name} has shape {shape}; expected (n_steps,), n_steps >= 1")
    return shape


def _set(obj: object, **fields: object) -> None:
    for name, value in fields.items():
        object.__setattr__(obj, name, value)


# --------------------------------------------------------------------------- site selection


@dataclass(frozen=True, eq=False)
class SiteRequest:
    """One EV's charging-site selection request (seed 004 section 4.2.2.2).

    Attributes
    ----------
    ev_id : identifier of the vehicle v
    battery_kwh : battery energy capacity C_v [kWh]
    charge_max_kw : on-board charge limit P_v^+ [kW]
    discharge_max_kw : on-board discharge limit P_v^- [kW]; 0 for a V1G-only vehicle
    arrival_soc : site name -> ITS estimate of the arrival SOC S~_{c,v} [-]
    arrival_step : site name -> ITS estimate of the arrival step A~_{c,v}
    departure_step : departure step D_v; the EV charges in steps ``arrival .. D_v - 1``
    target_soc : SOC s_v^T wanted at departure [-]
    soc_min, soc_max : SOC bounds while parked [-] (eq. 4.16)
    v2g_allowance_kwh : most energy the driver lets the site discharge, delta_v^T [kWh]
    """

    ev_id: str
    battery_kwh: float
    charge_max_kw: float
    discharge_max_kw: float
    arrival_soc: Mapping[str, float]
    arrival_step: Mapping[str, int]
    departure_step: int
    target_soc: float
    soc_min: float = 0.0
    soc_max: float = 1.0
    v2g_allowance_kwh: float = 0.0

    def __post_init__(self) -> None:
        _set(
            self,
            battery_kwh=_scalar("SiteRequest.battery_kwh", self.battery_kwh, open_lo=True),
            charge_max_kw=_scalar("SiteRequest.charge_max_kw", self.charge_max_kw),
            discharge_max_kw=_scalar("SiteRequest.discharge_max_kw", self.discharge_max_kw),
            departure_step=_step("SiteRequest.departure_step", self.departure_step, 1),
            target_soc=_scalar("SiteRequest.target_soc", self.target_soc, 0.0, 1.0),
            soc_min=_scalar("SiteRequest.soc_min", self.soc_min, 0.0, 1.0),
            soc_max=_scalar("SiteRequest.soc_max", self.soc_max, 0.0, 1.0),
            v2g_allowance_kwh=_scalar("SiteRequest.v2g_allowance_kwh", self.v2g_allowance_kwh),
            arrival_soc=MappingProxyType(
                {
                    str(site): _scalar(f"SiteRequest.arrival_soc[{site!r}]", soc, 0.0, 1.0)
                    for site, soc in self.arrival_soc.items()
                }
            ),
            arrival_step=MappingProxyType(
                {
                    str(site): _step(f"SiteRequest.arrival_step[{site!r}]", step)
                    for site, step in self.arrival_step.items()
                }
            ),
        )
        if not self.soc_min <= self.target_soc <= self.soc_max:
            raise ValueError(
                f"SiteRequest.target_soc = {self.target_soc}; allowed: within "
                f"[soc_min, soc_max] = [{self.soc_min}, {self.soc_max}]"
            )


@dataclass(frozen=True, eq=False)
class SiteOffer:
    """One site's offer to a requesting EV (seed 004 section 4.2.2.2).

    The price arrays fix the horizon length ``n_steps``; the limits may be given as
    scalars and are broadcast.

    Attributes
    ----------
    site : site name c
    free_chargers : chargers free for this EV, v_{c,v}
    charge_limit_kw : (n_steps,) charger charge limit rho_{c,v}^+ [kW]
    discharge_limit_kw : (n_steps,) charger discharge limit rho_{c,v}^- [kW]; 0 for V1G
    charge_price_per_kwh : (n_steps,) price of charging omega_{c,v}^+ [currency/kWh]
    discharge_price_per_kwh : (n_steps,) pay for discharging omega_{c,v}^- [currency/kWh]
    available_energy_kwh : energy the site can deliver to this EV, E_{c,v} [kWh]
    """

    site: str
    free_chargers: int
    charge_limit_kw: np.ndarray
    discharge_limit_kw: np.ndarray
    charge_price_per_kwh: np.ndarray
    discharge_price_per_kwh: np.ndarray
    available_energy_kwh: float

    def __post_init__(self) -> None:
        n = _horizon("SiteOffer.charge_price_per_kwh", self.charge_price_per_kwh)
        name = f"SiteOffer[{self.site!r}]"
        _set(
            self,
            free_chargers=_step(f"{name}.free_chargers", self.free_chargers),
            charge_limit_kw=float_array(f"{name}.charge_limit_kw", self.charge_limit_kw, n, lo=0),
            discharge_limit_kw=float_array(
                f"{name}.discharge_limit_kw", self.discharge_limit_kw, n, lo=0
            ),
            charge_price_per_kwh=float_array(
                f"{name}.charge_price_per_kwh", self.charge_price_per_kwh, n
            ),
            discharge_price_per_kwh=float_array(
                f"{name}.discharge_price_per_kwh", self.discharge_price_per_kwh, n
            ),
            available_energy_kwh=_scalar(f"{name}.available_energy_kwh", self.available_energy_kwh),
        )

    @property
    def n_steps(self) -> int:
        return self.charge_price_per_kwh.shape[0]


@dataclass(frozen=True, eq=False)
class SiteChoice:
    """Outcome of the charging-site selection.

    Attributes
    ----------
    status : "optimal", "no_sufficient_offer" or a solver status word
        ("infeasible", "time_limit", "error", ...)
    site : chosen site name, ``None`` unless ``status == "optimal"``
    charge_kw, discharge_kw : (n_steps,) battery-side p_v^+(t), p_v^-(t) [kW], never both
        non-zero in one step; zeros when no site was chosen
    soc : (n_steps + 1,) SOC at the start of each step and at the horizon end [-];
        NaN when no site was chosen
    cost : charging cost minus V2G pay over the horizon [currency]
    solve_time_s : wall time spent in the solver [s]
    reason : why no site was chosen, empty otherwise
    site_costs : sufficient site -> its optimal cost [currency]
    """

    status: str
    site: str | None
    charge_kw: np.ndarray
    discharge_kw: np.ndarray
    soc: np.ndarray
    cost: float
    solve_time_s: float
    reason: str = ""
    site_costs: Mapping[str, float] = field(default_factory=dict)

    @property
    def power_kw(self) -> np.ndarray:
        """(n_steps,) net battery-side power, positive when charging [kW]."""
        return self.charge_kw - self.discharge_kw


# --------------------------------------------------------------------------- site scheduling


@dataclass(frozen=True, eq=False)
class SiteScheduleProblem:
    """All EVs connected at one site, to be scheduled over ``n_steps`` steps from now.

    Per-EV arrays have shape ``(n_evs,)``, per-step arrays ``(n_steps,)``. Powers are on
    the grid side of the charger; the battery receives ``efficiency`` times the charge
    power and gives ``1 / efficiency`` times the discharge power.

    Attributes
    ----------
    energy_kwh : battery energy now [kWh]
    target_energy_kwh : battery energy wanted at departure [kWh]
    capacity_kwh : battery capacity [kWh]
    charge_max_kw, discharge_max_kw : charger/vehicle power limits [kW]
    departure_step : step at which the EV leaves; it charges in steps ``0 .. d - 1``.
        An EV leaving after the horizon has its target moved to the horizon end.
    departure_share : share of its last step ``d - 1`` the EV is still parked, in [0, 1]
        (a departure between two step boundaries); ones when omitted. That step's power
        counts against the site limit in full and charges the battery for this share
    v2g : whether the EV may be discharged
    capacity_limit_kw : (n_steps,) site limit on the sum of EV powers [kW] (transformer
        rating minus forecast building load), >= 0
    price_per_kwh : (n_steps,) site price signal [currency/kWh], >= 0
    dt_s : step length [s]
    efficiency : charger efficiency in (0, 1]
    energy_min_kwh : battery energy floor while parked [kWh]; zeros when omitted
    unmet_penalty_per_kwh : cost of one kWh of target energy not delivered; must exceed
        the highest price divided by the efficiency so that curtailment is a last resort
    overload_penalty_per_kw : ``None`` makes the site limit hard. A number makes it soft:
        power above the limit costs this much per kW and hour [currency/kWh]; it must be
        below ``unmet_penalty_per_kwh`` times the efficiency, so that the limit gives way
        to targets (seed 004 section 5.3, 50 % runs) but never to cheaper prices
    price_curve_per_kwh : (n_steps, S) or ``None``. The site's price for its EV load in S
        equal segments of ``capacity_limit_kw`` [currency/kWh], non-decreasing along a row
        (a convex cost: seed 004 section 5.2, prices higher where the site wants less
        load). When given, charging pays the curve instead of ``price_per_kwh``, so the
        schedule spreads the site's load; ``price_per_kwh`` still pays V2G discharge
    committed_kw : (n_steps,) site load already planned for EVs outside this problem [kW]
        (+ charge, - discharge); zeros when omitted. The site limit and the price curve
        apply to it plus this problem's EVs, so the problem's EVs are priced at the
        curve's segments above it (seed 004 section 4.2.2: a new EV's schedule is chosen
        against the site's existing commitments)
    arrival_share : share of step 0 each EV is connected from its end, in (0, 1] (an EV
        arriving between two step boundaries); ones when omitted. Step 0's power counts
        against the site limit in full and charges the battery for this share
    """

    energy_kwh: np.ndarray
    target_energy_kwh: np.ndarray
    capacity_kwh: np.ndarray
    charge_max_kw: np.ndarray
    discharge_max_kw: np.ndarray
    departure_step: np.ndarray
    v2g: np.ndarray
    capacity_limit_kw: np.ndarray
    price_per_kwh: np.ndarray
    dt_s: float
    efficiency: float
    energy_min_kwh: np.ndarray | None = None
    unmet_penalty_per_kwh: float = 1000.0
    overload_penalty_per_kw: float | None = None
    price_curve_per_kwh: np.ndarray | None = None
    departure_share: np.ndarray | None = None
    committed_kw: np.ndarray | None = None
    arrival_share: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = np.shape(self.energy_kwh)
        t = np.shape(self.price_per_kwh)
        if len(n) != 1 or len(t) != 1 or t[0] == 0:
            raise ValueError(
                f"SiteScheduleProblem.energy_kwh/price_per_kwh have shapes {n}/{t}; "
                "expected (n_evs,) and (n_steps,) with n_steps >= 1"
            )
        name = "SiteScheduleProblem."
        cap = float_array(name + "capacity_kwh", self.capacity_kwh, n, lo=0)
        e_min = float_array(
            name + "energy_min_kwh",
            0.0 if self.energy_min_kwh is None else self.energy_min_kwh,
            n,
            lo=0,
        )
        energy = float_array(name + "energy_kwh", self.energy_kwh, n, lo=0)
        target = float_array(name + "target_energy_kwh", self.target_energy_kwh, n, lo=0)
        ordered(name + "energy_kwh", energy, name + "capacity_kwh", cap)
        ordered(name + "target_energy_kwh", target, name + "capacity_kwh", cap)
        ordered(name + "energy_min_kwh", e_min, name + "energy_kwh", energy)
        price = float_array(name + "price_per_kwh", self.price_per_kwh, t, lo=0)
        curve = self.price_curve_per_kwh
        if curve is not None:
            curve = np.asarray(curve, dtype=float)
            if curve.ndim != 2 or curve.shape[0] != t[0] or curve.shape[1] == 0 or not (
                    np.all(curve >= 0) and np.all(np.diff(curve, axis=1) >= -1e-12)):
                raise ValueError(
                    f"{name}price_curve_per_kwh has shape {curve.shape}; allowed: ({t[0]}, S>=1), "
                    "every value >= 0 and non-decreasing along a row")
        top = price if curve is None else np.maximum(price, curve.max(axis=1))  # highest charge price
        eff = _scalar(name + "efficiency", self.efficiency, 0.0, 1.0, open_lo=True)
        penalty = _scalar(name + "unmet_penalty_per_kwh", self.unmet_penalty_per_kwh)
        if penalty <= top.max() / eff:
            raise ValueError(
                f"{name}unmet_penalty_per_kwh = {penalty}; allowed: > max price / efficiency "
                f"= {top.max() / eff}"
            )
        overload = self.overload_penalty_per_kw
        if overload is not None:
            overload = _scalar(name + "overload_penalty_per_kw", overload)
            if not top.max() < overload < penalty * eff:
                raise ValueError(
                    f"{name}overload_penalty_per_kw = {overload}; allowed: between max price "
                    f"{top.max()} and unmet_penalty_per_kwh * efficiency {penalty * eff}"
                )
        _set(
            self,
            price_curve_per_kwh=curve,
            overload_penalty_per_kw=overload,
            energy_kwh=energy,
            target_energy_kwh=target,
            capacity_kwh=cap,
            energy_min_kwh=e_min,
            charge_max_kw=float_array(name + "charge_max_kw", self.charge_max_kw, n, lo=0),
            discharge_max_kw=float_array(name + "discharge_max_kw", self.discharge_max_kw, n, lo=0),
            departure_step=int_array(name + "departure_step", self.departure_step, n),
            departure_share=float_array(name + "departure_share",
                                        1.0 if self.departure_share is None else self.departure_share,
                                        n, lo=0, hi=1),
            arrival_share=float_array(name + "arrival_share",
                                      1.0 if self.arrival_share is None else self.arrival_share,
                                      n, lo=0, hi=1),
            committed_kw=float_array(name + "committed_kw",
                                     0.0 if self.committed_kw is None else self.committed_kw, t),
            v2g=bool_array(name + "v2g", self.v2g, n),
            capacity_limit_kw=float_array(
                name + "capacity_limit_kw", self.capacity_limit_kw, t, lo=0
            ),
            price_per_kwh=price,
            dt_s=_scalar(name + "dt_s", self.dt_s, open_lo=True),
            efficiency=eff,
            unmet_penalty_per_kwh=penalty,
        )

    @property
    def n_evs(self) -> int:
        return self.energy_kwh.shape[0]

    @property
    def n_steps(self) -> int:
        return self.price_per_kwh.shape[0]

    @property
    def parked(self) -> np.ndarray:
        """(n_evs, n_steps) True where the EV is still connected."""
        return np.arange(self.n_steps)[None, :] < self.departure_step[:, None]

    @property
    def parked_share(self) -> np.ndarray:
        """(n_evs, n_steps) share of each step the EV is connected [-]: 1 before its last
        step, ``departure_share`` in it (if inside the horizon), 0 after; less the part of
        step 0 before its arrival (``1 - arrival_share``)."""
        share = self.parked.astype(float)
        last = self.departure_step - 1
        inside = (last >= 0) & (last < self.n_steps)
        share[np.flatnonzero(inside), last[inside]] = self.departure_share[inside]
        share[:, 0] = np.maximum(share[:, 0] - (1.0 - self.arrival_share) * self.parked[:, 0], 0.0)
        return share

    @property
    def target_step(self) -> np.ndarray:
        """(n_evs,) step at whose start the target applies: departure, capped at the horizon."""
        return np.minimum(self.departure_step, self.n_steps)


@dataclass(frozen=True, eq=False)
class SiteSchedule:
    """Power schedule of the EVs at one site.

    Attributes
    ----------
    status : "optimal" (LP), "ok" (heuristic, site limit held), "limit_exceeded"
        (heuristic that ignores the site limit, e.g. uncontrolled charging), or a solver
        status word when the LP failed (schedule then all zeros)
    power_kw : (n_evs, n_steps) grid-side power per EV, positive when charging [kW]
    energy_kwh : (n_evs, n_steps + 1) battery energy at the start of each step [kWh]
    unmet_energy_kwh : (n_evs,) target energy not delivered by departure [kWh]
    solve_time_s : wall time of the scheduling call [s]
    reason : explanation when the status is not "optimal"/"ok"
    """

    status: str
    power_kw: np.ndarray
    energy_kwh: np.ndarray
    unmet_energy_kwh: np.ndarray
    solve_time_s: float
    reason: str = ""

    @property
    def site_power_kw(self) -> np.ndarray:
        """(n_steps,) sum of the EV powers [kW]."""
        return self.power_kw.sum(axis=0)


# --------------------------------------------------------------------------- price signal


@dataclass(frozen=True, eq=False)
class SiteForecast:
    """What a site aggregator predicts for its transformer over the coming steps.

    Attributes
    ----------
    site : site name
    base_load_kw : (n_steps,) forecast non-EV (building) load [kW]; negative when local
        generation exceeds consumption
    committed_ev_kw : (n_steps,) power of the EV schedules already committed [kW]
    rating_kw : transformer rating [kW] (power factor 1, as in seed 004 section 5.2)
    dt_s : step length [s]
    free_chargers : chargers not yet reserved
    """

    site: str
    base_load_kw: np.ndarray
    committed_ev_kw: np.ndarray
    rating_kw: float
    dt_s: float
    free_chargers: int

    def __post_init__(self) -> None:
        t = _horizon("SiteForecast.base_load_kw", self.base_load_kw)
        name = f"SiteForecast[{self.site!r}]."
        _set(
            self,
            base_load_kw=float_array(name + "base_load_kw", self.base_load_kw, t),
            committed_ev_kw=float_array(name + "committed_ev_kw", self.committed_ev_kw, t),
            rating_kw=_scalar(name + "rating_kw", self.rating_kw, open_lo=True),
            dt_s=_scalar(name + "dt_s", self.dt_s, open_lo=True),
            free_chargers=_step(name + "free_chargers", self.free_chargers),
        )

    @property
    def headroom_kw(self) -> np.ndarray:
        """(n_steps,) transformer capacity left for new EV load, >= 0 [kW]."""
        return np.maximum(self.rating_kw - self.base_load_kw - self.committed_ev_kw, 0.0)

    @property
    def utilisation(self) -> np.ndarray:
        """(n_steps,) predicted loading over rating [-]."""
        return (self.base_load_kw + self.committed_ev_kw) / self.rating_kw


@dataclass(frozen=True, eq=False)
class PriceOffer:
    """A site's time-varying price signal and what it can still take.

    Attributes
    ----------
    charge_price_per_kwh : (n_steps,) price of charging [currency/kWh]
    discharge_price_per_kwh : (n_steps,) pay for V2G discharge [currency/kWh]; never above
        the charge price, so that no EV earns by charging and discharging at once
    headroom_kw : (n_steps,) transformer capacity left for new EV load [kW]
    available_energy_kwh : energy the headroom allows over the horizon [kWh]
    """

    charge_price_per_kwh: np.ndarray
    discharge_price_per_kwh: np.ndarray
    headroom_kw: np.ndarray
    available_energy_kwh: float

    def __post_init__(self) -> None:
        t = np.shape(self.charge_price_per_kwh)
        name = "PriceOffer."
        charge = float_array(name + "charge_price_per_kwh", self.charge_price_per_kwh, t)
        discharge = float_array(name + "discharge_price_per_kwh", self.discharge_price_per_kwh, t)
        ordered(name + "discharge_price_per_kwh", discharge, name + "charge_price_per_kwh", charge)
        _set(
            self,
            charge_price_per_kwh=charge,
            discharge_price_per_kwh=discharge,
            headroom_kw=float_array(name + "headroom_kw", self.headroom_kw, t, lo=0),
            available_energy_kwh=_scalar(name + "available_energy_kwh", self.available_energy_kwh),
        )
