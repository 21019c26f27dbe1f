"""End to end: the direction of seed 004's UCD findings on a reduced day (section 5.3).

40 EVs on 40 chargers, 16 at richview, whose building load is raised so that its transformer is
the tight one (as in the seed, where richview overloads at 50 %). Checked on what the
simulation did: at 50 % (soft site limits) the optimised allocation has fewer richview
hours above 100 % than the baseline and moves EVs between sites; at 75 % (hard limits,
chargers and EVs x1.5) it supplies at least as much energy. Today's invariants hold in
every run: one reservation per EV, no charger booked twice at once, energy delivered =
energy drawn x charger efficiency.
"""

from collections import Counter

import numpy as np
import pytest

from flexcosim.cosim.results import wide
from flexcosim.scenarios.catalog import load_scenario
from flexcosim.scenarios.schema import parse_scenario
from tests.test_cosim_ucd import simulate as run_reduced

pytestmark = pytest.mark.mosaik

CHARGERS = {"vet_college": 10, "richview": 16, "civil_engineering": 14}
#: richview's building peak [kW] in the reduced day: ~98 % of its 196.5 kW planning limit
RICHVIEW_PEAK_KW = 192.0


def reduced(variant: str, scale: float = 1.0):
    scenario, base = load_scenario("ucd-campus")
    data = scenario.variant(variant).model_dump(mode="json")
    data["visitors"][0]["count"] = round(40 * scale)
    for site in data["sites"]:
        site["chargers"] = round(CHARGERS[site["name"]] * scale)
    for b in data["buildings"]:
        if b["name"] == "richview_buildings":
            b["profile"]["peak_kw"] = RICHVIEW_PEAK_KW
    if scale > 1:  # seed 004 5.3, 75 %: the sites never overload their transformer
        for a in data["agents"]:
            if a["role"] == "site_aggregator":
                a["strategy"] = "optimal_committed"
    return parse_scenario(data), base


def simulate(scenario, base, out):
    _, a, ts = run_reduced(scenario, base, out)
    check_invariants(scenario, a, ts)
    return a, ts


def check_invariants(scenario, a, ts):
    per_ev = Counter(d.ev for d in a.platform.decisions)
    assert per_ev and max(per_ev.values()) == 1
    assert set(a.platform.reservations) <= set(per_ev)
    for site, book in a.books.items():
        chargers = next(g.chargers for g in scenario.sites if g.name == site)
        stays = [(r.arrival_s, r.departure_s) for r in book.reservations.values()]
        for t in {arrival for arrival, _ in stays}:
            assert sum(a0 <= t < d0 for a0, d0 in stays) <= chargers, (site, t)
    drawn = ts[(ts.quantity == "p_kw") & ts.entity.isin(list(CHARGERS))].value.sum()
    delivered = ts[ts.quantity == "battery_kw"].value.sum()
    assert delivered > 0 and delivered == pytest.approx(drawn * 0.95, rel=1e-9)
    # no EV is charged beyond what its driver asked for (it arrives below its target)
    (fleet, _, target), = a.fleets.values()
    soc = wide(ts, "soc", list(fleet.ids))
    assert (soc.max() <= np.maximum(target, soc.iloc[0].to_numpy()) + 1e-6).all()


def hours_over_100(a, ts, tx="richview_tx1"):
    loading = wide(ts, "loading_pct", [tx])[tx]
    return float((loading > 100.0 + 1e-6).sum() * a.scenario.step_s / 3600.0)


def sites_of(a):
    return Counter(d.site for d in a.platform.decisions)


def test_at_50_percent_optimised_overloads_richview_less_and_moves_evs(tmp_path):
    base_a, base_ts = simulate(*reduced("baseline"), tmp_path / "b")
    opt_a, opt_ts = simulate(*reduced("optimised"), tmp_path / "o")
    assert hours_over_100(base_a, base_ts) > 0
    assert hours_over_100(opt_a, opt_ts) < hours_over_100(base_a, base_ts)
    assert sites_of(opt_a) != sites_of(base_a)
    assert sites_of(opt_a)["richview"] < sites_of(base_a)["richview"]


def test_at_75_percent_optimised_supplies_at_least_as_much_energy(tmp_path):
    energy = {}
    for variant in ("baseline", "optimised"):
        a, ts = simulate(*reduced(variant, 1.5), tmp_path / variant)
        energy[variant] = ts[ts.quantity == "battery_kw"].value.sum()
        # hard limits; the planning limit is computed with the other sites unloaded, so
        # their load's MV voltage sag may add a few tenths of a per cent
        assert wide(ts, "loading_pct", list(a.grid.transformers)).to_numpy().max() <= 100.5
    assert energy["optimised"] >= energy["baseline"] * (1 - 1e-9)
