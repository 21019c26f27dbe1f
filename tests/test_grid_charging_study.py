"""Seed-002 study pieces: heating base load, its calibration, and the KPIs of one EV share."""

import copy
import dataclasses

import numpy as np
import pytest
import simbench as sb

from flexcosim.agents.grid_optim.charging_study import (
    PRICE_DAYS,
    evaluate_share,
    first_overload_share,
    large_feeder_problem,
)
from flexcosim.grids import build_grid
from flexcosim.grids.large_feeder import (
    HEATING_SCALE,
    SEED_BASE_LOAD_PEAK_LOADING,
    SEED_WINDOW,
    base_load_peak,
    build_large_feeder,
    calibrate_heating_scale,
    heating_profile,
    load_profiles,
)

FIRST, N = SEED_WINDOW


@pytest.fixture(scope="module")
def rural():
    """SimBench rural LV grid with its own loads (3 households, 10 farms) and PV."""
    return build_grid("simbench_feeder", keep_loads=True)


def test_heating_profile_replaces_only_household_profiles(rural):
    net = rural.net
    plain_p, _ = load_profiles(net, FIRST, N)
    heat_p, heat_q = load_profiles(net, FIRST, N, heating_scale=2.0)
    h0h = heating_profile().iloc[FIRST:FIRST + N]
    own = sb.get_absolute_values(net, profiles_instead_of_study_cases=True)[("load", "p_mw")]
    homes = net.load.index[net.load.profile.str.startswith("H0")]
    assert len(homes) == 3
    for i in homes:
        bus = net.load.bus[i]
        assert (net.load.bus == bus).sum() == 1
        expected = plain_p[bus].to_numpy() - own[i].iloc[FIRST:FIRST + N].to_numpy() \
            + 2.0 * net.load.p_mw[i] * h0h["p"].to_numpy()
        assert heat_p[bus].to_numpy() == pytest.approx(expected)
        assert heat_q[bus].to_numpy() == pytest.approx(2.0 * net.load.q_mvar[i] * h0h["q"].to_numpy())
    farms = set(net.load.bus) - set(net.load.bus[homes])
    for bus in farms:
        assert heat_p[bus].to_numpy() == pytest.approx(plain_p[bus].to_numpy())
    with pytest.raises(ValueError, match="heating_scale=-1"):
        load_profiles(net, FIRST, N, heating_scale=-1)


def test_calibration_hits_the_target_loading_in_ac(rural):
    window = (FIRST + 28, 8)  # 19:00-21:00, the evening peak
    scale = calibrate_heating_scale(rural.net, target_loading=0.3, window=window)
    peak, v_min = base_load_peak(rural.net, *load_profiles(rural.net, *window, heating_scale=scale))
    assert peak == pytest.approx(0.3, abs=0.005)
    assert 0.9 < v_min <= 1.05
    with pytest.raises(ValueError, match="target_loading=5"):
        calibrate_heating_scale(rural.net, target_loading=5.0, window=window)


def test_share_kpis_overload_uncontrolled_and_c_stays_ac_feasible(rural):
    grid = dataclasses.replace(rural, net=copy.deepcopy(rural.net))
    grid.net.trafo.loc[:, "sn_mva"] = 0.05  # a 50 kVA transformer: 17 EVs overload it
    problem = large_feeder_problem(grid, heating_scale=3.0)
    a = evaluate_share(problem, grid.net, "a", 1.0, PRICE_DAYS)
    b = evaluate_share(problem, grid.net, "b", 1.0, PRICE_DAYS)
    c = evaluate_share(problem, grid.net, "c", 1.0, PRICE_DAYS)
    none = evaluate_share(problem, grid.net, "a", 0.0, PRICE_DAYS)
    assert (a.n_evs, none.n_evs) == (17, 0) and none.ev_energy_mwh == 0.0
    assert a.overloaded and a.violation_hours > 0 and not a.ac_ok
    assert c.ac_ok and not c.overloaded and c.violation_hours == 0.0
    assert c.unmet_energy_kwh == pytest.approx(0.0, abs=1e-6)
    assert c.ev_energy_mwh == pytest.approx(a.ev_energy_mwh, rel=1e-9)
    # b and c move the charging to cheaper hours; the grid limits cost c a little
    assert b.cost["NO3"] < c.cost["NO3"] < a.cost["NO3"]
    assert b.overloaded  # the rebound of cost-optimal charging in the cheapest hours
    for k in (a, c, none):  # slack import = load + AC losses, losses of a few %
        assert 0 < k.losses_mwh < 0.1 * k.energy_mwh
        base = problem.base_p_mw.sum() * problem.step_h
        assert k.energy_mwh == pytest.approx(base + k.ev_energy_mwh + k.losses_mwh)
        mean_price = {name: np.mean(p) for name, p in PRICE_DAYS.items()}
        for name, cost in k.cost.items():  # cost / energy is a price within the day's range
            assert min(PRICE_DAYS[name]) < cost / k.energy_mwh < max(PRICE_DAYS[name])
            assert cost / k.energy_mwh == pytest.approx(mean_price[name], rel=0.5)
    assert a.losses_mwh > none.losses_mwh
    assert first_overload_share([none, a, c], "a") == 1.0
    assert first_overload_share([none, a, c], "c") is None


@pytest.mark.slow
def test_heating_scale_constant_is_the_measured_calibration():
    net = build_large_feeder(keep_loads=True).net
    assert calibrate_heating_scale(net) == pytest.approx(HEATING_SCALE, abs=0.01)
    peak, _ = base_load_peak(net, *load_profiles(net, *SEED_WINDOW, heating_scale=HEATING_SCALE))
    assert peak == pytest.approx(SEED_BASE_LOAD_PEAK_LOADING, abs=0.005)
