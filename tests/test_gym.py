"""The Gymnasium environment: gymnasium's own checker, reproducible seeded episodes, the action acts."""

import time

import numpy as np
import pytest

gymnasium = pytest.importorskip("gymnasium", reason="the gym extra: pip install 'flexcosim[gym]'")

from flexcosim.cosim.gym import ChargingEnv, EnvConfig, RewardWeights  # noqa: E402

pytestmark = pytest.mark.mosaik

#: 3 h of the LV feeder from 17:00, EVs coming home to charge, a time-of-use tariff
EVENING = ("start=2019-01-16T17:00:00+01:00", "duration_s=10800", "fleet.0.soc0_at_home=drawn",
           "fleet.0.soc0_min=0.3", "fleet.0.soc0_max=0.6",
           'tariff={energy: {kind: time_of_use, periods: [{start: "07:00", price_per_kwh: 0.30}, '
           '{start: "19:00", price_per_kwh: 0.10}]}}')


@pytest.fixture(scope="module")
def env():
    env = ChargingEnv(EnvConfig(overrides=EVENING))
    yield env
    env.close()


def test_passes_gymnasiums_env_checker(env):
    from gymnasium.utils.env_checker import check_env

    check_env(env, skip_render_check=True)


def episode(env, seed, policy):
    obs, _ = env.reset(seed=seed)
    observations, rewards, done = [obs], [], False
    while not done:
        obs, reward, done, _, _ = env.step(policy(obs))
        observations.append(obs)
        rewards.append(reward)
    return np.array(observations), np.array(rewards)


def test_a_seeded_episode_is_reproducible_and_another_seed_differs(env):
    rng = np.random.default_rng(0)
    actions = rng.uniform(0, 1, (12, len(env.sites))).astype(np.float32)
    k = iter(range(12))
    first = episode(env, 5, lambda obs: actions[next(k)])
    k = iter(range(12))
    again = episode(env, 5, lambda obs: actions[next(k)])
    assert len(first[1]) == 12  # 3 h in 15-min steps
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    k = iter(range(12))
    other = episode(env, 6, lambda obs: actions[next(k)])
    assert not np.array_equal(first[0], other[0])


def test_reset_reuses_the_built_models(env):
    env.reset(seed=9)  # builds the models of seed 9 once
    built = len(env._pristine)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        env.reset(seed=9)
        times.append(time.perf_counter() - t0)
    assert len(env._pristine) == built  # nothing rebuilt
    assert min(times) < 1.0  # the target for lv-feeder-20bus (~0.3 s measured)


def test_the_limit_acts_and_the_reward_counts_its_terms(env):
    full = episode(env, 5, lambda obs: np.ones(len(env.sites), dtype=np.float32))
    none = episode(env, 5, lambda obs: np.zeros(len(env.sites), dtype=np.float32))
    power = [i for i, n in enumerate(env.feature_names) if n.endswith("power_share")]
    assert full[0][:, power].max() > 0.5 and none[0][:, power].max() == 0.0
    # the evening peak with every EV charging pulls feeder-end voltages below 0.9 p.u.
    env.reset(seed=5)
    _, reward, _, _, terms = env.step(np.ones(len(env.sites), dtype=np.float32))
    weights = RewardWeights()
    assert terms["cost"] > 0 and terms["undervoltage_pu_h"] > 0
    assert reward == pytest.approx(-(weights.cost * terms["cost"] + weights.unmet_kwh * terms["unmet_kwh"]
                                     + weights.overload_pct_h * terms["overload_pct_h"]
                                     + weights.undervoltage_pu_h * terms["undervoltage_pu_h"]))


def test_reward_weights_are_the_users():
    money_only = ChargingEnv(EnvConfig(overrides=EVENING, reward=RewardWeights(1.0, 1.0, 0.0, 0.0)))
    try:
        full = episode(money_only, 5, lambda obs: np.ones(len(money_only.sites), dtype=np.float32))
        none = episode(money_only, 5, lambda obs: np.zeros(len(money_only.sites), dtype=np.float32))
    finally:
        money_only.close()
    # no charging costs nothing but leaves the EVs short, which costs more
    assert none[1].sum() < full[1].sum() < 0


def test_bad_config_names_the_field():
    with pytest.raises(ValueError, match="EnvConfig.observation"):
        ChargingEnv(EnvConfig(observation=("weather",)))
    assert RewardWeights().unmet_kwh > 0


def test_site_setpoints_charge_and_discharge_v2g_sites():
    from pathlib import Path

    from gymnasium.utils.env_checker import check_env

    v2g = Path(__file__).resolve().parents[1] / "examples" / "v2g.yaml"
    env = ChargingEnv(EnvConfig(str(v2g), overrides=("duration_s=3600",), action="site_setpoints",
                                observation=("sites", "prices")))
    try:
        check_env(env, skip_render_check=True)
        power = [i for i, n in enumerate(env.feature_names) if n.endswith("power_share")]
        env.reset(seed=3)
        obs, *_ = env.step(np.full(len(env.sites), -1.0, dtype=np.float32))
        assert (obs[power] < -0.5).all()  # every wallbox discharges near its 3.7 kW
        obs, *_ = env.step(np.full(len(env.sites), 0.5, dtype=np.float32))
        assert (obs[power] > 0).all() and (obs[power] <= 0.5 + 1e-6).all()
    finally:
        env.close()


def test_allocation_sends_the_requests_where_the_policy_scores_highest():
    env = ChargingEnv(EnvConfig("ucd-campus", overrides=("visitors.0.count=30",),
                                site_strategy=None, action="allocation",
                                observation=("sites", "time", "headroom")))
    try:
        assert env.targets == ["vet_college", "richview", "civil_engineering"]
        headroom = [i for i, n in enumerate(env.feature_names) if n == "richview.headroom_0"]
        obs, _ = env.reset(seed=4)
        # 200 kVA transformer minus the night building load, over 66 chargers of 11 kW
        assert 0.1 < obs[headroom[0]] < 200 / (66 * 11)
        richview = np.array([0.1, 0.9, 0.2], dtype=np.float32)
        env.reset(seed=4)
        done = False
        while not done:
            _, _, done, _, _ = env.step(richview)
        sent = env.session.platform()
        assert len(sent) == 30
        # every request goes to richview while it has a free charger for the stay (66 chargers)
        assert (sent.site == "richview").all()
    finally:
        env.close()
