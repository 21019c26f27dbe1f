"""Stepping the UCD protocol: platform outages and extra requests injected between steps."""

import pytest

from flexcosim.cosim.session import ExtraEVRequest, LinkChange, PlatformOutage, Session

pytestmark = pytest.mark.mosaik


@pytest.fixture
def session(tmp_path):
    import yaml

    from flexcosim.scenarios.catalog import load_scenario

    scenario, _ = load_scenario("ucd-campus")
    data = scenario.variant("optimised").model_dump(mode="json")
    data["visitors"][0]["count"] = 30
    for site, n in zip(data["sites"], (12, 6, 16)):
        site["chargers"] = n
    path = tmp_path / "small-ucd.yaml"
    path.write_text(yaml.safe_dump(data))
    with Session.open(path, out=tmp_path / "run") as s:
        yield s


def test_platform_outage_sends_requests_to_the_fallback(session):
    session.inject(PlatformOutage(until_s=9 * 3600))
    session.advance_to(10 * 3600)
    emsp = session.assembly.emsp
    fell_back = {f.observation["ev"] for f in emsp.fallbacks}
    decisions = session.platform()
    # requests sent during the outage are lost and time out into the EMSP's fallback
    assert fell_back and all(f.strategy == "platform" and f.time_s < 9 * 3600 for f in emsp.fallbacks)
    assert not fell_back & set(decisions.ev)
    assert len(decisions) and (decisions.time_s >= 9 * 3600).all()
    assert (decisions.strategy == "ChargingSiteSelection").all()
    log = session.messages()
    to_platform = log[(log.receiver == "platform") & (log.sent_s < 9 * 3600)]
    requests = to_platform[to_platform.type == "SiteSelectionRequest"]
    assert len(requests) == len(fell_back) and (to_platform.outcome == "lost").all()
    # each EMSP that gave up also withdrew its request (lost as well while the link is down)
    withdrawn = log[(log.type == "ReservationWithdrawn") & (log.sender == "emsp")]
    assert len(withdrawn) == len(fell_back)


def test_extra_request_books_a_charger(session):
    session.advance_to(8 * 3600)
    before = session.platform()
    session.inject(ExtraEVRequest("probe", soc=0.3, departure_s=17 * 3600))
    after = session.platform()
    assert len(after) == len(before) + 1
    row = after.iloc[-1]
    assert row.ev == "probe" and row.strategy == "ChargingSiteSelection"
    book = session.assembly.books[row.site]
    assert "probe" in book.reservations
    with pytest.raises(ValueError, match="already known"):
        session.inject(ExtraEVRequest("probe", soc=0.3, departure_s=17 * 3600))
    session.advance(4)  # the run carries on with the booking in place
    sites = session.sites()
    assert {"headroom_kw", "price_per_kwh", "reserved"} <= set(sites.columns)
    assert (sites.reserved <= sites.chargers).all() and (sites.price_per_kwh > 0).all()


def test_step_to_the_next_event_and_inject_latency(session):
    session.advance_to(8 * 3600)
    t = session.next_event_s()
    assert t is not None and t >= 8 * 3600
    assert session.advance_to_next_event() == t + 1
    session.inject(LinkChange("platform", latency_s=5.0))
    session.advance_to(10 * 3600)
    log = session.messages()
    to_platform = log[(log.receiver == "platform") & (log.sent_s > t)]
    assert len(to_platform) and ((to_platform.received_s - to_platform.sent_s) == 5.0).all()
    assert (session.platform().decided_s > session.platform().time_s).any()
