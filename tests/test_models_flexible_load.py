"""Deferrable load model (seed 004 set L, eq 3.16, as a charge-only store) and its use in the
capacity-demand LP of a unit."""

import numpy as np
import pytest

from flexcosim.agents.optim.capacity_demand import capacity_demand
from flexcosim.agents.sharing.unit import UnitForecast, deferrable_stores, join_stores
from flexcosim.cosim.models.flexible_load import DeferrableLoad

HOUR = 3600


def test_step_clips_to_power_window_and_remaining_energy():
    load = DeferrableLoad("wash", energy_kwh=3.0, max_power_kw=2.0, release_s=HOUR,
                          deadline_s=4 * HOUR)
    assert load.step(0, HOUR, 2.0) == 0.0  # before the release
    assert load.step(HOUR // 2, HOUR, 5.0) == pytest.approx(1.0)  # half the step in the window, 2 kW
    assert load.step(2 * HOUR, HOUR, 5.0) == pytest.approx(2.0)  # 2 kW cap; 1 kWh left after
    assert load.step(3 * HOUR, HOUR, 2.0) == pytest.approx(0.0)  # nothing left to deliver
    assert load.remaining_kwh == 0.0 and load.unmet_kwh(5 * HOUR) == 0.0


def test_a_missed_deadline_is_unmet_energy():
    load = DeferrableLoad("boiler", 4.0, 2.0, release_s=0, deadline_s=2 * HOUR)
    assert load.as_soon_as_possible_kw(0) == 2.0
    load.step(0, HOUR, load.as_soon_as_possible_kw(0))
    assert load.unmet_kwh(HOUR) == 0.0  # not due yet
    assert load.unmet_kwh(2 * HOUR) == pytest.approx(2.0)
    assert load.as_soon_as_possible_kw(2 * HOUR) == 0.0


@pytest.mark.parametrize(("kw", "match"), [
    (dict(energy_kwh=0.0), "energy_kwh = 0.0; allowed: finite > 0"),
    (dict(deadline_s=0), "deadline_s = 0; allowed: > release_s = 0"),
    (dict(energy_kwh=9.0), "energy_kwh = 9.0; allowed: at most max_power_kw x window = 8 kWh"),
])
def test_bad_loads_are_one_line_errors(kw, match):
    spec = dict(name="x", energy_kwh=1.0, max_power_kw=4.0, release_s=0, deadline_s=2 * HOUR)
    with pytest.raises(ValueError, match=match):
        DeferrableLoad(**(spec | kw))


def test_a_deferrable_load_raises_the_capacity_demand_by_what_is_due_in_the_period():
    # 7 kWh at up to 5 kW due at 1.5 h; the period is [0, 1 h): 7 - 5 x 0.5 = 4.5 kWh must be
    # in by its end, so p̄ = 40 + 4.5 = 44.5 kW. A load due at 3 h adds nothing to p̄.
    soon = DeferrableLoad("soon", 7.0, 5.0, release_s=0, deadline_s=HOUR + HOUR // 2)
    late = DeferrableLoad("late", 7.0, 5.0, release_s=0, deadline_s=3 * HOUR)
    stores = deferrable_stores([soon, late], start_s=0, dt_s=HOUR // 2, n_steps=2)
    np.testing.assert_allclose(stores.final_energy_kwh, [4.5, 0.0])
    unit = UnitForecast(fixed_load_kw=[40.0, 40.0], import_price_per_kwh=[0.1, 0.1],
                        dt_s=HOUR // 2, evs=join_stores(stores, stores, n_steps=2))
    assert capacity_demand(unit.capacity_demand_problem()).peak_kw == pytest.approx(49.0)
    single = UnitForecast(fixed_load_kw=[40.0, 40.0], import_price_per_kwh=[0.1, 0.1],
                          dt_s=HOUR // 2, evs=stores)
    assert capacity_demand(single.capacity_demand_problem()).peak_kw == pytest.approx(44.5)
