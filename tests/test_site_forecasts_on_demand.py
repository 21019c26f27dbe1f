"""Forecasts computed on demand (SiteObservation.forecaster, PlanFollower.forecasts_on_demand)."""

import numpy as np

from flexcosim.agents.site import (
    PlanFollower,
    SiteAggregator,
    SiteEV,
    SiteObservation,
    SiteSetpoints,
)

STEP = 900


class Planner(PlanFollower):
    """Plans 1 kW per EV over four steps; keeps the capacity forecast each plan saw."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[float, ...]] = []

    def _make_plan(self, obs):
        self.seen.append(obs.capacity_forecast_kw)
        return {ev.ev: np.ones(4) for ev in obs.evs}


def lazy_obs(time_s: int, evs: tuple[SiteEV, ...], calls: list[int]) -> SiteObservation:
    def forecasts():
        calls.append(time_s)
        return {"capacity_forecast_kw": (50.0,) * 4, "price_forecast_per_kwh": (0.2,) * 4}
    return SiteObservation("s", time_s, STEP, evs, 11.0, 1.0, False, capacity_kw=50.0,
                           forecaster=forecasts)


EV = SiteEV("a", 10.0, 40.0, 30.0, 11.0, 0.0, 4 * STEP)


def test_a_plan_follower_computes_forecasts_only_when_it_plans():
    calls: list[int] = []
    s = Planner()
    s.decide(lazy_obs(0, (EV,), calls))  # the first plan
    s.decide(lazy_obs(STEP, (EV,), calls))  # follows its plan
    assert calls == [0] and s.seen == [(50.0,) * 4]


def test_an_outside_limit_caps_forecasts_computed_later(tmp_path):
    (tmp_path / "planner.py").write_text(
        "import numpy as np\nfrom flexcosim.agents.site import PlanFollower\n"
        "class Planner(PlanFollower):\n"
        "    seen = []\n"
        "    def _make_plan(self, obs):\n"
        "        Planner.seen.append(obs.capacity_forecast_kw)\n"
        "        return {ev.ev: np.ones(4) for ev in obs.evs}\n")
    agg = SiteAggregator("s", "planner.py:Planner", base_dir=tmp_path)
    agg.capacity_kw = 20.0
    decision = agg.decide(lazy_obs(0, (EV,), []))
    assert decision == SiteSetpoints({"a": 1.0}, STEP)
    assert type(agg.guarded.strategy).seen == [(20.0,) * 4]


def test_a_fallback_record_holds_the_computed_forecasts(tmp_path):
    (tmp_path / "raising.py").write_text(
        "class Raising:\n    forecasts_on_demand = True\n"
        "    def decide(self, obs):\n        raise RuntimeError('no')\n")
    agg = SiteAggregator("s", "raising.py:Raising", base_dir=tmp_path)
    agg.decide(lazy_obs(0, (EV,), []))
    (record,) = agg.fallbacks
    assert record.observation.forecaster is None
    assert record.observation.capacity_forecast_kw == (50.0,) * 4
