"""Soft site limit: it gives way to targets only, and then as evenly as possible."""

import numpy as np

from agents.optim.site_scheduler import OptimalScheduler
from agents.optim.types import SiteScheduleProblem


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
