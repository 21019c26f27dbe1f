"""A site aggregator's book: transformer headroom forecast, reservations, offers.

The aggregator of a behind-the-meter site (seed 004 section 5.2) predicts its non-EV
load (here a perfect day-ahead forecast, as in the seed), knows its transformer rating
and the charging commitments already made, and from these computes its price signal
and its offer to the DSO platform. Power factor 1.0 as in the seed, so kVA = kW.
"""

from __future__ import annotations

import numpy as np

from flexcosim.agents.optim.pricing import SitePricing, site_offer
from flexcosim.agents.optim.types import PriceOffer, SiteForecast, SiteOffer, SiteRequest
from flexcosim.agents.platform import Reservation

#: Share of the transformer rating the aggregator plans EV and building load against.
#: The rest is left for what a kW limit behind the transformer does not see: its own
#: losses and magnetising current (measured with pandapower on ``ucd_feeder4``: the
#: 1600 kVA unit carrying 1600 kW on its LV side reports 102.5 % loading, the 200 kVA
#: unit carrying 194 kW 100.1 %).
USABLE_SHARE = 0.965


class SiteBook:
    """Forecasts and reservations of one site.

    Powers in the book are grid-side (at the meter). Offers to the platform are
    battery-side, as the site-selection model of seed 004 (eq. 4.15) is lossless:
    charger limits and headroom are multiplied by the charger efficiency, and a
    reservation's reference schedule is divided by it when booked.

    Parameters
    ----------
    site : site name
    rating_kw : transformer rating [kW] (= kVA at power factor 1)
    base_load_kw : (n_steps of the run,) forecast non-EV load per step [kW]
    chargers : number of chargers [-]
    charger_kw : charger rating [kW]
    efficiency : charger efficiency [-]
    step_s : step length [s]
    pricing : the site's price rule (``flexcosim.agents.optim.pricing``)
    """

    def __init__(self, site: str, rating_kw: float, base_load_kw: np.ndarray, chargers: int,
                 charger_kw: float, efficiency: float, step_s: int, pricing: SitePricing) -> None:
        self.site, self.rating_kw, self.efficiency = site, rating_kw * USABLE_SHARE, efficiency
        self.base_load_kw = np.asarray(base_load_kw, dtype=float)
        self.chargers, self.charger_kw, self.step_s = chargers, charger_kw, step_s
        self.pricing = pricing
        self.committed_kw = np.zeros_like(self.base_load_kw)
        self.reservations: dict[str, Reservation] = {}
        self.available = chargers  # lowered by a charger outage

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

    def forecast(self, now_s: int, n_steps: int, commitments: bool = True) -> SiteForecast:
        """Predicted loading from now on: building load plus (optionally) booked EV load."""
        w = self._window(now_s, n_steps)
        committed = self.committed_kw[w] if commitments else np.zeros(w.stop - w.start)
        return SiteForecast(self.site, self.base_load_kw[w], committed,
                            self.rating_kw, float(self.step_s), self.available)

    def prices(self, now_s: int, n_steps: int) -> PriceOffer:
        """The price signal the site schedules its own EVs with (higher where it wants less load).

        Built on the building load only: the EVs being scheduled are the commitments, so
        pricing them in would make every re-plan flee the steps the last plan used.
        """
        return self.pricing.offer(self.forecast(now_s, n_steps, commitments=False))

    def capacity_kw(self, now_s: int, n_steps: int) -> np.ndarray:
        """Transformer rating minus forecast building load, per step [kW], >= 0."""
        return np.maximum(self.rating_kw - self.base_load_kw[self._window(now_s, n_steps)], 0.0)

    def free_chargers(self, arrival_s: int, departure_s: int) -> int:
        """Chargers not booked by a reservation overlapping ``[arrival_s, departure_s)``."""
        busy = sum(r.arrival_s < departure_s and arrival_s < r.departure_s
                   for r in self.reservations.values())
        return max(0, self.available - busy)

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

    def reserve(self, reservation: Reservation) -> None:
        self.reservations[reservation.ev] = reservation
        k0 = -(-reservation.arrival_s // self.step_s)  # first whole step at the site
        ref = np.asarray(reservation.charge_kw, dtype=float)[: max(0, self.committed_kw.size - k0)]
        ref = np.where(ref > 0, ref / self.efficiency, ref * self.efficiency)  # to grid side
        self.committed_kw[k0 : k0 + ref.size] += ref
