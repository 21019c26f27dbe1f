"""The coordinator role on the message layer: Φ_c(k) ahead of the period, the
``previous_use`` split from the units' usage reports, a lost report (no mosaik)."""

import numpy as np
import simpy

from flexcosim.agents.network import Network, NetworkConfig
from flexcosim.agents.processes import AgentRuntime, Role
from flexcosim.agents.sharing.coordinator import FTMCoordinator
from flexcosim.agents.sharing.messages import CapacityAllocation, UsageReport
from flexcosim.agents.sharing.roles import CoordinatorRole, SharingLog


class Unit(Role):
    """Keeps what it receives."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.got = []

    def handle(self, envelope) -> None:
        self.got.append((self.env.now, envelope.body))

    def report(self, period_start_s: int, peak_kw: float) -> None:
        self.notify("coordinator", UsageReport(sender=self.name, receiver="coordinator",
                                               time_s=int(self.env.now),
                                               period_start_s=period_start_s, peak_kw=peak_kw))


def world(split: str):
    env = simpy.Environment()
    network = Network(env, NetworkConfig(), np.random.default_rng(0))
    log = SharingLog()
    coordinator = FTMCoordinator({"a": 100.0, "b": 100.0}, 120.0, 900, split=split)
    units = [Unit("a"), Unit("b")]
    runtime = AgentRuntime(network, [CoordinatorRole(coordinator, log, [900, 1800], 300), *units])
    return runtime, units, log


def allocations(unit: Unit) -> list[tuple[float, float]]:
    return [(t, m.capacity_kw) for t, m in unit.got if isinstance(m, CapacityAllocation)]


def test_previous_use_splits_by_the_reported_peaks_and_keeps_the_last_on_loss():
    runtime, (a, b), log = world("previous_use")
    a.report(0, 30.0)
    b.report(0, 90.0)
    runtime.advance(601)
    runtime.settle()
    # Φ_c(900) leaves at 900 - 300 s: 120 kW split 30 : 90
    assert allocations(a) == [(600, 30.0)] and allocations(b) == [(600, 90.0)]
    a.report(900, 60.0)  # b's report of this period is lost: its last one (90) stays
    runtime.advance(1501)
    runtime.settle()
    assert allocations(a)[-1] == (1500, 120.0 * 60 / 150) and allocations(b)[-1] == (1500, 72.0)
    assert [type(m).__name__ for m in log.messages].count("CapacityAllocation") == 4


def test_proportional_split_ignores_the_reports():
    runtime, (a, b), _ = world("proportional")
    a.report(0, 10.0)
    runtime.advance(601)
    runtime.settle()
    assert allocations(a) == [(600, 60.0)] and allocations(b) == [(600, 60.0)]
