"""Messages of the capacity-sharing protocol (seed 004 section 4.2.1.1, Fig. 2, and 4.2.1.4).

One sharing period ``[k, k + T^R)`` runs::

    coordinator --CapacityAllocation(Φ_c(k))--> every aggregator
    aggregator  --CapacityStatus(δ⁺ or δ⁻)-->   every other aggregator
    deficit EA  --CapacityRequest-->            surplus EA
    surplus EA  --CapacityOffer-->              deficit EA
    deficit EA  --AcceptOffer / RejectOffer-->  surplus EA
    surplus EA  --ValidationRequest-->          coordinator  (or RejectOffer back if the
                                                               agreement is not its offer)
    coordinator --Approval / Rejection-->       both EAs
    coordinator --Settlement-->                 payer (consumer), per payment
    aggregator  --UsageReport-->                coordinator (its peak draw in a past period)

:class:`Wakeup` is a timer a role sets for itself (the aggregator's collection window
and negotiation deadline); the message layer delivers it at ``at_s``.

All messages are frozen, keyword-only dataclasses; times are integer seconds since the
start of the run, powers kW, money in the currency of the price signals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, kw_only=True)
class Message:
    """Common header: who sends, who receives, when it was sent [s since start]."""

    sender: str
    receiver: str
    time_s: int


@dataclass(frozen=True, kw_only=True)
class CapacityAllocation(Message):
    """The coordinator's initial capacity ``Φ_c(k)`` for one unit and period.

    Attributes
    ----------
    period_start_s : ``k`` [s since start]; period_s : ``T^R`` [s]
    capacity_kw : ``Φ_c(k)`` [kW]
    service_fee : what the DSO charges the consumer per validated agreement [currency]
    """

    period_start_s: int
    period_s: int
    capacity_kw: float
    service_fee: float


@dataclass(frozen=True, kw_only=True)
class CapacityStatus(Message):
    """An aggregator's surplus ``δ⁺ = Φ - p̄`` or deficit ``δ⁻ = p̄ - Φ`` (4.2.1.4) [kW].

    Both are >= 0 and at most one is > 0; ``demand_kw`` is ``p̄_c(k)`` from eqs 4.1-4.5.
    """

    period_start_s: int
    demand_kw: float
    surplus_kw: float
    deficit_kw: float


@dataclass(frozen=True, kw_only=True)
class CapacityRequest(Message):
    """A deficit aggregator asks a surplus aggregator for ``amount_kw`` [kW]."""

    request_id: str
    period_start_s: int
    amount_kw: float


@dataclass(frozen=True, kw_only=True)
class CapacityOffer(Message):
    """The surplus aggregator's answer: up to its free surplus, at its re-plan cost.

    Attributes
    ----------
    amount_kw : capacity offered [kW]; 0 declines (``reason`` says why)
    loss : the provider's cost of giving ``amount_kw`` up (re-plan cost, see
        :func:`flexcosim.agents.sharing.unit.replan_cost`) [currency]
    """

    request_id: str
    period_start_s: int
    amount_kw: float
    loss: float
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class Agreement:
    """Capacity moved from ``provider`` to ``consumer`` for one period, and its price.

    Attributes
    ----------
    agreement_id : unique id (the request's id)
    period_start_s, period_s : the sharing period [s]
    provider, consumer : unit names
    amount_kw : capacity moved [kW]
    compensation : consumer -> provider [currency]
    service_fee : consumer -> DSO [currency]
    """

    agreement_id: str
    period_start_s: int
    period_s: int
    provider: str
    consumer: str
    amount_kw: float
    compensation: float
    service_fee: float


@dataclass(frozen=True, kw_only=True)
class AcceptOffer(Message):
    """The deficit aggregator takes the offer; the provider checks it and sends it on."""

    agreement: Agreement


@dataclass(frozen=True, kw_only=True)
class RejectOffer(Message):
    """An offer turned down by the deficit aggregator (it would not be better off), or an
    accepted agreement refused by the provider (it does not match the offer)."""

    request_id: str
    period_start_s: int
    reason: str


@dataclass(frozen=True, kw_only=True)
class ValidationRequest(Message):
    """An agreement both parties consented to, sent by the provider for the grid check (4.2.1.1)."""

    agreement: Agreement


@dataclass(frozen=True, kw_only=True)
class Approval(Message):
    """The coordinator validated ``agreement``; both units' capacities change for the period."""

    agreement: Agreement


@dataclass(frozen=True, kw_only=True)
class Rejection(Message):
    """The coordinator refused ``agreement``; ``reason`` names the check that failed."""

    agreement: Agreement
    reason: str


@dataclass(frozen=True, kw_only=True)
class Settlement(Message):
    """One payment of a validated agreement, from ``payer`` to ``payee`` [currency]."""

    agreement_id: str
    payer: str
    payee: str
    amount: float
    purpose: Literal["compensation", "service_fee"]


@dataclass(frozen=True, kw_only=True)
class UsageReport(Message):
    """A unit tells the coordinator its peak draw in a period that has ended [kW], for the
    ``previous_use`` split (the peak of what its EMS scheduled)."""

    period_start_s: int
    peak_kw: float


@dataclass(frozen=True, kw_only=True)
class Wakeup(Message):
    """A timer a role sets for itself; delivered at ``at_s`` [s since start]."""

    at_s: int
    period_start_s: int
    purpose: Literal["collect", "deadline"]

