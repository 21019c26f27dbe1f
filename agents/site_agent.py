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
        self._read: dict[str, tuple[PluggedEV, SiteEV]] = {}  # EV -> its last reading, as seen
        self._evs: dict[str, SiteEV] = {}  # EV -> as known now (in the order of _present)
        self._ordered: dict[str, float] = {}  # the last decision's non-zero set-points [kW]
        self._known_s = 0  # time of the last reading or decision [s]
        self._known_kwh: dict[str, float] = {}  # EV -> energy since the last reading, as ordered

    def handle(self, envelope: Envelope) -> None:
        match envelope.body:
            case PlantReading(evs=changes):
                if self._present is None:
                    self._present = {}
                self._project(int(self.env.now))  # the EVs not read again: as ordered until now
                apply_plugged(self._present, changes)
                self._reread(changes)
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
        self._ordered = {ev: kw for ev, kw in self.setpoints.items() if kw}
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
        """Each EV's energy at ``now_s`` [kWh] as its set-points since the last reading charged it."""
        hours = (now_s - self._known_s) / 3600.0
        if hours <= 0:
            return
        eta = self.plant.efficiency
        for ev, kw in self._ordered.items():
            p = self._present.get(ev)
            if p is not None:
                energy = self._known_kwh.get(ev, p.soc * p.capacity_kwh)
                energy += (kw * eta if kw > 0 else kw / eta) * hours
                energy = min(max(energy, p.soc_min * p.capacity_kwh), p.soc_max * p.capacity_kwh)
                self._known_kwh[ev] = energy
                self._evs[ev] = self._read[ev][1].with_energy(energy)
        self._known_s = now_s

    def _reread(self, changes: Mapping[str, PluggedEV | None]) -> None:
        """Take the EVs of a reading as read (known exactly now), drop those that left.

        An EV's announced departure and target are read with its reading; a reading that
        repeats an EV's last one (the fleet reports an EV whose SOC did not change by the
        same object) keeps its :class:`SiteEV`.
        """
        for ev, p in changes.items():
            self._known_kwh.pop(ev, None)
            if p is None:
                self._read.pop(ev, None)
                self._evs.pop(ev, None)
                continue
            seen = self._read.get(ev)
            departure, target = self.departures_s.get(ev), self.targets_kwh[ev]
            if seen is None or seen[0] is not p or seen[1].departure_s != departure or seen[1].target_kwh != target:
                seen = self._read[ev] = (p, SiteEV(
                    ev=ev, energy_kwh=p.soc * p.capacity_kwh, capacity_kwh=p.capacity_kwh,
                    target_kwh=target, max_charge_kw=p.max_charge_kw,
                    max_discharge_kw=p.max_discharge_kw, departure_s=departure))
            self._evs[ev] = seen[1]

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
                capacity, prices, curve = self.book.signals(time, n, [ev.ev for ev in evs])
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
