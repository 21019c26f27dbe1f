"""Soft site limit: it gives way to targets only, and then as evenly as possible."""

import numpy as np

from flexcosim.agents.optim.site_scheduler import OptimalScheduler
from flexcosim.agents.optim.types import SiteScheduleProblem


def _problem(overload_penalty):
    return SiteScheduleProblem(
        energy_kwh=np.zeros(2), target_energy_kwh=np.array([10.0, 10.0]),
        capacity_kwh=np.array([40.0, 40.0]), charge_max_kw=np.array([11.0, 11.0]),
        discharge_max_kw=np.zeros(2), departure_step=np.array([4, 4]), v2g=np.zeros(2, bool),
        capacity_limit_kw=np.array([8.0, 8.0, 8.0, 20.0]), price_per_kwh=np.full(4, 0.2),
        dt_s=900, efficiency=1.0, overload_penalty_per_kw=overload_penalty,
    )


def test_hard_limit_curtails_and_reports_unmet():
    s = OptimalScheduler().schedule(_problem(None))
    assert np.all(s.power_kw.sum(axis=0) <= np.array([8, 8, 8, 20]) + 1e-6)
    assert abs(s.unmet_energy_kwh.sum() - (20 - 44 * 0.25)) < 1e-6


def test_soft_limit_meets_targets_with_the_flattest_overload():
    s = OptimalScheduler().schedule(_problem(100.0))
    assert np.allclose(s.unmet_energy_kwh, 0.0, atol=1e-6)
    # 20 kWh in 1 h needs 80 kW*steps; 44 fit under the limit, 36 are overload. Step 4 can
    # take only 2 kW more (chargers 22 kW), so steps 1-3 carry 34/3 kW each.
    assert np.allclose(s.power_kw.sum(axis=0), [8 + 34 / 3] * 3 + [22.0], atol=1e-6)


def test_a_failed_site_schedule_is_reported_and_the_fallback_decides(monkeypatch):
    """A solver failure inside the aggregator's schedule must not become silent zero charging.

    The solver call is replaced to force the failure path; this is a unit test of the
    reporting, not of the optimisation.
    """
    from flexcosim.agents.optim import site_scheduler
    from flexcosim.agents.site import SiteAggregator, SiteEV, SiteObservation
    from flexcosim.agents.solver import SolveResult

    monkeypatch.setattr(site_scheduler, "solve", lambda *a, **k: SolveResult("error", message="boom"))
    agent = SiteAggregator("s", "optimal")
    ev = SiteEV("ev", energy_kwh=10.0, capacity_kwh=40.0, target_kwh=30.0, max_charge_kw=11.0,
                max_discharge_kw=0.0, departure_s=4 * 900)
    obs = SiteObservation("s", 0, 900, (ev,), charger_kw=11.0, efficiency=0.95, v2g=False,
                          capacity_kw=5.0, capacity_forecast_kw=(5.0,) * 4,
                          price_forecast_per_kwh=(0.2,) * 4)
    decision = agent.decide(obs)
    assert len(agent.fallbacks) == 1
    assert "site scheduler returned error: boom" in agent.fallbacks[0].reason
    assert decision.power_kw["ev"] == 5.0  # equal_share within the site capacity
