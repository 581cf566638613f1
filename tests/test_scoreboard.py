"""The smarketing agreement's scoreboard on a real database: targets in the config, the numbers
of a period, who sees what, the weekly post with its chart, the monthly recognition.

The ``clock`` fixture is Monday 2026-11-23 15:00 UTC (10:00 in New York); a hot lead has 1
business hour. The demo config's sales team is Maya (manager) with Ana, Ben, ...; marketing is
Jonas (manager) with Kira, Leo, ...; Sam is the admin."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bot.config import ConfigError, load_config, parse_config
from bot.scheduler import run_job
from handlers.messages import mention
from handlers.commands import run_action, run_command
from handlers.ports import Actor
from tests.cooling_helpers import at_ny, hot_lead, ingest, lead, outbox, person_id, text_of

UTC = timezone.utc


def config_with(**agreement):
    cfg = load_config(None)
    for k, v in agreement.items():
        setattr(cfg.agreement, k, v)
    return cfg


@pytest.fixture
def c(make_container):
    return make_container(
        config=config_with(
            leads_per_month=30,
            acceptance_rate=0.9,
            within_sla=0.8,
            conversion=0.2,
            sourced_revenue=100000,
            by_region={"EMEA": 10, "NA": 20},
        )
    )


def move_to(c, when: datetime) -> None:
    c.deps.clock.at = when


def command(c, who: str, text: str):
    return run_command(c.registry, c.uow_factory, c.deps, Actor(person_id(c, who), "local"), text)


def reply_text(reply) -> str:
    msg = reply.as_message()
    return "\n".join([msg.text] + [getattr(b, "text", "") for b in msg.blocks])


def campaign(crm_id: str, name: str, owner: str) -> dict:
    return {
        "id": f"cmp-{crm_id}",
        "type": "campaign.upserted",
        "occurred_at": "2026-11-01T10:00:00Z",
        "data": {"id": crm_id, "name": name, "owner_email": f"{owner}@northwind.example"},
    }


def touch(crm_id: str, by: str, at: datetime) -> dict:
    return {
        "id": f"t-{crm_id}-{at.isoformat()}",
        "type": "lead.touched",
        "occurred_at": at.isoformat(),
        "data": {"lead_id": crm_id, "by_email": f"{by}@northwind.example"},
    }


def won(crm_id: str, lead_id: str, amount: int, owner: str = "ana", campaign_id: str | None = None) -> dict:
    return {
        "id": f"won-{crm_id}",
        "type": "deal.closed_won",
        "occurred_at": "2026-11-23T15:00:00Z",
        "data": {
            "id": crm_id,
            "name": f"Deal {crm_id}",
            "amount": amount,
            "lead_id": lead_id,
            "owner_email": f"{owner}@northwind.example",
        },
    }


def ctouch(lead_id: str, campaign_id: str, at: str = "2026-11-02T10:00:00Z") -> dict:
    return {
        "id": f"ct-{lead_id}-{campaign_id}",
        "type": "campaign.touch",
        "occurred_at": at,
        "data": {"campaign_id": campaign_id, "lead_id": lead_id, "touched_at": at},
    }


def a_month(c):
    """November so far: webinar (Kira) and ebook (Leo) leads for Ana and Ben; Ana follows two up
    in time, one late; Ben bounces one; one lead is won."""
    ingest(c, campaign("web", "Winter webinar", "kira"), campaign("ebk", "Pricing ebook", "leo"))
    ingest(
        c,
        hot_lead("L-1", owner="ana", source_campaign_id="web", region="EMEA", at="2026-11-23T15:00:00Z"),
        hot_lead("L-2", owner="ana", source_campaign_id="web", region="NA", at="2026-11-23T15:00:00Z"),
        hot_lead("L-3", owner="ana", source_campaign_id="ebk", region="NA", at="2026-11-23T15:00:00Z"),
        hot_lead("L-4", owner="ben", source_campaign_id="ebk", region="NA", at="2026-11-23T15:00:00Z"),
        hot_lead("L-5", owner="ben", source_campaign_id="web", region="EMEA", at="2026-11-23T15:00:00Z"),
    )
    for crm_id, by, minute in (("L-1", "ana", 20), ("L-5", "ben", 30), ("L-2", "ana", 50), ("L-3", "ana", 180)):
        move_to(c, at_ny(2026, 11, 23, 10, 0) + timedelta(minutes=minute))
        ingest(c, touch(crm_id, by, c.deps.now()))
    ingest(c, ctouch("L-1", "web"), won("D-1", "L-1", 40000))
    move_to(c, at_ny(2026, 11, 23, 13, 30))
    assert "bounced" in reply_text(command(c, "ben", "bounce L-4 no_budget Next year")).lower()


# --- the agreement in the config ---------------------------------------------------------------


BASE = """
channels: {wins: {}, sales: {}, marketing: {}}
teams: {sales: {channel: sales}, marketing: {channel: marketing}}
"""


@pytest.mark.parametrize(
    "agreement, problem",
    [
        ("{leads_per_month: -5}", "agreement.leads_per_month: Input should be greater than or equal to 0"),
        ("{by_region: {EMEA: -1}}", "agreement.by_region: the target for 'EMEA' must not be negative (got -1)"),
        ("{within_sla: 1.5}", "agreement.within_sla: Input should be less than or equal to 1"),
        ("{acceptance_rate: 'lots'}", "agreement.acceptance_rate: Input should be a valid number"),
        ("{sourced_revenue: -100}", "agreement.sourced_revenue: Input should be greater than or equal to 0"),
        ("{weekly_post: {day: someday}}", "agreement.weekly_post.day"),
        ("{targets: 3}", "agreement.targets: unknown key"),
    ],
)
def test_a_bad_agreement_is_refused_naming_the_key(agreement, problem):
    with pytest.raises(ConfigError) as e:
        parse_config(BASE + f"agreement: {agreement}\n", "acme.yaml")
    assert problem in str(e.value)


def test_the_agreement_takes_shares_as_fractions_or_percentages():
    cfg = parse_config(BASE + "agreement: {leads_per_month: 120, within_sla: '85%', conversion: 0.15}\n")
    assert cfg.agreement.within_sla == 0.85 and cfg.agreement.conversion == 0.15
    assert cfg.agreement.weekly_post.day == "mon"


# --- the numbers -------------------------------------------------------------------------------


def test_the_admin_sees_both_teams_numbers_against_the_agreement(c):
    a_month(c)
    text = reply_text(command(c, "sam", "sla"))
    assert "The smarketing scoreboard — November 2026" in text
    assert "Leads delivered:* 5 of 30" in text
    assert "*By region:* EMEA 2 of 10 (20%) ⚠️ · NA 3 of 20 (15%) ⚠️" in text
    # four followed up, one bounced without a follow-up: 80% accepted
    assert "*Accepted:* 80% (target 90%) ⚠️ — 4 followed up, 1 bounced" in text
    # L-1 (20 min), L-2 (50 min), L-5 (30 min) in time; L-3 late; L-4 ran out: 3 of 5 decided
    assert "*Within SLA:* 60% (target 80%) ⚠️ — 3 of 5 decided" in text
    assert "*Converted to won:* 20% (target 20%) ✅ — 1 of 5" in text
    assert "No budget 1" in text
    assert "*Winter webinar* — 3 delivered · 0 bounced · $40,000 sourced (1 won) · $40,000 influenced" in text
    assert "*Pricing ebook* — 2 delivered · 1 bounced" in text
    assert "*Revenue sourced by campaigns:* $40,000 of $100,000" in text
    # median of 20, 30, 50, 180 minutes: 40 min, all rep time (every lead had its owner)
    assert "median 40 min (waiting for an owner 0 min + rep 40 min)" in text


def test_a_rep_sees_only_their_own_line(c):
    a_month(c)
    text = reply_text(command(c, "ana", "sla"))
    assert "Your SLA line — November 2026" in text
    assert "Leads delivered: 3;" in text
    assert "*Within SLA:* 67% (target 80%) ⚠️ — 2 of 3 decided" in text
    assert "Winter webinar" not in text and "By rep" not in text and "Revenue sourced" not in text


def test_a_manager_sees_each_of_their_reps(c):
    a_month(c)
    text = reply_text(command(c, "maya", "sla"))
    assert "Your team's scoreboard" in text
    ana, ben = person_id(c, "ana"), person_id(c, "ben")
    assert f"• {mention(ana)} — 3 leads · 67% within SLA (2/3)" in text
    assert f"• {mention(ben)} — 2 leads · 50% within SLA (1/2)" in text
    assert f"• {mention(person_id(c, 'chloe'))} — no handoffs yet" in text


def test_a_marketer_sees_their_campaigns(c):
    a_month(c)
    text = reply_text(command(c, "leo", "sla"))
    assert "Your campaigns' scoreboard" in text
    assert "*Pricing ebook* — 2 delivered · 1 bounced" in text
    assert "Winter webinar" not in text
    assert "Leads delivered:* 2 of 30" in text


def test_waiting_for_an_owner_is_counted_apart_from_the_reps_time(c):
    ingest(c, hot_lead("L-9", owner=None, at="2026-11-23T15:00:00Z"))
    move_to(c, at_ny(2026, 11, 23, 10, 30))
    with c.uow_factory() as uow:
        lead_id = uow.leads.by_crm_id("L-9").id
    assert (
        "is yours"
        in run_action(
            c.registry, c.uow_factory, c.deps, Actor(person_id(c, "ana"), "local"), "cooling.claim", str(lead_id)
        ).text
    )
    assert lead(c, "L-9").claimed_at == at_ny(2026, 11, 23, 10, 30)
    move_to(c, at_ny(2026, 11, 23, 11, 30))
    ingest(c, touch("L-9", "ana", c.deps.now()))
    text = reply_text(command(c, "sam", "sla"))
    assert "median 1.5 h (waiting for an owner 30 min + rep 1.0 h)" in text


def test_last_month_and_weeks_are_their_own_periods(c):
    a_month(c)
    assert "Nothing to score for the company in October 2026 yet" in reply_text(command(c, "sam", "sla last-month"))
    week = reply_text(command(c, "sam", "sla week"))
    assert "week of 23 Nov 2026" in week and "5 of 7 pro rata" in week  # 30 a month: 7 in a week of November
    assert "week of 16 Nov 2026" in reply_text(command(c, "sam", "sla last-week"))
    assert "October 2026" in reply_text(command(c, "sam", "sla 2026-10"))


def test_a_region_filter_narrows_the_scoreboard(c):
    a_month(c)
    text = reply_text(command(c, "sam", "sla region EMEA"))
    assert "region EMEA" in text and "Leads delivered:* 2 of 30" in text


@pytest.mark.parametrize(
    "args, answer",
    [
        ("yesterday-ish", "I can't read `yesterday-ish` as a period"),
        ("2026-13", "I can't read `2026-13` as a period"),
        ("region Atlantis", "No lead has region 'Atlantis'. Leads have: EMEA, NA."),
        ("region", "Name the region"),
    ],
)
def test_bad_input_gets_a_specific_answer_and_stores_nothing(c, args, answer):
    a_month(c)
    before = len(outbox(c, op=None))
    assert answer in command(c, "sam", f"sla {args}").text
    assert len(outbox(c, op=None)) == before


def test_a_target_for_a_region_no_lead_has_is_pointed_out(make_container):
    c = make_container(config=config_with(leads_per_month=30, by_region={"EMEA": 10, "Atlantis": 5}))
    a_month(c)
    text = reply_text(command(c, "sam", "sla"))
    assert "Atlantis 0 of 5" in text and "No lead has region 'Atlantis' yet" in text
    assert "region 'EMEA'" not in text


def test_a_company_with_no_data_gets_an_empty_scoreboard_that_says_what_will_appear(c):
    text = reply_text(command(c, "sam", "sla"))
    assert "Nothing to score for the company in November 2026 yet" in text
    assert "leads delivered against the agreement" in text


def test_someone_unknown_is_told_who_to_ask(c):
    reply = run_command(c.registry, c.uow_factory, c.deps, Actor(None, "slack", "U_NOBODY"), "sla")
    assert "ask an admin" in reply.text


# --- the weekly post and recognition -----------------------------------------------------------


@pytest.mark.full  # the chart is drawn by a child process
def test_the_weekly_post_goes_to_both_teams_once_with_a_real_chart(c):
    a_month(c)
    move_to(c, at_ny(2026, 11, 30, 9, 0))  # Monday 14:00 London: marketing's post is due (09:15)
    assert run_job(c, "scoreboard_weekly").done == 1  # marketing (London); New York at 09:15 its time
    move_to(c, at_ny(2026, 11, 30, 9, 20))
    assert run_job(c, "scoreboard_weekly").done == 1
    assert run_job(c, "scoreboard_weekly").done == 0  # once per team per week, however often it runs
    posts = outbox(c, key="scoreboard:weekly:")
    assert sorted(p.destination for p in posts) == ["channel:marketing", "channel:sales"]
    text = text_of(posts[0].payload)
    assert "Leads delivered: 5 of 30" in text and "Within SLA: 60%" in text  # the text fallback's numbers
    image = next(b for b in posts[0].payload["blocks"] if b["type"] == "image")
    with c.uow_factory() as uow:
        png = uow.scoreboard.image(image["key"]).data
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and 2_000 < len(png) < 60_000
    assert "23 Nov: 5/7" in image["alt"]


@pytest.mark.full
def test_the_chart_is_drawn_by_a_child_process_and_matplotlib_never_enters_the_bots_memory():
    """A long-running bot that has posted a weekly chart stays at its idle size (matplotlib, once
    imported, holds ~50 MB for good); a chart that cannot be drawn is an error saying why."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from handlers.charts import weekly_chart\n"
        "from handlers.scoreboard import Week\n"
        "png = weekly_chart([Week('16 Nov', 5, 7, 0.6, 0.8), Week('23 Nov', 7, 7, 1.0, 0.8)], title='Acme')\n"
        "assert png.startswith(b'\\x89PNG') and 2_000 < len(png) < 60_000, len(png)\n"
        "print('matplotlib' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"

    from handlers.charts import ChartError, weekly_chart
    from handlers.scoreboard import Week

    with pytest.raises(ChartError, match="drawing the weekly chart failed: TypeError"):
        weekly_chart([Week("16 Nov", None, 7, 0.6, 0.8)], title="Acme")  # type: ignore[arg-type]


@pytest.mark.full
def test_commands_can_write_while_the_weekly_chart_is_being_drawn(c, database_url):
    """Drawing the chart takes about a second: it happens with no transaction open, so SQLite's
    write lock is free for commands all the while (checked while the drawing process runs)."""
    import os
    import sqlite3
    import threading

    if not database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL has no database-wide write lock")
    a_month(c)
    move_to(c, at_ny(2026, 11, 30, 9, 0))

    def drawing() -> bool:
        me = str(os.getpid())
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/stat") as f:
                    parent = f.read().rsplit(")", 1)[1].split()[1]
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read()
            except OSError:
                continue
            if parent == me and b"handlers.charts" in cmd:
                return True
        return False

    result: list = []
    job = threading.Thread(target=lambda: result.append(run_job(c, "scoreboard_weekly")))
    job.start()
    writes = 0
    other = sqlite3.connect(database_url.removeprefix("sqlite:///"), timeout=0, isolation_level=None)
    try:
        while job.is_alive():
            if drawing():
                other.execute("BEGIN IMMEDIATE")  # fails at once ("database is locked") if the job holds it
                other.execute("ROLLBACK")
                writes += 1
    finally:
        other.close()
        job.join()
    assert result[0].done == 1
    assert writes > 0  # the chart was being drawn while we took (and gave back) the write lock
    with c.uow_factory() as uow:
        assert uow.scoreboard.image("scoreboard:chart:2026-W49") is not None


def test_recognition_credits_the_top_campaign_its_marketer_and_the_best_sla_line(c):
    a_month(c)
    move_to(c, at_ny(2026, 11, 24, 10, 0))
    ingest(c, hot_lead("L-6", owner="ana", at="2026-11-24T15:00:00Z"))
    move_to(c, at_ny(2026, 11, 24, 10, 10))
    ingest(c, touch("L-6", "ana", c.deps.now()))
    move_to(c, at_ny(2026, 11, 30, 12, 0))
    assert run_job(c, "recognition").done == 0  # the month is not over
    move_to(c, at_ny(2026, 12, 1, 9, 0))
    assert run_job(c, "recognition").done == 1
    assert run_job(c, "recognition").done == 0
    [post] = outbox(c, key="scoreboard:recognition:2026-11")
    text = text_of(post.payload)
    assert post.destination == "channel:wins"
    assert f"*Winter webinar*, run by {mention(person_id(c, 'kira'))} sourced $40,000" in text
    assert f"{mention(person_id(c, 'ana'))} had the best SLA line: 75% of 4 leads" in text
    assert "A sales win is a marketing win too" in text


# --- time to first touch: the repository's quantiles ------------------------------------------


def test_time_to_first_touch_is_the_median_and_the_nearest_rank_90th_per_owner_and_for_everyone(c):
    """On PostgreSQL the quantiles come from the query (percentile_cont / percentile_disc), on
    SQLite from Python: both give the same numbers, which are worked out by hand here."""
    from storage.models import Lead
    from storage.repos.scoreboard import first_touch_of

    ana, ben = person_id(c, "ana"), person_id(c, "ben")
    start = at_ny(2026, 11, 2, 9, 0)
    minutes = timedelta(minutes=1)
    # (owner, minutes waiting for an owner, the rep's minutes): Ana's leads were hers at once;
    # Ben claimed two from the channel, and touched one before his claim was recorded.
    handoffs = [(ana, 0, 20), (ana, 0, 30), (ana, 0, 50), (ana, 0, 180), (ben, 30, 30), (ben, 60, 10), (ben, 45, 0)]
    with c.uow_factory() as uow:
        for i, (owner, wait, rep) in enumerate(handoffs):
            qualified = start + timedelta(days=i)
            claimed = qualified + wait * minutes if owner == ben else None
            touched = qualified + (wait + rep) * minutes
            if (owner, wait, rep) == (ben, 45, 0):
                claimed = touched + 5 * minutes  # the claim recorded after the touch: no rep time
            uow.session.add(
                Lead(
                    crm_id=f"FT-{i}",
                    email=f"ft{i}@example.com",
                    status="qualified",
                    owner_id=owner,
                    qualified_at=qualified,
                    claimed_at=claimed,
                    first_touch_at=touched,
                )
            )
        uow.commit()
    with c.uow_factory.read() as uow:
        everyone, per = uow.scoreboard.first_touch(start=start, end=at_ny(2026, 12, 1), per_owner=True)
        alone, none = uow.scoreboard.first_touch(start=start, end=at_ny(2026, 12, 1))
        nothing, _ = uow.scoreboard.first_touch(start=at_ny(2026, 10, 1), end=at_ny(2026, 10, 2))
    m = 60.0

    def shown(ft):  # SQLite's julianday arithmetic is a float: to the hundredth of a second
        return ft.count, pytest.approx(ft.median, abs=0.01), pytest.approx(ft.p90, abs=0.01)

    # Ana: median of 20, 30, 50, 180 is 40 min; the 90th percentile by nearest rank is 180.
    assert shown(per[ana]) == (4, (40 * m, 0.0, 40 * m), (180 * m, 0.0, 180 * m))
    # Ben: totals 60, 70, 45 -> median 60, p90 70; waits 30, 60, 45 -> 45, 60; reps 30, 10, 0 -> 10, 30.
    assert shown(per[ben]) == (3, (60 * m, 45 * m, 10 * m), (70 * m, 60 * m, 30 * m))
    # Everyone: seven handoffs, the median the fourth of each ordered list; the same without the owners.
    expected = (7, (50 * m, 0.0, 30 * m), (180 * m, 60 * m, 180 * m))
    assert shown(everyone) == expected and shown(alone) == expected
    assert shown(first_touch_of([(w * m, r * m) for _, w, r in handoffs])) == expected
    assert none == {} and nothing is None
