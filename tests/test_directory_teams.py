"""People from Microsoft Teams and the CRM's owners, end to end: a company with no ``people:`` in
its YAML, a Teams channel per team and CRM owner events gets handoffs to the right reps and
escalations to the right managers in Teams; someone removed from their team's channel stops
receiving and their leads go to their manager, who is told once. Teams is the local stand-in
(tests/teams_standin.py: ``pagedmembers`` paged by ``continuationToken``, 404 for a conversation
it does not know, 429 with ``Retry-After``); activities are posted to the real server's
``/api/messages`` as the other Teams tests post them, CRM events to the signed webhook. The
``clock`` fixture is Monday 2026-11-23 15:00 UTC."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from bot.config import parse_config
from bot.scheduler import run_job
from tests import teams_standin as ts
from tests.cooling_helpers import hot_lead, ingest, lead
from tests.hubspot_helpers import wait_until
from tests.directory_helpers import owner, people_by_email as people, problem_details as problems
from tests.teams_helpers import make_teams_app, post, post_crm, teams_server  # noqa: F401 - fixtures


TEAM = "19:acme-team@thread.tacv2"
SALES = "19:acme-sales@thread.tacv2"  # private channels: each has its own members
MARKETING = "19:acme-mkt@thread.tacv2"

CONFIG = f"""
company: Acme
platform: teams
channels:
  wins: {{teams: Wins}}
  sales: {{teams: Sales}}
  marketing: {{teams: Marketing}}
teams:
  sales: {{channel: sales, timezone: America/New_York, members: {{teams_channel: "{SALES}"}}}}
  marketing: {{channel: marketing, timezone: Europe/London, members: {{MARKETING_MEMBERS}}}}
"""
ADMIN = """
people:
  - {key: ada, name: Ada Admin, email: ada@acme.example, team: sales, role: rep, admin: true}
"""


def config(marketing: str = f'teams_channel: "{MARKETING}"', extra: str = ""):
    return parse_config(CONFIG.replace("MARKETING_MEMBERS", marketing) + extra)


@pytest.fixture
def teams(teams_server) -> ts.TeamsStandIn:
    """Acme's tenant: a team with a private channel per department."""
    t = teams_server
    t.reset()
    for email, uid, name in [
        ("boss@acme.example", "29:d-boss", "Bea Boss"),
        ("rep@acme.example", "29:d-rep", "Rita Rep"),
        ("rep2@acme.example", "29:d-rep2", "Ravi Rep"),
        ("mk@acme.example", "29:d-mk", "Max Mark"),
        ("out@acme.example", "29:d-out", "Otto Outside"),
        ("ada@acme.example", "29:d-ada", "Ada Admin"),
    ]:
        t.add_user(email, uid, "aad-" + uid[5:], name)
    t.add_user(None, "29:d-nomail", "aad-nomail", "Nora Nomail")
    t.add_team(TEAM, {TEAM: None, "19:acme-wins@thread.tacv2": "Wins", SALES: "Sales", MARKETING: "Marketing"})
    t.add_roster(
        SALES, ["boss@acme.example", "rep@acme.example", "rep2@acme.example", "29:d-nomail", "ada@acme.example"]
    )
    t.add_roster(MARKETING, ["mk@acme.example"])
    return t


def install(app, teams) -> None:
    """The app is added to Acme's team: Teams tells the bot its service URL, tenant and channels."""
    user = teams.user("boss@acme.example")
    assert (
        post(app, ts.installed_in_team(teams.service_url, user=user, team_id=TEAM, team_name="Acme")).status_code == 200
    )


def dms(teams, user_id: str) -> list[str]:
    """What a person's 1:1 chat with the bot shows (each card's text and its preview)."""
    out = []
    for a in teams.sent(f"a:dm-{user_id}"):
        out.append(
            (a.get("summary") or "")
            + "\n"
            + "\n".join(ts.card_text(card) for card in ts.cards_in(a))
            + (a.get("text") or "")
        )
    return out


def removed(app, teams, channel: str, email: str):
    member = teams.remove_member(channel, email)
    activity = ts.members_changed(
        teams.service_url,
        user=teams.user("boss@acme.example"),
        team_id=TEAM,
        team_name="Acme",
        members=[member],
        added=False,
        channel_id=channel,
    )
    return post(app, activity)


def test_no_people_in_the_yaml_teams_channels_and_crm_owners_make_handoffs_escalations_and_leavers_right(
    make_teams_app, teams
):
    app = make_teams_app(config=config())
    c = app.container
    install(app, teams)
    assert run_job(c, "teams_directory").done > 0  # the first tick syncs (nobody known yet)
    got = people(c)
    assert {e: (p.team, p.teams_user_id, p.source) for e, p in got.items()} == {
        "boss@acme.example": ("sales", "aad-boss", "teams"),
        "rep@acme.example": ("sales", "aad-rep", "teams"),
        "rep2@acme.example": ("sales", "aad-rep2", "teams"),
        "ada@acme.example": ("sales", "aad-ada", "teams"),
        "mk@acme.example": ("marketing", "aad-mk", "teams"),
    }  # not Otto, who is in neither channel
    assert ("no_email", "teams:aad-nomail") in problems(c)
    # The CRM says who manages whom (its signed webhook).
    assert (
        post_crm(
            app,
            [
                owner("boss@acme.example", "Bea Boss"),
                owner("rep@acme.example", "Rita Rep", manager="boss@acme.example"),
                owner("rep2@acme.example", "Ravi Rep", manager="boss@acme.example"),
            ],
        ).status_code
        == 200
    )
    assert people(c)["rep@acme.example"].manager_id == people(c)["boss@acme.example"].id

    # A handoff goes to the rep's 1:1 chat in Teams (opened by the bot); after the breach, the
    # escalation to the manager's.
    ingest(c, hot_lead("L-1", owner=None, owner_email="rep@acme.example", name="Lena Lead"))
    teams.wait_for(lambda: any("Lena Lead" in t for t in dms(teams, "29:d-rep")))
    c.deps.clock.at += timedelta(hours=4)
    run_job(c, "cooling")
    teams.wait_for(lambda: any("Lena Lead" in t for t in dms(teams, "29:d-boss")))
    teams.wait_for(lambda: any("SLA breached" in t for t in dms(teams, "29:d-rep")))
    before = len(dms(teams, "29:d-rep"))

    # Rita is removed from the Sales channel: the conversationUpdate makes her a leaver at once.
    assert removed(app, teams, SALES, "rep@acme.example").status_code == 200
    assert people(c)["rep@acme.example"].active is False
    assert lead(c, "L-1").owner_id == people(c)["boss@acme.example"].id
    teams.wait_for(lambda: [t for t in dms(teams, "29:d-boss") if "Rita Rep has left" in t])
    # She receives nothing more: a new lead in her name goes to her manager instead.
    ingest(c, hot_lead("L-2", owner=None, owner_email="rep@acme.example", name="Noel New"))
    c.deps.clock.at += timedelta(hours=4)
    run_job(c, "cooling")
    teams.wait_for(lambda: any("Noel New" in t for t in dms(teams, "29:d-boss")))
    c.dispatcher.drain()
    assert len(dms(teams, "29:d-rep")) == before

    # The nightly sync the next day: nothing changed since the event, nothing is written.
    c.deps.clock.at += timedelta(days=1)
    result = run_job(c, "teams_directory")
    assert result.done == 0 and "0 new, 0 updated, 0 left, 0 linked" in result.detail
    # Twice the same night (another replica's tick): done once.
    assert run_job(c, "teams_directory").detail == "not due"
    c.dispatcher.drain()
    assert len([t for t in dms(teams, "29:d-boss") if "Rita Rep has left" in t]) == 1  # told once


def test_rosters_are_paged_by_continuation_token_and_a_429_is_waited_out(make_teams_app, teams):
    for n in range(450):
        teams.add_user(f"user{n:03d}@acme.example", f"29:p{n:04d}", f"aad-p{n:04d}")
    teams.add_roster(SALES, [f"user{n:03d}@acme.example" for n in range(450)])
    app = make_teams_app(config=config())
    install(app, teams)
    teams.fail_next_read(SALES, 429, retry_after=3)
    d = app.container.extras["teams_directory"]
    d.sleep = lambda s: None  # the wait is recorded, not slept through
    out = d.sync()
    calls = [
        r for r in teams.calls("GET", f"/v3/conversations/{SALES}/") if r["path"].lower().endswith("/pagedmembers")
    ]
    assert len(calls) == 4  # the 429, then three pages
    assert all(int(r["query"]["pageSize"]) <= 200 for r in calls)
    assert [bool(r["query"].get("continuationToken")) for r in calls] == [False, False, True, True]
    assert d.waited == [3.0]
    assert out.created == 451  # 450 in sales, Max in marketing
    assert people(app.container)["user449@acme.example"].team == "sales"
    assert d.sync().writes == 0  # nothing changed: nothing written


def test_an_unknown_channel_is_a_line_in_people_and_the_log_and_the_rest_goes_on(make_teams_app, teams, caplog):
    caplog.set_level(logging.WARNING)
    app = make_teams_app(config=config('teams_channel: "19:nope@thread.tacv2"', ADMIN))
    c = app.container
    install(app, teams)
    d = c.extras["teams_directory"]
    d.sync()
    detail = problems(c)[("unknown_usergroup", "19:nope@thread.tacv2")]
    assert "teams.marketing.members" in detail and "not known to Teams (404)" in detail
    assert "19:nope@thread.tacv2" in caplog.text
    assert "Nora Nomail (aad-nomail) has no email" in caplog.text
    got = people(c)
    assert got["rep@acme.example"].team == "sales" and "mk@acme.example" not in got
    # An admin sees both lines in `people`, sent to the bot in Teams.
    ada = teams.user("ada@acme.example")
    assert post(app, ts.message(teams.service_url, "people", user=ada)).status_code == 200
    [answer] = teams.sent("a:29:d-ada")
    text = "\n".join(ts.card_text(card) for card in ts.cards_in(answer))
    assert "19:nope@thread.tacv2" in text and "Nora Nomail" in text and "no email" in text
    # Nobody is taken for gone while a roster cannot be read; fixed in the config, the line goes.
    c.deps.config.teams["marketing"].members.teams_channel = MARKETING
    d.sync()
    assert ("unknown_usergroup", "19:nope@thread.tacv2") not in problems(c)
    assert people(c)["mk@acme.example"].team == "marketing"


def test_someone_in_no_roster_any_more_is_a_leaver_at_the_nightly_sync(make_teams_app, teams):
    app = make_teams_app(config=config())
    c = app.container
    install(app, teams)
    d = c.extras["teams_directory"]
    d.sync()
    teams.remove_member(SALES, "rep2@acme.example")  # the event was missed (the bot was down)
    teams.fail_next_read(MARKETING, 500)  # a roster that cannot be read: nobody is taken for gone
    d.sync()
    assert people(c)["rep2@acme.example"].active is True
    out = d.sync()
    assert out.left == 1 and people(c)["rep2@acme.example"].active is False
    # Back in the Sales channel (back from leave): active again at the next sync, and only once.
    teams.rosters[SALES].append(teams.user("rep2@acme.example")["id"])
    out = d.sync()
    assert out.updated >= 1 and people(c)["rep2@acme.example"].active is True
    assert d.sync().updated == 0


def test_a_member_added_with_the_email_of_someone_in_the_crm_is_linked_and_moving_channel_changes_team(
    make_teams_app, teams
):
    app = make_teams_app(config=config())
    c = app.container
    install(app, teams)
    assert post_crm(app, [owner("newbie@acme.example", "Nia Newbie")]).status_code == 200
    newbie = teams.add_user("newbie@acme.example", "29:d-new", "aad-new", "Nia Newbie")
    teams.rosters[MARKETING].append("29:d-new")
    activity = ts.members_changed(
        teams.service_url,
        user=teams.user("boss@acme.example"),
        team_id=TEAM,
        team_name="Acme",
        members=[newbie],
        channel_id=MARKETING,
    )
    assert post(app, activity).status_code == 200
    got = people(c)["newbie@acme.example"]
    assert (got.teams_user_id, got.team, got.active) == ("aad-new", "sales", True)  # the CRM's team: the CRM's
    # Max leaves Marketing for Sales: in the sales roster, he is not a leaver.
    d = c.extras["teams_directory"]
    d.sync()
    teams.rosters[SALES].append("29:d-mk")
    assert removed(app, teams, MARKETING, "mk@acme.example").status_code == 200
    got = people(c)["mk@acme.example"]
    assert (got.team, got.active) == ("sales", True)


def test_before_the_app_is_in_any_team_the_sync_says_so_and_tries_again_soon(make_teams_app, teams):
    app = make_teams_app(config=config())
    c = app.container
    result = run_job(c, "teams_directory")
    assert result.done == 0
    assert "the app is in no Teams team yet" in problems(c)[("unknown_usergroup", SALES)]
    assert run_job(c, "teams_directory").detail == "waiting for the app to be added to a team"
    install(app, teams)
    c.deps.clock.at += timedelta(minutes=11)
    assert run_job(c, "teams_directory").done > 0
    assert ("unknown_usergroup", SALES) not in problems(c)
    assert people(c)["rep@acme.example"].team == "sales"
    assert run_job(c, "teams_directory").detail == "not due"  # synced for today


SALES_TEAM = "19:acme-sales-team@thread.tacv2"  # a Teams team of its own for sales


def test_a_team_member_removed_from_a_whole_team_is_a_leaver_and_a_failed_lookup_changes_nothing(make_teams_app, teams):
    teams.add_team(SALES_TEAM, {SALES_TEAM: None})
    teams.add_roster(SALES_TEAM, ["boss@acme.example", "rep@acme.example", "rep2@acme.example"])
    cfg = config()
    cfg.teams["sales"].members.teams_channel = None
    cfg.teams["sales"].members.teams_team = SALES_TEAM
    app = make_teams_app(config=cfg)
    c = app.container
    install(app, teams)
    c.extras["teams_directory"].sync()
    assert people(c)["rep2@acme.example"].team == "sales"
    ingest(c, hot_lead("L-9", owner=None, owner_email="rep2@acme.example", name="Tess Team"))

    def leave(email):
        member = teams.remove_member(SALES_TEAM, email)
        return post(
            app,
            ts.members_changed(
                teams.service_url,
                user=teams.user("boss@acme.example"),
                team_id=SALES_TEAM,
                team_name="Acme Sales",
                members=[member],
                added=False,
            ),
        )

    # Someone joins the sales team (teamMemberAdded): a person of sales at once.
    joiner = teams.add_user("jo@acme.example", "29:d-jo", "aad-jo", "Jo Joiner")
    teams.rosters[SALES_TEAM].append("29:d-jo")
    assert (
        post(
            app,
            ts.members_changed(
                teams.service_url,
                user=teams.user("boss@acme.example"),
                team_id=SALES_TEAM,
                team_name="Acme Sales",
                members=[joiner],
            ),
        ).status_code
        == 200
    )
    got = people(c)["jo@acme.example"]
    assert (got.team, got.teams_user_id, got.source) == ("sales", "aad-jo", "teams")
    # Teams cannot be asked right now: nothing is applied (the nightly sync will see).
    teams.fail_next_read(SALES_TEAM, 503)
    assert leave("rep2@acme.example").status_code == 200
    assert people(c)["rep2@acme.example"].active is True
    # Asked again (Teams sends the event once; here a second removal, of Rita, is applied).
    assert leave("rep@acme.example").status_code == 200
    assert people(c)["rep@acme.example"].active is False
    # The nightly sync finds Ravi gone too, and his lead goes to the sales channel (no manager).
    out = c.extras["teams_directory"].sync()
    assert out.left == 1 and people(c)["rep2@acme.example"].active is False
    assert lead(c, "L-9").owner_id is None


def test_a_member_without_an_email_but_with_a_user_principal_name_is_matched_by_it():
    from microsoft_teams.api import TeamsChannelAccount

    from bot.teams.directory import account_of

    m = TeamsChannelAccount.model_validate(
        {"id": "29:x", "aadObjectId": "aad-x", "name": "Xi", "userPrincipalName": "xi@acme.example"}
    )
    a = account_of(m, "sales")
    assert (a.account_id, a.email, a.team) == ("aad-x", "xi@acme.example", "sales")
    bare = account_of(TeamsChannelAccount.model_validate({"id": "29:y"}), None)
    assert (bare.account_id, bare.email) == ("29:y", None)


def test_two_teams_with_the_same_roster_are_a_line_in_people(make_teams_app, teams):
    # Two standard channels of one team: each lists the whole team.
    app = make_teams_app(config=config(f'teams_channel: "{SALES}"'))
    c = app.container
    teams.rosters.clear()
    install(app, teams)
    c.extras["teams_directory"].sync()
    detail = problems(c)[("same_roster", "marketing")]
    assert "same members as sales'" in detail and "private channel" in detail
    assert people(c)["mk@acme.example"].team == "sales"  # the first team listed


def test_many_members_at_once_are_read_with_the_whole_rosters(make_teams_app, teams):
    app = make_teams_app(config=config())
    c = app.container
    install(app, teams)
    new = [teams.add_user(f"n{n:02d}@acme.example", f"29:n{n:02d}", f"aad-n{n:02d}") for n in range(60)]
    teams.rosters[MARKETING].extend(m["id"] for m in new)
    assert (
        post(
            app,
            ts.members_changed(
                teams.service_url,
                user=teams.user("boss@acme.example"),
                team_id=TEAM,
                team_name="Acme",
                members=new,
                channel_id=MARKETING,
            ),
        ).status_code
        == 200
    )
    assert not [r for r in teams.calls("GET", "/members/29:n")]  # not one by one
    wait_until(lambda: c.extras["teams_directory"].background is not None, what="the rosters read")
    c.extras["teams_directory"].background.join(30)
    assert len([e for e in people(c) if e.startswith("n")]) == 60
    assert people(c)["n59@acme.example"].team == "marketing"
