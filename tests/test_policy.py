"""The delivery policy (handlers/policy.py): real time for what must be acted on now, warnings and
escalations folded into one message a day kept up to date in place, quiet hours held until the
reader's next opening (urgent excepted), nothing to someone away."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from bot.config import ConfigError, parse_config
from bot.scheduler import run_job
from handlers.commands import run_action
from handlers.messages import Message, Section, mention, moment, moment_fallback
from handlers.ports import Actor
from handlers.registry import MessageRef
from tests.cooling_helpers import buttons, hot_lead, ingest, lead, outbox, person_id, text_of

UTC = timezone.utc
NY = ZoneInfo("America/New_York")
PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def c(make_container):
    return make_container()


def at(tz, *args) -> datetime:
    return datetime(*args, tzinfo=tz).astimezone(UTC)


def tick(c, when: datetime) -> None:
    """The scheduler's jobs at ``when``: the ladder, then the digests."""
    c.deps.clock.at = when
    run_job(c, "cooling")
    run_job(c, "digests")


def shown(c, key: str) -> dict:
    with c.uow_factory() as uow:
        return uow.outbox.current_payload(key)


def follow_up(c, who: str, crm_id: str, key: str):
    got = lead(c, crm_id)
    return run_action(
        c.registry,
        c.uow_factory,
        c.deps,
        Actor(person_id(c, who), "local"),
        "cooling.follow_up",
        f"{got.id}@{got.version}",
        MessageRef(outbox_key=key),
    )


def test_a_warning_is_a_line_in_the_reps_morning_follow_ups_updated_in_place_when_handled(c):
    c.deps.clock.at = at(NY, 2026, 11, 23, 10)
    ingest(c, hot_lead("L-1", at=at(NY, 2026, 11, 23, 10)))
    tick(c, at(NY, 2026, 11, 23, 10, 50))  # past the warning (10:45), before the breach (11:00)
    assert not outbox(c, key=f"cooling:{lead(c).id}:")[1:], "the warning is not a DM of its own"
    ana = person_id(c, "ana")
    digest = outbox(c, key=f"digest:followups:{ana}:2026-11-23")
    assert len(digest) == 1 and digest[0].destination == f"dm:{ana}"
    body = shown(c, digest[0].key)
    assert "Jane Doe" in text_of(body) and "due by Mon 23 Nov, 11:00 EST" in moment_fallback(text_of(body))
    assert [b[0] for b in buttons(body)] == ["Log follow-up"]

    reply = follow_up(c, "ana", "L-1", digest[0].key)
    assert reply.text.startswith("Logged your follow-up")
    tick(c, at(NY, 2026, 11, 23, 10, 55))
    body = shown(c, digest[0].key)
    assert "✅ *Jane Doe* (Acme): followed up at 10:50 EST" in moment_fallback(text_of(body))
    assert buttons(body) == [] and "All handled" in text_of(body)
    tick(c, at(NY, 2026, 11, 23, 16))
    assert len(outbox(c, key="digest:followups:")) == 1, "one message a day, updated in place"
    assert not [r for r in outbox(c, key="cooling:") if r.key.endswith((":breach", ":manager", ":channel"))]


def test_the_channel_gets_one_at_risk_roll_up_a_day_and_a_hot_escalation_reaches_the_manager_at_once(c):
    c.deps.clock.at = at(NY, 2026, 11, 23, 10)
    ingest(
        c,
        hot_lead("L-1", owner="ana", at=at(NY, 2026, 11, 23, 10)),
        hot_lead("L-2", owner="ben", name="Bob Roe", email="bob@acme.example", at=at(NY, 2026, 11, 23, 10)),
    )
    for hour in (11, 13, 15):  # breach, manager, channel
        tick(c, at(NY, 2026, 11, 23, hour, 1))
    maya = person_id(c, "maya")
    steps = [(r.key.split(":")[3], r.destination) for r in outbox(c, key="cooling:")]
    assert steps.count(("manager", f"dm:{maya}")) == 2, "hot is urgent: the manager hears at once"
    assert steps.count(("breach", f"dm:{person_id(c, 'ana')}")) == 1
    assert not [s for s in steps if s[0] == "channel"], "no post per lead in #sales"
    rollup = outbox(c, key="digest:atrisk:sales:2026-11-23")
    assert len(rollup) == 1 and rollup[0].destination == "channel:sales"
    body = text_of(shown(c, rollup[0].key))
    assert "Jane Doe" in body and "Bob Roe" in body and mention(person_id(c, "ana")) in body
    assert len(buttons(shown(c, rollup[0].key))) == 2

    follow_up(c, "ana", "L-1", rollup[0].key)
    tick(c, at(NY, 2026, 11, 23, 15, 30))
    body = shown(c, rollup[0].key)
    assert "✅ *Jane Doe*" in text_of(body) and len(buttons(body)) == 1
    assert len(outbox(c, key="digest:atrisk:")) == 1


def test_a_warm_escalation_waits_for_the_managers_digest_with_per_rep_counts(c):
    c.deps.clock.at = at(NY, 2026, 11, 23, 9)
    ingest(c, hot_lead("L-1", owner="ana", score=75, at=at(NY, 2026, 11, 23, 9)))  # warm: 4 business hours
    assert lead(c).tier == "warm"
    tick(c, at(NY, 2026, 11, 23, 13, 1))  # breach: the rep hears at once
    maya = person_id(c, "maya")
    assert not outbox(c, key=f"digest:team:{maya}:")
    tick(c, at(NY, 2026, 11, 23, 15, 1))  # the manager step: folded into the manager's digest
    assert not [r for r in outbox(c, key="cooling:") if r.destination == f"dm:{maya}"]
    team = outbox(c, key=f"digest:team:{maya}:2026-11-23")
    assert len(team) == 1
    body = text_of(shown(c, team[0].key))
    assert "1 of your team's leads is past their SLA: Ana Torres 1." in body and "Jane Doe" in body
    assert [b[0] for b in buttons(shown(c, team[0].key))] == ["Log follow-up"]


def test_quiet_hours_hold_a_handoff_until_the_readers_opening_but_not_an_urgent_escalation(c):
    hugo = person_id(c, "hugo")  # Europe/Paris
    c.deps.clock.at = at(NY, 2026, 11, 23, 16)  # 22:00 in Paris
    ingest(c, hot_lead("L-1", owner="hugo", at=at(NY, 2026, 11, 23, 16)))
    handoff = outbox(c, key=f"cooling:{lead(c).id}:")
    assert [r.destination for r in handoff] == [f"dm:{hugo}"]
    assert handoff[0].next_attempt_at == at(PARIS, 2026, 11, 24, 9), "held until 09:00 in Paris"
    c.dispatcher.drain()
    assert outbox(c, key=f"cooling:{lead(c).id}:")[0].status == "pending"

    # Hugo's hot lead breaches past the manager step at 12:00 Paris: 06:00 for Maya in New York.
    for when in (at(PARIS, 2026, 11, 24, 10, 1), at(PARIS, 2026, 11, 24, 12, 1)):
        tick(c, when)
    maya = person_id(c, "maya")
    manager = [r for r in outbox(c, key="cooling:") if r.destination == f"dm:{maya}"]
    assert len(manager) == 1 and manager[0].next_attempt_at == manager[0].created_at, "urgent: not held"


def test_no_digest_for_someone_away(c):
    from storage.models import AwayPeriod

    ana = person_id(c, "ana")
    with c.uow_factory() as uow:
        uow.session.add(
            AwayPeriod(person_id=ana, starts_at=at(NY, 2026, 11, 23, 0), ends_at=at(NY, 2026, 11, 24, 0), source="test")
        )
        uow.commit()
    c.deps.clock.at = at(NY, 2026, 11, 23, 10)
    ingest(c, hot_lead("L-1", owner="ana", at=at(NY, 2026, 11, 23, 10)))
    tick(c, at(NY, 2026, 11, 23, 10, 50))
    assert not outbox(c, key=f"digest:followups:{ana}:")


def test_the_delivery_config_says_what_is_wrong():
    from pathlib import Path

    from bot.config import DEMO_CONFIG

    text = Path(DEMO_CONFIG).read_text()
    with pytest.raises(ConfigError, match=r"delivery\.warn"):
        parse_config(text.replace("warn: digest ", "warn: sometimes "), "acme.yaml")
    with pytest.raises(ConfigError, match=r"delivery\.urgent_tiers\.0: no tier 'boiling'"):
        parse_config(text.replace("urgent_tiers: [hot]", "urgent_tiers: [boiling]"), "acme.yaml")


def test_a_time_is_shown_in_each_readers_timezone_slack_date_token_teams_card_functions_local_viewer():
    when = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
    text = f"due by {moment(when, 'America/New_York')}"
    unix = int(when.timestamp())
    assert moment_fallback(text) == "due by Wed 2 Dec, 05:00 EST"

    from bot.slack.blocks import render_message as slack_render

    slack = slack_render(Message(text=text, blocks=[Section(text=text)]), lambda pid: ("Someone", None))
    token = f"<!date^{unix}^{{date_short}} {{time}}|Wed 2 Dec, 05:00 EST>"
    assert slack["blocks"][0]["text"]["text"] == f"due by {token}"

    from bot.teams.cards import render_message as teams_render

    card = json.dumps(teams_render(Message(text=text, blocks=[Section(text=text)]), lambda pid: ("Someone", None)))
    assert "due by {{DATE(2026-12-02T10:00:00Z, SHORT)}} {{TIME(2026-12-02T10:00:00Z)}}" in card
    assert "EST" not in card.replace("Wed 2 Dec, 05:00 EST", "")  # the zone is only in the fallback, if at all

    from bot.local.render import markup

    html = markup(text, {})
    assert (
        '<time class="moment" data-at="2026-12-02T10:00:00Z" data-style="datetime">Wed 2 Dec, 05:00 EST</time>' in html
    )


def test_a_message_held_for_the_morning_goes_to_the_cover_when_its_reader_is_away_by_then(c):
    from storage.models import AwayPeriod

    hugo, erin = person_id(c, "hugo"), person_id(c, "erin")  # Hugo (Paris) is covered by Erin
    with c.uow_factory() as uow:  # away from Tuesday: not yet when the lead arrives
        uow.session.add(
            AwayPeriod(
                person_id=hugo, starts_at=at(PARIS, 2026, 11, 24, 0), ends_at=at(PARIS, 2026, 11, 26, 0), source="test"
            )
        )
        uow.commit()
    c.deps.clock.at = at(NY, 2026, 11, 23, 16)  # 22:00 in Paris: a handoff to Hugo would wait for 09:00
    ingest(c, hot_lead("L-1", owner="hugo", at=at(NY, 2026, 11, 23, 16)))
    [handoff] = outbox(c, key=f"cooling:{lead(c).id}:")
    assert handoff.destination == f"dm:{erin}", "not held for someone who will be away by then"
    assert "is away until" in text_of(handoff.payload)
    assert handoff.next_attempt_at == handoff.created_at, "16:00 in Erin's New York: now"


def test_a_win_closed_at_night_is_celebrated_when_the_channels_day_begins(c):
    from tests.wins_helpers import deal

    c.deps.clock.at = at(NY, 2026, 11, 23, 22)
    ingest(c, deal("D-9", closed="2026-11-24T03:00:00Z"))
    [post] = outbox(c, key="wins:D-9:post")
    assert post.destination == "channel:wins"
    assert post.next_attempt_at == at(NY, 2026, 11, 24, 9), "held until 09:00 in New York"
    c.dispatcher.drain()
    assert outbox(c, key="wins:D-9:post")[0].status == "pending"


def test_a_manager_who_owns_a_lead_gets_its_warning_in_their_own_follow_ups(c):
    c.deps.clock.at = at(NY, 2026, 11, 23, 10)
    ingest(c, hot_lead("L-1", owner="maya", at=at(NY, 2026, 11, 23, 10)))
    tick(c, at(NY, 2026, 11, 23, 10, 50))  # past the warning, before the breach
    maya = person_id(c, "maya")
    [digest] = outbox(c, key=f"digest:followups:{maya}:2026-11-23")
    assert digest.destination == f"dm:{maya}" and "Jane Doe" in text_of(shown(c, digest.key))


def test_a_message_held_for_the_morning_goes_to_the_cover_when_its_reader_says_they_are_away_meanwhile(c):
    from handlers.commands import run_command

    hugo, erin = person_id(c, "hugo"), person_id(c, "erin")
    c.deps.clock.at = at(NY, 2026, 11, 23, 16)  # 22:00 in Paris: Hugo's handoff waits for 09:00
    ingest(c, hot_lead("L-1", owner="hugo", at=at(NY, 2026, 11, 23, 16)))
    [held] = outbox(c, key=f"cooling:{lead(c).id}:")
    assert held.destination == f"dm:{hugo}" and held.next_attempt_at == at(PARIS, 2026, 11, 24, 9)
    reply = run_command(c.registry, c.uow_factory, c.deps, Actor(hugo, "local"), "away tomorrow")
    assert reply.text.startswith("You are away Tue 24 Nov")
    [moved] = outbox(c, key=f"cooling:{lead(c).id}:")
    assert moved.key == held.key and moved.destination == f"dm:{erin}"
    assert "is away until" in text_of(moved.payload)
