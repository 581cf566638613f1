"""Cooling leads on a real database: the shared definition, the clock, the ladder, the buttons
and the commands. The ``clock`` fixture is Monday 2026-11-23 15:00 UTC (10:00 in New York,
where Ana, Ben and their manager Maya work); a hot lead has 1 business hour."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from freezegun import freeze_time

from bot.config import load_config
from bot.scheduler import run_job
from handlers.commands import run_action, run_command
from handlers.lifecycle import requalify
from handlers.sla import stopped
from handlers.ports import Actor, OffsetClock
from handlers.messages import mention, moment_fallback
from handlers.registry import MessageRef
from storage.models import Bounce
from tests.conftest import ladder_config
from tests.cooling_helpers import (
    NY,
    at_ny,
    buttons,
    hot_lead,
    ingest,
    lead,
    lead_event,
    outbox,
    person_id,
    sent,
    text_of,
    touched,
)

UTC = timezone.utc
PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def c(make_container):
    return make_container(config=ladder_config())  # the ladder step by step (the policy: test_policy.py)


def move_to(c, when: datetime) -> None:
    c.deps.clock.at = when


def job(c, times: int = 1) -> list[int]:
    return [run_job(c, "cooling").done for _ in range(times)]


def actor(c, key: str) -> Actor:
    return Actor(person_id(c, key), "local")


def command(c, who: str, text: str):
    return run_command(c.registry, c.uow_factory, c.deps, actor(c, who), text)


def press(c, who: str, action: str, value: str, ref_key: str | None = None):
    ref = MessageRef(outbox_key=ref_key) if ref_key else None
    return run_action(c.registry, c.uow_factory, c.deps, actor(c, who), action, value, ref)


def dm_to(c, key: str) -> str:
    return f"dm:{person_id(c, key)}"


def ref(c, crm_id: str = "L-1") -> str:
    """What a button on the lead's latest messages names: the lead and its state version."""
    got = lead(c, crm_id)
    return f"{got.id}@{got.version}"


def reply_text(reply) -> str:
    msg = reply.as_message()
    return "\n".join([msg.text] + [getattr(b, "text", "") for b in msg.blocks])


# --- the shared definition ------------------------------------------------------------------


def test_a_lead_with_a_qualifying_crm_status_is_handed_to_its_owner(c):
    ingest(
        c,
        lead_event(
            "L-1",
            status="SQL",
            email="jane@acme.example",
            name="Jane Doe",
            company="Acme",
            owner_email="ana@northwind.example",
        ),
    )
    got = lead(c)
    assert got.status == "qualified" and got.qualified_at == c.deps.now()
    [handoff] = outbox(c)
    assert handoff.destination == dm_to(c, "ana")
    text = text_of(handoff.payload)
    assert "New qualified lead" in text and "Jane Doe" in text
    assert [(label, action) for label, action, _ in buttons(handoff.payload)] == [
        ("Log follow-up", "cooling.follow_up"),
        ("Bounce to marketing", "bounce.open"),
    ]


def test_a_high_score_qualifies_only_with_the_required_fields_present(c):
    ingest(
        c,
        lead_event("L-1", score=92, email="jane@acme.example"),  # no company
        lead_event("L-2", score=92, email="joe@acme.example", company="Acme"),
        lead_event("L-3", score=79, email="al@acme.example", company="Acme"),
    )
    assert [lead(c, k).status for k in ("L-1", "L-2", "L-3")] == ["new", "qualified", "new"]
    ingest(c, lead_event("L-1", company="Acme"))  # the missing field arrives later
    assert lead(c, "L-1").status == "qualified"


def test_lead_qualified_always_qualifies_and_its_tier_sets_the_sla(c):
    ingest(
        c,
        lead_event("L-1", type="lead.qualified", tier="warm"),
        lead_event("L-2", type="lead.qualified", score=95),
        lead_event("L-3", type="lead.qualified", score=10),
    )
    due = {k: (lead(c, k).tier, lead(c, k).sla_due_at) for k in ("L-1", "L-2", "L-3")}
    assert due == {
        "L-1": ("warm", at_ny(2026, 11, 23, 14)),
        "L-2": ("hot", at_ny(2026, 11, 23, 11)),
        "L-3": ("other", at_ny(2026, 11, 24, 10)),
    }  # 8 business hours: 7 today, 1 tomorrow


def test_an_update_to_a_qualified_lead_neither_hands_it_over_again_nor_restarts_its_clock(c):
    ingest(c, hot_lead())
    before = lead(c)
    move_to(c, before.qualified_at + timedelta(minutes=20))
    ingest(c, hot_lead(type="lead.upserted", title="CFO", status="SQL"), hot_lead(type="lead.qualified", title="CFO"))
    after = lead(c)
    assert after.title == "CFO"
    assert (after.sla_window, after.sla_due_at, after.qualified_at) == (1, before.sla_due_at, before.qualified_at)
    assert len(outbox(c)) == 1


def test_a_lead_from_an_unknown_campaign_gets_a_placeholder_campaign(c):
    ingest(c, hot_lead(source_campaign_id="CMP-9"))
    with c.uow_factory() as uow:
        camp = uow.campaigns.by_crm_id("CMP-9")
    assert camp is not None and lead(c).source_campaign_id == camp.id
    assert "Source campaign: CMP-9" in text_of(outbox(c)[0].payload)


def test_a_batch_of_leads_is_written_with_the_same_few_queries_however_large(c):
    def statements(n: int, prefix: str) -> int:
        count = 0

        def on_execute(*_):
            nonlocal count
            count += 1

        events = [
            hot_lead(
                f"{prefix}-{i}",
                owner=("ana", "ben", None)[i % 3],
                source_campaign_id=f"{prefix}C-{i % 4}",
                type="lead.upserted",
            )
            for i in range(n)
        ]
        sa.event.listen(c.engine, "before_cursor_execute", on_execute)
        try:
            ingest(c, *events)
        finally:
            sa.event.remove(c.engine, "before_cursor_execute", on_execute)
        return count

    assert statements(300, "A") == statements(6, "B")
    assert len(outbox(c)) == 306


# --- the clock ------------------------------------------------------------------------------


@pytest.fixture
def live_clock_container(make_container):
    """A container on the system clock, for freezegun to move."""
    return make_container(clock=OffsetClock(), config=ladder_config())


@pytest.mark.parametrize(
    "owner, tz, qualified, due",
    [
        ("ana", NY, datetime(2026, 11, 20, 16, 30), datetime(2026, 11, 23, 9, 30)),
        ("hugo", PARIS, datetime(2026, 11, 20, 16, 30), datetime(2026, 11, 23, 9, 30)),
    ],
    ids=["New York", "Paris"],
)
def test_a_lead_qualified_friday_1630_with_a_one_hour_sla_falls_due_monday_0930_in_the_owners_timezone(
    live_clock_container, owner, tz, qualified, due
):
    c = live_clock_container
    qualified_utc = qualified.replace(tzinfo=tz).astimezone(UTC)
    with freeze_time(qualified_utc):
        ingest(c, hot_lead(owner=owner, at=qualified_utc))
    got = lead(c)
    assert got.sla_due_at.astimezone(tz).replace(tzinfo=None) == due
    assert got.next_alert_at.astimezone(tz).replace(tzinfo=None) == datetime(2026, 11, 23, 9, 15)  # 75%


def test_a_public_holiday_is_not_a_business_day(live_clock_container):
    c = live_clock_container  # Thanksgiving is Thursday 26 November 2026
    with freeze_time(at_ny(2026, 11, 25, 16, 30)):
        ingest(c, hot_lead(at=at_ny(2026, 11, 25, 16, 30)))
    assert lead(c).sla_due_at == at_ny(2026, 11, 27, 9, 30)


def test_a_company_holiday_from_the_config_is_not_a_business_day(make_container):
    config = load_config(None)
    config.business_hours.holidays.dates = [date(2026, 11, 24)]
    c = make_container(config=config)
    move_to(c, at_ny(2026, 11, 23, 16, 30))
    ingest(c, hot_lead(at=at_ny(2026, 11, 23, 16, 30)))
    assert lead(c).sla_due_at == at_ny(2026, 11, 25, 9, 30)


@pytest.mark.parametrize("mapped, due_day", [(True, 15), (False, 14)], ids=["French holidays", "US holidays"])
def test_a_rep_follows_the_public_holidays_of_where_they_work(make_container, mapped, due_day):
    from bot.config import HolidayRegion

    config = load_config(None)  # holidays: US
    config.business_hours.holidays.by_timezone = {"Europe/Paris": HolidayRegion(country="FR")} if mapped else {}
    c = make_container(config=config, clock=OffsetClock())
    qualified = datetime(2026, 7, 13, 16, 30, tzinfo=PARIS).astimezone(UTC)  # Monday; Tuesday is Bastille Day
    with freeze_time(qualified):
        ingest(c, hot_lead(owner="hugo", at=qualified), hot_lead("L-2", owner="ana", at=qualified))
    assert lead(c).sla_due_at == datetime(2026, 7, due_day, 9, 30, tzinfo=PARIS).astimezone(UTC)
    # A New York rep keeps the US calendar: 10:30 Monday in New York, due 11:30 the same day.
    assert lead(c, "L-2").sla_due_at == at_ny(2026, 7, 13, 11, 30)


@pytest.mark.parametrize(
    "owner, tz, friday, monday_utc",
    [
        ("ana", NY, date(2026, 3, 6), datetime(2026, 3, 9, 15, 0, tzinfo=UTC)),  # EST -> EDT on 8 March
        ("ana", NY, date(2026, 10, 30), datetime(2026, 11, 2, 16, 0, tzinfo=UTC)),  # EDT -> EST on 1 November
        ("hugo", PARIS, date(2026, 3, 27), datetime(2026, 3, 30, 9, 0, tzinfo=UTC)),  # CET -> CEST on 29 March
        ("hugo", PARIS, date(2026, 10, 23), datetime(2026, 10, 26, 10, 0, tzinfo=UTC)),  # CEST -> CET on 25 October
    ],
    ids=["US spring", "US autumn", "Europe spring", "Europe autumn"],
)
def test_the_clock_changes_over_a_weekend_keep_the_working_day_at_nine_to_five_local(
    live_clock_container, owner, tz, friday, monday_utc
):
    """A warm lead (4 business hours) qualified Friday 15:00: two hours on Friday, two on
    Monday, so it falls due Monday 11:00 local whatever the offset did in between."""
    c = live_clock_container
    start = datetime.combine(friday, datetime.min.time().replace(hour=15), tzinfo=tz).astimezone(UTC)
    with freeze_time(start):
        ingest(c, hot_lead(owner=owner, at=start, tier="warm"))
    due = lead(c).sla_due_at
    assert due == monday_utc
    assert due.astimezone(tz).hour == 11


def test_time_stays_in_business_hours_under_freezegun_as_the_job_runs_over_a_weekend(live_clock_container):
    c = live_clock_container
    friday = at_ny(2026, 11, 20, 16, 30)
    with freeze_time(friday) as frozen:
        ingest(c, hot_lead(at=friday))
        frozen.move_to(at_ny(2026, 11, 21, 12, 0))  # Saturday noon: nothing is due
        assert job(c) == [0]
        frozen.move_to(at_ny(2026, 11, 23, 9, 15))
        assert job(c) == [1]
        frozen.move_to(at_ny(2026, 11, 23, 9, 30))
        assert job(c) == [1]
    assert [step for step, _ in sent(c)] == ["handoff", "warn", "breach"]


# --- the ladder -----------------------------------------------------------------------------


def test_each_ladder_step_fires_once_however_many_times_the_job_runs(c):
    ingest(c, hot_lead())  # Monday 10:00: warn 10:45, breach 11:00, manager 13:00, channel 15:00
    plan = [
        ((10, 30), []),
        ((10, 45), ["warn"]),
        ((10, 59), []),
        ((11, 0), ["breach"]),
        ((12, 59), []),
        ((13, 0), ["manager"]),
        ((15, 0), ["channel"]),
        ((16, 59), []),
    ]
    seen = ["handoff"]
    for (h, m), expected in plan:
        move_to(c, at_ny(2026, 11, 23, h, m))
        assert job(c, times=3) == [len(expected), 0, 0]
        seen += expected
        assert [step for step, _ in sent(c)] == seen
    assert dict(sent(c)) == {
        "handoff": dm_to(c, "ana"),
        "warn": dm_to(c, "ana"),
        "breach": dm_to(c, "ana"),
        "manager": dm_to(c, "maya"),
        "channel": "channel:sales",
    }
    got = lead(c)
    assert got.ladder_step == 4 and got.next_alert_at is None
    with c.uow_factory() as uow:
        assert [a.step for a in uow.alerts.for_lead(got.id)] == ["warn", "breach", "manager", "channel"]


def test_the_breach_dm_offers_follow_up_snooze_and_bounce(c):
    ingest(c, hot_lead())
    move_to(c, at_ny(2026, 11, 23, 11))
    job(c)
    [breach] = outbox(c, key=f"cooling:{lead(c).id}:1:breach")
    lead_id = ref(c)
    assert buttons(breach.payload) == [
        ("Log follow-up", "cooling.follow_up", lead_id),
        ("Snooze 1 hour", "cooling.snooze", f"{lead_id}:1h"),
        ("Snooze until tomorrow", "cooling.snooze", f"{lead_id}:morning"),
        ("Bounce to marketing", "bounce.open", lead_id),
    ]
    assert "SLA breached" in text_of(breach.payload)


def test_a_lead_qualified_long_ago_escalates_at_once_without_a_stale_warning(c):
    ingest(c, hot_lead(at="2026-11-02T15:00:00Z"))
    assert job(c, times=2) == [3, 0]
    assert [step for step, _ in sent(c)] == ["handoff", "breach", "manager", "channel"]
    manager = outbox(c, key=f"cooling:{lead(c).id}:1:manager")[0]
    assert "passed its SLA" in text_of(manager.payload) and "snoozed" not in text_of(manager.payload).lower()


def test_an_alert_is_not_a_follow_up(c):
    ingest(c, hot_lead())
    move_to(c, at_ny(2026, 11, 23, 11))
    job(c)
    got = lead(c)
    assert (got.touch_count, got.last_touch_at, got.sla_window) == (0, None, 1)


def test_a_follow_up_satisfies_the_first_touch_clock_and_the_cadence_runs_from_it(c):
    ingest(c, hot_lead())
    move_to(c, at_ny(2026, 11, 23, 10, 45))
    job(c)
    move_to(c, at_ny(2026, 11, 23, 10, 50))
    reply = command(c, "ana", "touch L-1 left a voicemail")
    assert "Logged your follow-up on Jane Doe (Acme)" in reply.text
    # 3 business days (24 business hours) later; Thursday 26 November is Thanksgiving.
    assert "Next follow-up due by Fri 27 Nov, 10:50 EST" in moment_fallback(reply.text)
    for day, h, m in [(23, 11, 0), (23, 11, 30), (24, 16, 0)]:  # no new first-touch window, no breach
        move_to(c, at_ny(2026, 11, day, h, m))
        assert job(c) == [0]
    move_to(c, at_ny(2026, 11, 25, 12, 50))  # 75% of the cadence: 18 business hours
    assert job(c) == [1]
    assert [step for step, _ in sent(c)] == ["handoff", "warn", "warn"]
    assert outbox(c)[-1].key == f"cooling:{lead(c).id}:2:warn"
    assert "no sales activity" in text_of(outbox(c)[-1].payload)
    got = lead(c)
    assert (got.touch_count, got.first_touch_at, got.sla_window, got.sla_clock) == (
        1,
        at_ny(2026, 11, 23, 10, 50),
        2,
        "cadence",
    )
    with c.uow_factory() as uow:
        [touch] = uow.leads.touches(got.id)
    assert (touch.source, touch.note, touch.person_id) == ("command", "left a voicemail", person_id(c, "ana"))


def test_a_follow_up_from_the_crm_starts_the_cadence_from_when_it_happened(c):
    ingest(c, hot_lead())
    move_to(c, at_ny(2026, 11, 23, 10, 40))
    ingest(c, touched("L-1", at=at_ny(2026, 11, 23, 10, 30), note="call"))
    got = lead(c)
    assert (got.sla_window, got.sla_started_at, got.sla_due_at) == (
        2,
        at_ny(2026, 11, 23, 10, 30),
        at_ny(2026, 11, 27, 10, 30),
    )
    ingest(c, touched("L-1", at=at_ny(2026, 11, 23, 10, 10)))  # arrives late: counted, moves nothing
    assert (lead(c).touch_count, lead(c).sla_due_at) == (2, at_ny(2026, 11, 27, 10, 30))


def test_reassigning_a_lead_does_not_reset_its_clock(c):
    ingest(c, hot_lead())
    due = lead(c).sla_due_at
    move_to(c, at_ny(2026, 11, 23, 10, 50))
    ingest(c, hot_lead(type="lead.upserted", owner="ben"))
    got = lead(c)
    assert (got.owner_id, got.sla_due_at, got.sla_window) == (person_id(c, "ben"), due, 1)
    move_to(c, at_ny(2026, 11, 23, 11))
    job(c)
    assert sent(c)[-1] == ("breach", dm_to(c, "ben"))


def test_an_away_owners_handoff_and_alerts_go_to_their_manager_and_nothing_to_them(c):
    assert "away" in command(c, "ana", "away 2026-11-23 2026-11-27").text
    ingest(c, hot_lead())
    move_to(c, at_ny(2026, 11, 23, 11))
    assert job(c, times=2) == [1, 0]
    assert sent(c) == [("handoff", dm_to(c, "maya")), ("breach", dm_to(c, "maya"))]
    breach = outbox(c)[-1]
    assert f"{mention(person_id(c, 'ana'))} is away until Fri 27 Nov, so this comes to you." in text_of(breach.payload)
    assert ("Log follow-up", "cooling.follow_up", ref(c)) in buttons(breach.payload)
    move_to(c, at_ny(2026, 11, 23, 15))
    job(c)
    assert [step for step, _ in sent(c)] == ["handoff", "breach", "manager", "channel"]
    assert not [r for r in outbox(c) if r.destination == dm_to(c, "ana")]


def test_a_snooze_pauses_the_ladder_and_the_manager_sees_it_counted(c):
    ingest(c, hot_lead())
    move_to(c, at_ny(2026, 11, 23, 11))
    job(c)
    breach_key = outbox(c)[-1].key
    move_to(c, at_ny(2026, 11, 23, 11, 5))
    reply = press(c, "ana", "cooling.snooze", f"{ref(c)}:1h", breach_key)
    assert moment_fallback(reply.text) == "Snoozed until Mon 23 Nov, 12:05 EST. I'll remind you then."
    got = lead(c)
    assert (got.snoozed_until, got.next_alert_at, got.snooze_count) == (at_ny(2026, 11, 23, 12, 5),) * 2 + (1,)
    move_to(c, at_ny(2026, 11, 23, 12))
    assert job(c) == [0]
    move_to(c, at_ny(2026, 11, 23, 12, 5))
    assert job(c, times=2) == [1, 0]
    assert sent(c)[-1] == ("snooze1", dm_to(c, "ana"))
    assert "Snooze over" in text_of(outbox(c)[-1].payload)
    move_to(c, at_ny(2026, 11, 23, 13))
    job(c)
    assert sent(c)[-1] == ("manager", dm_to(c, "maya"))
    assert "Snoozed 1 time before this." in text_of(outbox(c)[-1].payload)


def test_an_unowned_lead_past_its_sla_has_one_claim_post_which_becomes_the_escalation(c):
    ingest(c, hot_lead(owner=None))
    [post] = outbox(c)
    move_to(c, at_ny(2026, 11, 23, 16))
    assert job(c, times=2) == [1, 0]
    assert sent(c) == [("handoff", "channel:sales")]  # no second post
    [escalation] = outbox(c, op="update")
    assert escalation.target_key == post.key
    assert "has no owner and passed its SLA" in text_of(escalation.payload)
    assert buttons(escalation.payload) == [("Claim", "cooling.claim", ref(c))]


# --- the bounce flow's entry points ---------------------------------------------------------


def test_a_requalified_lead_returns_to_sales_with_its_bounce_history(c):
    ingest(c, hot_lead())
    ben = person_id(c, "ben")
    with c.uow_factory() as uow:
        got = uow.leads.by_crm_id("L-1")
        uow.bounces.add(
            Bounce(lead_id=got.id, reason="no_budget", note="Q3 maybe", by_person_id=ben, at=at_ny(2026, 11, 12, 11))
        )
        for k, v in stopped().items():
            setattr(got, k, v)
        got.status = "nurture"
        uow.commit()
    assert lead(c).next_alert_at is None and lead(c).sla_due_at is None
    move_to(c, at_ny(2026, 11, 24, 10))
    lead_id, kira = lead(c).id, person_id(c, "kira")
    with c.uow_factory() as uow:
        got = uow.leads.get_for_update(lead_id)
        requalify(uow, c.deps, uow.people.get(kira), got, note="budget is back")
        uow.commit()
    got = lead(c)
    assert (got.status, got.qualified_at, got.sla_window) == ("qualified", c.deps.now(), 2)
    assert got.sla_due_at == at_ny(2026, 11, 24, 11) and got.next_alert_at == at_ny(2026, 11, 24, 10, 45)
    handoff = outbox(c, key=f"cooling:{got.id}:2:handoff")[0]
    text = text_of(handoff.payload)
    assert f"Bounced before: 12 Nov 2026 — No budget by {mention(person_id(c, 'ben'))}: Q3 maybe" in text
    assert f"Sent back to sales by {mention(person_id(c, 'kira'))}: budget is back" in text


def test_a_bounced_lead_comes_back_only_when_the_crm_qualifies_it_again(c):
    ingest(c, hot_lead(type="lead.upserted", status="SQL"))
    ana = person_id(c, "ana")
    with c.uow_factory() as uow:
        got = uow.leads.by_crm_id("L-1")
        uow.bounces.add(Bounce(lead_id=got.id, reason="not_ready", by_person_id=ana, at=at_ny(2026, 11, 23, 10, 30)))
        got.status = "nurture"
        for k, v in stopped().items():
            setattr(got, k, v)
        uow.commit()
    ingest(c, hot_lead(type="lead.upserted", status="SQL", title="CTO"))  # unchanged status: stays
    assert lead(c).status == "nurture"
    ingest(c, hot_lead(type="lead.upserted", status="Nurturing", score=40))  # no longer meets the definition
    assert lead(c).status == "nurture"
    ingest(c, hot_lead(type="lead.upserted", status="SQL"))  # and now it does again
    assert lead(c).status == "qualified"
    assert "Bounced before: 23 Nov 2026 — Not ready to buy" in text_of(outbox(c)[-1].payload)
    with c.uow_factory() as uow:
        [bounce] = uow.bounces.for_lead(lead(c).id)
    assert bounce.requalified_at == c.deps.now()


# --- message layouts ------------------------------------------------------------------------


def test_the_bulk_built_payloads_are_exactly_what_the_message_model_would_store():
    from handlers import cooling_messages as views
    from handlers.messages import Message

    card = views.LeadCard(7, "L-7", "Jane Doe", "Acme", "jane@acme.example", "CFO", 95)
    history = [views.BounceLine(datetime(2026, 11, 12, tzinfo=UTC), "No budget", 3, "Q3")]
    payloads = [
        views.handoff(
            card,
            owner_id=2,
            tier="hot",
            hours=1,
            due="Mon",
            campaign="Webinar",
            bounces=history,
            requalified_by=4,
            note="back",
        ),
        views.handoff(card, owner_id=None, tier="hot", hours=1, due="Mon"),
        views.warning(card, left="15 min left", due="Mon"),
        views.breach(card, due="Mon", snooze_hours=1),
        views.breach(card, due="Mon", snooze_hours=2, reminder=True),
        views.to_manager(card, owner_id=2, due="Mon", snooze_count=2, snooze_hours=1, cadence="3 business days"),
        views.to_channel(card, owner_id=2, due="Mon", snooze_count=1),
        views.unclaimed(card, due="Mon"),
    ]

    def without_defaults(value):
        if isinstance(value, dict):
            return {k: without_defaults(v) for k, v in value.items() if v is not None and v != []}
        return [without_defaults(v) for v in value] if isinstance(value, list) else value

    for payload in payloads:
        assert without_defaults(Message.from_json(payload).to_json()) == payload


# --- commands -------------------------------------------------------------------------------
# The commands' and the buttons' rules (touch, leads, reassign; follow-up, snooze, claim: who may,
# what changes, refusals) are in tests/test_cooling_unit.py, on the in-memory unit of work.


def test_the_leads_repository_lists_an_owners_qualified_leads_most_urgent_first(c):
    ingest(
        c,
        hot_lead("L-1", tier="warm"),
        hot_lead("L-2"),
        hot_lead("L-3", at="2026-11-20T15:00:00Z"),
        hot_lead("L-4", owner="ben"),
        hot_lead("L-5"),
        hot_lead("L-6"),
    )
    ana, l5, l6 = person_id(c, "ana"), lead(c, "L-5").id, lead(c, "L-6").id
    with c.uow_factory() as uow:
        for lead_id, fields in ((l5, stopped()), (l6, {"status": "nurture"})):
            row = uow.leads.get(lead_id)
            for k, v in fields.items():
                setattr(row, k, v)
            uow.leads.add(row)
        uow.commit()
    with c.uow_factory() as uow:
        rows, total = uow.leads.qualified_for_owner(ana, limit=10)
        # earliest due first, the same due time by id, no due time last; not Ben's, not with marketing
        assert ([r.crm_id for r in rows], total) == (["L-3", "L-2", "L-1", "L-5"], 4)
        page, total = uow.leads.qualified_for_owner(ana, limit=2, offset=1)
        assert ([r.crm_id for r in page], total) == (["L-2", "L-1"], 4)


def test_help_lists_the_cooling_commands(c):
    text = reply_text(command(c, "ana", "help"))
    for usage in ("touch <lead> [note]", "leads [page]", "sla"):
        assert f"/smarketing {usage}" in text


# --- a won deal ends the lead's time with sales ----------------------------------------------


def won(crm_id: str = "D-1", lead_id: str = "L-1") -> dict:
    return {
        "id": f"won-{crm_id}",
        "type": "deal.closed_won",
        "occurred_at": "2026-11-23T15:00:00Z",
        "data": {
            "id": crm_id,
            "name": "Acme platform",
            "amount": 48000,
            "lead_id": lead_id,
            "owner_email": "ana@northwind.example",
        },
    }


def test_a_won_deal_converts_its_lead_and_the_ladder_stops(c):
    ingest(c, hot_lead())  # Monday 10:00 New York; breach due 11:00
    ingest(c, won())
    got = lead(c)
    assert got.status == "converted" and got.sla_due_at is None and got.next_alert_at is None
    move_to(c, at_ny(2026, 11, 24, 17))  # a day later: every step would have fired
    assert job(c) == [0]
    assert [step for step, _ in sent(c)] == ["handoff"]
    assert "Jane Doe" not in reply_text(command(c, "ana", "leads"))


def test_a_converted_lead_is_not_handed_to_sales_again_unless_the_crm_qualifies_it(c):
    ingest(
        c,
        won(),
        lead_event(
            "L-1",
            email="l-1@acme.example",
            company="Acme",
            score=99,
            name="Jane Doe",
            owner_email="ana@northwind.example",
        ),
    )
    assert lead(c).status == "converted" and sent(c) == []
    ingest(c, hot_lead(type="lead.upserted", score=98))  # an update that meets the definition
    assert lead(c).status == "converted" and sent(c) == []
    ingest(c, hot_lead(type="lead.qualified"))  # the CRM says sales should work it again
    assert lead(c).status == "qualified" and [step for step, _ in sent(c)] == ["handoff"]


def test_a_lead_update_after_its_deal_in_one_request_does_not_reopen_it(c):
    ingest(c, hot_lead(type="lead.upserted", score=10), won(), hot_lead(type="lead.upserted", score=99))
    got = lead(c)
    assert got.status == "converted" and got.score == 99 and sent(c) == []


def test_two_follow_ups_from_the_crm_at_once_are_both_counted(c):
    import threading

    from handlers.cooling import leads_touched
    from handlers.events import validate_events

    ingest(c, hot_lead())
    first, _ = validate_events([touched("L-1", at="2026-11-23T15:00:00Z")])
    with c.uow_factory() as uow:  # one request has read the lead and is about to write it
        leads_touched(uow, c.deps, first)
        other = threading.Thread(target=lambda: ingest(c, touched("L-1", by="ben", at="2026-11-23T15:00:00Z")))
        other.start()
        other.join(0.3)  # the other request waits for this one instead of reading the lead as it was
        uow.commit()
    other.join(10)
    got = lead(c)
    assert got.touch_count == 2
    with c.uow_factory() as uow:
        assert len(uow.leads.touches(got.id)) == 2


def test_a_lead_name_or_note_from_the_crm_cannot_mention_anyone(c):
    ingest(c, hot_lead(name="<person:98> boss", company="<person:99> Inc"))
    move_to(c, at_ny(2026, 11, 23, 11))
    job(c)
    texts = [text_of(r.payload) for r in outbox(c, key="cooling:")]
    assert len(texts) >= 2  # the handoff and the breach alert
    for text in texts:
        assert mention(98) not in text and mention(99) not in text
        assert "<person:98> boss" in text  # shown as the CRM wrote it
