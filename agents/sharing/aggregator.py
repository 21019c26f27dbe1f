"""The energy aggregator of one BTM unit in capacity sharing (seed 004 sections 4.2.1.1, 4.2.1.4).

On ``Φ_c(k)`` (:class:`~flexcosim.agents.sharing.messages.CapacityAllocation`) the
aggregator computes its minimum capacity demand ``p̄_c(k)`` with the capacity-demand LP
(eqs 4.1-4.5) over its forecast (:class:`~flexcosim.agents.sharing.unit.UnitForecast`),
announces its surplus ``δ⁺ = Φ - p̄`` or deficit ``δ⁻ = p̄ - Φ`` to its peers and then:

* with a deficit, waits ``collect_s`` for the peers' announcements, orders the surplus
  peers with its partner-order strategy (:data:`PARTNER_ORDERS`, default
  ``"largest_surplus"``) and asks them one after the other for what is still missing;
  it accepts an offer when it is better off after paying the provider's price and the DSO
  fee (:class:`~flexcosim.agents.sharing.incentives.CompensationRule`) and, once the
  agreement is approved or rejected (or the provider refuses it), asks the next peer;
* with a surplus, answers each request with an offer of up to its free surplus, priced
  at its re-plan cost, and holds the offered capacity until the offer is declined or the
  agreement is decided; an accepted agreement that matches its offer it sends to the
  coordinator for validation, one that does not it refuses.

A deadline ``deadline_s`` after ``Φ_c(k)`` arrives ends the negotiation: no more
requests or offers, the unit keeps what was approved. Bad input never raises: a missing
or invalid forecast, a failed LP or a coordinator that does not answer is recorded in the
period's :class:`PeriodOutcome` and the unit keeps its current capacity.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from flexcosim.agents.optim.capacity_demand import (
    CapacityDemand,
    CapacityDemandProblem,
    capacity_demand,
)
from flexcosim.agents.registry import Fallback, Guarded, Registry
from flexcosim.agents.sharing.incentives import CompensationRule
from flexcosim.agents.sharing.messages import (
    AcceptOffer,
    Agreement,
    Approval,
    CapacityAllocation,
    CapacityOffer,
    CapacityRequest,
    CapacityStatus,
    Message,
    Rejection,
    RejectOffer,
    ValidationRequest,
    Wakeup,
)
from flexcosim.agents.sharing.unit import UnitForecast, replan_cost

#: Surpluses, deficits and offers below this are zero [kW] (LP tolerance is ~1e-7 kW).
TOL_KW = 1e-3


@dataclass(frozen=True)
class PartnerObservation:
    """What a partner-order strategy sees: the deficit [kW] and each peer's surplus [kW]."""

    deficit_kw: float
    surplus_kw: Mapping[str, float]


class PartnerOrder(Protocol):
    """Orders the surplus peers a deficit aggregator asks, first asked first."""

    def order(self, obs: PartnerObservation) -> Sequence[str]: ...


PARTNER_ORDERS: Registry[PartnerOrder] = Registry("partner order", "order")


@PARTNER_ORDERS.register("largest_surplus")
class LargestSurplusFirst:
    """Largest announced surplus first (default); ties by name."""

    def order(self, obs: PartnerObservation) -> Sequence[str]:
        return sorted(obs.surplus_kw, key=lambda u: (-obs.surplus_kw[u], u))


@PARTNER_ORDERS.register("best_fit")
class BestFit:
    """The smallest surplus that covers the whole deficit first (one agreement, one fee),
    then the others, largest first."""

    def order(self, obs: PartnerObservation) -> Sequence[str]:
        covers = [u for u, kw in obs.surplus_kw.items() if kw >= obs.deficit_kw]
        rest = [u for u in obs.surplus_kw if u not in covers]
        return (sorted(covers, key=lambda u: (obs.surplus_kw[u], u))
                + sorted(rest, key=lambda u: (-obs.surplus_kw[u], u)))


def check_order(decision: object, obs: PartnerObservation) -> str:
    """Why ``decision`` is not a valid partner order ('' if it is)."""
    if isinstance(decision, str) or not isinstance(decision, Sequence):
        return f"returned {type(decision).__name__}, expected a sequence of unit names"
    unknown = [u for u in decision if u not in obs.surplus_kw]
    if unknown:
        return f"partner {unknown[0]!r} announced no surplus"
    if len(set(decision)) != len(decision):
        return "a partner appears twice"
    return ""


@dataclass(frozen=True)
class PeriodOutcome:
    """What happened to one unit in one sharing period.

    Attributes
    ----------
    unit : unit name; period_start_s : ``k`` [s since start]
    allocation_kw : ``Φ_c(k)`` [kW]
    demand_kw : ``p̄_c(k)`` (eqs 4.1-4.5) [kW]; ``nan`` without a forecast or LP solution
    surplus_kw, deficit_kw : ``δ⁺``, ``δ⁻`` [kW]
    bought_kw, sold_kw : capacity received / given in approved agreements [kW]
    capacity_kw : the unit's limit for the period, ``Φ + bought - sold`` [kW]
    paid, received : compensation and fees paid / compensation received [currency]
    status : "balanced", "surplus", "covered", "short" (peers asked, deficit left),
        "deadline" (negotiation cut off), "no_forecast", "bad_forecast", "lp_failed"
    reason : details for the failure statuses and the last refusal seen
    shortfall_kw : largest excess of a demand recomputed within the period (after an
        arrival, see :meth:`EnergyAggregator.update`) over the capacity the unit holds [kW];
        the unit kept its commitments
    """

    unit: str
    period_start_s: int
    allocation_kw: float
    demand_kw: float
    surplus_kw: float
    deficit_kw: float
    bought_kw: float
    sold_kw: float
    capacity_kw: float
    paid: float
    received: float
    status: str
    reason: str
    shortfall_kw: float = 0.0


@dataclass
class _Period:
    """Mutable negotiation state of one period (private to the aggregator)."""

    start_s: int
    period_s: int
    allocation_kw: float
    service_fee: float
    demand_kw: float = math.nan
    surplus_kw: float = 0.0
    deficit_kw: float = 0.0
    status: str = "balanced"
    reason: str = ""
    peers_surplus_kw: dict[str, float] = field(default_factory=dict)
    queue: list[str] = field(default_factory=list)
    asked: str | None = None  # request id awaiting an offer
    validating: Agreement | None = None  # as consumer
    reserved_kw: dict[str, float] = field(default_factory=dict)  # as provider, by request id
    offer_loss: dict[str, float] = field(default_factory=dict)  # price of each open offer
    bought_kw: float = 0.0
    sold_kw: float = 0.0
    paid: float = 0.0
    received: float = 0.0
    closed: bool = False
    n_requests: int = 0
    shortfall_kw: float = 0.0

    @property
    def capacity_kw(self) -> float:
        return self.allocation_kw + self.bought_kw - self.sold_kw

    @property
    def missing_kw(self) -> float:
        return self.deficit_kw - self.bought_kw


class EnergyAggregator:
    """The energy aggregator (EA) of one unit; its address is the unit's name.

    Parameters
    ----------
    unit : unit name
    peers : the other units behind the same transformer
    coordinator : the coordinator's address
    order : partner-order strategy name (see :data:`PARTNER_ORDERS`)
    rule : compensation rule
    collect_s : how long a deficit EA waits for the peers' announcements [s]
    deadline_s : negotiation deadline after ``Φ_c(k)`` arrives [s]
    connection_kw : the unit's connection rating [kW]; it asks for no more than the
        rating leaves above ``Φ_c``
    demand : the capacity-demand model (eqs 4.1-4.5); replaceable for tests of failures
    """

    def __init__(self, unit: str, peers: Sequence[str], coordinator: str = "coordinator", *,
                 order: str = "largest_surplus", rule: CompensationRule | None = None,
                 collect_s: int = 1, deadline_s: int = 300, connection_kw: float = math.inf,
                 demand: Callable[[CapacityDemandProblem], CapacityDemand] = capacity_demand
                 ) -> None:
        if not (isinstance(collect_s, int) and collect_s >= 0):
            raise ValueError(f"collect_s = {collect_s!r}; allowed: an integer >= 0 [s]")
        if not (isinstance(deadline_s, int) and deadline_s > collect_s):
            raise ValueError(f"deadline_s = {deadline_s!r}; allowed: an integer > collect_s [s]")
        self.unit = unit
        self.peers = [p for p in peers if p != unit]
        self.coordinator = coordinator
        self.rule = rule or CompensationRule()
        self.collect_s = collect_s
        self.deadline_s = deadline_s
        self.connection_kw = connection_kw
        self._demand = demand
        self._order: Guarded[PartnerOrder] = Guarded(
            unit, PARTNER_ORDERS, order, "largest_surplus", check_order)
        self.forecast: UnitForecast | None = None
        self._periods: dict[int, _Period] = {}
        self._now: _Period | None = None

    @property
    def fallbacks(self) -> list[Fallback]:
        """Negotiations in which the partner-order strategy failed."""
        return self._order.fallbacks

    def observe(self, forecast: UnitForecast | None) -> None:
        """The unit's forecast for the next period (from its plant and EMS), or ``None``."""
        self.forecast = forecast

    def update(self, forecast: UnitForecast, now_s: int,
               period_start_s: int | None = None) -> float:
        """An event within the current period changed the unit's forecast for its rest.

        Seed 004 4.2.1.4 names the provider's risk: EVs arriving after it gave capacity
        away can leave it short. The aggregator recomputes ``p̄`` over ``forecast`` (which
        covers ``[now_s, k + T^R)``), keeps every commitment, and records how far the new
        demand exceeds the capacity it holds; it renegotiates from the next period on.
        ``period_start_s`` names the period (default: the one allocated last, which is
        already the next one when allocations come ahead of their periods).

        Returns
        -------
        float
            the shortfall now [kW] (0 when the capacity suffices or no demand can be
            computed, the latter noted in the outcome's reason)
        """
        period = self._now if period_start_s is None else self._periods.get(period_start_s)
        if period is None:
            return 0.0
        try:
            result = self._demand(forecast.capacity_demand_problem())
        except ValueError as exc:
            period.reason = f"demand update at {now_s} s failed ({exc})"
            return 0.0
        if not result.ok:
            period.reason = (f"demand update at {now_s} s failed "
                             f"(LP {result.status}: {result.reason})")
            return 0.0
        shortfall = max(result.peak_kw - period.capacity_kw, 0.0)
        if shortfall > TOL_KW:
            period.shortfall_kw = max(period.shortfall_kw, shortfall)
            period.reason = (f"at {now_s} s the demand rose to {result.peak_kw:.6g} kW, "
                             f"{shortfall:.6g} kW above the {period.capacity_kw:.6g} kW held; "
                             f"commitments kept")
            return shortfall
        return 0.0

    def capacity_kw(self, period_start_s: int) -> float:
        """The unit's limit for a period [kW]; ``nan`` for a period it was never given."""
        period = self._periods.get(period_start_s)
        return period.capacity_kw if period else math.nan

    def outcomes(self) -> list[PeriodOutcome]:
        """One :class:`PeriodOutcome` per period so far."""
        return [
            PeriodOutcome(self.unit, p.start_s, p.allocation_kw, p.demand_kw, p.surplus_kw,
                          p.deficit_kw, p.bought_kw, p.sold_kw, p.capacity_kw, p.paid,
                          p.received, p.status, p.reason, p.shortfall_kw)
            for p in self._periods.values()
        ]

    def handle(self, msg: Message, now_s: int) -> list[Message]:
        """React to one message delivered at ``now_s`` [s]; returns the messages to send
        (timers included), all stamped ``now_s``."""
        match msg:
            case CapacityAllocation():
                return self._on_allocation(msg, now_s)
        period = self._now
        if period is None or getattr(msg, "period_start_s", period.start_s) != period.start_s:
            return []  # a message about another period: nothing to do
        match msg:
            case CapacityStatus():
                if msg.surplus_kw > TOL_KW:
                    period.peers_surplus_kw[msg.sender] = msg.surplus_kw
                return []
            case Wakeup(purpose="collect"):
                return self._start_requests(period, now_s)
            case Wakeup(purpose="deadline"):
                return self._on_deadline(period)
            case CapacityRequest():
                return self._on_request(period, msg, now_s)
            case CapacityOffer():
                return self._on_offer(period, msg, now_s)
            case RejectOffer():
                return self._on_reject(period, msg, now_s)
            case AcceptOffer(agreement=a):
                return self._on_accept(period, a, now_s)
            case Approval(agreement=a) | Rejection(agreement=a) if a.period_start_s == period.start_s:
                return self._on_decision(period, msg, a, now_s)
        return []

    def _send(self, cls: type[Message], receiver: str, time_s: int, **fields: object) -> Message:
        return cls(sender=self.unit, receiver=receiver, time_s=time_s, **fields)

    # -- period start -------------------------------------------------------------------

    def _on_allocation(self, msg: CapacityAllocation, now: int) -> list[Message]:
        period = _Period(msg.period_start_s, msg.period_s, msg.capacity_kw, msg.service_fee)
        self._periods[msg.period_start_s] = period
        self._now = period
        out = [self._send(Wakeup, self.unit, now, at_s=now + self.deadline_s,
                          period_start_s=period.start_s, purpose="deadline")]
        if not self._compute_demand(period):
            return out
        out += [self._send(CapacityStatus, peer, now, period_start_s=period.start_s,
                           demand_kw=period.demand_kw, surplus_kw=period.surplus_kw,
                           deficit_kw=period.deficit_kw) for peer in self.peers]
        if period.deficit_kw > TOL_KW:
            out.append(self._send(Wakeup, self.unit, now, at_s=now + self.collect_s,
                                  period_start_s=period.start_s, purpose="collect"))
        return out

    def _compute_demand(self, period: _Period) -> bool:
        """``p̄_c(k)``, ``δ⁺``, ``δ⁻`` into ``period``; False (status recorded) on bad input."""
        f = self.forecast
        if f is None:
            period.status, period.reason = "no_forecast", "no forecast for this period"
            return False
        if f.n_steps * f.dt_s != period.period_s:
            period.status = "bad_forecast"
            period.reason = (f"forecast covers {f.n_steps * f.dt_s} s ({f.n_steps} steps of "
                             f"{f.dt_s} s); the period is {period.period_s} s")
            return False
        try:
            result = self._demand(f.capacity_demand_problem())
        except ValueError as exc:
            period.status, period.reason = "bad_forecast", str(exc)
            return False
        if not result.ok or not math.isfinite(result.peak_kw):
            period.status = "lp_failed"
            period.reason = f"capacity-demand LP {result.status}: {result.reason}"
            return False
        period.demand_kw = result.peak_kw
        gap = period.allocation_kw - result.peak_kw
        period.surplus_kw = max(gap, 0.0) if gap > TOL_KW else 0.0
        # what more than the connection carries cannot be bought: the coordinator would refuse it
        deficit = min(max(-gap, 0.0), max(self.connection_kw - period.allocation_kw, 0.0))
        period.deficit_kw = deficit if deficit > TOL_KW else 0.0
        period.status = ("surplus" if period.surplus_kw else
                         "short" if -gap > TOL_KW else "balanced")
        period.reason = result.reason
        if -gap > deficit + TOL_KW:
            period.reason = (f"demand {result.peak_kw:.6g} kW above the connection rating "
                             f"{self.connection_kw:.6g} kW")
        return True

    # -- deficit side -------------------------------------------------------------------

    def _start_requests(self, period: _Period, now: int) -> list[Message]:
        if period.closed:
            return []
        obs = PartnerObservation(period.deficit_kw, dict(period.peers_surplus_kw))
        period.queue = list(self._order(obs, now))
        return self._ask_next(period, now)

    def _ask_next(self, period: _Period, now: int) -> list[Message]:
        if period.missing_kw <= TOL_KW:
            period.status = "covered"
            return []
        if period.closed:
            return []
        if not period.queue:
            period.status = "short"
            return []
        partner = period.queue.pop(0)
        period.n_requests += 1
        period.asked = f"{self.unit}-{period.start_s}-{period.n_requests}"
        return [self._send(CapacityRequest, partner, now, request_id=period.asked,
                           period_start_s=period.start_s, amount_kw=period.missing_kw)]

    def _on_offer(self, period: _Period, offer: CapacityOffer, now: int) -> list[Message]:
        if offer.request_id != period.asked or period.closed:
            return [self._send(RejectOffer, offer.sender, now, request_id=offer.request_id,
                               period_start_s=period.start_s, reason="offer not expected now")]
        period.asked = None
        if offer.amount_kw <= TOL_KW:
            period.reason = f"{offer.sender}: {offer.reason}"
            return self._ask_next(period, now)
        amount = min(offer.amount_kw, period.missing_kw)
        gain = -replan_cost(self.forecast, period.capacity_kw, amount)
        pay = self.rule.compensation(offer.loss, gain, period.service_fee)
        if pay is None:
            reason = (f"gain {gain:.6g} does not exceed the price {max(offer.loss, 0.0):.6g} "
                      f"plus the fee {period.service_fee:.6g}")
            period.reason = f"declined {offer.sender}: {reason}"
            return [self._send(RejectOffer, offer.sender, now, request_id=offer.request_id,
                               period_start_s=period.start_s, reason=reason),
                    *self._ask_next(period, now)]
        agreement = Agreement(
            agreement_id=offer.request_id, period_start_s=period.start_s,
            period_s=period.period_s, provider=offer.sender, consumer=self.unit,
            amount_kw=amount, compensation=pay, service_fee=period.service_fee)
        period.validating = agreement
        return [self._send(AcceptOffer, offer.sender, now, agreement=agreement)]

    def _on_reject(self, period: _Period, msg: RejectOffer, now: int) -> list[Message]:
        """As consumer: the provider refused the agreement; as provider: an offer declined."""
        if period.validating is not None and period.validating.agreement_id == msg.request_id:
            period.validating = None
            period.reason = f"{msg.sender} refused the agreement: {msg.reason}"
            return self._ask_next(period, now)
        period.reserved_kw.pop(msg.request_id, None)
        period.offer_loss.pop(msg.request_id, None)
        return []

    # -- surplus side -------------------------------------------------------------------

    def _on_request(self, period: _Period, req: CapacityRequest, now: int) -> list[Message]:
        free = period.surplus_kw - period.sold_kw - sum(period.reserved_kw.values())
        amount, loss, reason = min(req.amount_kw, free), 0.0, ""
        if period.closed:
            amount, reason = 0.0, "negotiation deadline passed"
        elif amount <= TOL_KW:
            amount, reason = 0.0, "no free surplus"
        else:
            limit = period.allocation_kw - period.sold_kw - sum(period.reserved_kw.values())
            loss = replan_cost(self.forecast, limit, -amount)
            if not math.isfinite(loss):
                amount, loss, reason = 0.0, 0.0, "cannot price the offer (no schedule)"
        if amount > 0.0:
            period.reserved_kw[req.request_id] = amount
            period.offer_loss[req.request_id] = loss
        return [self._send(CapacityOffer, req.sender, now, request_id=req.request_id,
                           period_start_s=period.start_s, amount_kw=amount, loss=loss,
                           reason=reason)]

    def _on_accept(self, period: _Period, a: Agreement, now: int) -> list[Message]:
        """Check the accepted agreement against the offer, then send it for validation.

        The provider, not the consumer, sends it to the coordinator, so an agreement the
        coordinator sees carries both parties' consent.
        """
        offered = period.reserved_kw.get(a.agreement_id)
        price = max(period.offer_loss.get(a.agreement_id, 0.0), 0.0)
        if period.closed:
            problem = "negotiation deadline passed"
        elif offered is None or a.provider != self.unit:
            problem = "no open offer of mine with this id"
        elif a.amount_kw > offered + TOL_KW:
            problem = f"amount {a.amount_kw:.6g} kW > the {offered:.6g} kW offered"
        elif a.compensation < price - 1e-9:
            problem = f"compensation {a.compensation:.6g} < the offer's price {price:.6g}"
        else:
            period.reserved_kw[a.agreement_id] = a.amount_kw  # held until the decision
            return [self._send(ValidationRequest, self.coordinator, now, agreement=a)]
        period.reserved_kw.pop(a.agreement_id, None)
        return [self._send(RejectOffer, a.consumer, now, request_id=a.agreement_id,
                           period_start_s=period.start_s, reason=problem)]

    # -- both sides ---------------------------------------------------------------------

    def _on_decision(self, period: _Period, msg: Message, a: Agreement,
                     now: int) -> list[Message]:
        approved = isinstance(msg, Approval)
        if a.provider == self.unit:
            period.reserved_kw.pop(a.agreement_id, None)
            if approved:
                period.sold_kw += a.amount_kw
                period.received += a.compensation
            return []
        if period.validating is None or period.validating.agreement_id != a.agreement_id:
            return []
        period.validating = None
        if approved:
            period.bought_kw += a.amount_kw
            period.paid += a.compensation + a.service_fee
        else:
            period.reason = f"rejected by the coordinator: {msg.reason}"
        return self._ask_next(period, now)

    def _on_deadline(self, period: _Period) -> list[Message]:
        period.closed = True
        if period.deficit_kw > TOL_KW and period.missing_kw > TOL_KW:
            waiting = ("an offer" if period.asked else
                       "the coordinator's decision" if period.validating else "")
            if waiting or period.queue:
                period.status = "deadline"
                period.reason = (f"deadline with {period.missing_kw:.6g} kW missing"
                                 + (f", still waiting for {waiting}" if waiting else ""))
        return []
