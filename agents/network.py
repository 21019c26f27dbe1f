"""The simulated communication network between agents: latency, loss, outages, and the log.

Every message goes through :meth:`Network.send`. The link a message uses is that of
its receiver if the scenario names one (``network.links``), else that of its sender,
else the default; so ``links: {platform: ...}`` sets every message to or from the DSO
platform. A message is **lost** with the link's loss probability, or when its sender or
receiver is in an outage window at the sending or the arrival time; otherwise it is
put into the receiver's mailbox after the link's latency (fixed, or uniform between
two values). Every message becomes one row of the log (``messages.parquet``); the
waiting role marks requests that were not answered in time (``timed out``) and replies
that came too late (``late``).

All draws come from one seeded stream, in sending order, so a run is reproducible.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import simpy

from flexcosim.agents.messages import Envelope, size_bytes

#: Outcomes of a message in the log.
DELIVERED, LOST, TIMED_OUT, LATE, IN_FLIGHT, RUN_ENDED = (
    "delivered", "lost", "timed out", "late", "in flight", "in flight at the end")


@dataclass(frozen=True)
class Link:
    """Properties of the messages on one link.

    Attributes
    ----------
    latency_s : fixed one-way delay [s]
    latency_high_s : if not ``None``, the delay is uniform in ``[latency_s, latency_high_s]`` [s]
    loss : probability that a message is lost [-]
    """

    latency_s: float = 0.0
    latency_high_s: float | None = None
    loss: float = 0.0

    def delay(self, rng: np.random.Generator) -> float:
        if self.latency_high_s is None:
            return self.latency_s
        return float(rng.uniform(self.latency_s, self.latency_high_s))


@dataclass(frozen=True)
class Outage:
    """Agent ``agent`` sends and receives nothing during ``[start_s, end_s)`` [s since start]."""

    agent: str
    start_s: float
    end_s: float


@dataclass
class NetworkConfig:
    """Default link, per-agent links, outage windows and the request/reply deadline.

    ``timeout_s`` [s] is how long a requester waits for an answer before it applies its
    fallback. Zero latency and no loss by default: messages arrive at the second they
    are sent, so a run behaves as if the roles called each other.
    """

    default: Link = field(default_factory=Link)
    links: Mapping[str, Link] = field(default_factory=dict)
    outages: Sequence[Outage] = ()
    timeout_s: float = 30.0


@dataclass
class LogRow:
    """One message in the log; times in s since start, ``received_s`` NaN if never delivered."""

    msg_id: int
    sent_s: float
    received_s: float
    sender: str
    receiver: str
    type: str
    size_bytes: int
    outcome: str
    reply_to: int


class Network:
    """Carries envelopes between mailboxes in a :class:`simpy.Environment`.

    Parameters
    ----------
    env : the agents' simulation environment (time in s since start)
    config : links, outages, deadline
    rng : the network's random stream (latency and loss draws)
    """

    def __init__(self, env: simpy.Environment, config: NetworkConfig, rng: np.random.Generator) -> None:
        self.env, self.config, self.rng = env, config, rng
        self.outages = list(config.outages)
        self.mailboxes: dict[str, simpy.Store] = {}
        self.log: list[LogRow] = []
        self._next_id = 0

    def register(self, agent: str) -> simpy.Store:
        """A mailbox for ``agent``."""
        box = simpy.Store(self.env)
        self.mailboxes[agent] = box
        return box

    def link(self, sender: str, receiver: str) -> Link:
        links = self.config.links
        return links.get(receiver) or links.get(sender) or self.config.default

    def down(self, agent: str, time_s: float) -> bool:
        return any(o.agent == agent and o.start_s <= time_s < o.end_s for o in self.outages)

    def add_outage(self, outage: Outage) -> None:
        """A further outage window, e.g. injected while stepping."""
        self.outages.append(outage)

    def set_link(self, agent: str, link: Link) -> None:
        """Change the link of ``agent`` from now on (messages in flight keep their delay)."""
        self.config.links = {**self.config.links, agent: link}

    def send(self, sender: str, receiver: str, body, reply_to: int | None = None) -> Envelope:
        """Send ``body``; returns its envelope (delivered later, or lost)."""
        now = self.env.now
        envelope = Envelope(self._next_id, sender, receiver, now, body, reply_to)
        self._next_id += 1
        link = self.link(sender, receiver)
        delay = link.delay(self.rng)
        lost = bool(link.loss > 0 and self.rng.random() < link.loss)
        arrival = now + delay
        if any(self.down(agent, t) for agent in (sender, receiver) for t in (now, arrival)):
            lost = True
        row = LogRow(envelope.msg_id, now, float("nan"), sender, receiver, type(body).__name__,
                     size_bytes(body), LOST if lost else IN_FLIGHT,
                     -1 if reply_to is None else reply_to)
        self.log.append(row)
        if not lost:
            self.env.process(self._deliver(envelope, delay, row))
        return envelope

    def _deliver(self, envelope: Envelope, delay: float, row: LogRow):
        if delay > 0:
            yield self.env.timeout(delay)
        row.received_s, row.outcome = self.env.now, DELIVERED
        yield self.mailboxes[envelope.receiver].put(envelope)

    def mark(self, msg_id: int, outcome: str) -> None:
        """Set the outcome of message ``msg_id`` (``timed out`` by a requester, ``late`` by a receiver)."""
        row = self.log[msg_id]
        if row.outcome in (DELIVERED, IN_FLIGHT):
            row.outcome = outcome

    def in_flight(self) -> list[LogRow]:
        """Messages sent and not yet delivered."""
        return [r for r in self.log if r.outcome == IN_FLIGHT]

    def close(self) -> None:
        """At the end of the run: what is still in flight will never arrive."""
        for row in self.in_flight():
            row.outcome = RUN_ENDED

    def counts(self, key: Callable[[LogRow], str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for row in self.log:
            out[key(row)] = out.get(key(row), 0) + 1
        return out
