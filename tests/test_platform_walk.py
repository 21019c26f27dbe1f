"""Walking distance bounds the search space (seed 004 section 4.2.2.2)."""

import numpy as np

from flexcosim.agents.its import Route
from flexcosim.agents.optim.types import SiteOffer
from flexcosim.agents.platform import RandomShare, within_walk

ROUTES = {"near": Route(2.2, 300, 420), "mid": Route(2.3, 450, 600), "far": Route(2.4, 600, 780)}


def test_sites_beyond_the_walk_are_not_candidates():
    assert set(within_walk(ROUTES, 700)) == {"near", "mid"}
    assert set(within_walk(ROUTES, 600)) == {"near", "mid"}  # the limit itself is walkable
    assert set(within_walk(ROUTES, None)) == set(ROUTES)


def test_with_no_site_that_close_the_shortest_walk_is_the_only_one():
    assert set(within_walk(ROUTES, 100)) == {"near"}


def offer(site):
    z = np.zeros(4)
    return SiteOffer(site, 1, z + 11, z, z + 0.2, z, 10.0)


def test_random_share_takes_its_next_slot_among_the_candidates():
    share = RandomShare(["far", "near", "far"])  # popped from the end
    assert share.choose(None, [offer("near"), offer("mid")], 900)[0] == "near"
    assert share.choose(None, [offer("near")], 900)[0] is None  # only "far" slots left
    assert share.choose(None, [offer("far")], 900)[0] == "far"
