"""The session gate: a simulator that every other simulator waits for, so a run can pause.

mosaik runs a World once, to its end. To step a scenario interactively the World runs
in a background thread and one extra simulator, the gate, is connected to one entity
of every other simulator (attribute ``gate``, which every model accepts and which
triggers nothing, see :func:`flexcosim.cosim.adapters.base.meta`). The gate is a hybrid
simulator that steps at the times the session pauses at, and every ``step_s`` while the
world is released (so that :meth:`StepGate.pause` can stop a release early):
``GateSim.step(t)`` blocks in :meth:`StepGate.wait` until the session releases the world
up to some ``until_s`` and returns the earlier of ``until_s`` and ``t + step_s`` as its
next step. No simulator steps ``t`` or later
before the gate has stepped ``t``, and with mosaik's lazy stepping (the default) the
gate steps ``t`` only once all its successors have finished every step before ``t``.
So while the gate waits, the session can read and change the plain-Python models
without a race, and the data flow is the one of an uninterrupted run (the gate sends
nothing but ``None``).

The world thread and the session talk over two queues: the session sends the time to
run up to (or ``None`` to stop); the world thread answers :class:`Paused`,
:class:`Finished` or :class:`Failed`.

The gate is internal to flexcosim's session (its parameter is the :class:`StepGate`, an
object shared with the session's thread): it has no JSON-safe form and no use in another
mosaik World, where ``world.run`` itself decides when to stop.
"""

from __future__ import annotations

import queue
from collections.abc import Iterable
from dataclasses import dataclass

import mosaik

from flexcosim.cosim.adapters.base import GATE_ATTR, SteppedAdapter, meta, one_entity

META = meta({"Gate": ([], [])}, kind="hybrid", persistent=[GATE_ATTR])


@dataclass(frozen=True)
class Paused:
    """The world waits before the step at ``time_s`` [s since start]."""

    time_s: int


@dataclass(frozen=True)
class Finished:
    """The world ran to the end of the scenario."""


@dataclass(frozen=True)
class Failed:
    """The world stopped on an exception (raised in the world thread)."""

    error: BaseException


class SessionClosed(Exception):
    """Raised inside the world thread to end a run the session closed early."""


class StepGate:
    """The two queues between a session and its world thread.

    ``wait`` runs in the world thread; ``release`` and ``report`` in the session's.
    """

    def __init__(self) -> None:
        self.commands: queue.Queue[int | None] = queue.Queue()
        self.reports: queue.Queue[Paused | Finished | Failed] = queue.Queue()
        self._until_s = 0

    def wait(self, time_s: int) -> int:
        """Block until the session allows the step at ``time_s``; raise if it closes.

        Returns the time [s] the session released the world up to (the next pause).
        """
        until_s = self._until_s  # read once: pause() may set it to 0 from another thread
        while time_s >= until_s:
            self.reports.put(Paused(time_s))
            until_s = self.commands.get()
            if until_s is None:
                raise SessionClosed
            self._until_s = until_s
        return until_s

    def release(self, until_s: int | None) -> None:
        """Let the world run every step before ``until_s`` [s]; ``None`` ends it."""
        self.commands.put(until_s)

    def pause(self) -> None:
        """Stop a release early: the world pauses before its next step (from any thread)."""
        self._until_s = 0

    def report(self) -> Paused | Finished | Failed:
        """The world thread's next report (blocks until there is one)."""
        return self.reports.get()


class GateSim(SteppedAdapter):
    def __init__(self) -> None:
        super().__init__(META)

    def setup(self, gate: StepGate, end_s: int) -> None:
        self.gate, self.end_s = gate, end_s

    def create(self, num: int, model: str):
        one_entity(num, model)
        self.outputs["gate"] = {GATE_ATTR: None}
        return [{"eid": "gate", "type": model}]

    def step(self, time: int, inputs, max_advance: int) -> int | None:
        if time >= self.end_s:
            return None
        until_s = self.gate.wait(time)
        # while released, wake at least every step_s, so that a pause (Ctrl-C) takes hold there
        nxt = min(until_s, time + self.step_s)
        return nxt if nxt < self.end_s else None


def connect_gate(world: mosaik.World, gate: StepGate, step_s: int, end_s: int,
                 entities: Iterable[mosaik.scenario.Entity]) -> None:
    """Start the gate and make one entity of each simulator among ``entities`` wait for it;
    ``end_s``: the scenario's end [s], where the gate stops pausing."""
    gate_entity = world.start("Gate", step_s=step_s, gate=gate, end_s=end_s).Gate()
    first_of_sim = {}
    for entity in entities:
        first_of_sim.setdefault(entity.sid, entity)
    for entity in first_of_sim.values():
        world.connect(gate_entity, entity, GATE_ATTR)
