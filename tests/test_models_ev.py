"""EV fleet: SOC model, driving, events (flexcosim.cosim.models.ev)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flexcosim.cosim.models.ev import Arrival, Departure, EVFleet, TripStart, VehicleModel
from flexcosim.cosim.models.mobility import MarkovChain, TripPlan

LEAF = VehicleModel(
    "Nissan Leaf",
    capacity_kwh=24.0,
    max_charge_kw=3.7,
    max_discharge_kw=3.7,
    consumption_kwh_per_km=0.1778,
)
STATES = ("moving", "home", "work")


def parked_fleet(n=2, soc=0.5, **kw):
    plan = TripPlan(states=STATES, trips=[[] for _ in range(n)])
    return EVFleet(
        [f"ev{i}" for i in range(n)], [LEAF] * n, np.full(n, soc), plan, np.ones(n, int), **kw
    )


def test_vehicle_model_validation():
    with pytest.raises(ValueError, match=r"capacity_kwh: 0.*need finite > 0"):
        VehicleModel("x", 0, 3.7, 0, 0.2)
    with pytest.raises(ValueError, match="consumption_kwh_per_km"):
        VehicleModel("x", 24, 3.7, 0, -0.1)


def test_charging_one_hour_hand_checked():
    fleet = parked_fleet()
    fleet.step(3600, 3600, np.array([3.0, -2.4]))
    np.testing.assert_allclose(fleet.energy_kwh(), [15.0, 9.6])
    np.testing.assert_allclose(fleet.soc, [0.625, 0.4])
    np.testing.assert_allclose(fleet.headroom_kwh(), [9.0, 14.4])
    np.testing.assert_allclose(fleet.available_kwh(), [15.0, 9.6])


def test_soc_clipped_and_reported():
    fleet = parked_fleet(soc=0.9, soc_min=0.1, soc_max=0.95)
    fleet.step(3600, 3600, np.array([10.0, -30.0]))
    np.testing.assert_allclose(fleet.soc, [0.95, 0.1])
    np.testing.assert_allclose(fleet.clipped_kwh, [10.0 - 1.2, 30.0 - 19.2])


def test_driving_consumes_and_unserved_energy_accumulates():
    plan = TripPlan(states=STATES, trips=[[(0, 7200, "work")], [(0, 7200, "work")]])
    fleet = EVFleet(
        ["a", "b"], [LEAF, LEAF], np.array([0.5, 0.01]), plan, np.array([1, 1]), speed_kmh=30.0
    )
    events = fleet.step(0, 0, np.zeros(2))
    assert [type(e) for e in events] == [Departure, TripStart, Departure, TripStart]
    assert events[1] == TripStart(ev="a", time_s=0, origin="home", destination="work")
    fleet.step(3600, 3600, np.zeros(2))
    drive = 30 * 0.1778  # 5.334 kWh in one hour
    np.testing.assert_allclose(fleet.energy_kwh(), [12.0 - drive, 0.0])
    np.testing.assert_allclose(fleet.unserved_drive_kwh, [0.0, drive - 0.24])
    np.testing.assert_allclose(fleet.driven_km, [30, 30])
    events = fleet.step(7200, 3600, np.zeros(2))
    assert events == [
        Arrival(ev="a", time_s=7200, place="work", soc=pytest.approx((12 - 2 * drive) / 24)),
        Arrival(ev="b", time_s=7200, place="work", soc=0.0),
    ]
    assert fleet.place(0) == "work"


def test_power_to_moving_ev_is_rejected():
    plan = TripPlan(states=STATES, trips=[[(0, 7200, "work")]])
    fleet = EVFleet(["a"], [LEAF], np.array([0.5]), plan, np.array([1]))
    fleet.step(0, 0, np.zeros(1))
    assert fleet.place(0) is None
    with pytest.raises(ValueError, match="moving EV"):
        fleet.step(900, 900, np.array([3.0]))


def test_markov_fleet_steps_once_per_slot_and_orders_events():
    t = np.zeros((2, 3, 3))
    t[0] = [[1, 0, 0], [1, 0, 0], [1, 0, 0]]  # slot 0: everyone drives
    t[1] = [[0, 0, 1], [0, 1, 0], [0, 0, 1]]  # slot 1: drivers park at work
    chain = MarkovChain(states=STATES, transitions=t, slot_s=900)
    fleet = EVFleet(
        ["a", "b"],
        [LEAF, LEAF],
        np.array([0.5, 0.5]),
        chain,
        np.array([1, 2]),
        rng=np.random.default_rng(0),
    )
    events = fleet.step(0, 0, np.zeros(2))
    assert [(type(e).__name__, e.ev) for e in events] == [
        ("Departure", "a"),
        ("TripStart", "a"),
        ("Departure", "b"),
        ("TripStart", "b"),
    ]
    assert events[1].destination is None
    assert fleet.step(300, 300, np.zeros(2)) == []  # inside slot 0: no transition
    events = fleet.step(900, 600, np.zeros(2))
    assert [type(e) for e in events] == [Arrival, Arrival]
    assert fleet.place(1) == "work"


def test_fleet_input_validation():
    with pytest.raises(ValueError, match="soc0"):
        parked_fleet(soc=1.2)
    plan = TripPlan(states=STATES, trips=[[]])
    with pytest.raises(ValueError, match="state0"):
        EVFleet(["a"], [LEAF], np.array([0.5]), plan, np.array([5]))
    with pytest.raises(ValueError, match="unique"):
        EVFleet(
            ["a", "a"], [LEAF] * 2, np.full(2, 0.5), TripPlan(STATES, [[], []]), np.ones(2, int)
        )


@settings(max_examples=25, deadline=None)
@given(
    powers=st.lists(st.lists(st.floats(-50, 50), min_size=3, max_size=3), min_size=1, max_size=30),
    soc_min=st.floats(0.0, 0.4),
    soc_max=st.floats(0.6, 1.0),
    seed=st.integers(0, 1000),
)
def test_soc_stays_in_window(powers, soc_min, soc_max, seed):
    chain = MarkovChain.commuter(slot_s=900)
    rng = np.random.default_rng(seed)
    fleet = EVFleet(
        ["a", "b", "c"],
        [LEAF] * 3,
        rng.uniform(soc_min, soc_max, 3),
        chain,
        np.array([1, 1, 2]),
        soc_min=soc_min,
        soc_max=soc_max,
        rng=rng,
    )
    t = 6 * 3600
    fleet.step(t, 0, np.zeros(3))
    for p in powers:
        t += 900
        p = np.where(fleet.state == chain.moving_index, 0.0, p)
        fleet.step(t, 900, p)
        assert np.all(fleet.soc >= soc_min - 1e-12)
        assert np.all(fleet.soc <= soc_max + 1e-12)
    assert np.all(fleet.unserved_drive_kwh >= 0) and np.all(fleet.clipped_kwh >= 0)
