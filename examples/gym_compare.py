"""Random and heuristic policies against the built-in site strategies, on the same episodes.

    python examples/gym_compare.py        # needs the gym extra: pip install -e ".[gym]"

The LV feeder from 16:00 to 07:00 with commuters coming home to charge and a
time-of-use tariff (0.30 /kWh by day, 0.10 from 19:00). Each policy limits every
site's draw through :class:`flexcosim.cosim.gym.ChargingEnv`; the built-ins run with no
limit (action 1.0) and their own strategy. Prints the mean episode return and its terms.
"""

from __future__ import annotations

import numpy as np

from flexcosim.cosim.gym import ChargingEnv, EnvConfig

OVERNIGHT = ("start=2019-01-16T16:00:00+01:00", "duration_s=54000", "fleet.0.soc0_at_home=drawn",
             "fleet.0.soc0_min=0.3", "fleet.0.soc0_max=0.6",
             'tariff={energy: {kind: time_of_use, periods: [{start: "07:00", price_per_kwh: 0.30}, '
             '{start: "19:00", price_per_kwh: 0.10}]}}')
SEEDS = (1, 2, 3)


def run(env: ChargingEnv, policy) -> dict[str, float]:
    """Mean over SEEDS of the episode return and of each reward term."""
    totals = []
    for seed in SEEDS:
        obs, _ = env.reset(seed=seed)
        done, ret, terms = False, 0.0, {}
        while not done:
            obs, reward, done, _, info = env.step(policy(env, obs))
            ret += reward
            for key, value in info.items():
                terms[key] = terms.get(key, 0.0) + value
        totals.append({"return": ret, **terms})
    return {key: float(np.mean([t[key] for t in totals])) for key in totals[0]}


def full(env, obs):
    return np.ones(len(env.sites), dtype=np.float32)


def random_policy(env, obs):
    return env.action_space.sample()


def cheap_hours(env, obs):
    """Charge fully when the price now is the lowest of the forecast, else at 20 % of the rating."""
    names = env.feature_names
    shares = []
    for site in env.sites:
        prices = [obs[names.index(f"{site}.price_{j}")] for j in range(env.config.forecast_steps)]
        shares.append(1.0 if prices[0] <= min(prices) + 1e-9 else 0.2)
    return np.array(shares, dtype=np.float32)


def main() -> None:
    rows = {}
    with_limit = ChargingEnv(EnvConfig(overrides=OVERNIGHT))
    with_limit.action_space.seed(0)
    rows["random limits (equal_share)"] = run(with_limit, random_policy)
    rows["cheap-hours heuristic (equal_share)"] = run(with_limit, cheap_hours)
    rows["built-in equal_share, no limit"] = run(with_limit, full)
    with_limit.close()
    for strategy in ("uncontrolled", "optimal"):
        env = ChargingEnv(EnvConfig(overrides=OVERNIGHT, site_strategy=strategy))
        rows[f"built-in {strategy}, no limit"] = run(env, full)
        env.close()
    keys = ["return", "cost", "unmet_kwh", "overload_pct_h", "undervoltage_pu_h"]
    print("| policy | " + " | ".join(keys) + " |")
    print("|---|" + "---|" * len(keys))
    for name, row in rows.items():
        print(f"| {name} | " + " | ".join(f"{row[k]:.2f}" for k in keys) + " |")


if __name__ == "__main__":
    main()
