"""The capacity-sharing roles on the message layer: simpy processes that move messages.

The decisions are the plain state machines' (:class:`~.coordinator.FTMCoordinator`,
:class:`~.aggregator.EnergyAggregator`); these roles only carry their messages over the
simulated network (:mod:`flexcosim.agents.network`: latency, loss, outages, the
``messages.parquet`` log) and deliver their timers. Every protocol message a role sends
is also appended, in sending order, to the agreement record (:class:`SharingLog`, written
as the hash-chained ``agreements.jsonl`` of :mod:`.record`).

:class:`CoordinatorRole`
    a simpy process sends ``Φ_c(k)`` for the period ``[k, k + T^R)`` at ``k - lead_s``
    (the first period is not negotiated: every unit starts with its share of the
    default split); answers validation requests; keeps the units' usage reports.
:class:`UnitRole`
    one per unit: on ``Φ_c(k)`` it gives its aggregator the forecast of the coming
    period, then hands it every protocol message; on each EMS tick (from the mosaik
    adapter) it schedules the unit with the BTM EMS under the period's capacity; an
    arrival within a period is an event that re-plans and, if the unit gave capacity
    away, may leave it short (:meth:`EnergyAggregator.update`); at the first tick of a
    period it reports its peak planned draw of the period before to the coordinator.

Bad input never stops the run: a period without ``Φ_c`` (the coordinator's link down)
or without a negotiation result runs on the unit's default share; a failed EMS plan
idles the flexible assets; each is a :class:`~flexcosim.agents.registry.Fallback`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from flexcosim.agents.messages import Envelope
from flexcosim.agents.processes import Process, Role
from flexcosim.agents.registry import Fallback
from flexcosim.agents.sharing.aggregator import EnergyAggregator
from flexcosim.agents.sharing.coordinator import FTMCoordinator
from flexcosim.agents.sharing.messages import CapacityAllocation, Message, UsageReport, Wakeup
from flexcosim.agents.sharing.plant import UnitPlant, UnitSetpoints, UnitState, idle
from flexcosim.agents.sharing.record import AgreementRecord


class SharingLog:
    """Every protocol message sent, in order; written to a hash-chained record at the end."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    def append(self, msg: Message) -> None:
        if not isinstance(msg, Wakeup):
            self.messages.append(msg)

    def write(self, path: Path) -> int:
        """Append the messages to the record at ``path``; returns how many were written."""
        record = AgreementRecord(path)
        return sum(record.append(m) for m in self.messages)


class _SharingRole(Role):
    """Sends protocol messages over the network and records them; delivers its own timers."""

    def __init__(self, name: str, log: SharingLog) -> None:
        super().__init__(name)
        self.log = log

    def send(self, messages: Sequence[Message]) -> None:
        for msg in messages:
            if isinstance(msg, Wakeup):
                self.runtime.start(self._timer(msg))
            else:
                self.log.append(msg)
                self.notify(msg.receiver, msg)

    def _timer(self, msg: Wakeup) -> Process:
        yield self.env.timeout(max(msg.at_s - self.env.now, 0))
        self.mailbox.put(Envelope(-1, self.name, self.name, self.env.now, msg))


class CoordinatorRole(_SharingRole):
    """The FTM coordinator on the network (see the module docstring); it keeps each unit's
    last reported peak draw for the ``previous_use`` split.

    Parameters
    ----------
    coordinator : the state machine
    log : the agreement log
    period_starts : ``k`` of every negotiated period [s since start]
    lead_s : ``Φ_c(k)`` leaves at ``k - lead_s`` [s]
    """

    def __init__(self, coordinator: FTMCoordinator, log: SharingLog,
                 period_starts: Sequence[int], lead_s: int) -> None:
        super().__init__(coordinator.name, log)
        self.coordinator = coordinator
        self.period_starts, self.lead_s = list(period_starts), lead_s
        self.previous_use_kw: dict[str, float] = {}

    def attach(self, runtime) -> None:
        super().attach(runtime)
        runtime.start(self._periods(), main=True)

    def _periods(self) -> Process:
        for k in self.period_starts:
            yield self.env.timeout(max(k - self.lead_s - self.env.now, 0))
            self.send(self.coordinator.start_period(k, dict(self.previous_use_kw),
                                                    sent_s=int(self.env.now)))

    def handle(self, envelope: Envelope) -> None:
        match envelope.body:
            case UsageReport(sender=unit, peak_kw=kw):
                self.previous_use_kw[unit] = kw  # a lost report leaves the last one known
            case Message() as msg:
                self.send(self.coordinator.handle(msg, int(self.env.now)))


class UnitRole(_SharingRole):
    """One unit's energy aggregator with its BTM EMS (see the module docstring).

    Parameters
    ----------
    aggregator : the state machine (its ``unit`` is the role's name)
    plant : the unit's fixed facts
    log : the agreement log
    default_kw : the unit's share of the default split: its capacity in a period for
        which no ``Φ_c`` arrived [kW]
    period_s : sharing period [s]
    """

    def __init__(self, aggregator: EnergyAggregator, plant: UnitPlant, log: SharingLog,
                 default_kw: float, period_s: int) -> None:
        super().__init__(aggregator.unit, log)
        self.aggregator, self.plant = aggregator, plant
        self.default_kw, self.period_s = default_kw, period_s
        self.state = UnitState()
        self.setpoints: UnitSetpoints | None = None
        self.capacity_kw = default_kw  # capacity of the step decided last
        self.fallbacks: list[Fallback] = []
        self._no_allocation: set[int] = set()
        self._peak_kw: dict[int, float] = {}  # period start -> peak planned draw [kW]

    def handle(self, envelope: Envelope) -> None:
        msg = envelope.body
        if not isinstance(msg, Message):
            return
        now = int(self.env.now)
        if isinstance(msg, CapacityAllocation):
            end = msg.period_start_s + msg.period_s
            try:
                forecast = self.plant.forecast(self.state, msg.period_start_s, end)
            except ValueError:  # e.g. a load or PV forecast missing (NaN): the EA records it
                forecast = None
            self.aggregator.observe(forecast)
        self.send(self.aggregator.handle(msg, now))

    def period_capacity_kw(self, time_s: int) -> float:
        """The unit's capacity for the period holding ``time_s`` [kW]: ``Φ_c`` plus
        approved agreements, or its default share when no ``Φ_c`` arrived (recorded)."""
        k = time_s - time_s % self.period_s
        kw = self.aggregator.capacity_kw(k)
        if math.isfinite(kw):
            return kw
        if k > 0 and k not in self._no_allocation:
            self._no_allocation.add(k)
            self.fallbacks.append(Fallback(time_s, self.name, "capacity_sharing",
                                           "no capacity allocation for this period",
                                           f"default share {self.default_kw:.6g} kW"))
        return self.default_kw

    def arrived(self, time_s: int) -> None:
        """EVs arrived within a period: the aggregator checks the rest of the period
        against the capacity it holds (a provider may now be short, seed 004 4.2.1.4).
        The new EVs charge from the next EMS tick on."""
        k = time_s - time_s % self.period_s
        try:
            forecast = self.plant.forecast(self.state, time_s, k + self.period_s)
        except ValueError:
            return  # no forecast, no demand to compare; the next period starts afresh
        self.aggregator.update(forecast, time_s, k)

    def tick(self, time_s: int) -> None:
        """Decide the unit's set-points for the step from ``time_s`` with the BTM EMS."""
        capacity = self.period_capacity_kw(time_s)
        end = time_s - time_s % self.period_s + self.period_s
        try:
            setpoints, why = self.plant.schedule(self.state, time_s, end, capacity)
        except ValueError as exc:  # the unit's forecast is missing or invalid
            setpoints, why = None, f"no forecast: {exc}"
        if setpoints is None:
            self.fallbacks.append(Fallback(time_s, self.name, "btm_ems", why,
                                           f"capacity {capacity:.6g} kW"))
            setpoints = idle(self.plant, self.state)
        self.setpoints, self.capacity_kw = setpoints, capacity
        k = end - self.period_s
        if math.isfinite(setpoints.import_kw):
            self._peak_kw[k] = max(self._peak_kw.get(k, 0.0), setpoints.import_kw)
        if time_s == k and k - self.period_s in self._peak_kw:  # the last period has ended
            self.send([UsageReport(sender=self.name, receiver=self.aggregator.coordinator,
                                   time_s=time_s, period_start_s=k - self.period_s,
                                   peak_kw=self._peak_kw.pop(k - self.period_s))])
