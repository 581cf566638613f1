"""The weekly post to marketing: bounce reasons by campaign over the last 7 days."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from freezegun import freeze_time

from bot.scheduler import run_job
from bot.slack.blocks import render_message
from handlers.messages import Message, mention
from handlers.ports import OffsetClock
from storage.models import Bounce, Campaign
from tests.bounce_helpers import outbox, person_id, seed_lead

MONDAY_0930_LONDON = datetime(2026, 11, 23, 9, 30, tzinfo=timezone.utc)  # GMT in November


def add_bounces(c, campaign: str | None, reasons: dict[str, int], *, at: datetime, repeats: int = 0) -> None:
    """``reasons`` bounces of leads from ``campaign`` at ``at`` (written directly: report-only tests)."""
    lead_id = seed_lead(c, crm_id=f"L-{campaign}-{at:%d%H%M}-{len(reasons)}", email=None, campaign=campaign)
    with c.uow_factory() as uow:
        camp = uow.campaigns.by_crm_id(f"C-{campaign}") if campaign else None
        n = 0
        for reason, count in reasons.items():
            for _ in range(count):
                uow.bounces.add(
                    Bounce(
                        lead_id=lead_id, campaign_id=camp.id if camp else None, reason=reason, at=at, repeat=n < repeats
                    )
                )
                n += 1
        uow.commit()


def report(c) -> Message:
    [row] = outbox(c, destination="channel:marketing")
    assert row.key == "bounce_report:2026-W48"
    return Message.from_json(row.payload)


def test_the_weekly_post_counts_reasons_by_campaign_with_shares(make_container, clock):
    c = make_container()
    week_ago = clock.now() - timedelta(days=2)
    add_bounces(c, "Spring Webinar", {"not_ready": 3, "no_budget": 1}, at=week_ago, repeats=1)
    add_bounces(c, "Paid Search", {"not_icp": 2}, at=week_ago)
    add_bounces(c, None, {"duplicate": 2}, at=week_ago)
    add_bounces(c, "Spring Webinar", {"no_budget": 5}, at=clock.now() - timedelta(days=9))  # too old
    result = run_job(c, "bounce_report")
    assert result.done == 1
    msg = report(c)
    kira = person_id(c, "kira")
    sections = [b.text for b in msg.blocks if getattr(b, "text", None)]
    assert sections[0] == "Bounce-backs by campaign"
    assert "*8* leads bounced back in the last 7 days (Nov 16 – Nov 23), from *2* campaigns." in sections[1]
    assert (
        "By reason: Not ready to buy *3* (38%) · Duplicate *2* (25%) · Not our customer profile *2* (25%)"
        " · No budget *1* (12%)" in sections[1]
    )
    assert ":repeat: 1 bounced again for the same reason as before." in sections
    assert (
        f"*Spring Webinar* · {mention(kira)} — *4* (50% of all)\n• Not ready to buy: 3 (75%)\n• No budget: 1 (25%)"
    ) in sections
    assert f"*Paid Search* · {mention(kira)} — *2* (25% of all)\n• Not our customer profile: 2 (100%)" in sections
    assert "*No source campaign* — *2* (25% of all)\n• Duplicate: 2 (100%)" in sections


def test_the_weekly_post_goes_out_once_a_week(make_container, clock):
    c = make_container()
    add_bounces(c, "Spring Webinar", {"not_ready": 1}, at=clock.now() - timedelta(days=1))
    assert run_job(c, "bounce_report").done == 1
    clock.advance(timedelta(hours=3))
    assert run_job(c, "bounce_report").done == 0
    assert len(outbox(c, destination="channel:marketing")) == 1


@pytest.mark.parametrize(
    "moment",
    [
        MONDAY_0930_LONDON - timedelta(minutes=1),
        MONDAY_0930_LONDON + timedelta(days=1),
        MONDAY_0930_LONDON + timedelta(days=3),
    ],
    ids=["a minute early", "a day late", "midweek"],
)
def test_the_weekly_post_waits_for_its_day_and_time_in_the_marketing_timezone(make_container, clock, moment):
    c = make_container()
    clock.at = moment
    assert run_job(c, "bounce_report").done == 0
    assert outbox(c) == []


def test_a_quiet_week_says_so(make_container):
    c = make_container()
    run_job(c, "bounce_report")
    assert report(c).text == "No leads bounced back to marketing in the last 7 days (Nov 16 – Nov 23)."


def test_many_campaigns_stay_inside_block_kit_limits(make_container, clock):
    c = make_container()
    lead_id = seed_lead(c, campaign=None)
    with c.uow_factory() as uow:
        kira = uow.people.by_key("kira").id
        for i in range(120):
            camp = uow.campaigns.add(Campaign(crm_id=f"C{i}", name=f"Campaign {i} " + "x" * 400, owner_id=kira))
            for reason in ("not_ready", "no_budget", "wrong_contact", "not_icp", "unresponsive", "duplicate"):
                uow.bounces.add(
                    Bounce(
                        lead_id=lead_id,
                        campaign_id=camp.id,
                        reason=reason,
                        at=clock.now() - timedelta(hours=6 + i % 24),
                    )
                )
        uow.commit()
    run_job(c, "bounce_report")
    msg = report(c)
    rendered = render_message(msg, lambda pid: ("Kira Novak", "U_KIRA"))
    assert len(rendered["blocks"]) <= 50
    assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in rendered["blocks"])
    assert "…and 80 more campaigns with 480 bounces." in msg.blocks[-1].text


def test_the_weekly_post_is_delivered_to_the_marketing_channel_on_monday_morning(make_container, slack):
    """Under freezegun, through the scheduler's job entry and the real dispatcher to Slack."""
    c = make_container(slack_mock=slack, clock=OffsetClock())
    with freeze_time("2026-11-23 09:29:00"):
        assert run_job(c, "bounce_report").done == 0
    with freeze_time("2026-11-20 12:00:00"):
        lead_id = seed_lead(c)
        with c.uow_factory() as uow:
            camp = uow.leads.get(lead_id).source_campaign_id
            uow.bounces.add(Bounce(lead_id=lead_id, campaign_id=camp, reason="unresponsive", at=c.deps.now()))
            uow.commit()
    with freeze_time("2026-11-23 09:30:00"):
        assert run_job(c, "bounce_report").done == 1
        c.dispatcher.drain()
    [post] = slack.messages("C_MARKETING")
    assert post["text"] == "1 lead bounced back in the last 7 days; top reason: Unresponsive (100%)"
    body = "\n".join(b.get("text", {}).get("text", "") for b in post["blocks"] if b["type"] == "section")
    # The campaign's owner is mentioned (the renderer shows the mock's "U_KIRA", an id no real
    # Slack user has, by name).
    assert any(
        f"*Spring Webinar* · {kira} — *1* (100% of all)\n• Unresponsive: 1 (100%)" in body
        for kira in ("<@U_KIRA>", "Kira Novak")
    )
