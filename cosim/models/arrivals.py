"""Drivers who come to a campus for the day: when they ask for a site, what they drive, what they want.

For the UCD case study (seed 004 section 5.2) the seed gives the fleet size per day
(Table 1: 478 EVs at 50 % penetration), the charger type (11 kW V1G, 95 %), the
approach (requests near the campus entrance, 2.2-2.4 km and 5-10 min to each site) and
the annual EV energy (Table 2: 1952 MWh over 196 weekdays with 717 EVs at 75 %), but
not the arrival/departure times, battery sizes or SOCs. The occupancy model below is
ours, documented here and in ``docs/study-ucd-campus.md``: a campus has staff, who
come in the morning and stay the working day, and students, who come and go through the
day, some for a lecture or two, some for the day. Chargers freed by a short stay serve
a later EV.

========================  ===============================================================
group                     staff 40 %, students 60 %
request time, staff       normal, mean 08:15, sd 30 min, clipped to 07:00-10:30
stay, staff               normal, mean 8.5 h, sd 1 h, clipped to 5-10.5 h
request time, students    uniform 08:00-15:00
stay, students            short (55 %): uniform 1.5-4 h; long (45 %): uniform 5-8 h
departure                 by 21:00
vehicle model             40 kWh / 7.4 kW (30 %), 60 kWh / 11 kW (45 %), 77 kWh / 11 kW (25 %)
SOC at request            uniform 0.30-0.70
energy wanted             gamma, shape 2, mean NEED_MEAN_KWH, capped by what the EV
                          can take at 80 % of full power in the stay less 45 min, and by
                          an SOC of 0.95;
                          target SOC = SOC at request + energy wanted / battery
maximum walk              uniform 10-20 min from the site to the destination
========================  ===============================================================

**As a Markov chain.** The request and departure times are not drawn from these
distributions directly: they are the trips of a time-inhomogeneous Markov chain
(:class:`~flexcosim.cosim.models.mobility.MarkovChain`, seed 001 eqs 1-2, the model of the
residential fleets) whose transitions are computed from the table, so one mobility model
serves both studies (:func:`campus_chain`). Its states are ``away`` (not yet left for
campus), ``moving`` (driving there, one slot), ``staff:a``, ``short:a``, ``long:a`` (on
campus, ``a`` slots after arrival, one state per slot of stay) and ``left`` (gone for the
day). Per 15-min slot ``k``: away -> moving with the hazard ``p_k / (1 - P_{k-1})`` of the
request-time mixture (``p_k`` its probability in slot ``k``, ``P`` its CDF), so every EV
asks once by 15:00; moving -> ``g:0`` with the share of group ``g`` among the requests of
the slot before; ``g:a`` -> left with the hazard ``P(M_g = a + 1) / P(M_g >= a + 1)``
(``M_g`` = the group's stay rounded to slots, less one: the slots on campus between the
request slot and the departure slot), else -> ``g:a+1``; every EV on campus leaves in the 21:00 slot. Expanding the stay
by age keeps the chain Markov and reproduces the stay distributions, not only the
occupancy curve (``tests/test_models_arrivals.py``). The request and departure seconds are
uniform inside their slots; a departure is clipped to 21:00.

The energy wanted is an *input calibration*, not a model: seed 004 Table 2 implies
1952 MWh / 196 days / 717 EVs = 13.9 kWh per EV-day, and :data:`NEED_MEAN_KWH` is set so
that the mean energy wanted after the caps is that figure (checked in
``tests/test_models_arrivals.py``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from flexcosim.cosim.models.ev import VehicleModel
from flexcosim.cosim.models.mobility import DAY_S, MOVING, MarkovChain

#: (vehicle, share) of the campus fleet; consumption from typical WLTP-ish figures [kWh/km].
VEHICLE_MIX: tuple[tuple[VehicleModel, float], ...] = (
    (VehicleModel("compact-40", 40.0, 7.4, 0.0, 0.155), 0.30),
    (VehicleModel("midsize-60", 60.0, 11.0, 0.0, 0.170), 0.45),
    (VehicleModel("large-77", 77.0, 11.0, 0.0, 0.190), 0.25),
)


#: Energy per EV-day implied by seed 004 Table 2 (1952 MWh / 196 days / 717 EVs) [kWh].
SEED_KWH_PER_EV_DAY = 1952e3 / 196 / 717
#: Mean of the energy-wanted draw before the caps [kWh]; calibrated so that the mean
#: after the caps is SEED_KWH_PER_EV_DAY (tests/test_models_arrivals.py).
NEED_MEAN_KWH = 18.4
#: Share of staff among the drivers [-]; share of short stays among students [-].
STAFF_SHARE, SHORT_STAY_SHARE = 0.40, 0.55


@dataclass(frozen=True)
class Visit:
    """One EV's day on campus.

    Attributes
    ----------
    ev : EV name
    request_s : time the driver asks for a charging site (trip start) [s since midnight]
    departure_s : time the EV leaves its charger [s since midnight]
    vehicle : battery capacity, power limits, consumption
    soc_at_request : SOC when the request is sent [-]
    target_soc : SOC the driver wants at departure [-]
    max_walk_s : longest walk from a site to the destination the driver accepts [s];
        ``None`` = any (seed 004 section 4.2.2.2)
    """

    ev: str
    request_s: int
    departure_s: int
    vehicle: VehicleModel
    soc_at_request: float
    target_soc: float
    max_walk_s: int | None = None


#: Weights of the groups (staff, short-stay students, long-stay students) [-].
GROUPS: tuple[tuple[str, float], ...] = (
    ("staff", STAFF_SHARE),
    ("short", (1 - STAFF_SHARE) * SHORT_STAY_SHARE),
    ("long", (1 - STAFF_SHARE) * (1 - SHORT_STAY_SHARE)),
)
_H = 3600.0
#: The last departure of the day [s since midnight].
CLOSING_S = int(21 * _H)


def _clipped_normal(mean_s: float, sd_s: float, lo_s: float, hi_s: float) -> Callable[[np.ndarray], np.ndarray]:
    """P(X < x) of normal(mean, sd) clipped to [lo, hi] (point masses at both ends)."""
    return lambda x: np.where(x <= lo_s, 0.0, np.where(x > hi_s, 1.0, norm.cdf(x, mean_s, sd_s)))


def _uniform(lo_s: float, hi_s: float) -> Callable[[np.ndarray], np.ndarray]:
    """P(X < x) of uniform(lo, hi)."""
    return lambda x: np.clip((x - lo_s) / (hi_s - lo_s), 0.0, 1.0)


#: Per group, P(request time < x) and P(stay < x) of the occupancy model [x in s].
_REQUEST = {"staff": _clipped_normal(8.25 * _H, 0.5 * _H, 7.0 * _H, 10.5 * _H),
            "short": _uniform(8.0 * _H, 15.0 * _H), "long": _uniform(8.0 * _H, 15.0 * _H)}
_STAY = {"staff": _clipped_normal(8.5 * _H, 1.0 * _H, 5.0 * _H, 10.5 * _H),
         "short": _uniform(1.5 * _H, 4.0 * _H), "long": _uniform(5.0 * _H, 8.0 * _H)}


def campus_chain(slot_s: int = 900) -> MarkovChain:
    """The occupancy model as a time-inhomogeneous Markov chain (module docstring).

    Parameters
    ----------
    slot_s : slot length [s]; must divide one day and 21:00

    Returns
    -------
    MarkovChain over ``("moving", "away", "left", "staff:0", ..., "long:<max>")``, slot 0
    at midnight
    """
    if int(slot_s) != slot_s or slot_s <= 0 or DAY_S % slot_s or CLOSING_S % slot_s:
        raise ValueError(f"campus_chain slot_s: {slot_s!r} is not allowed; need an integer > 0 "
                         "dividing 86400 and 75600 (21:00) [s]")
    n_slots = DAY_S // slot_s
    edges = np.arange(n_slots + 1) * float(slot_s)
    # requests per slot and group, P(slot k), and the share of each group among them
    p_group = np.array([w * np.diff(_REQUEST[g](edges)) for g, w in GROUPS])
    p_req = p_group.sum(axis=0)
    before = np.concatenate([[0.0], np.cumsum(p_req)[:-1]])
    hazard_req = np.where(p_req > 0, p_req / np.maximum(1.0 - before, 1e-12), 0.0).clip(0.0, 1.0)
    share = np.where(p_req > 0, p_group / np.maximum(p_req, 1e-300), 1.0 / len(GROUPS))
    # stay in whole slots L = round(stay / slot); between its request slot and its
    # departure slot the EV is on campus for M = L - 1 slots ("g:0" .. "g:M-1"), so the
    # chain leaves "g:a" for "left" when a = M - 1 (M >= 1: every stay is longer than a slot)
    states = [MOVING, "away", "left"]
    first, hazard_stay = {}, {}
    for g, _ in GROUPS:
        l_edges = (np.arange(n_slots + 2) - 0.5) * slot_s
        p_l = np.diff(_STAY[g](l_edges))  # P(L = l), l = 0 .. n_slots
        p_m = np.concatenate([[p_l[:3].sum()], p_l[3:]])  # P(M - 1 = a), M = max(L, 2) - 1
        ages = int(np.flatnonzero(p_m > 0).max()) + 1
        tail = np.cumsum(p_m[::-1])[::-1]
        hazard_stay[g] = np.where(tail[:ages] > 0, p_m[:ages] / np.maximum(tail[:ages], 1e-300), 1.0)
        hazard_stay[g][-1] = 1.0
        first[g] = len(states)
        states += [f"{g}:{a}" for a in range(ages)]
    mv, away, left = 0, 1, 2
    t = np.zeros((n_slots, len(states), len(states)))
    t[:, away, mv] = hazard_req
    t[:, away, away] = 1.0 - hazard_req
    t[:, left, left] = 1.0
    closing = edges[:-1] >= CLOSING_S
    for j, (g, _) in enumerate(GROUPS):
        # arrival in slot k of a request made in slot k - 1 (no request wraps past midnight)
        t[:, mv, first[g]] = np.roll(share[j], 1)
        h = hazard_stay[g]
        for a, h_a in enumerate(h):
            s = first[g] + a
            go = np.where(closing, 1.0, h_a)
            t[:, s, left] = go
            if a + 1 < len(h):
                t[:, s, s + 1] = 1.0 - go
    return MarkovChain(states=tuple(states), transitions=t, slot_s=int(slot_s))


def campus_visits(n: int, rng: np.random.Generator, grid_s: int = 1, prefix: str = "ev") -> list[Visit]:
    """Draw ``n`` campus visits (occupancy model in the module docstring), times on a ``grid_s`` grid.

    Each EV's request and departure slots are its trip to and from campus in
    :func:`campus_chain`, stepped from midnight with ``rng``; the seconds inside the slots,
    the vehicle, SOC, energy wanted and walk are drawn after it, in that order.

    Parameters
    ----------
    n : number of EVs that day [-]
    rng : the scenario's stream for this fleet
    grid_s : request and departure times are rounded to it [s]; 1 = each at its own second
    prefix : EV names are ``f"{prefix}_{k:04d}"``
    """
    if n <= 0:
        raise ValueError(f"campus_visits n: {n!r} is not allowed; need > 0 EVs")
    chain = _chain()
    slot = chain.slot_s
    state = np.full(n, chain.index("away"), dtype=np.intp)
    request_slot = np.full(n, -1)
    departure_slot = np.full(n, -1)
    for k in range(chain.n_slots):
        state = chain.step(state, k * slot, rng)
        request_slot[(request_slot < 0) & (state == chain.moving_index)] = k
        departure_slot[(departure_slot < 0) & (state == chain.index("left"))] = k
    if (request_slot < 0).any() or (departure_slot < 0).any():  # the chain's hazards reach 1
        raise RuntimeError("campus_chain: an EV did not visit the campus; the chain is not calibrated")
    request = (request_slot + rng.random(n)) * slot
    departure = np.minimum((departure_slot + rng.random(n)) * slot, float(CLOSING_S))
    shares = np.array([share for _, share in VEHICLE_MIX])
    model = rng.choice(len(VEHICLE_MIX), size=n, p=shares / shares.sum())
    capacity = np.array([VEHICLE_MIX[m][0].capacity_kwh for m in model])
    charge_kw = np.array([VEHICLE_MIX[m][0].max_charge_kw for m in model])
    soc = rng.uniform(0.30, 0.70, n)
    # the stay less 45 min (the drive, whole 15-min charging steps) at 80 % of full power,
    # which leaves room for the drive's consumption and a busy site
    reachable = 0.8 * np.maximum(departure - request - 0.75 * _H, 0.0) / _H * charge_kw
    need = np.minimum(rng.gamma(2.0, NEED_MEAN_KWH / 2.0, n), reachable)
    target = np.minimum(soc + need / capacity, 0.95)
    max_walk = rng.uniform(600.0, 1200.0, n)

    def on_grid(t: np.ndarray) -> np.ndarray:
        return (np.round(t / grid_s) * grid_s).astype(int)

    request_s, departure_s = on_grid(request), on_grid(departure)
    departure_s = np.maximum(departure_s, request_s + 2 * grid_s)
    return [
        Visit(
            ev=f"{prefix}_{k:04d}",
            request_s=int(request_s[k]),
            departure_s=int(departure_s[k]),
            vehicle=VEHICLE_MIX[model[k]][0],
            soc_at_request=float(soc[k]),
            target_soc=float(max(target[k], soc[k])),
            max_walk_s=int(max_walk[k]),
        )
        for k in range(n)
    ]


@functools.cache
def _chain() -> MarkovChain:
    """The 15-min campus chain, built once per process."""
    return campus_chain(900)
