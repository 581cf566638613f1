"""``python -m bot import``: the command's output, errors file and exit status, and the demo CSVs
in docs/samples loaded into an empty database showing the four flows."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timezone

import pytest
from freezegun import freeze_time
from sqlmodel import Session, select

import bot.imports.cli  # noqa: F401 - the event models are built before freezegun swaps datetime
import bot.imports.importer  # noqa: F401
from bot import cli
from bot.imports.samples import SAMPLES, weeks_to
from bot.scheduler import run_job
from handlers.commands import run_command
from handlers.ports import Actor, FixedClock
from storage.models import Deal, Lead, Outbox, Person

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)

DEALS = """\
Opportunity ID,Opportunity Name,Amount,Close Date,Stage,Opportunity Owner
D-1,Acme renewal,"48,000.00",11/20/2026,Closed Won,Ana Torres
D-2,Bluebird pilot,lots,11/20/2026,Closed Won,Ana Torres
D-3,Cobalt expansion,12000,11/19/2026,Closed Won,Nobody Known
D-1,Acme renewal again,50000,11/21/2026,Closed Won,Ana Torres
"""


@pytest.fixture
def env(database_url, engine, monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("SMARKETING_CONFIG", raising=False)
    monkeypatch.setenv("LOCAL_WORKSPACE", "false")
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    monkeypatch.chdir(tmp_path)
    return engine


def import_(*args: str, at: datetime = NOW) -> int:
    with freeze_time(at):
        return cli.main(["import", *args])


def rows(engine, model):
    with Session(engine) as s:
        return s.exec(select(model)).all()


def test_the_command_loads_the_good_rows_prints_the_summary_and_writes_the_errors_file(env, tmp_path, capsys):
    (tmp_path / "deals.csv").write_text(DEALS)
    assert import_("deals.csv", "--no-progress") == 1  # some rows were not loaded
    out = capsys.readouterr().out
    assert "deals.csv: CSV (utf-8, delimiter ','); deals (from the file name 'deals.csv')" in out
    assert (
        "  columns: Opportunity ID → id, Opportunity Name → name, Amount → amount, Close Date → closed_at, "
        "Stage → stage, Opportunity Owner → owner_email" in out
    )
    assert "deals: created 1, updated 0, unchanged 0; errors 3 (4 rows read)" in out
    assert "  row 3, Amount: not an amount (write it as 48000, 48,000.00, $48k or €1.200,50) ('lots')" in out
    assert "  all 3 problem(s) are in deals.errors.csv (row, id, column, value, problem)" in out
    assert "1 message(s) from the import (hand-offs, celebrations, ...) are queued" in out
    with open(tmp_path / "deals.errors.csv", newline="") as f:
        assert list(csv.reader(f)) == [
            ["row", "id", "column", "value", "problem"],
            ["3", "D-2", "Amount", "lots", "not an amount (write it as 48000, 48,000.00, $48k or €1.200,50)"],
            [
                "4",
                "D-3",
                "Opportunity Owner",
                "Nobody Known",
                "'Nobody Known' is not an email and no one in the "
                "config's people: has that name (add them to the config, or give emails in this column)",
            ],
            ["5", "D-1", "Opportunity ID", "D-1", "duplicate id, first seen on row 2"],
        ]
    assert [d.crm_id for d in rows(env, Deal)] == ["D-1"]


def test_a_dry_run_writes_nothing_and_a_clean_file_exits_zero(env, tmp_path, capsys, monkeypatch):
    (tmp_path / "deals.csv").write_text(DEALS)
    assert import_("deals.csv", "--dry-run", "--errors", "problems.csv") == 1
    assert "dry run, nothing written: deals: would create 1, update 0, unchanged 0; errors 3" in capsys.readouterr().out
    assert rows(env, Deal) == [] and rows(env, Outbox) == []
    assert (tmp_path / "problems.csv").read_text().count("\n") == 4
    (tmp_path / "good.csv").write_text(DEALS.splitlines()[0] + "\n" + DEALS.splitlines()[1] + "\n")
    monkeypatch.setenv("LOCAL_WORKSPACE", "true")  # delivered to the local workspace
    assert import_("good.csv", "--kind", "deals", "--deliver") == 0
    out = capsys.readouterr().out
    assert "deals: created 1, updated 0, unchanged 0; errors 0 (1 rows read)" in out
    assert "1 message(s) from the import (hand-offs, celebrations, ...); 1 delivered now" in out
    assert [r.status for r in rows(env, Outbox)] == ["sent"]
    assert import_("good.csv", "--kind", "deals") == 0
    assert "deals: created 0, updated 0, unchanged 1; errors 0" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args, problem",
    [
        (["nothing.csv"], "no file 'nothing.csv'"),
        (["odd.csv"], "odd.csv: cannot tell what this file holds from its columns ('Foo', 'Bar'): pass --kind"),
        (["odd.csv", "--map", "Foo"], "--map 'Foo': write it as \"Column header=field\""),
        (["odd.csv", "--kind", "leads", "--map", "Foo=owner"], "odd.csv: --map Foo=owner: leads have no field 'owner'"),
        (["odd.csv", "--samples"], "give a file to import, or --samples (not both)"),
        (["odd.csv", "--kind", "deals", "--currency", "XYZ"], "odd.csv: unknown currency 'XYZ'"),
    ],
)
def test_an_import_that_cannot_start_exits_2_and_says_why(env, tmp_path, capsys, args, problem):
    (tmp_path / "odd.csv").write_text("Foo,Bar\n1,2\n")
    assert import_(*args) == 2
    assert problem in capsys.readouterr().err  # log lines of earlier set-ups may come first
    assert rows(env, Lead) == []


# --- the demo CSVs --------------------------------------------------------------------------------

LATER = datetime(2027, 3, 10, 15, 0, tzinfo=timezone.utc)  # a Wednesday, 15 weeks after the samples' week


def test_the_shipped_samples_are_the_crm_export_shapes_the_readme_names():
    with open(SAMPLES / "leads.csv", newline="") as f:
        assert next(csv.reader(f))[:4] == ["Record ID", "First Name", "Last Name", "Email"]  # HubSpot
    with open(SAMPLES / "deals.csv", newline="") as f:
        assert next(csv.reader(f))[:2] == ["Opportunity ID", "Opportunity Name"]  # Salesforce
    assert weeks_to(LATER.date()) == 15 and weeks_to(NOW.date()) == 0


def test_the_demo_csvs_loaded_into_an_empty_database_show_the_four_flows(env, make_container, capsys):
    assert import_("--samples", "--no-progress", at=LATER) == 0
    out = capsys.readouterr().out
    for line in (
        "campaigns: created 5, updated 0, unchanged 0; errors 0",
        "leads: created 10, updated 0",
        "touches: created 6,",
        "deals: created 3, updated 0, unchanged 0; errors 0; skipped 2",
        "schedule: created 7,",
    ):
        assert line in out
    c = make_container(clock=FixedClock(LATER))
    with Session(env) as s:
        people = {p.key: p for p in s.exec(select(Person))}
        leads = {l.crm_id: l for l in s.exec(select(Lead))}
        deals = {d.crm_id: d for d in s.exec(select(Deal))}

    def posts(destination):
        with Session(env) as s:
            return [r for r in s.exec(select(Outbox).where(Outbox.destination == destination).order_by(Outbox.id))]

    # 1. Cooling leads: the qualified leads were handed to their owners, who have an SLA running.
    for crm_id, owner in (("51001", "chloe"), ("51003", "ben"), ("51008", "ivy")):
        lead = leads[crm_id]
        assert (lead.status, lead.owner_id) == ("qualified", people[owner].id)
        assert [r.key for r in posts(f"dm:{people[owner].id}")] == [f"cooling:{lead.id}:1:handoff"]
    assert leads["51002"].status == "new"  # an MQL with a score of 64: not yet sales'
    # 2. Wins: each won deal celebrated once, crediting its campaigns; lost and open ones skipped.
    assert set(deals) == {"0065g00000NwOpp01", "0065g00000NwOpp02", "0065g00000NwOpp03"}
    wins = {r.key: json.dumps(r.payload, ensure_ascii=False) for r in posts("channel:wins")}
    granite, cobalt = wins["wins:0065g00000NwOpp01:post"], wins["wins:0065g00000NwOpp02:post"]
    assert "$48,000" in granite and "SaaStr Europa booth" in granite and "Webinar: Forecasting with AI" in granite
    assert "€18,500" in cobalt and "Google Ads: analytics platform" in cobalt  # its Primary Campaign Source
    assert "March 2027" in granite  # closed in the week before: re-dated with the samples
    assert [r.key for r in posts("channel:company")] == ["wins:0065g00000NwOpp03:wide"]  # $96,000: the big one
    # 3. Bounce-back: Chloe sends Olivia back to marketing, who see why and where she came from.
    reply = run_command(
        c.registry, c.uow_factory, c.deps, Actor(people["chloe"].id), "bounce 51001 no_budget Budget frozen until Q2"
    )
    assert "Olivia Smith" in reply.as_message().text
    bounced = json.dumps(
        [r.payload for r in posts("channel:marketing") if r.key.startswith("bounce:")], ensure_ascii=False
    )
    assert "Olivia Smith" in bounced and "Budget frozen until Q2" in bounced and "Paid Search" in bounced
    # 4. Weekly schedules: this week's digest shows both teams' items and the EMEA collision.
    assert run_job(c, "digest").done == 2
    digest = json.dumps(
        [r.payload for r in posts("channel:sales") if r.key.startswith("schedule:digest:")], ensure_ascii=False
    )
    assert "EMEA discount: 15% off multi-year" in digest and "Launch: Forecasting add-on v2" in digest
    assert "overlaps" in digest or "conflict" in digest.lower()
    # Loading them again changes nothing.
    assert import_("--samples", "--no-progress", at=LATER) == 0
    assert "created 0" in capsys.readouterr().out
