"""EV fleet: battery state of charge, driving consumption and mobility events.

The whole fleet is one object whose state lives in numpy arrays (one entry per EV), so
that hundreds of EVs step in a few vectorised operations. It steps at events: between
two calls of :meth:`EVFleet.step` the mobility state is constant, and
:meth:`EVFleet.next_event_s` says when that ends. The battery is the linear
state-of-charge model of seed 001 eq. 4: ``SOC_t = SOC_{t-1} + P_t dt / E`` with
``SOC_min <= SOC_t <= SOC_max``, where ``P`` is the power at the battery terminals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from flexcosim.cosim.models.mobility import MarkovChain, TripPlan


@dataclass(frozen=True)
class VehicleModel:
    """One vehicle type.

    Attributes
    ----------
    name : label, e.g. "Nissan Leaf 24 kWh"
    capacity_kwh : usable battery capacity [kWh]
    max_charge_kw : on-board charge limit at the battery terminals [kW]
    max_discharge_kw : discharge limit at the battery terminals [kW]; 0 = no V2G
    consumption_kwh_per_km : driving consumption [kWh/km] (seed 000: 0.1778 for a Leaf)
    """

    name: str
    capacity_kwh: float
    max_charge_kw: float
    max_discharge_kw: float
    consumption_kwh_per_km: float

    def __post_init__(self) -> None:
        for field, value, strict in (
            ("capacity_kwh", self.capacity_kwh, True),
            ("max_charge_kw", self.max_charge_kw, True),
            ("max_discharge_kw", self.max_discharge_kw, False),
            ("consumption_kwh_per_km", self.consumption_kwh_per_km, True),
        ):
            ok = np.isfinite(value) and (value > 0 if strict else value >= 0)
            if not ok:
                need = "> 0" if strict else ">= 0"
                raise ValueError(
                    f"VehicleModel({self.name!r}).{field}: {value!r} is not allowed; need finite {need}"
                )


@dataclass(frozen=True)
class EVEvent:
    """Something that happened to one EV at ``time_s`` [s since scenario start]."""

    ev: str
    time_s: int


@dataclass(frozen=True)
class TripStart(EVEvent):
    """EV starts driving from ``origin``; ``destination`` is known only for a trip plan."""

    origin: str
    destination: str | None


@dataclass(frozen=True)
class Arrival(EVEvent):
    """EV parks at ``place`` with state of charge ``soc`` [-]."""

    place: str
    soc: float


@dataclass(frozen=True)
class Departure(EVEvent):
    """EV leaves ``place`` with state of charge ``soc`` [-]."""

    place: str
    soc: float


class EVFleet:
    """A fleet of EVs stepped together.

    Parameters
    ----------
    ids : unique EV names
    vehicles : vehicle model per EV
    soc0 : (n,) initial state of charge [-], within ``[soc_min, soc_max]``
    mobility : :class:`MarkovChain` (random) or :class:`TripPlan` (given trips)
    state0 : (n,) initial state index per EV into ``mobility.states``
    speed_kmh : average driving speed [km/h]; energy while moving is
        ``speed * dt * consumption``
    soc_min, soc_max : state-of-charge window [-] (seed 001 eq. 4)
    rng : source of the Markov draws; a fresh default generator if ``None``

    Attributes
    ----------
    soc : (n,) state of charge [-]
    state : (n,) state index per EV
    capacity_kwh, max_charge_kw, max_discharge_kw, consumption_kwh_per_km : (n,) per EV
    unserved_drive_kwh : (n,) driving energy the battery could not deliver (SOC at soc_min) [kWh]
    clipped_kwh : (n,) battery energy requested beyond the SOC window and not applied [kWh]
    driven_km : (n,) distance driven [km]
    """

    def __init__(
        self,
        ids: Sequence[str],
        vehicles: Sequence[VehicleModel],
        soc0: np.ndarray,
        mobility: MarkovChain | TripPlan,
        state0: np.ndarray,
        speed_kmh: float = 30.0,
        soc_min: float = 0.0,
        soc_max: float = 1.0,
        rng: np.random.Generator | None = None,
    ) -> None:
        n = len(ids)
        self.ids = tuple(ids)
        if len(set(self.ids)) != n:
            raise ValueError("EVFleet.ids: EV names must be unique")
        if len(vehicles) != n:
            raise ValueError(
                f"EVFleet.vehicles: {len(vehicles)} vehicles for {n} ids; need one per EV"
            )
        if not 0.0 <= soc_min < soc_max <= 1.0:
            raise ValueError(
                f"EVFleet soc_min/soc_max: {soc_min!r}/{soc_max!r}; need 0 <= soc_min < soc_max <= 1"
            )
        if not (np.isfinite(speed_kmh) and speed_kmh > 0):
            raise ValueError(f"EVFleet.speed_kmh: {speed_kmh!r} is not allowed; need > 0 [km/h]")
        soc = np.array(soc0, dtype=float).reshape(-1)
        if soc.shape != (n,) or not np.all((soc >= soc_min) & (soc <= soc_max)):
            raise ValueError(
                f"EVFleet.soc0: need {n} values within [soc_min, soc_max] = [{soc_min}, {soc_max}]"
            )
        state = np.array(state0).reshape(-1)
        n_states = len(mobility.states)
        if (
            state.shape != (n,)
            or not np.issubdtype(state.dtype, np.integer)
            or np.any((state < 0) | (state >= n_states))
        ):
            raise ValueError(
                f"EVFleet.state0: need {n} integer state indices in [0, {n_states}) of {list(mobility.states)}"
            )
        if isinstance(mobility, TripPlan) and len(mobility.trips) != n:
            raise ValueError(
                f"EVFleet.mobility: the trip plan has {len(mobility.trips)} trip lists for {n} EVs; need one per EV"
            )
        self.mobility = mobility
        self.soc_min, self.soc_max = float(soc_min), float(soc_max)
        self.speed_kmh = float(speed_kmh)
        self.rng = rng if rng is not None else np.random.default_rng()
        self.soc = soc
        self.state = state.astype(np.intp)
        self.capacity_kwh = np.array([v.capacity_kwh for v in vehicles], dtype=float)
        self.max_charge_kw = np.array([v.max_charge_kw for v in vehicles], dtype=float)
        self.max_discharge_kw = np.array([v.max_discharge_kw for v in vehicles], dtype=float)
        self.consumption_kwh_per_km = np.array(
            [v.consumption_kwh_per_km for v in vehicles], dtype=float
        )
        self.unserved_drive_kwh = np.zeros(n)
        self.clipped_kwh = np.zeros(n)
        self.driven_km = np.zeros(n)
        self._moving = mobility.moving_index
        self._next_slot_s: int | None = None

    def step(self, t_s: int, dt_s: int, battery_power_kw: np.ndarray) -> list[EVEvent]:
        """Advance the fleet to ``t_s`` and return the mobility events in EV order.

        1. ``battery_power_kw`` (+ charge, - discharge, at the battery terminals, held over
           the interval ``[t_s - dt_s, t_s)``) changes the energy (seed 001 eq. 4); the
           part beyond the SOC window is dropped and added to ``clipped_kwh``.
        2. EVs that were moving during that interval use ``speed * dt * consumption``;
           SOC floors at ``soc_min`` and the shortfall goes to ``unserved_drive_kwh``.
        3. The mobility model gives the state from ``t_s`` on. A Markov chain makes one
           transition per slot boundary in ``(previous t_s, t_s]`` (the first call also
           makes the one at ``t_s`` if it is a boundary), so ``dt_s`` need not equal the
           slot length; a trip plan is read at ``t_s``. Each change emits, for one EV,
           ``Departure`` + ``TripStart`` (leaving a place) and/or ``Arrival`` (parking),
           all stamped ``t_s``. Drive energy assumes the state held over the whole
           interval, so ``dt_s`` should not exceed the shortest trip.

        Power given to an EV that was moving raises ``ValueError`` (a wiring error).
        """
        power = np.asarray(battery_power_kw, dtype=float).reshape(-1)
        if power.shape != self.soc.shape or not np.all(np.isfinite(power)):
            raise ValueError(
                f"EVFleet.step battery_power_kw: need {self.soc.shape[0]} finite values [kW]"
            )
        if dt_s < 0:
            raise ValueError(f"EVFleet.step dt_s: {dt_s!r} is not allowed; need >= 0 [s]")
        moving = self.state == self._moving
        if np.any(moving & (power != 0.0)):
            i = int(np.flatnonzero(moving & (power != 0.0))[0])
            raise ValueError(
                f"EVFleet.step battery_power_kw[{self.ids[i]!r}]: {float(power[i])!r} kW for a moving EV; need 0"
            )
        hours = dt_s / 3600.0
        lo, hi = self.soc_min * self.capacity_kwh, self.soc_max * self.capacity_kwh
        wanted = self.energy_kwh() + power * hours
        energy = np.clip(wanted, lo, hi)
        self.clipped_kwh += np.abs(wanted - energy)

        km = np.where(moving, self.speed_kmh * hours, 0.0)
        drive = km * self.consumption_kwh_per_km
        self.driven_km += km
        served = np.minimum(drive, np.maximum(energy - lo, 0.0))
        self.unserved_drive_kwh += drive - served
        self.soc = (energy - served) / self.capacity_kwh

        old = self.state
        new = self._advance(int(t_s))
        self.state = new
        return self._events(old, new, int(t_s))

    def _advance(self, t_s: int) -> np.ndarray:
        m = self.mobility
        if isinstance(m, TripPlan):
            return m.step(self.state, t_s)
        if self._next_slot_s is None:
            self._next_slot_s = -(-t_s // m.slot_s) * m.slot_s
        state = self.state
        while self._next_slot_s <= t_s:
            state = m.step(state, self._next_slot_s, self.rng)
            self._next_slot_s += m.slot_s
        return state

    def _events(self, old: np.ndarray, new: np.ndarray, t_s: int) -> list[EVEvent]:
        names = self.mobility.states
        plan = self.mobility if isinstance(self.mobility, TripPlan) else None
        events: list[EVEvent] = []
        for i in np.flatnonzero(old != new):
            ev, soc = self.ids[i], float(self.soc[i])
            if old[i] != self._moving:
                origin = names[old[i]]
                if new[i] != self._moving:
                    dest = names[new[i]]
                else:
                    dest = plan.destination(int(i), t_s) if plan is not None else None
                events.append(Departure(ev=ev, time_s=t_s, place=origin, soc=soc))
                events.append(TripStart(ev=ev, time_s=t_s, origin=origin, destination=dest))
            if new[i] != self._moving:
                events.append(Arrival(ev=ev, time_s=t_s, place=names[new[i]], soc=soc))
        return events

    def next_event_s(self, t_s: int) -> int | None:
        """When the mobility model next changes a state after ``t_s`` [s]: the next trip
        start or arrival of a trip plan, the next slot boundary of a Markov chain."""
        m = self.mobility
        if isinstance(m, TripPlan):
            return m.next_change_s(t_s)
        return (t_s // m.slot_s + 1) * m.slot_s

    def place(self, i: int) -> str | None:
        """Name of the place where EV ``i`` is parked, ``None`` while it is moving."""
        s = int(self.state[i])
        return None if s == self._moving else self.mobility.states[s]

    def energy_kwh(self) -> np.ndarray:
        """(n,) energy stored [kWh]."""
        return self.soc * self.capacity_kwh

    def headroom_kwh(self) -> np.ndarray:
        """(n,) energy that can still be stored before ``soc_max`` [kWh]."""
        return np.maximum(self.soc_max - self.soc, 0.0) * self.capacity_kwh

    def available_kwh(self) -> np.ndarray:
        """(n,) energy that can be taken out before ``soc_min`` [kWh]."""
        return np.maximum(self.soc - self.soc_min, 0.0) * self.capacity_kwh
