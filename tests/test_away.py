"""Out of office on a real database: ``/smarketing away``, the config's ``away`` and ``backup``,
nothing to the absent person while away, the SLA not paused, one summary on return. The clock
is Monday 2026-11-23 10:00 in New York (Ana's timezone)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from bot.config import ConfigError, load_config, parse_config
from bot.scheduler import run_job
from handlers.commands import run_command
from handlers.messages import mention
from handlers.ports import Actor
from tests.cooling_helpers import at_ny, hot_lead, ingest, lead, outbox, person_id, text_of

UTC = timezone.utc


@pytest.fixture
def c(make_container):
    return make_container()


def command(c, who: str, text: str) -> str:
    return run_command(c.registry, c.uow_factory, c.deps, Actor(person_id(c, who), "local"), text).text


def periods(c, who: str):
    with c.uow_factory() as uow:
        return list(uow.away.for_person(person_id(c, who), ending_after=datetime(2000, 1, 1, tzinfo=UTC)))


def dms(c, who: str):
    return [r for r in outbox(c, op="post") if r.destination == f"dm:{person_id(c, who)}"]


# --- the command --------------------------------------------------------------------------------


# The command's rules (dates, permissions, overlaps, cancelling) are in tests/test_away_unit.py, on
# the in-memory unit of work; here, what it does with messages on a real database.


def test_away_off_ends_it_now_and_the_return_summary_is_sent_once(c):
    command(c, "ana", "away today 2026-11-27")
    ingest(c, hot_lead())  # handed over while Ana is away: it goes to Maya
    c.deps.clock.at = at_ny(2026, 11, 23, 10, 30)
    command(c, "maya", "touch L-1 called for Ana")
    c.deps.clock.at = at_ny(2026, 11, 23, 14)
    assert command(c, "ana", "away off") == "Welcome back: marked back now."
    [summary] = [r for r in dms(c, "ana") if r.key.startswith("away:")]
    text = text_of(summary.payload)
    assert "While you were away (Mon 23 Nov), on 1 of your leads:" in text
    assert "*Jane Doe* (Acme) — now with sales" in text
    assert f"the handoff went to {mention(person_id(c, 'maya'))}" in text
    assert f"✅ {mention(person_id(c, 'maya'))} followed up at 10:30" in text
    assert run_job(c, "away_return").done == 0  # once
    assert command(c, "ana", "away off") == "You are not marked away. Nothing changed."


# --- while away ---------------------------------------------------------------------------------


def test_nothing_reaches_an_away_rep_the_backup_gets_it_and_the_sla_runs_on(make_container):
    config = load_config(None)
    ana = next(p for p in config.people if p.key == "ana")
    ana.backup = "ben"
    c = make_container(config=config)
    command(c, "ana", "away 2026-11-23 2026-11-24")
    ingest(c, hot_lead())
    due = lead(c).sla_due_at
    assert due == at_ny(2026, 11, 23, 11)  # out of office never pauses the SLA
    for h in (11, 13, 15):
        c.deps.clock.at = at_ny(2026, 11, 23, h)
        run_job(c, "cooling")
    assert dms(c, "ana") == []
    to_ben = dms(c, "ben")
    assert [r.key.split(":")[3] for r in to_ben] == ["handoff", "breach"]
    assert all("is away until Tue 24 Nov, so this comes to you." in text_of(r.payload) for r in to_ben)
    assert [r.key.split(":")[3] for r in dms(c, "maya")] == ["manager"]  # the ladder climbs as usual
    # Back on Wednesday: the summary comes once, from the job.
    c.deps.clock.at = at_ny(2026, 11, 25, 9)
    assert run_job(c, "away_return").done == 1
    assert run_job(c, "away_return").done == 0
    [summary] = dms(c, "ana")
    assert "Welcome back" in text_of(summary.payload) and "the SLA alert went to" in text_of(summary.payload)


def test_when_the_backup_is_away_too_the_manager_covers(make_container):
    config = load_config(None)
    next(p for p in config.people if p.key == "ana").backup = "ben"
    c = make_container(config=config)
    command(c, "ana", "away today")
    command(c, "ben", "away today")
    ingest(c, hot_lead())
    assert [r.destination for r in outbox(c, op="post")] == [f"dm:{person_id(c, 'maya')}"]


# --- storage: the queries tests/fake_uow.py stands in for -----------------------------------------


def test_the_away_repository_finds_current_overlapping_and_coming_periods(c):
    ana, maya = person_id(c, "ana"), person_id(c, "maya")
    with c.uow_factory() as uow:
        first = uow.away.create(
            person_id=ana, starts_at=at_ny(2026, 11, 24), ends_at=at_ny(2026, 11, 26), created_by_id=maya
        )
        uow.away.create(person_id=ana, starts_at=at_ny(2026, 11, 30), ends_at=at_ny(2026, 12, 1))
        uow.commit()
    with c.uow_factory() as uow:
        assert uow.away.current([ana, maya], at=at_ny(2026, 11, 25)) == {ana: first}
        assert uow.away.current([ana], at=at_ny(2026, 11, 26)) == {}  # ends_at is exclusive
        assert uow.away.overlapping(ana, at_ny(2026, 11, 25, 12), at_ny(2026, 11, 27)).id == first.id
        assert uow.away.overlapping(ana, at_ny(2026, 11, 26), at_ny(2026, 11, 30)) is None
        coming = uow.away.for_person(ana, ending_after=at_ny(2026, 11, 25))
        assert [(p.starts_at, p.source, p.created_by_id) for p in coming] == [
            (at_ny(2026, 11, 24), "command", maya),
            (at_ny(2026, 11, 30), "command", None),
        ]
        uow.away.remove(coming[0])
        uow.commit()
    assert len(periods(c, "ana")) == 1


# --- the config ---------------------------------------------------------------------------------


def test_away_and_backup_in_the_config_are_stored_at_start_and_command_periods_are_kept(make_container):
    config = load_config(None)
    ana = next(p for p in config.people if p.key == "ana")
    ana.backup = "ben"
    text = "people:\n  - {key: x, name: X, email: x@e.example, team: sales, away: [{from: 2026-12-01, to: 2026-12-04}]}"
    assert parse_config(_minimal(text)).people[0].away[0].end.isoformat() == "2026-12-04"
    from bot.config import AwayConfig

    ana.away = [AwayConfig(start="2026-12-01", end="2026-12-04")]
    c = make_container(config=config)
    command(c, "ana", "away 2026-12-10")
    [cfg, cmd] = periods(c, "ana")
    assert (cfg.source, cfg.starts_at, cfg.ends_at) == ("config", at_ny(2026, 12, 1), at_ny(2026, 12, 5))
    assert cmd.source == "command"
    ben = person_id(c, "ben")
    with c.uow_factory() as uow:
        assert uow.people.by_key("ana").backup_id == ben
    c2 = make_container(config=config)  # a restart: the same periods, not twice
    assert [p.source for p in periods(c2, "ana")] == ["config", "command"]


@pytest.mark.parametrize(
    "people, says",
    [
        (
            "[{key: a, name: A, email: a@e.example, team: sales, away: [{from: 2026-12-04, to: 2026-12-01}]}]",
            "'to' (2026-12-01) is before 'from' (2026-12-04)",
        ),
        (
            "[{key: a, name: A, email: a@e.example, team: sales, away: [{from: 2026-12-01, to: 2026-12-04}, "
            "{from: 2026-12-03, to: 2026-12-08}]}]",
            "people.0.away: 2026-12-01..2026-12-04 and 2026-12-03..2026-12-08 overlap",
        ),
        (
            "[{key: a, name: A, email: a@e.example, team: sales, backup: zed}]",
            "people.0.backup: no person with key 'zed'",
        ),
        ("[{key: a, name: A, email: a@e.example, team: sales, backup: a}]", "a person cannot be their own backup"),
        ("[{key: a, name: A, email: a@e.example, team: sales, out_of_office: 2026-12-01}]", "people.0.out_of_office"),
    ],
)
def test_bad_away_or_backup_in_the_config_is_named(people, says):
    with pytest.raises(ConfigError) as err:
        parse_config(_minimal(f"people: {people}"), "acme.yaml")
    assert says in str(err.value)


def _minimal(people: str) -> str:
    return (
        "channels: {wins: {}, sales: {}}\nteams: {sales: {channel: sales, timezone: America/New_York}}\n"
        + people
        + "\n"
    )


def test_the_demo_config_shows_a_backup_and_an_away_period():
    config = load_config(None)
    assert any(p.backup for p in config.people) and any(p.away for p in config.people)
