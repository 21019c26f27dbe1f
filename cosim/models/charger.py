"""Chargers behind one meter: plugging EVs in and turning set-points into power flows.

A set-point is the grid-side (AC) power of one EV's charger, + charge / - discharge. The
charger converts with a constant efficiency ``eta`` (seed 000 eq. 5 bounds the energy
per slot by ``p_ch^max eta_ch dt``; the rating is off-board, the EV limits on-board as in
seed 004 eqs 4.7-4.8 and 4.12-4.13; the SOC change is seed 004 eq. 4.15):

* charging:    P_battery = eta * P_grid        (the grid supplies the losses)
* discharging: P_grid    = eta * P_battery     (the battery supplies the losses)

so the losses are ``(1 - eta) P_grid`` when charging and ``(1/eta - 1) |P_grid|`` when
discharging; both are >= 0.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ChargerSpec:
    """One charge point.

    Attributes
    ----------
    rated_kw : grid-side power rating [kW] (seed 004 UCD study: 11 kW)
    efficiency : conversion efficiency eta in (0, 1] [-] (seed 004 UCD study: 0.95)
    v2g : whether the charger can discharge the EV into the grid
    """

    rated_kw: float
    efficiency: float
    v2g: bool = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.rated_kw) and self.rated_kw > 0):
            raise ValueError(
                f"ChargerSpec.rated_kw: {self.rated_kw!r} is not allowed; need > 0 [kW]"
            )
        if not 0 < self.efficiency <= 1:
            raise ValueError(
                f"ChargerSpec.efficiency: {self.efficiency!r} is not allowed; need 0 < efficiency <= 1"
            )


@dataclass(frozen=True)
class PluggedEV:
    """What a charger knows about the EV connected to it.

    Attributes
    ----------
    ev : EV name
    soc : state of charge [-]
    capacity_kwh : usable battery capacity [kWh]
    max_charge_kw, max_discharge_kw : battery-side limits [kW]
    soc_min, soc_max : state-of-charge window [-]
    """

    ev: str
    soc: float
    capacity_kwh: float
    max_charge_kw: float
    max_discharge_kw: float
    soc_min: float = 0.0
    soc_max: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.soc <= 1.0:
            raise ValueError(
                f"PluggedEV({self.ev!r}).soc: {self.soc!r} is not allowed; need 0 <= soc <= 1"
            )
        if not (math.isfinite(self.capacity_kwh) and self.capacity_kwh > 0):
            raise ValueError(
                f"PluggedEV({self.ev!r}).capacity_kwh: {self.capacity_kwh!r} is not allowed; need > 0 [kWh]"
            )
        for field in ("max_charge_kw", "max_discharge_kw"):
            value = getattr(self, field)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(
                    f"PluggedEV({self.ev!r}).{field}: {value!r} is not allowed; need >= 0 [kW]"
                )
        if not 0.0 <= self.soc_min < self.soc_max <= 1.0:
            raise ValueError(
                f"PluggedEV({self.ev!r}) soc_min/soc_max: {self.soc_min!r}/{self.soc_max!r}; "
                "need 0 <= soc_min < soc_max <= 1"
            )

    def with_soc(self, soc: float) -> PluggedEV:
        """This EV at state of charge ``soc`` [-], which must be in [0, 1]: a copy made without
        ``dataclasses.replace`` and its checks, as chargers make one per EV and event."""
        new = object.__new__(PluggedEV)
        new.__dict__.update(self.__dict__, soc=soc)
        return new


def apply_plugged(present: dict[str, PluggedEV], changes: Mapping[str, PluggedEV | None]) -> list[str]:
    """Apply one ``plugged`` change set (``{ev: PluggedEV}``, ``None``: the EV left) to
    ``present`` (``{ev: PluggedEV}``, in arrival order) in place; returns the EVs that left."""
    left = []
    for ev, p in changes.items():
        if p is None:
            if present.pop(ev, None) is not None:
                left.append(ev)
        else:
            present[ev] = p
    return left


@dataclass(frozen=True)
class ChargerStep:
    """Result of one site step; all powers are averages over the step [kW].

    Attributes
    ----------
    grid_kw : site total at the meter (+ import)
    battery_kw : per connected EV, at the battery terminals (+ charge)
    ev_grid_kw : per connected EV, at the grid side of its charger (+ import)
    losses_kw : conversion losses of all chargers (>= 0)
    """

    grid_kw: float
    battery_kw: Mapping[str, float]
    ev_grid_kw: Mapping[str, float]
    losses_kw: float


def feasible_grid_kw(setpoint_kw: float, charger: ChargerSpec, ev: PluggedEV, dt_s: int) -> float:
    """Clip one grid-side set-point [kW] to every limit of charger and EV over ``dt_s`` [s].

    Charging: ``P_grid <= rated``, ``eta P_grid <= max_charge`` and
    ``eta P_grid dt <= (soc_max - soc) E``. Discharging (V2G chargers only, else 0):
    ``|P_grid| <= rated``, ``|P_grid| / eta <= max_discharge`` and
    ``|P_grid| / eta dt <= (soc - soc_min) E``.
    """
    eta = charger.efficiency
    hours = dt_s / 3600.0
    if setpoint_kw > 0:
        limit = min(charger.rated_kw, ev.max_charge_kw / eta)
        if hours > 0:
            limit = min(limit, max(ev.soc_max - ev.soc, 0.0) * ev.capacity_kwh / (eta * hours))
        return min(setpoint_kw, limit)
    if setpoint_kw < 0 and charger.v2g:
        limit = min(charger.rated_kw, ev.max_discharge_kw * eta)
        if hours > 0:
            limit = min(limit, max(ev.soc - ev.soc_min, 0.0) * ev.capacity_kwh * eta / hours)
        return -min(-setpoint_kw, limit)
    return 0.0


def battery_kw(grid_kw: float, efficiency: float) -> float:
    """Battery-side power [kW] for a grid-side power [kW] (module docstring)."""
    return grid_kw * efficiency if grid_kw >= 0 else grid_kw / efficiency


class ChargingSite:
    """Chargers behind one meter.

    Parameters
    ----------
    name : site name
    chargers : one spec per charge point; charger ``k`` is ``chargers[k]``

    Attributes
    ----------
    out_of_service : chargers that cannot take an EV (an outage)
    last : the last applied step, ``None`` before the first (for inspection)

    Each connected EV keeps the power of its last set-point until :meth:`update` sets it
    again, so an event at a site with many EVs recomputes only the EVs it concerns.
    """

    def __init__(self, name: str, chargers: Sequence[ChargerSpec]) -> None:
        if not chargers:
            raise ValueError(
                f"ChargingSite({name!r}).chargers: empty; need at least one ChargerSpec"
            )
        self.name = name
        self.chargers = tuple(chargers)
        self._on: dict[str, int] = {}
        self._free = list(range(len(self.chargers)))  # a heap of the free chargers in service
        self.out_of_service: frozenset[int] = frozenset()
        self.last: ChargerStep | None = None
        # per connected EV in plug-in order: grid-side and battery-side power [kW] and the
        # conversion losses [kW]; the EVs unplugged since the last update
        self._grid: dict[str, float] = {}
        self._battery: dict[str, float] = {}
        self._losses: dict[str, float] = {}
        self._unplugged: list[str] = []

    def connect(self, ev: str, charger: int | None = None) -> int:
        """Plug ``ev`` into ``charger`` (the first free one if ``None``); returns its index."""
        if ev in self._on:
            raise ValueError(
                f"ChargingSite({self.name!r}).connect: EV {ev!r} is already on charger {self._on[ev]}"
            )
        if charger is None:
            if not self._free:
                raise ValueError(
                    f"ChargingSite({self.name!r}).connect: no free charger for EV {ev!r}"
                )
            charger = heapq.heappop(self._free)  # the first free one
        elif not 0 <= charger < len(self.chargers):
            raise ValueError(
                f"ChargingSite({self.name!r}).connect charger: {charger!r} does not exist; "
                f"need 0 <= charger < {len(self.chargers)}"
            )
        elif charger in self.out_of_service:
            raise ValueError(
                f"ChargingSite({self.name!r}).connect charger: {charger} is out of service"
            )
        elif charger not in self._free:
            raise ValueError(
                f"ChargingSite({self.name!r}).connect charger: {charger} is already in use"
            )
        else:
            self._free.remove(charger)
            heapq.heapify(self._free)
        self._on[ev] = charger
        self._grid[ev] = self._battery[ev] = self._losses[ev] = 0.0
        return charger

    def disconnect(self, ev: str) -> None:
        """Unplug ``ev``; ``ValueError`` if it is not connected here."""
        if ev not in self._on:
            raise ValueError(f"ChargingSite({self.name!r}).disconnect: EV {ev!r} is not connected")
        charger = self._on.pop(ev)
        self._unplug(ev)
        if charger not in self.out_of_service:
            heapq.heappush(self._free, charger)

    def _unplug(self, ev: str) -> None:
        del self._grid[ev], self._battery[ev], self._losses[ev]
        self._unplugged.append(ev)

    def is_connected(self, ev: str) -> bool:
        return ev in self._on

    def take_unplugged(self) -> list[str]:
        """The EVs unplugged (disconnected, or by an outage) since the last call, in order."""
        out, self._unplugged = self._unplugged, []
        return out

    def connected(self) -> dict[str, int]:
        """EV name -> charger index, in plug-in order."""
        return dict(self._on)

    def n_connected(self) -> int:
        return len(self._on)

    def free_chargers(self) -> int:
        return len(self._free)

    def set_out_of_service(self, chargers: Iterable[int]) -> list[str]:
        """Put exactly ``chargers`` out of service (the others back in); returns the EVs unplugged.

        An EV on a failed charger is unplugged at once; it waits at the site and takes
        the next free charger like any arriving EV.
        """
        out = frozenset(chargers)
        bad = sorted(k for k in out if not 0 <= k < len(self.chargers))
        if bad:
            raise ValueError(
                f"ChargingSite({self.name!r}).set_out_of_service chargers: {bad} do not exist; "
                f"need 0 <= charger < {len(self.chargers)}"
            )
        self.out_of_service = out
        unplugged = [ev for ev, k in self._on.items() if k in out]
        for ev in unplugged:
            del self._on[ev]
            self._unplug(ev)
        used = set(self._on.values())
        self._free = [k for k in range(len(self.chargers)) if k not in out and k not in used]
        return unplugged

    def apply(
        self, setpoints_kw: Mapping[str, float], evs: Mapping[str, PluggedEV], dt_s: int
    ) -> ChargerStep:
        """Apply grid-side set-points [kW] to every connected EV over the next ``dt_s`` [s].

        Connected EVs without a set-point get 0; otherwise as :meth:`update`.
        """
        for ev in setpoints_kw:
            if ev not in self._on:
                raise ValueError(
                    f"ChargingSite({self.name!r}).apply setpoints_kw: EV {ev!r} is not connected here"
                )
        return self.update({ev: setpoints_kw.get(ev, 0.0) for ev in self._on}, evs, dt_s)

    def update(
        self, setpoints_kw: Mapping[str, float], evs: Mapping[str, PluggedEV], dt_s: int
    ) -> ChargerStep:
        """Set the grid-side power of the EVs in ``setpoints_kw`` [kW] over the next ``dt_s``
        [s]; the other connected EVs keep theirs.

        Each set-point is clipped by :func:`feasible_grid_kw`. ``evs`` must describe every
        EV with a non-zero set-point; set-points for EVs that are not connected raise
        ``ValueError``.
        """
        if dt_s < 0:
            raise ValueError(
                f"ChargingSite({self.name!r}).update dt_s: {dt_s!r} is not allowed; need >= 0 [s]"
            )
        for ev, kw in setpoints_kw.items():
            if ev not in self._on:
                raise ValueError(
                    f"ChargingSite({self.name!r}).update setpoints_kw: EV {ev!r} is not connected here"
                )
            if not math.isfinite(kw):
                raise ValueError(
                    f"ChargingSite({self.name!r}).update setpoints_kw[{ev!r}]: {kw!r}; need a finite number [kW]"
                )
            setpoint = float(kw)
            if setpoint != 0.0 and ev not in evs:
                raise ValueError(
                    f"ChargingSite({self.name!r}).update evs: no PluggedEV for {ev!r}, which has a set-point"
                )
            spec = self.chargers[self._on[ev]]
            g = feasible_grid_kw(setpoint, spec, evs[ev], dt_s) if setpoint != 0.0 else 0.0
            b = battery_kw(g, spec.efficiency)
            self._grid[ev], self._battery[ev], self._losses[ev] = g, b, g - b
        self.last = ChargerStep(grid_kw=sum(self._grid.values()), battery_kw=dict(self._battery),
                                ev_grid_kw=dict(self._grid), losses_kw=sum(self._losses.values()))
        return self.last
