"""The webhook's ingest path as the wins benchmark pushed it: few set-based runs per request,
reordered only where the outcome cannot change, and batch writes that store what they're given."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from handlers.events import Event, runs_for_handling, validate_events
from tests.wins_helpers import campaign, deal, event, ingest, messages, text_of, touch


def parsed(*raw: dict) -> list[Event]:
    events, problems = validate_events(list(raw))
    assert not problems
    return events


def lead(crm_id: str, **kw) -> dict:
    return event("lead.upserted", {"id": crm_id, "email": f"{crm_id.lower()}@acme.example"}, **kw)


def shape(runs) -> list[tuple[str, list[str]]]:
    return [(t, [e.id for e in run]) for t, run in runs]


def test_interleaved_types_are_handled_in_a_few_runs_keeping_each_types_order():
    events = parsed(
        touch("c1", lead="L1", id="t1"),
        lead("L1", id="l1"),
        touch("c1", lead="L2", id="t2"),
        lead("L2", id="l2"),
        campaign("c1", id="c1"),
        deal("D1", lead="L1", id="d1"),
        touch("c1", lead="L1", id="t3"),
    )
    assert shape(runs_for_handling(events)) == [
        ("campaign.upserted", ["c1"]),
        ("lead.upserted", ["l1", "l2"]),
        ("campaign.touch", ["t1", "t2", "t3"]),
        ("deal.closed_won", ["d1"]),
    ]


def test_a_deal_is_never_handled_before_the_touches_that_came_before_it():
    events = parsed(deal("D1", id="d1"), touch("c1", id="t1"), deal("D2", id="d2"))
    # The touch may go ahead of D1 (it can only add credit); D2 may not go ahead of the touch.
    assert shape(runs_for_handling(events)) == [("campaign.touch", ["t1"]), ("deal.closed_won", ["d1", "d2"])]


def test_a_sales_follow_up_keeps_its_place_among_events_that_may_create_its_lead():
    followed = event("lead.touched", {"lead_id": "L1"}, id="f1")
    events = parsed(touch("c1", lead="L1", id="t1"), followed, touch("c1", lead="L1", id="t2"))
    assert shape(runs_for_handling(events)) == [
        ("campaign.touch", ["t1"]),
        ("lead.touched", ["f1"]),
        ("campaign.touch", ["t2"]),
    ]


def test_two_events_about_leads_are_never_swapped():
    qualified = event("lead.qualified", {"id": "L1"}, id="q1")
    events = parsed(lead("L1", id="l1"), qualified, lead("L1", id="l2"))
    assert [t for t, _ in runs_for_handling(events)] == ["lead.upserted", "lead.qualified", "lead.upserted"]


@pytest.fixture
def c(make_container):
    return make_container()


def test_a_touch_sent_after_its_deal_in_the_same_request_still_credits_the_campaign(c):
    ingest(c, campaign("camp-1", "Data Summit Webinar"))
    ingest(c, deal("D-1", lead="L-1"), touch("camp-1", lead="L-1", at="2026-11-10T10:00:00Z"))
    assert "Sourced by: Webinar *Data Summit Webinar*" in text_of(messages(c, "channel:wins")[0])


def test_batch_writes_store_exactly_what_they_are_given(c):
    from storage.models import Campaign, Outbox

    at = datetime(2026, 11, 23, 14, 0, 0, 123456, tzinfo=timezone.utc)
    with c.uow_factory() as uow:
        first = {"key": "k1", "destination": "channel:wins", "payload": {"text": "hi", "n": None}}
        added = uow.outbox.add_many([first], at=at)
        again = uow.outbox.add_many(
            [
                {"key": "k1", "destination": "channel:wins", "payload": {"text": "other"}},
                {"key": "k2", "destination": "channel:wins", "payload": {"text": "two"}},
            ],
            at=at,
        )
        uow.campaigns.upsert_many([{"crm_id": "c9", "name": "First", "kind": "webinar"}])
        uow.campaigns.upsert_many([{"crm_id": "c9", "name": "Renamed", "kind": "event"}])
        uow.commit()
    assert added == {"k1"} and again == {"k2"}
    with c.uow_factory() as uow:
        row = uow.outbox.by_key("k1")
        assert (row.payload, row.next_attempt_at, row.status) == ({"text": "hi", "n": None}, at, "pending")
        camp = uow.campaigns.by_crm_id("c9")
        assert (camp.name, camp.kind) == ("Renamed", "event")
        assert isinstance(row, Outbox) and isinstance(camp, Campaign)


def test_a_lead_event_never_passes_a_won_deal_of_the_same_lead():
    events = parsed(lead("L1", id="l1"), deal("D1", lead="L1", id="d1"), lead("L2", id="l2"), lead("L1", id="l3"))
    # L2's update may go ahead of the deal; L1's may not (the deal converts L1), nor L2's after it.
    assert shape(runs_for_handling(events)) == [
        ("lead.upserted", ["l1", "l2"]),
        ("deal.closed_won", ["d1"]),
        ("lead.upserted", ["l3"]),
    ]


def test_a_batch_upsert_stores_every_value_and_the_later_of_two_rows_for_one_key(c):
    from storage.models import Lead

    qualified = datetime(2026, 11, 20, 9, 30, 0, 654321, tzinfo=timezone.utc)
    with c.uow_factory() as uow:
        uow.campaigns.upsert_many(
            [
                {"crm_id": "c1", "name": "First", "kind": "webinar"},
                {"crm_id": "c1", "name": 'It\'s "second" ✓', "kind": "event"},
            ]
        )
        base = {col.name: None for col in Lead.__table__.columns if col.name != "id"}
        rows = [
            {
                **base,
                "crm_id": f"L{i}",
                "name": f"Lead {i}",
                "status": "new",
                "sla_clock": "first_touch",
                "version": 0,
                "sla_window": 0,
                "ladder_step": 0,
                "snooze_count": 0,
                "touch_count": 0,
                "bounce_count": 0,
                "attrs": {"n": i, "tags": ["a", None]},
                "qualified_at": qualified if i % 2 else None,
                "created_at": qualified,
                "updated_at": qualified,
            }
            for i in range(300)
        ]
        ids = uow.leads.upsert_many(rows)
        again = uow.leads.upsert_many([{**rows[7], "name": "Renamed", "attrs": {}}], known={"L7": ids["L7"]})
        uow.commit()
    assert again == {"L7": ids["L7"]} and len(set(ids.values())) == 300
    with c.uow_factory() as uow:
        camp = uow.campaigns.by_crm_id("c1")
        assert (camp.name, camp.kind) == ('It\'s "second" ✓', "event")
        l3, l4, l7 = (uow.leads.by_crm_id(x) for x in ("L3", "L4", "L7"))
        assert (l3.attrs, l3.qualified_at, l3.created_at, l3.score) == (
            {"n": 3, "tags": ["a", None]},
            qualified,
            qualified,
            None,
        )
        assert l4.qualified_at is None
        assert (l7.name, l7.attrs) == ("Renamed", {})
