"""Agents as simpy processes: a mailbox per role, request/reply with a deadline, notices.

A :class:`Role` owns a mailbox on the :class:`~flexcosim.agents.network.Network`. Its
main process takes envelopes out of the mailbox: a reply wakes the handler waiting for
it; anything else starts a new handler process (:meth:`Role.handle`), so a platform
serves many requests at once. Handlers talk only through :meth:`Role.ask` (request,
wait for the reply until the deadline; ``None`` on timeout or loss, which the caller
turns into its fallback), :meth:`Role.ask_all` (several requests, one deadline) and
:meth:`Role.notify` (no answer expected).

Readings from the physical simulators (a trip start, the EVs on a site's chargers, a
power flow) are not network messages: :meth:`AgentRuntime.sense` puts them straight
into the role's mailbox at the time mosaik delivers them.

:class:`AgentRuntime` owns the :class:`simpy.Environment`; on every step the mosaik
adapter calls :meth:`AgentRuntime.advance` with mosaik's time, hands in the readings,
lets the agents react (:meth:`AgentRuntime.settle`) and asks
:meth:`AgentRuntime.next_time` for its next step (the earliest pending simpy event).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Generator, Iterable
from typing import Any

import simpy

from flexcosim.agents.messages import Envelope
from flexcosim.agents.network import LATE, TIMED_OUT, Network

Process = Generator[simpy.Event, Any, Any]


class Role:
    """Base of every agent role; subclasses implement :meth:`handle`.

    Attributes
    ----------
    name : agent name (the network address)
    activations : envelopes and readings handled so far (the role's "agent steps")
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.activations = 0
        self._waiting: dict[int, simpy.Event] = {}

    def attach(self, runtime: AgentRuntime) -> None:
        self.runtime, self.env, self.network = runtime, runtime.env, runtime.network
        self.mailbox = self.network.register(self.name)
        runtime.start(self._main(), main=True)

    def _main(self) -> Process:
        while True:
            envelope = yield self.mailbox.get()
            self.activations += 1
            if envelope.reply_to is not None:
                waiter = self._waiting.pop(envelope.reply_to, None)
                if waiter is None:
                    self.network.mark(envelope.msg_id, LATE)
                else:
                    waiter.succeed(envelope.body)
                continue
            work = self.handle(envelope)
            if work is not None:
                self.runtime.start(work)

    def handle(self, envelope: Envelope) -> Process | None:
        """React to one request, notice or reading.

        Return ``None`` when done at once, or a generator that waits (for replies), which
        runs as its own simpy process.
        """
        raise NotImplementedError

    # --- talking -------------------------------------------------------------------------

    def notify(self, to: str, body) -> None:
        """Send ``body`` to ``to``; no answer expected."""
        self.network.send(self.name, to, body)

    def reply(self, request: Envelope, body) -> None:
        self.network.send(self.name, request.sender, body, reply_to=request.msg_id)

    def ask(self, to: str, body, timeout_s: float | None = None) -> Process:
        """Send a request and wait for the reply; returns its body, or ``None`` after the deadline."""
        replies = yield from self.ask_all([(to, body)], timeout_s)
        return replies.get(to)

    def ask_all(self, requests: Iterable[tuple[str, Any]], timeout_s: float | None = None) -> Process:
        """Send several requests at once; returns ``{receiver: reply body}`` of those answered in time.

        Unanswered requests are marked ``timed out`` in the log.
        """
        deadline = self.network.config.timeout_s if timeout_s is None else timeout_s
        pending = {}
        for to, body in requests:
            envelope = self.network.send(self.name, to, body)
            event = self.env.event()
            self._waiting[envelope.msg_id] = event
            pending[envelope.msg_id] = (to, event)
        events = [event for _, event in pending.values()]
        if events:
            yield self.env.all_of(events) | self.env.timeout(deadline)
        replies = {}
        for msg_id, (to, event) in pending.items():
            if event.triggered:
                replies[to] = event.value
            else:
                self._waiting.pop(msg_id, None)
                self.network.mark(msg_id, TIMED_OUT)
        return replies


class AgentRuntime:
    """The agents' simpy environment, network and roles (see the module docstring).

    Parameters
    ----------
    network : the network (its ``env`` is the environment every role runs in)
    roles : the agents; each gets a mailbox and a main process
    """

    def __init__(self, network: Network, roles: Iterable[Role]) -> None:
        self.network, self.env = network, network.env
        self.roles = {}
        self.processes: list[simpy.Process] = []
        self._mains: set[simpy.Process] = set()
        for role in roles:
            self.roles[role.name] = role
            role.attach(self)

    def start(self, process: Process, main: bool = False) -> simpy.Process:
        """Run ``process`` in the environment; it ends quietly when the run closes.

        ``main``: a role's mailbox loop, idle by design, not counted as pending work.
        """
        proc = self.env.process(_quiet(process))
        self.processes = [p for p in self.processes if p.is_alive]
        self.processes.append(proc)
        if main:
            self._mains.add(proc)
        return proc

    def sense(self, agent: str, reading) -> None:
        """Put a reading from a physical simulator into ``agent``'s mailbox now (no network)."""
        self.roles[agent].mailbox.put(Envelope(-1, "plant", agent, self.env.now, reading))

    def advance(self, time_s: float) -> None:
        """Process every event before ``time_s`` [s since start] and set the clock to it."""
        if time_s > self.env.now:
            self.env.run(until=time_s)

    def settle(self) -> None:
        """Process every event due now, including those they trigger at this time."""
        while self.env.peek() <= self.env.now:
            self.env.step()

    def next_time(self) -> float:
        """Time of the earliest pending event someone waits for [s], ``inf`` if there is none.

        simpy cannot cancel an event: the deadline of a request whose replies all came in
        stays in the queue with nobody waiting for it (its condition removed its callback).
        Processing it would only move the clock, so it is dropped here rather than cost
        the agents a mosaik step at a time when nothing happens. (simpy keeps its queue in
        the private ``_queue``, a heap of ``(time, priority, id, event)``; simpy < 5.)
        """
        queue = self.env._queue
        while queue and isinstance(queue[0][3], simpy.Timeout) and not queue[0][3].callbacks:
            heapq.heappop(queue)
        return self.env.peek()

    def pending(self) -> list[simpy.Process]:
        """Processes still alive, except the roles' idle mailbox loops."""
        return [p for p in self.processes if p.is_alive and p not in self._mains]

    def close(self) -> None:
        """End the run: in-flight messages are marked, every process is stopped."""
        self.network.close()
        for proc in self.processes:
            if proc.is_alive:
                proc.interrupt("run ended")
        while self.env.peek() < math.inf:
            try:
                self.env.step()
            except KeyboardInterrupt:  # the Ctrl-C that ended the run, re-raised by its process
                continue

    def activations(self) -> dict[str, int]:
        return {name: role.activations for name, role in self.roles.items()}


def _quiet(process: Process) -> Process:
    try:
        return (yield from process)
    except simpy.Interrupt:
        return None

