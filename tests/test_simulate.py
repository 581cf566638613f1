"""``python -m bot simulate``: the living demo company and the judge of what the bot said."""

from __future__ import annotations

from datetime import timedelta

from bot.cli import main
from bot.local import clock as sim_clock
from bot.simulate import measure, percentile
from handlers.commands import run_command
from handlers.messages import Message, Section
from handlers.ports import Actor, dm
from tests.cooling_helpers import hot_lead, ingest, person_id


def _delivered(c):
    c.dispatcher.drain()
    with c.uow_factory() as uow:
        return uow.outbox.feed_cursor()


def test_percentile_is_the_nearest_rank():
    assert percentile([], 95) == 0
    assert percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95) == 10
    assert percentile([0] * 19 + [7], 95) == 0
    assert percentile([0] * 18 + [7, 9], 95) == 7


def test_every_message_about_a_lead_stays_true_after_a_follow_up_and_one_left_behind_is_counted(make_container, clock):
    c = make_container(local_workspace=True)
    start = clock.now()
    ingest(c, hot_lead("L-1", owner="ana", at=start))
    sim_clock.advance(c, timedelta(hours=4))  # breach, then the manager and #sales
    _delivered(c)
    before = measure(c, after_id=0, start=start, end=clock.now())
    ana_posts = before.rows[[r.name for r in before.rows].index("sales reps")]
    assert before.untrue == 0
    assert before.messages >= 3 and ana_posts.max >= 2  # the handoff and the breach to Ana; the manager; #sales

    clock.advance(timedelta(minutes=5))
    ana = Actor(person_id(c, "ana"), "local")
    answer = run_command(c.registry, c.uow_factory, c.deps, ana, "touch L-1 called her")
    assert "Logged your follow-up" in answer.text
    _delivered(c)
    # The lifecycle updated the handoff, the alerts, the manager's DM and the #sales post in place.
    assert measure(c, after_id=0, start=start, end=clock.now()).untrue == 0

    # A message about the lead that nothing updates (posted outside the lifecycle) is counted.
    with c.uow_factory() as uow:
        lead_id = uow.leads.by_crm_id("L-1").id
        uow.outbox.add(
            key=f"cooling:{lead_id}:9:breach",
            destination=dm(ana.person_id),
            at=clock.now(),
            payload=Message(text="No follow-up yet", blocks=[Section(text="No follow-up yet")]).to_json(),
        )
        uow.commit()
    _delivered(c)
    clock.advance(timedelta(minutes=5))
    run_command(c.registry, c.uow_factory, c.deps, ana, "touch L-1 again")
    _delivered(c)
    after = measure(c, after_id=0, start=start, end=clock.now())
    assert after.untrue == 1 and after.untrue_examples == [f"cooling:{lead_id}:9:breach to dm:{ana.person_id}"]


def test_quiet_hours_and_alerts_without_an_action_are_counted(make_container, clock):
    c = make_container(local_workspace=True)
    start = clock.now()
    ana = person_id(c, "ana")  # New York: 09:00-17:00
    bare = Message(text="Lead cooling", blocks=[Section(text="Lead cooling")]).to_json()
    for at, key in ((start.replace(hour=7), "cooling:999:1:breach"), (start, "note:day")):  # 02:00, 10:00 in NY
        clock.at = at
        with c.uow_factory() as uow:
            uow.outbox.add(key=key, destination=dm(ana), payload=bare, at=at)
            uow.commit()
        _delivered(c)
    report = measure(c, after_id=0, start=start - timedelta(hours=9), end=start + timedelta(hours=1))
    reps = report.rows[[r.name for r in report.rows].index("sales reps")]
    assert reps.quiet == 1  # the one sent at 02:00 in New York
    assert report.alerts_without_action == 1


def test_simulate_prints_the_table_by_role_and_channel(capsys):
    assert main(["simulate", "--days", "1", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "the company:" in out and "new leads" in out
    for row in ("sales reps", "sales managers", "marketing marketers", "#sales", "#wins"):
        assert row in out
    assert "untrue and not updated:" in out


def test_simulate_refuses_a_bad_span_or_start(capsys):
    assert main(["simulate", "--days", "0"]) == 2
    assert "--days must be between" in capsys.readouterr().err
    assert main(["simulate", "--days", "1", "--start", "next tuesday"]) == 2
    assert "is not an ISO date" in capsys.readouterr().err


def _keys(c):
    with c.uow_factory() as uow:
        return [r.key for r in uow.outbox.since(0, ops=("post",)) if r.status == "sent"]
