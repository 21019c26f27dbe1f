"""Site price signals: how an aggregator turns its predicted loading into a price offer.

Seed 004 (sections 4.2.2.2 and 5.2) has each energy aggregator send a time-dependent
price "with presumably higher values for the periods when they prefer to reduce the
aggregate load", computed from the predicted non-EV load and the charging already
committed. The rule is a strategy: anything with an ``offer(obs) -> PriceOffer`` method
(:class:`SitePricing`); the built-ins are registered by name in :data:`PRICING`.

Built-in rules
--------------
``"flat"`` (:class:`FlatPricing`)
    One tariff for every step; the site expresses no preference in time.
``"congestion"`` (:class:`CongestionPricing`)
    The marginal cost of a convex congestion cost. With utilisation
    ``u(t) = (base load + committed EV load) / rating``, the site prices its load ``L``
    as ``K(L) = pi_0 L + pi_c rating (1 - u_0) / 3 * max(0, (L / rating - u_0) / (1 - u_0))^3``
    and offers its derivative,

    ``omega^+(t) = pi_0 + pi_c * max(0, (u(t) - u_0) / (1 - u_0))^2``  [currency/kWh]

    flat at the base tariff ``pi_0`` below the knee ``u_0``, rising quadratically above
    it to ``pi_0 + pi_c`` at full loading and further beyond. Convexity means each extra
    kW costs more the more loaded the step already is, so EVs steered by it fill the
    valleys first.
``"utilisation"`` (:func:`utilisation_pricing`)
    ``congestion`` with the knee at 0: the price rises from the first kW of loading.

A rule whose price in a step depends only on that step's forecast may say so with a class
attribute ``elementwise = True`` (the built-ins do): the site then prices all segments of
its price curve (:meth:`flexcosim.agents.site_book.SiteBook.price_curve`) in one call, on
a forecast of the segments laid end to end, instead of one call per segment.

All rules pay a fixed share of the charge price for V2G discharge
(``omega^-(t) = share * omega^+(t)``, share in [0, 1]): discharging is worth most when
the site is most loaded, and never pays more than charging costs in the same step, so
site selection needs no charge/discharge mode binaries (see
:mod:`flexcosim.agents.optim.site_selection`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Protocol, runtime_checkable

import numpy as np

from flexcosim.agents.optim.types import PriceOffer, SiteForecast, SiteOffer
from flexcosim.agents.registry import Registry


@runtime_checkable
class SitePricing(Protocol):
    """Turns a site's predicted loading into a price offer."""

    def offer(self, obs: SiteForecast) -> PriceOffer: ...


def _check_share(owner: str, share: float) -> None:
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"{owner}.discharge_share = {share!r}; allowed: in [0, 1]")


def _price_offer(obs: SiteForecast, charge_price: np.ndarray, share: float) -> PriceOffer:
    headroom = obs.headroom_kw
    return PriceOffer(
        charge_price_per_kwh=charge_price,
        discharge_price_per_kwh=share * charge_price,
        headroom_kw=headroom,
        available_energy_kwh=float(headroom.sum() * obs.dt_s / 3600.0),
    )


@dataclass(frozen=True)
class FlatPricing:
    """The same tariff in every step.

    Attributes
    ----------
    price_per_kwh : charge price [currency/kWh], >= 0
    discharge_share : V2G pay as a share of the charge price [-]
    """

    elementwise: ClassVar[bool] = True  # a step's price depends on that step only

    price_per_kwh: float = 0.25
    discharge_share: float = 0.9

    def __post_init__(self) -> None:
        if not self.price_per_kwh >= 0.0:
            raise ValueError(f"FlatPricing.price_per_kwh = {self.price_per_kwh!r}; allowed: >= 0")
        _check_share("FlatPricing", self.discharge_share)

    def offer(self, obs: SiteForecast) -> PriceOffer:
        """Flat price over ``obs``'s horizon; headroom and energy from ``obs``."""
        price = np.full(obs.base_load_kw.shape, self.price_per_kwh)
        return _price_offer(obs, price, self.discharge_share)


@dataclass(frozen=True)
class CongestionPricing:
    """Base tariff plus a quadratic congestion premium above a knee utilisation.

    ``omega^+(t) = base + premium * max(0, (u(t) - knee) / (1 - knee))^2``; see the
    module docstring for the cost function it is the marginal of.

    Attributes
    ----------
    base_price_per_kwh : price while utilisation is below the knee [currency/kWh], >= 0
    premium_per_kwh : extra price at full loading (u = 1) [currency/kWh], >= 0
    knee_utilisation : utilisation where the premium starts, in [0, 1)
    discharge_share : V2G pay as a share of the charge price [-]
    """

    elementwise: ClassVar[bool] = True  # a step's price depends on that step only

    base_price_per_kwh: float = 0.20
    premium_per_kwh: float = 0.40
    knee_utilisation: float = 0.6
    discharge_share: float = 0.9

    def __post_init__(self) -> None:
        for name in ("base_price_per_kwh", "premium_per_kwh"):
            value = getattr(self, name)
            if not value >= 0.0:
                raise ValueError(f"CongestionPricing.{name} = {value!r}; allowed: >= 0")
        if not 0.0 <= self.knee_utilisation < 1.0:
            raise ValueError(
                f"CongestionPricing.knee_utilisation = {self.knee_utilisation!r}; "
                "allowed: in [0, 1)"
            )
        _check_share("CongestionPricing", self.discharge_share)

    def offer(self, obs: SiteForecast) -> PriceOffer:
        """Price per step from the predicted utilisation of ``obs``."""
        knee = self.knee_utilisation
        over = np.maximum(obs.utilisation - knee, 0.0) / (1.0 - knee)
        price = self.base_price_per_kwh + self.premium_per_kwh * over**2
        return _price_offer(obs, price, self.discharge_share)


def utilisation_pricing() -> CongestionPricing:
    """``congestion`` with its knee at 0: the price rises with every kW of loading,
    ``omega^+(t) = 0.20 + 0.40 u(t)^2`` [currency/kWh], so a less loaded site (or step)
    is always the cheaper one (the UCD study: sites compete for EVs at any loading)."""
    return CongestionPricing(knee_utilisation=0.0)


#: Built-in price rules by name; each is a class whose defaults give a usable rule, or a
#: factory without arguments.
PRICING: Registry[SitePricing] = Registry(
    "site pricing", "offer",
    {"flat": FlatPricing, "congestion": CongestionPricing, "utilisation": utilisation_pricing},
)


def site_offer(
    obs: SiteForecast,
    prices: PriceOffer,
    charger_kw: float,
    charger_discharge_kw: float = 0.0,
) -> SiteOffer:
    """The :class:`SiteOffer` a site sends for one EV request (seed 004 section 4.2.2.2).

    The charger limits per step are the charger rating capped by the transformer
    headroom, so an offer never promises power the transformer cannot carry.

    Parameters
    ----------
    obs : the site's prediction (free chargers, headroom)
    prices : the price offer made from ``obs``
    charger_kw, charger_discharge_kw : charger ratings [kW]; 0 discharge for V1G
    """
    for name, value in (("charger_kw", charger_kw), ("charger_discharge_kw", charger_discharge_kw)):
        if not value >= 0.0:
            raise ValueError(f"{name} = {value!r}; allowed: >= 0")
    return SiteOffer(
        site=obs.site,
        free_chargers=obs.free_chargers,
        charge_limit_kw=np.minimum(charger_kw, prices.headroom_kw),
        discharge_limit_kw=np.full(prices.headroom_kw.shape, float(charger_discharge_kw)),
        charge_price_per_kwh=prices.charge_price_per_kwh,
        discharge_price_per_kwh=prices.discharge_price_per_kwh,
        available_energy_kwh=prices.available_energy_kwh,
    )
