"""A site agent deciding without a new reading knows each EV's energy from what it ordered."""

import numpy as np
import pytest
import simpy

from flexcosim.agents.messages import PlantReading
from flexcosim.agents.network import Network, NetworkConfig
from flexcosim.agents.processes import AgentRuntime
from flexcosim.agents.site import SiteAggregator
from flexcosim.agents.site_agent import SiteAgent, SitePlant
from flexcosim.cosim.models.charger import PluggedEV

STEP = 900

RECORDING = '''
from flexcosim.agents.site import SiteSetpoints

class Recording:
    """11 kW for EV "a" until 44 kWh, deciding again every 900 s; keeps the energies it saw."""
    seen = []

    def decide(self, obs):
        energy = obs.evs[0].energy_kwh
        Recording.seen.append((obs.time_s, energy))
        return SiteSetpoints({"a": 11.0 if energy < 44.0 else 0.0}, obs.time_s + 900)
'''


def run_agent(tmp_path, readings: dict[int, float]) -> list[tuple[int, float]]:
    """Readings of EV "a" (SOC, 50 kWh battery) at the given times; 1 h of decisions."""
    (tmp_path / "recording.py").write_text(RECORDING)
    aggregator = SiteAggregator("s", "recording.py:Recording", base_dir=tmp_path)
    agent = SiteAgent(aggregator, SitePlant(charger_kw=11.0, efficiency=0.9, v2g=False), None,
                      {"a": 45.0}, {"a": 4 * 3600}, STEP, 4 * 3600)
    runtime = AgentRuntime(Network(simpy.Environment(), NetworkConfig(), np.random.default_rng(0)), [agent])
    for t in range(0, 3601, 300):
        runtime.advance(t)
        if t in readings:
            runtime.sense("agg_s", PlantReading({"a": PluggedEV("a", readings[t], 50.0, 11.0, 0.0, 0.1, 0.9)}))
        runtime.settle()
    return type(aggregator.guarded.strategy).seen


def test_a_timer_decision_sees_the_energy_its_orders_charged(tmp_path):
    seen = run_agent(tmp_path, {0: 0.4})
    # 20 kWh read at 0; then 11 kW x 0.9 for each 900 s: +2.475 kWh per step
    assert seen == [(0, 20.0), (900, pytest.approx(22.475)), (1800, pytest.approx(24.95)),
                    (2700, pytest.approx(27.425)), (3600, pytest.approx(29.9))]


def test_a_reading_replaces_what_the_agent_projected(tmp_path):
    seen = run_agent(tmp_path, {0: 0.4, 1200: 0.5})  # the EV charged more than projected (23.3 kWh)
    assert seen[:3] == [(0, 20.0), (900, pytest.approx(22.475)), (1200, 25.0)]
    assert seen[3] == (2100, pytest.approx(27.475))
