"""Messages between agents: typed, frozen bodies in an :class:`Envelope`.

Roles never call each other's methods; everything one role tells another is one of
these bodies, carried by :class:`flexcosim.agents.network.Network` (latency, loss,
outages) and written to ``messages.parquet``. Times are seconds since the scenario
start. The seed-004 site-selection protocol (section 4.2.2.2) uses, in order::

    EMSP -> ITS        EstimateRequest         ITS -> EMSP       EstimateReply
    EMSP -> Platform   SiteSelectionRequest
    Platform -> EA     OfferRequest            EA -> Platform    OfferReply
    Platform -> EA     ReserveRequest          EA -> Platform    ReservationConfirmed
    Platform -> EMSP   SiteAssignment          (the EMSP routes the EV)

An EMSP that gave up waiting for the assignment routes the EV by its fallback and
withdraws the request (``ReservationWithdrawn``, EMSP -> Platform -> EA), so a booking
the platform made too late for it does not hold a charger and load at the site.
The DSO grid agent notifies each site aggregator (EA) with ``CapacityLimitNotice``.
Request bodies are answered with a reply envelope (``reply_to`` = the request's id);
notices need no answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the roles' modules import this one
    from flexcosim.agents.its import Estimates, RouteQuery
    from flexcosim.agents.optim.types import SiteOffer, SiteRequest


@dataclass(frozen=True)
class Reservation:
    """A charger booked for one EV.

    Attributes
    ----------
    ev, site : who and where
    arrival_s, departure_s : the booked stay [s since start]
    charge_kw : (steps of the stay,) reference grid-side schedule from the selection [kW]
    strategy : the allocation that made it ("css", "random_share", or "fallback: <why>")
    """

    ev: str
    site: str
    arrival_s: int
    departure_s: int
    charge_kw: tuple[float, ...]
    strategy: str


@dataclass(frozen=True)
class EstimateRequest:
    """EMSP asks the ITS for arrival time and SOC per candidate site."""

    ev: str
    query: RouteQuery


@dataclass(frozen=True)
class EstimateReply:
    """ITS answer to an :class:`EstimateRequest`."""

    ev: str
    estimates: Estimates


@dataclass(frozen=True)
class SiteSelectionRequest:
    """EMSP asks the DSO platform for a charging site (seed 004 section 4.2.2.2).

    Attributes
    ----------
    request : battery, limits, arrival per site, departure, target SOC (steps from ``now_s``)
    estimates : the ITS estimates the request was built from
    departure_s : the driver's departure [s since start]
    now_s : time of the trip start [s since start]
    """

    request: SiteRequest
    estimates: Estimates
    departure_s: int
    now_s: int


@dataclass(frozen=True)
class OfferRequest:
    """Platform asks one site aggregator for an offer for one EV's stay ``[arrival_s, departure_s)``."""

    request: SiteRequest
    now_s: int
    n_steps: int
    arrival_s: int
    departure_s: int


@dataclass(frozen=True)
class OfferReply:
    """A site's offer; ``free_for_stay`` chargers are unbooked over the whole stay [-]."""

    offer: SiteOffer
    free_for_stay: int


@dataclass(frozen=True)
class ReserveRequest:
    """Platform books a charger (and the reference schedule) at a site."""

    reservation: Reservation


@dataclass(frozen=True)
class ReservationConfirmed:
    """The site booked the reservation."""

    ev: str
    site: str


@dataclass(frozen=True)
class SiteAssignment:
    """Platform tells the EMSP where the EV goes.

    ``reservation.strategy`` says how the choice was made; ``booked`` is False when the
    EV parks without a confirmed reservation.
    """

    reservation: Reservation
    booked: bool


@dataclass(frozen=True)
class ReservationWithdrawn:
    """EMSP to platform, platform to the booked site: ``ev`` holds no reservation any more
    (the EMSP gave up waiting for its assignment and routed it by its fallback)."""

    ev: str


@dataclass(frozen=True)
class CapacityLimitNotice:
    """DSO grid agent to a site aggregator: draw at most ``capacity_kw`` [kW] (``inf``: no limit)."""

    site: str
    capacity_kw: float


# --- readings: what the physical simulators tell an agent (no network) ---------------


@dataclass(frozen=True)
class TripStarted:
    """From the fleet: ``ev`` started its trip at ``time_s`` [s since start] with SOC ``soc`` [-]."""

    ev: str
    time_s: int
    soc: float


@dataclass(frozen=True)
class PlantReading:
    """From the fleet: changes of the EVs parked at one site (``{ev: PluggedEV | None}``):
    the EVs that arrived, every EV there at a decision tick; ``None`` for an EV that left."""

    evs: Any


@dataclass(frozen=True)
class GridReading:
    """From the grid: the last power flow, as the DSO sees it.

    Attributes
    ----------
    loading_pct : transformer -> loading [%]
    min_voltage_pu : lowest bus voltage [p.u.]
    site_draw_kw : site -> draw at the meter [kW]
    """

    loading_pct: Any
    min_voltage_pu: float
    site_draw_kw: Any


Body = (EstimateRequest | EstimateReply | SiteSelectionRequest | OfferRequest | OfferReply
        | ReserveRequest | ReservationConfirmed | SiteAssignment | CapacityLimitNotice
        | TripStarted | PlantReading | GridReading)


@dataclass(frozen=True)
class Envelope:
    """One message on the network.

    Attributes
    ----------
    msg_id : unique per run, in sending order
    sender, receiver : agent names
    sent_s : sending time [s since start]
    body : the typed content
    reply_to : ``msg_id`` of the request this answers, ``None`` for requests and notices
    """

    msg_id: int
    sender: str
    receiver: str
    sent_s: float
    body: Body
    reply_to: int | None = None


def size_bytes(body: Body) -> int:
    """Rough encoded size of a body [bytes]: 8 bytes per number, 1 per character, summed.

    A stand-in for a wire format, so the log shows which messages are heavy (an offer
    carries its price arrays over the horizon).
    """
    return _size(body)


def _size(value: object) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, (int, float, bool)) or value is None:
        return 8
    if hasattr(value, "nbytes"):  # numpy array
        return int(value.nbytes)
    if isinstance(value, dict) or hasattr(value, "items"):
        return sum(_size(k) + _size(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return sum(_size(v) for v in value)
    if hasattr(value, "__dataclass_fields__"):
        return sum(_size(getattr(value, f)) for f in value.__dataclass_fields__)
    return 8
