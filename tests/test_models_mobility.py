"""Markov-chain and trip-plan mobility (flexcosim.cosim.models.mobility)."""

import numpy as np
import pytest

from flexcosim.cosim.models.mobility import MarkovChain, TripPlan

STATES = ("moving", "residential", "commercial")


def test_commuter_matrices_are_row_stochastic():
    chain = MarkovChain.commuter(slot_s=900)
    assert chain.transitions.shape == (96, 3, 3)
    assert np.all(chain.transitions >= 0)
    np.testing.assert_allclose(chain.transitions.sum(axis=2), 1.0, atol=1e-12)


def test_commuter_daily_pattern():
    chain = MarkovChain.commuter(slot_s=1800)  # seed 001 uses 30-min steps
    p = np.array([0.0, 1.0, 0.0])
    shares = {}
    for k in range(chain.n_slots):
        p = chain.distribution(p, k * chain.slot_s)
        shares[k * chain.slot_s / 3600] = p
    assert shares[3.0][1] > 0.99  # night: at home
    assert shares[11.0][2] == pytest.approx(0.78, abs=0.05)  # commute_share at work
    assert shares[23.5][2] == 0.0  # nobody stays overnight at work
    assert shares[23.5][1] > 0.99


@pytest.mark.parametrize(
    "transitions, match",
    [
        (np.full((2, 3, 3), 0.5), r"row sums to 1\.5"),
        (np.array([[[1.2, -0.2, 0], [0, 1, 0], [0, 0, 1]]]), r"transitions\[0, 0, 1\].*need >= 0"),
        (np.eye(3)[None, :2, :], r"shape \(1, 2, 3\)"),
    ],
)
def test_invalid_transitions_are_rejected(transitions, match):
    with pytest.raises(ValueError, match=match):
        MarkovChain(states=STATES, transitions=transitions, slot_s=900)


def test_states_need_moving_and_unique_names():
    with pytest.raises(ValueError, match="lacks 'moving'"):
        MarkovChain(states=("a", "b"), transitions=np.eye(2)[None], slot_s=60)
    with pytest.raises(ValueError, match="duplicates"):
        MarkovChain(states=("moving", "a", "a"), transitions=np.eye(3)[None], slot_s=60)


def test_empirical_shares_match_matrix_prediction():
    chain = MarkovChain.commuter(slot_s=900)
    rng = np.random.default_rng(7)
    n = 20_000
    state = np.full(n, 1)
    p = np.array([0.0, 1.0, 0.0])
    for k in range(chain.n_slots):
        t_s = k * chain.slot_s
        state = chain.step(state, t_s, rng)
        p = chain.distribution(p, t_s)
        empirical = np.bincount(state, minlength=3) / n
        # 4.5 binomial standard deviations: a false alarm is ~1e-5 per check
        tol = 4.5 * np.sqrt(p * (1 - p) / n) + 1e-9
        assert np.all(np.abs(empirical - p) <= tol), (k, empirical, p)


def test_step_is_reproducible_and_deterministic_rows():
    t = np.zeros((1, 3, 3))
    t[0] = [[0, 1, 0], [0, 0, 1], [1, 0, 0]]  # a deterministic cycle
    chain = MarkovChain(states=STATES, transitions=t, slot_s=60)
    out = chain.step(np.array([0, 1, 2]), 0, np.random.default_rng(0))
    np.testing.assert_array_equal(out, [1, 2, 0])
    commuter = MarkovChain.commuter()
    a = commuter.step(np.ones(50, int), 8 * 3600, np.random.default_rng(3))
    b = commuter.step(np.ones(50, int), 8 * 3600, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)


def test_slot_wraps_daily():
    chain = MarkovChain.commuter(slot_s=900)
    assert chain.slot(0) == 0
    assert chain.slot(899) == 0
    assert chain.slot(86_400 + 900) == 1


def test_commuter_rejects_bad_knobs():
    with pytest.raises(ValueError, match="slot_s"):
        MarkovChain.commuter(slot_s=7000)
    with pytest.raises(ValueError, match="commute_share"):
        MarkovChain.commuter(commute_share=1.5)


def test_trip_plan_states_over_time():
    plan = TripPlan(
        states=("moving", "home", "richview"),
        trips=[[(100, 400, "richview"), (1000, 1300, "home")], [(50, 60, "home")]],
    )
    start = np.array([1, 2])
    assert plan.step(start, 0).tolist() == [1, 2]
    assert plan.step(start, 55).tolist() == [1, 0]
    assert plan.step(start, 100).tolist() == [0, 1]
    assert plan.step(start, 399).tolist() == [0, 1]
    assert plan.step(start, 400).tolist() == [2, 1]
    assert plan.step(start, 1000).tolist() == [0, 1]
    assert plan.step(start, 5000).tolist() == [1, 1]
    assert plan.destination(0, 150) == "richview"
    assert plan.destination(0, 500) is None


def test_trip_plan_rejects_bad_trips():
    with pytest.raises(ValueError, match="is not a place"):
        TripPlan(states=("moving", "home"), trips=[[(0, 10, "mars")]])
    with pytest.raises(ValueError, match="must not overlap"):
        TripPlan(states=("moving", "home", "w"), trips=[[(0, 10, "w"), (5, 20, "home")]])
    with pytest.raises(ValueError, match="arrive_s 5 < depart_s 10"):
        TripPlan(states=("moving", "home"), trips=[[(10, 5, "home")]])
