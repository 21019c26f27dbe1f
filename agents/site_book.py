"""A site aggregator's book: transformer headroom forecast, reservations, offers.

The aggregator of a behind-the-meter site (seed 004 section 5.2) predicts its non-EV
load (here a perfect day-ahead forecast, as in the seed), knows its transformer's
planning limit and the charging commitments already made, and from these computes its
price signal ("existing charging commitments and predicted non-flexible load", seed 004
5.2), updated on every reservation, and its offer to the DSO platform. Power factor 1.0
as in the seed, so kVA = kW. The planning limit is the LV-side load that loads the
transformer to 100 % in an AC power flow (``flexcosim.grids.transformer_limit``), so
the transformer's own losses and reactive power are not planned away.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from itertools import repeat

import numpy as np

from flexcosim.agents.optim.pricing import SitePricing, site_offer
from flexcosim.agents.optim.types import PriceOffer, SiteForecast, SiteOffer, SiteRequest
from flexcosim.agents.platform import Reservation

#: Segments of the capacity in the price curve the site schedules with [-]: enough for
#: the convex congestion price (pricing.py) to spread load, few enough to keep the LP small.
PRICE_SEGMENTS = 8


class SiteBook:
    """Forecasts and reservations of one site.

    Powers in the book are grid-side (at the meter). Offers to the platform are
    battery-side, as the site-selection model of seed 004 (eq. 4.15) is lossless:
    charger limits and headroom are multiplied by the charger efficiency, and a
    reservation's reference schedule is divided by it when booked.

    Parameters
    ----------
    site : site name
    rating_kw : transformer planning limit [kW]: LV-side load at 100 % loading
    base_load_kw : (n_steps of the run,) forecast non-EV load per step [kW]
    chargers : number of chargers [-]
    charger_kw : charger rating [kW]
    efficiency : charger efficiency [-]
    step_s : step length [s]
    pricing : the site's price rule (``flexcosim.agents.optim.pricing``)
    parking_spaces : parking spaces [-] (seed 004 Table 1), a bound on the booked EVs
        present at once beside the chargers; ``None`` = as many as chargers
    """

    def __init__(self, site: str, rating_kw: float, base_load_kw: np.ndarray, chargers: int,
                 charger_kw: float, efficiency: float, step_s: int, pricing: SitePricing,
                 parking_spaces: int | None = None) -> None:
        self.site, self.rating_kw, self.efficiency = site, rating_kw, efficiency
        self.base_load_kw = np.asarray(base_load_kw, dtype=float)
        self.chargers, self.charger_kw, self.step_s = chargers, charger_kw, step_s
        self.pricing = pricing
        self.committed_kw = np.zeros_like(self.base_load_kw)
        self.reservations: dict[str, Reservation] = {}
        # the grid-side reference schedules of the reservations [kW], one after the other in
        # _ref[:_used]
        self._ref = np.zeros(64)
        self._used = 0
        # one row per EV ever booked, of its latest reservation: where its schedule starts in
        # _ref, its steps and its first step (_booked), and its stay [s] (_stay_s); a
        # cancelled reservation's row and the spare rows have no steps and the stay
        # (-1, -1), which overlaps no stay
        self._row: dict[str, int] = {}
        self._booked = np.zeros((0, 3), dtype=np.int64)
        self._stay_s = np.zeros((0, 2), dtype=np.int64)
        self.available = chargers  # lowered by a charger outage
        self.parking_spaces = chargers if parking_spaces is None else int(parking_spaces)

    def set_in_service(self, chargers: int) -> None:
        """A charger outage (or repair): only ``chargers`` [-] can take EVs from now on.

        Offers and free-charger counts use it at once, so the platform stops booking
        chargers that are out; reservations already made stay in the book.
        """
        if not 0 <= chargers <= self.chargers:
            raise ValueError(f"chargers in service = {chargers!r}; allowed: 0..{self.chargers} "
                             f"at {self.site!r}")
        self.available = int(chargers)

    def _window(self, now_s: int, n_steps: int) -> slice:
        k0 = now_s // self.step_s
        return slice(k0, min(k0 + n_steps, self.base_load_kw.size))

    def forecast(self, now_s: int, n_steps: int, without: Collection[str] = ()) -> SiteForecast:
        """Predicted loading from now on: building load plus booked EV load.

        ``without`` leaves out the reference schedules of these EVs (the ones being
        re-planned, so a re-plan does not price its own previous plan).
        """
        w = self._window(now_s, n_steps)
        committed = self.committed_kw[w].copy()
        rows = np.fromiter(map(self._row.get, without, repeat(-1)), np.intp, len(without))
        if rows.size:  # one EV after the other, in the order given
            start, length, first = self._booked[rows[rows >= 0]].T
            offset = np.cumsum(length) - length  # of each EV's schedule in the gathered one
            at = np.arange(length.sum())
            ref = self._ref[np.repeat(start - offset, length) + at]
            steps = np.repeat(first - offset, length) + at
            inside = (steps >= w.start) & (steps < w.stop)
            np.subtract.at(committed, steps[inside] - w.start, ref[inside])
        return SiteForecast(self.site, self.base_load_kw[w], committed,
                            self.rating_kw, float(self.step_s), self.available)

    def prices(self, now_s: int, n_steps: int, scheduling: Collection[str] = ()) -> PriceOffer:
        """The price signal the site schedules its own EVs with (higher where it wants less load).

        From the building load plus every booked commitment except those of the EVs in
        ``scheduling`` (the EVs now on its chargers, whose load the schedule decides).
        """
        return self.pricing.offer(self.forecast(now_s, n_steps, without=scheduling))

    def price_curve(self, now_s: int, n_steps: int, scheduling: Collection[str] = ()) -> np.ndarray:
        """(n, PRICE_SEGMENTS) price of the EVs in ``scheduling`` drawing each segment of capacity.

        Segment ``j`` of the capacity ``h(t)`` (:meth:`capacity_kw`, the site limit of
        the schedule) is priced at an added EV load of ``h(t) (j + 1/2) / S`` on top of
        the forecast of :meth:`prices`: the site's price rule read as the marginal cost
        of its own load. Each row is made non-decreasing, so any rule gives a convex cost
        and a schedule under it fills the least loaded steps first [currency/kWh].
        """
        return self._curve(self.forecast(now_s, n_steps, without=scheduling),
                           self.capacity_kw(now_s, n_steps))

    def signals(self, now_s: int, n_steps: int,
                scheduling: Collection[str] = ()) -> tuple[np.ndarray, PriceOffer, np.ndarray]:
        """:meth:`capacity_kw`, :meth:`prices` and :meth:`price_curve` at once, from one forecast."""
        forecast = self.forecast(now_s, n_steps, without=scheduling)
        capacity = self.capacity_kw(now_s, n_steps)
        return capacity, self.pricing.offer(forecast), self._curve(forecast, capacity)

    def _curve(self, obs: SiteForecast, capacity: np.ndarray) -> np.ndarray:
        added = np.outer((np.arange(PRICE_SEGMENTS) + 0.5) / PRICE_SEGMENTS, capacity)  # (S, n)
        if getattr(self.pricing, "elementwise", False):  # one call prices every segment
            n = capacity.size
            stacked = replace(obs, base_load_kw=np.tile(obs.base_load_kw, PRICE_SEGMENTS),
                              committed_ev_kw=(obs.committed_ev_kw + added).ravel())
            prices = self.pricing.offer(stacked).charge_price_per_kwh.reshape(PRICE_SEGMENTS, n).T
        else:
            prices = np.column_stack([
                self.pricing.offer(replace(obs, committed_ev_kw=obs.committed_ev_kw + extra))
                .charge_price_per_kwh for extra in added])
        return np.maximum.accumulate(prices, axis=1)

    def capacity_kw(self, now_s: int, n_steps: int) -> np.ndarray:
        """Transformer limit minus forecast building load, per step from ``now_s`` [kW], >= 0.

        A decision between two step boundaries (an event at its own second) plans steps
        that straddle two metering intervals: each then keeps to the tighter of the two.
        """
        w = self._window(now_s, n_steps)
        base = self.base_load_kw[w]
        if now_s % self.step_s:
            after = self.base_load_kw[w.start + 1 : w.stop + 1]
            base = np.maximum(base, np.r_[after, base[after.size:]])
        return np.maximum(self.rating_kw - base, 0.0)

    def free_chargers(self, arrival_s: int, departure_s: int) -> int:
        """Chargers free over the whole of ``[arrival_s, departure_s)`` [-].

        Counts concurrent occupancy: the most reservations present at any one time in
        the stay, so a charger an EV leaves serves a later one. Every booked EV parks,
        so the parking spaces bound it too (seed 004 Table 1).
        """
        a, d = self._stay_s.T
        overlap = (a < departure_s) & (arrival_s < d)
        a, d = np.sort(a[overlap]), np.sort(d[overlap])
        starts = np.r_[arrival_s, a[a > arrival_s]]
        # present at t: arrived by t and not yet left (a stay's arrival is before its departure)
        busy = int((np.searchsorted(a, starts, "right") - np.searchsorted(d, starts, "right")).max())
        return max(0, min(self.available, self.parking_spaces) - busy)

    def offer(self, request: SiteRequest, now_s: int, n_steps: int) -> SiteOffer:
        forecast = self.forecast(now_s, n_steps)
        grid_side = site_offer(forecast, self.pricing.offer(forecast), self.charger_kw)
        arrival_s = now_s + request.arrival_step[self.site] * self.step_s
        departure_s = now_s + request.departure_step * self.step_s
        eta = self.efficiency
        return SiteOffer(
            grid_side.site, self.free_chargers(arrival_s, departure_s),
            grid_side.charge_limit_kw * eta, grid_side.discharge_limit_kw * eta,
            grid_side.charge_price_per_kwh / eta, grid_side.discharge_price_per_kwh * eta,
            grid_side.available_energy_kwh * eta)

    def cancel(self, ev: str) -> bool:
        """Drop ``ev``'s reservation and its booked load; False if it holds none."""
        if self.reservations.pop(ev, None) is None:
            return False
        row = self._row[ev]
        start, length, first = self._booked[row]
        self.committed_kw[first : first + length] -= self._ref[start : start + length]
        self._booked[row], self._stay_s[row] = 0, -1
        return True

    def reserve(self, reservation: Reservation) -> None:
        self.reservations[reservation.ev] = reservation
        k0 = -(-reservation.arrival_s // self.step_s)  # first whole step at the site
        ref = np.asarray(reservation.charge_kw, dtype=float)[: max(0, self.committed_kw.size - k0)]
        ref = np.where(ref > 0, ref / self.efficiency, ref * self.efficiency)  # to grid side
        self.committed_kw[k0 : k0 + ref.size] += ref
        if self._used + ref.size > self._ref.size:  # full: room for twice as much
            self._ref = np.r_[self._ref[: self._used], np.zeros(self._used + ref.size)]
        self._ref[self._used : self._used + ref.size] = ref
        row = self._row.setdefault(reservation.ev, len(self._row))
        if row == len(self._stay_s):  # full: room for twice as many
            self._booked = np.vstack([self._booked, np.zeros((row + 1, 3), dtype=np.int64)])
            self._stay_s = np.vstack([self._stay_s, np.full((row + 1, 2), -1)])
        self._booked[row] = self._used, ref.size, k0
        self._stay_s[row] = reservation.arrival_s, reservation.departure_s
        self._used += ref.size
