"""The site aggregator as an agent: its mailbox, its book and its plant readings.

One :class:`SiteAgent` per charging site. It answers the DSO platform's offer and
reservation requests from its :class:`~flexcosim.agents.site_book.SiteBook`, takes the
DSO's capacity notices (re-deciding with the last reading), and on every reading of
the EVs parked at its site, and on its strategy's own timer, builds a
:class:`~flexcosim.agents.site.SiteObservation` and decides set-points with its
:class:`~flexcosim.agents.site.SiteAggregator` (strategy and fallback). The set-points
wait in :attr:`SiteAgent.setpoints` until the mosaik adapter hands them to the chargers.

A reading carries the EVs that came or left, and, at the fleet's decision tick, every EV
at the site (:class:`~flexcosim.agents.messages.PlantReading`). Between two readings of an
EV the aggregator knows its energy as its set-points charged it since (battery side,
within the EV's SOC window), so a decision on another EV's arrival, a timer or a capacity
notice sees every EV as ordered until now. An EV that waits for a free charger, or that a
charger clips otherwise, is known exactly again at the next tick.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import compress
from operator import attrgetter, is_not, itemgetter

import numpy as np

from flexcosim.agents.messages import (
    CapacityLimitNotice,
    Envelope,
    OfferReply,
    OfferRequest,
    PlantReading,
    ReservationConfirmed,
    ReservationWithdrawn,
    ReserveRequest,
)
from flexcosim.agents.processes import Role
from flexcosim.agents.site import SiteAggregator, SiteEV, SiteObservation
from flexcosim.agents.site_book import SiteBook
from flexcosim.cosim.models.charger import PluggedEV, apply_plugged
from flexcosim.cosim.models.tariff import TariffSeries


@dataclass(frozen=True)
class _Projection:
    """The ordered EVs' energies as their set-points charge them (see :meth:`SiteAgent._project`).

    Attributes
    ----------
    names : the EVs; kwh : (n,) their energies as known now [kWh]
    rate_kw : (n,) battery-side power of their set-points [kW] (+ charge)
    lo_kwh, hi_kwh : (n,) their SOC windows [kWh]
    """

    names: tuple[str, ...]
    kwh: np.ndarray
    rate_kw: np.ndarray
    lo_kwh: np.ndarray
    hi_kwh: np.ndarray

    def advance(self, hours: float) -> tuple[tuple[str, ...], np.ndarray]:
        """The EVs and their energies ``hours`` [h] later, within their windows [kWh]; kept."""
        np.minimum(np.maximum(self.kwh + self.rate_kw * hours, self.lo_kwh), self.hi_kwh, out=self.kwh)
        return self.names, self.kwh


@dataclass(frozen=True)
class SitePlant:
    """The fixed facts an aggregator knows about its site."""

    charger_kw: float
    efficiency: float
    v2g: bool
    tariff: TariffSeries | None = None  # the site meter's prices over the whole run


class SiteAgent(Role):
    """A site aggregator with a mailbox (see the module docstring).

    Parameters
    ----------
    aggregator : the site's decision maker (strategy, fallback, outside capacity limit)
    plant : charger rating, efficiency, V2G
    book : forecasts and reservations (sites with a transformer), else ``None``
    targets_kwh : EV -> energy its driver wants at departure [kWh]
    departures_s : EV -> announced departure [s since start]
    step_s : decision interval [s]; horizon_end_s : end of the forecasts [s since start]

    Attributes
    ----------
    setpoints : ``{ev: kW}`` of the last decision not yet handed out, else ``None``
    """

    def __init__(self, aggregator: SiteAggregator, plant: SitePlant, book: SiteBook | None,
                 targets_kwh: Mapping[str, float], departures_s: Mapping[str, int],
                 step_s: int, horizon_end_s: int) -> None:
        super().__init__(f"agg_{aggregator.site}")
        self.aggregator, self.plant, self.book = aggregator, plant, book
        self.targets_kwh, self.departures_s = targets_kwh, departures_s
        self.step_s, self.horizon_end_s = step_s, horizon_end_s
        self.setpoints: dict[str, float] | None = None
        self._present: dict[str, PluggedEV] | None = None  # the parked EVs as read, None before a reading
        self._timer_s: int | None = None  # when the strategy asked to decide again
        self._read: dict[str, SiteEV] = {}  # EV -> as last read
        self._window: dict[str, tuple[float, float]] = {}  # EV -> its SOC window as read [kWh]
        self._evs: dict[str, SiteEV] = {}  # EV -> as known now (in the order of _present)
        self._moved: set[str] = set()  # the EVs known by projection (self._evs[ev] is not self._read[ev])
        self._ordered: dict[str, float] = {}  # the last decision's non-zero set-points [kW]
        self._projection: _Projection | None = None  # of the ordered EVs; None: to be made again
        self._known_s = 0  # time of the last reading or decision [s]

    def handle(self, envelope: Envelope) -> None:
        match envelope.body:
            case PlantReading(evs=changes):
                if self._present is None:
                    self._present = {}
                self._project(int(self.env.now))  # the EVs not read again: as ordered until now
                self._reread(changes)
                apply_plugged(self._present, changes)
                self._decide()
            case OfferRequest() as r:
                offer = self.book.offer(r.request, r.now_s, r.n_steps)
                self.reply(envelope, OfferReply(offer, self.book.free_chargers(r.arrival_s, r.departure_s)))
            case ReserveRequest(reservation=r):
                if self.book.free_chargers(r.arrival_s, r.departure_s) > 0:  # else: no confirmation
                    self.book.reserve(r)
                    self.reply(envelope, ReservationConfirmed(r.ev, r.site))
            case ReservationWithdrawn(ev=ev):
                self.book.cancel(ev)
            case CapacityLimitNotice(capacity_kw=kw):
                self.aggregator.capacity_kw = kw
                if self._present is not None:  # a capacity change is a decision event
                    self._decide()

    def _decide(self) -> None:
        """Decide on the last reading; keep one timer for the strategy's next decision."""
        if self.env.now >= self.horizon_end_s:  # the run is over: nothing left to decide for
            return
        self._project(int(self.env.now))
        decision = self.aggregator.decide(self.observe())
        self.setpoints = dict(decision.power_kw)
        ordered = dict(filter(itemgetter(1), self.setpoints.items()))
        if ordered != self._ordered:
            self._ordered, self._projection = ordered, None
        at = decision.next_decision_s
        if at is not None and at > self.env.now and at != self._timer_s:
            self._timer_s = at
            self.runtime.start(self._timer(at))

    def _timer(self, at: int):
        yield self.env.timeout(at - self.env.now)
        if self._timer_s == at and self._present is not None:  # else a later decision replaced it
            self._timer_s = None
            self.activations += 1
            self._decide()

    def _project(self, now_s: int) -> None:
        """Each ordered EV's energy at ``now_s`` [kWh] as its set-point since the last reading
        or decision charged it (battery side, within its SOC window)."""
        hours = (now_s - self._known_s) / 3600.0
        if hours <= 0:
            return
        self._known_s = now_s
        if self._projection is None:
            self._projection = self._projecting()
        names, kwh = self._projection.advance(hours)
        self._evs.update(zip(names, map(SiteEV.with_energy, map(self._read.__getitem__, names), kwh.tolist())))
        self._moved.update(names)

    def _projecting(self) -> _Projection:
        """The projection of the ordered EVs that are here, from what is known of them now."""
        names = tuple(filter(self._present.__contains__, self._ordered))
        kw = np.fromiter(map(self._ordered.__getitem__, names), float, len(names))
        window = np.array(list(map(self._window.__getitem__, names)), dtype=float).reshape(-1, 2)
        eta = self.plant.efficiency
        return _Projection(
            names, np.fromiter(map(attrgetter("energy_kwh"), map(self._evs.__getitem__, names)), float, len(names)),
            np.where(kw > 0, kw * eta, kw / eta), window[:, 0], window[:, 1])

    def _reread(self, changes: Mapping[str, PluggedEV | None]) -> None:
        """Take the EVs of a reading as read (known exactly now), drop those that left.

        Called before the reading is applied to ``self._present``. A reading that repeats
        an EV's last one (the fleet reports an EV whose SOC did not change by the same
        object) only forgets the EV's projection; a new one is read with the EV's
        announced departure and target.
        """
        if not self._ordered.keys().isdisjoint(changes):
            self._projection = None
        for ev in self._moved.intersection(changes):  # known exactly again
            self._evs[ev] = self._read[ev]
        self._moved.difference_update(changes)
        for ev in compress(changes, map(is_not, changes.values(), map(self._present.get, changes))):
            p = changes[ev]
            if p is None:
                del self._read[ev], self._window[ev], self._evs[ev]
                continue
            self._read[ev] = self._evs[ev] = SiteEV(
                ev=ev, energy_kwh=p.soc * p.capacity_kwh, capacity_kwh=p.capacity_kwh,
                target_kwh=self.targets_kwh[ev], max_charge_kw=p.max_charge_kw,
                max_discharge_kw=p.max_discharge_kw, departure_s=self.departures_s.get(ev))
            self._window[ev] = (p.soc_min * p.capacity_kwh, p.soc_max * p.capacity_kwh)

    def observe(self) -> SiteObservation:
        """What the aggregator sees now: the parked EVs, and its book's forecasts to the horizon end.

        The forecasts are left to be computed on demand (``SiteObservation.forecaster``)
        when the strategy declares ``forecasts_on_demand``.
        """
        time = int(self.env.now)
        evs = tuple(self._evs.values())
        n = max(1, (self.horizon_end_s - time) // self.step_s)
        p = self.plant
        now = {} if self.book is None else {"capacity_kw": float(self.book.capacity_kw(time, 1)[0])}

        def forecasts() -> dict[str, tuple]:
            fields = {}
            if self.book is not None:
                capacity, prices, curve = self.book.signals(time, n, list(map(attrgetter("ev"), evs)))
                fields = {
                    "capacity_forecast_kw": tuple(capacity.tolist()),
                    "price_forecast_per_kwh": tuple(prices.charge_price_per_kwh.tolist()),
                    "price_curve_per_kwh": tuple(map(tuple, curve.tolist())),
                }
            if p.tariff is not None:
                k = time // self.step_s
                fields["tariff_forecast_per_kwh"] = tuple(p.tariff.import_per_kwh[k:k + n].tolist())
            return fields

        on_demand = getattr(self.aggregator.guarded.strategy, "forecasts_on_demand", False)
        return SiteObservation(site=self.aggregator.site, time_s=time, step_s=self.step_s, evs=evs,
                               charger_kw=p.charger_kw, efficiency=p.efficiency, v2g=p.v2g, **now,
                               **({"forecaster": forecasts} if on_demand else forecasts()))
