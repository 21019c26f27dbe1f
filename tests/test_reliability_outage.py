"""Issue 9 item 7: a charger outage reaches the platform through the site's offer.

Before the fix the outage unplugged the chargers but the site's book kept offering
them, so the platform went on booking EVs onto chargers that were out.
"""

import pytest

from flexcosim.cosim.session import ChargerOutage, Session
from flexcosim.cosim.world import assemble
from tests.test_cosim_ucd import reduced

pytestmark = pytest.mark.mosaik


def test_platform_books_no_charger_that_is_out():
    scenario, base = reduced("optimised")
    site, in_service = "civil_engineering", 1
    with Session(assemble(scenario, base)) as session:
        chargers = len(session.assembly.sites[site][1].chargers)
        session.inject(ChargerOutage(site, chargers - in_service))
        session.run_to_end()
        booked = [r for r in session.assembly.platform.reservations.values() if r.site == site]
    assert session.assembly.books[site].available == in_service
    for t in range(0, scenario.duration_s, scenario.step_s):
        assert sum(r.arrival_s <= t < r.departure_s for r in booked) <= in_service, t
    assert booked  # the site still takes EVs on its one charger
