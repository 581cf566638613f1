"""People from Slack's directory and the CRM's owners, end to end: a company with no ``people:``
in its YAML, a Slack user group per team and CRM owner events gets handoffs to the right reps and
escalations to the right managers in Slack; a leaver (deactivated in Slack) stops receiving and
their leads go to their manager, who is told once. Slack's Web API is the local mock (``users.list``
paginated by cursor, ``usergroups.users.list``, 429 with ``Retry-After``); Slack's events are
signed as Slack signs them. The ``clock`` fixture is Monday 2026-11-23 15:00 UTC."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.config import parse_config
from bot.scheduler import run_job
from tests import slack_requests as sr
from tests.conftest import SLACK_CHANNELS, post_slack
from tests.cooling_helpers import hot_lead, ingest, lead
from tests.directory_helpers import owner, people_by_email as people, problem_details as problems
from tests.hubspot_helpers import wait_until


CONFIG = f"""
company: Acme
channels:
  wins: {{slack: "{SLACK_CHANNELS["wins"]}"}}
  sales: {{slack: "{SLACK_CHANNELS["sales"]}"}}
  marketing: {{slack: "{SLACK_CHANNELS["marketing"]}"}}
teams:
  sales: {{channel: sales, timezone: America/New_York, members: {{slack_usergroup: S0SALES}}}}
  marketing: {{channel: marketing, timezone: Europe/London, members: {{slack_usergroup: {{group}}}}}}
"""


def config(marketing_group: str = "S0MKT"):
    return parse_config(CONFIG.replace("{group}", marketing_group))


@pytest.fixture
def directory(slack):
    """Slack's directory for Acme; the mock's users are put back afterwards."""
    saved = {k: dict(v) for k, v in slack._users.items()}
    slack._users.clear()  # Acme's workspace only
    slack.add_user("boss@acme.example", "U_D_BOSS", "Bea Boss")
    slack.add_user("rep@acme.example", "U_D_REP", "Rita Rep")
    slack.add_user("rep2@acme.example", "U_D_REP2", "Ravi Rep")
    slack.add_user("mk@acme.example", "U_D_MK", "Max Mark")
    slack.add_user("out@acme.example", "U_D_OUT", "Otto Outside")
    slack.add_user(None, "U_D_NOMAIL", "Nora Nomail")
    slack.add_user(None, "B_D_BOT", "Some Bot", is_bot=True)
    slack.add_user("gone@acme.example", "U_D_GONE", "Gus Gone", deleted=True)
    slack.add_usergroup("S0SALES", ["U_D_BOSS", "U_D_REP", "U_D_REP2", "U_D_GONE"])
    slack.add_usergroup("S0MKT", ["U_D_MK"])
    yield slack
    slack._users.clear()
    slack._users.update(saved)
    slack._usergroups.clear()
    slack.method_rate_limit("users.list", None)


def dms(slack, user_id: str) -> list[str]:
    return [m.get("text") or "" for m in slack.messages(slack.dm_channel(user_id))]


def test_no_people_in_the_yaml_user_groups_and_crm_owners_make_handoffs_escalations_and_leavers_right(
    make_container, directory, live_server
):
    slack = directory
    app = live_server(make_container(slack_mock=slack, config=config()))
    c = app.container
    assert run_job(c, "slack_directory").done > 0  # the first tick syncs (nobody known yet)
    got = people(c)
    assert {e: (p.team, p.slack_user_id, p.source) for e, p in got.items()} == {
        "boss@acme.example": ("sales", "U_D_BOSS", "slack"),
        "rep@acme.example": ("sales", "U_D_REP", "slack"),
        "rep2@acme.example": ("sales", "U_D_REP2", "slack"),
        "mk@acme.example": ("marketing", "U_D_MK", "slack"),
    }  # not the deleted user, not the one in no group, not the bot
    assert ("no_email", "slack:U_D_NOMAIL") in problems(c)
    # The CRM says who manages whom.
    ingest(
        c,
        owner("boss@acme.example", "Bea Boss"),
        owner("rep@acme.example", "Rita Rep", manager="boss@acme.example"),
        owner("rep2@acme.example", "Ravi Rep", manager="boss@acme.example"),
    )
    assert people(c)["rep@acme.example"].manager_id == people(c)["boss@acme.example"].id

    # A handoff goes to the rep's DM in Slack; after the breach, the escalation to the manager's.
    # (The server's dispatcher delivers as it would in production: the checks wait for it.)
    ingest(c, hot_lead("L-1", owner=None, owner_email="rep@acme.example", name="Lena Lead"))
    wait_until(lambda: any("Lena Lead" in t for t in dms(slack, "U_D_REP")), what="the handoff DM")
    c.deps.clock.at += timedelta(hours=4)
    run_job(c, "cooling")
    wait_until(lambda: any("Lena Lead" in t for t in dms(slack, "U_D_BOSS")), what="the escalation")

    # Rita is deactivated in Slack: the user_change event makes her a leaver at once.
    # her own breach is real time: wait for it, so nothing from before she left arrives after
    wait_until(lambda: any("SLA breached" in t for t in dms(slack, "U_D_REP")), what="Rita's breach alert")
    before = len(dms(slack, "U_D_REP"))
    user = slack.set_user("U_D_REP", deleted=True)
    with app.client() as http:
        resp = post_slack(
            http, sr.event_callback({"type": "user_change", "user": user, "event_ts": "1.1"}, event_id="Ev-user-1")
        )
        assert resp.status_code == 200
        # Slack retrying the event changes nothing more.
        post_slack(
            http, sr.event_callback({"type": "user_change", "user": user, "event_ts": "1.1"}, event_id="Ev-user-1")
        )
    assert people(c)["rep@acme.example"].active is False
    assert lead(c, "L-1").owner_id == people(c)["boss@acme.example"].id
    wait_until(lambda: [t for t in dms(slack, "U_D_BOSS") if "Rita Rep has left" in t], what="the manager told")
    # She receives nothing more: a new lead in her name goes to her manager instead.
    ingest(c, hot_lead("L-2", owner=None, owner_email="rep@acme.example", name="Noel New"))
    c.deps.clock.at += timedelta(hours=4)
    run_job(c, "cooling")
    wait_until(lambda: any("Noel New" in t for t in dms(slack, "U_D_BOSS")), what="the new lead to the manager")
    c.dispatcher.drain()
    assert len(dms(slack, "U_D_REP")) == before

    # The nightly sync the next day: nothing changed since the event, nothing is written.
    c.deps.clock.at += timedelta(days=1)
    result = run_job(c, "slack_directory")
    assert result.done == 0 and "0 new, 0 updated, 0 left, 0 linked" in result.detail
    # Twice the same night (another replica's tick): done once.
    assert run_job(c, "slack_directory").detail == "not due"
    c.dispatcher.drain()
    assert len([t for t in dms(slack, "U_D_BOSS") if "Rita Rep has left" in t]) == 1  # told once


def test_users_list_is_paged_by_cursor_within_limits_and_a_429_is_waited_out(make_container, directory):
    slack = directory
    for n in range(450):
        slack.add_user(f"user{n:03d}@acme.example", f"U_P{n:04d}")
    slack.rate_limit_next("users.list", retry_after=3)
    c = make_container(slack_mock=slack, config=config())
    d = c.extras["slack_directory"]
    d.sleep = lambda s: None  # the wait is recorded, not slept through
    out = d.sync()
    calls = [x for x in slack.calls("users.list") if "_status" not in x]
    assert len(calls) == 3 and all(int(x["limit"]) <= 200 for x in calls)
    assert [bool(x.get("cursor")) for x in calls] == [False, True, True]
    assert d.waited == [3.0]
    with c.uow_factory() as uow:
        assert len(uow.directory.accounts("slack")) == 450 + 7  # every account, bots aside
    assert out.saved == 457
    # Nobody in the 450 is in a team: listed, not made people.
    assert "user000@acme.example" not in people(c)
    with c.uow_factory() as uow:
        assert any(a.email == "user000@acme.example" for a in uow.directory.unmatched("slack", limit=1000))
    assert d.sync().writes == 0


def test_an_unknown_user_group_is_listed_and_the_rest_goes_on(make_container, directory, caplog):
    c = make_container(slack_mock=directory, config=config("S0NOPE"))
    c.extras["slack_directory"].sync()
    detail = problems(c)[("unknown_usergroup", "S0NOPE")]
    assert "teams.marketing.members" in detail and "does not exist" in detail
    assert "S0NOPE" in caplog.text
    got = people(c)
    assert got["rep@acme.example"].team == "sales" and "mk@acme.example" not in got
    # Fixed in the config: the line goes.
    c.deps.config.teams["marketing"].members.slack_usergroup = "S0MKT"
    c.extras["slack_directory"].sync()
    assert ("unknown_usergroup", "S0NOPE") not in problems(c)
    assert people(c)["mk@acme.example"].team == "marketing"


def test_a_team_join_with_the_email_of_someone_in_the_crm_links_them(make_container, directory, live_server):
    app = live_server(make_container(slack_mock=directory, config=config()))
    c = app.container
    ingest(c, owner("newbie@acme.example", "Nia Newbie"))
    assert people(c)["newbie@acme.example"].slack_user_id is None
    directory.add_user("newbie@acme.example", "U_D_NEW", "Nia Newbie")
    user = directory.set_user("U_D_NEW")
    with app.client() as http:
        assert (
            post_slack(http, sr.event_callback({"type": "team_join", "user": user}, event_id="Ev-join")).status_code
            == 200
        )
    assert people(c)["newbie@acme.example"].slack_user_id == "U_D_NEW"


def test_a_reactivated_account_makes_its_person_active_again_and_tells_the_manager(
    make_container, directory, live_server
):
    """Back from leave: Slack deactivated Rita, then reactivated her account. She receives her
    alerts and can act again; her manager is told, and the leads handed over stay his. Someone the
    CRM marks inactive is not brought back by an unrelated edit of their Slack profile."""
    slack = directory
    app = live_server(make_container(slack_mock=slack, config=config()))
    c = app.container
    run_job(c, "slack_directory")
    ingest(
        c,
        owner("boss@acme.example", "Bea Boss"),
        owner("rep@acme.example", "Rita Rep", manager="boss@acme.example"),
        owner("rep2@acme.example", "Ravi Rep", manager="boss@acme.example"),
    )
    ingest(c, hot_lead("L-1", owner=None, owner_email="rep@acme.example", name="Lena Lead"))

    def user_change(user_id: str, event_id: str, **changes) -> None:
        user = slack.set_user(user_id, **changes)
        with app.client() as http:
            resp = post_slack(
                http, sr.event_callback({"type": "user_change", "user": user, "event_ts": "1.1"}, event_id=event_id)
            )
            assert resp.status_code == 200

    user_change("U_D_REP", "Ev-off", deleted=True)
    assert people(c)["rep@acme.example"].active is False
    assert lead(c, "L-1").owner_id == people(c)["boss@acme.example"].id

    c.deps.clock.at += timedelta(days=14)
    user_change("U_D_REP", "Ev-on", deleted=False)
    rita = people(c)["rep@acme.example"]
    assert rita.active is True
    wait_until(lambda: any("Rita Rep is back" in t for t in dms(slack, "U_D_BOSS")), what="the manager told")
    told = next(t for t in dms(slack, "U_D_BOSS") if "Rita Rep is back" in t)
    assert "still yours" in told and "/smarketing reassign &lt;lead&gt; rep@acme.example" in told  # as Slack escapes it
    assert lead(c, "L-1").owner_id == people(c)["boss@acme.example"].id  # handed over: stays handed over
    # Her new leads are hers again, and she hears of them.
    ingest(c, hot_lead("L-2", owner=None, owner_email="rep@acme.example", name="Noel New"))
    assert lead(c, "L-2").owner_id == rita.id
    wait_until(lambda: any("Noel New" in t for t in dms(slack, "U_D_REP")), what="Rita's handoff DM")
    # Slack sending the same event again changes nothing, and the manager is told once.
    user_change("U_D_REP", "Ev-on", deleted=False)
    c.dispatcher.drain()
    assert len([t for t in dms(slack, "U_D_BOSS") if "Rita Rep is back" in t]) == 1

    # Ravi left according to the CRM; his Slack profile changes (a new name), his account never
    # deactivated: he stays inactive.
    ingest(c, owner("rep2@acme.example", "Ravi Rep", manager="boss@acme.example", active=False))
    assert people(c)["rep2@acme.example"].active is False
    user_change("U_D_REP2", "Ev-name", real_name="Ravi R. Rep")
    assert people(c)["rep2@acme.example"].active is False


def group_changed(group: str, added=(), removed=()) -> dict:
    return {
        "type": "subteam_members_changed",
        "subteam_id": group,
        "team_id": "T1",
        "date_previous_update": 1446670362,
        "date_update": 1492906952,
        "added_users": list(added),
        "added_users_count": str(len(added)),
        "removed_users": list(removed),
        "removed_users_count": str(len(removed)),
        "event_ts": "1492906952.127687",
    }


def test_a_team_user_group_gaining_people_puts_them_in_the_team_at_once(make_container, directory, live_server):
    slack = directory
    app = live_server(make_container(slack_mock=slack, config=config()))
    c = app.container
    run_job(c, "slack_directory")
    assert "out@acme.example" not in people(c) and people(c)["rep2@acme.example"].team == "sales"
    # Otto joins marketing's user group; Ravi moves from sales' to marketing's.
    slack.add_usergroup("S0MKT", ["U_D_MK", "U_D_OUT", "U_D_REP2"])
    slack.add_usergroup("S0SALES", ["U_D_BOSS", "U_D_REP", "U_D_GONE"])
    with app.client() as http:
        resp = post_slack(
            http, sr.event_callback(group_changed("S0MKT", added=["U_D_OUT", "U_D_REP2"]), event_id="Ev-group-1")
        )
        assert resp.status_code == 200
    got = people(c)
    assert (got["out@acme.example"].team, got["out@acme.example"].slack_user_id) == ("marketing", "U_D_OUT")
    assert got["rep2@acme.example"].team == "marketing"
    # Someone Slack's directory has not been read for yet is asked for (users.info).
    slack.add_user("nico@acme.example", "U_D_NICO", "Nico New")
    slack.add_usergroup("S0SALES", ["U_D_BOSS", "U_D_REP", "U_D_GONE", "U_D_NICO"])
    with app.client() as http:
        post_slack(http, sr.event_callback(group_changed("S0SALES", added=["U_D_NICO"]), event_id="Ev-group-2"))
    assert people(c)["nico@acme.example"].team == "sales"
    # Another user group's change is none of the bot's business: Slack is not even asked.
    before = len(slack.calls("usergroups.users.list"))
    with app.client() as http:
        assert (
            post_slack(
                http, sr.event_callback(group_changed("S0OTHER", added=["U_D_MK"]), event_id="Ev-group-3")
            ).status_code
            == 200
        )
    assert len(slack.calls("usergroups.users.list")) == before
    assert people(c)["mk@acme.example"].team == "marketing"


def test_a_user_group_change_while_rate_limited_is_left_to_the_nightly_sync(make_container, directory, live_server):
    slack = directory
    app = live_server(make_container(slack_mock=slack, config=config()))
    c = app.container
    run_job(c, "slack_directory")
    slack.add_usergroup("S0MKT", ["U_D_MK", "U_D_OUT"])
    slack.rate_limit_next("usergroups.users.list", retry_after=30)
    with app.client() as http:
        assert (
            post_slack(
                http, sr.event_callback(group_changed("S0MKT", added=["U_D_OUT"]), event_id="Ev-group-rl")
            ).status_code
            == 200
        )
    assert c.extras["slack_directory"].waited == []  # Slack's answer did not wait 30 s
    assert "out@acme.example" not in people(c)
    c.deps.clock.at += timedelta(days=1)
    run_job(c, "slack_directory")
    assert people(c)["out@acme.example"].team == "marketing"


def test_people_sync_reads_the_directory_now_and_says_what_changed(
    directory, database_url, engine, monkeypatch, tmp_path, capsys
):
    """``python -m bot people-sync``: an admin who just changed a user group or deactivated someone
    does not wait for the night."""
    from sqlmodel import Session, select

    from bot import cli
    from storage.models import Person
    from tests.conftest import BOT_TOKEN, SIGNING_SECRET

    config_file = tmp_path / "config.yaml"
    config_file.write_text(CONFIG.replace("{group}", "S0MKT"))
    for name, value in {
        "DATABASE_URL": database_url,
        "SMARKETING_CONFIG": str(config_file),
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": directory.base_url,
        "LOCAL_WORKSPACE": "false",
        "LOG_LEVEL": "WARNING",
    }.items():
        monkeypatch.setenv(name, value)

    def active() -> dict[str, bool]:
        with Session(engine) as s:
            return {p.email: p.active for p in s.exec(select(Person))}

    assert cli.main(["people-sync"]) == 0
    assert "slack: 4 new, 0 updated, 0 left, 4 linked" in capsys.readouterr().out
    assert active() == {
        e: True for e in ("boss@acme.example", "rep@acme.example", "rep2@acme.example", "mk@acme.example")
    }

    directory.set_user("U_D_REP2", deleted=True)  # deactivated in Slack a minute ago
    assert cli.main(["people-sync", "--source", "slack"]) == 0  # the same day: read again all the same
    assert "slack: 0 new, 0 updated, 1 left, 0 linked" in capsys.readouterr().out
    assert active()["rep2@acme.example"] is False

    assert cli.main(["people-sync", "--source", "teams"]) == 2
    assert "teams: not connected (set TEAMS_CLIENT_ID); nothing read" in capsys.readouterr().err
