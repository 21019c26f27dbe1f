"""Runs one sharing period in process: the roles exchange messages without a co-simulation.

A reference delivery for tests, notebooks and the docs: zero latency, messages in the
order they were sent, timers at their ``at_s``, nothing lost unless ``lost`` says so.
In a co-simulation the message layer (simulated network with latency, loss and outages)
delivers the same messages to the same ``handle`` methods instead.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Mapping

from flexcosim.agents.sharing.aggregator import EnergyAggregator
from flexcosim.agents.sharing.coordinator import FTMCoordinator
from flexcosim.agents.sharing.messages import Message, Wakeup
from flexcosim.agents.sharing.record import AgreementRecord


def run_period(coordinator: FTMCoordinator, aggregators: Mapping[str, EnergyAggregator],
               time_s: int, *, record: AgreementRecord | None = None,
               lost: Callable[[Message], bool] | None = None,
               previous_use_kw: Mapping[str, float] | None = None) -> list[Message]:
    """Start a period at ``time_s`` [s] and deliver messages until none are left.

    Parameters
    ----------
    coordinator : the FTM coordinator
    aggregators : unit -> its aggregator
    time_s : start of the period ``k`` [s since start]
    record : if given, every delivered message is appended to it
    lost : ``lost(msg)`` True drops ``msg`` (a lossy link, a silent role)
    previous_use_kw : unit -> peak draw in the previous period, for the split [kW]

    Returns
    -------
    list of Message
        the delivered messages in delivery order
    """
    queue: list[tuple[int, int, Message]] = []
    order = itertools.count()

    def send(messages: list[Message]) -> None:
        for msg in messages:
            at = msg.at_s if isinstance(msg, Wakeup) else msg.time_s
            heapq.heappush(queue, (at, next(order), msg))

    send(coordinator.start_period(time_s, previous_use_kw))
    delivered: list[Message] = []
    while queue:
        at, _, msg = heapq.heappop(queue)
        if lost is not None and lost(msg):
            continue
        delivered.append(msg)
        if record is not None:
            record.append(msg)
        if msg.receiver == coordinator.name:
            send(coordinator.handle(msg, at))
        elif msg.receiver in aggregators:
            send(aggregators[msg.receiver].handle(msg, at))
    return delivered
