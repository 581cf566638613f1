"""Spreadsheet imports on SQLite and PostgreSQL: rows become the product's own events, so leads
hand off, deals are celebrated with their campaigns and schedules warn of conflicts; bad rows are
reported (row, column, problem) while the good ones load, a batch is written whole or not at all,
and importing a file again changes nothing."""

from __future__ import annotations

import codecs
import dataclasses
import json
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, func, select

from bot.imports.importer import Importer, ImportProblem, Options
from storage.models import (
    Campaign,
    CampaignTouch,
    Deal,
    Lead,
    LeadTouch,
    Outbox,
    Person,
    ProcessedInbound,
    ScheduleItem,
)

UTC = timezone.utc
NY = ZoneInfo("America/New_York")


def run(c, tmp_path, content, name: str = "leads.csv", *, registry=None, encoding: str = "utf-8", **opts):
    """Import ``content`` (text, or bytes as they are) as file ``name``; (report, errors as tuples)."""
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding=encoding, newline="")
    errors = []
    importer = Importer(registry=registry or c.registry, uow_factory=c.uow_factory, deps=c.deps)
    report = importer.run(path, Options(**opts), on_error=errors.append)
    return report, [(e.row, e.column, e.problem) for e in errors]


def stored(engine, model, **where):
    with Session(engine) as s:
        q = select(model)
        for k, v in where.items():
            q = q.where(getattr(model, k) == v)
        return s.exec(q).all()


def one(engine, model, **where):
    found = stored(engine, model, **where)
    assert len(found) == 1, found
    return found[0]


def count(engine, model) -> int:
    with Session(engine) as s:
        return s.exec(select(func.count()).select_from(model)).one()


def person(engine, key):
    return one(engine, Person, key=key)


HUBSPOT = """\
Record ID,First Name,Last Name,Email,Phone Number,Company Name,Job Title,Lifecycle Stage,Lead Status,HubSpot Score,Contact owner,Original Source
101,Olivia,Smith,olivia@acme.example,+1 212 555 0101,Acme Logistics,Head of Data,Sales Qualified Lead,Open,92,Chloe Martin,Paid Search
102,Kenji,Tanaka,Kenji@Bluebird.example,,Bluebird Health,VP Finance,Marketing Qualified Lead,New,64,ana@northwind.example,Email Marketing
"""


def test_a_hubspot_contacts_export_loads_its_leads_and_the_qualified_one_hands_off(make_container, engine, tmp_path):
    c = make_container()
    report, errors = run(c, tmp_path, HUBSPOT, "hubspot-crm-exports-all-contacts-2026-11-23.csv")
    assert errors == []
    assert (report.kind, report.created, report.updated, report.unchanged) == ("leads", 2, 0, 0)
    assert report.warnings[0] == "columns not recognised, kept as attributes of each lead: Phone Number, Lead Status"
    olivia, kenji = one(engine, Lead, crm_id="101"), one(engine, Lead, crm_id="102")
    chloe = person(engine, "chloe")
    assert (olivia.name, olivia.email, olivia.company, olivia.title) == (
        "Olivia Smith",
        "olivia@acme.example",
        "Acme Logistics",
        "Head of Data",
    )
    assert (olivia.status, olivia.crm_status, olivia.score, olivia.owner_id) == ("qualified", "SQL", 92, chloe.id)
    assert olivia.attrs == {"Phone Number": "+1 212 555 0101", "Lead Status": "Open"}
    assert one(engine, Campaign, id=olivia.source_campaign_id).name == "Paid Search"
    assert (kenji.status, kenji.crm_status, kenji.email, kenji.owner_id) == (
        "new",
        "MQL",
        "kenji@bluebird.example",
        person(engine, "ana").id,
    )
    handoff = one(engine, Outbox, key=f"cooling:{olivia.id}:1:handoff")
    assert handoff.destination == f"dm:{chloe.id}" and "Olivia Smith" in handoff.payload["text"]
    assert count(engine, Outbox) == 1


def test_importing_the_same_file_again_changes_nothing_and_an_edited_row_updates_its_lead(
    make_container, engine, tmp_path
):
    c = make_container()
    run(c, tmp_path, HUBSPOT)
    messages = count(engine, Outbox)
    report, _ = run(c, tmp_path, HUBSPOT)
    assert (report.created, report.updated, report.unchanged) == (0, 0, 2)
    assert (count(engine, Outbox), count(engine, Lead), count(engine, Campaign)) == (messages, 2, 2)
    edited = HUBSPOT.replace(",64,", ",81,")  # Kenji's score now meets the definition (80, email, company)
    report, _ = run(c, tmp_path, edited)
    assert (report.created, report.updated, report.unchanged) == (0, 1, 1)
    kenji = one(engine, Lead, crm_id="102")
    assert (kenji.score, kenji.status) == (81, "qualified")
    assert one(engine, Outbox, key=f"cooling:{kenji.id}:1:handoff").destination == f"dm:{person(engine, 'ana').id}"


def test_a_dry_run_says_what_would_change_and_writes_nothing(make_container, engine, tmp_path):
    c = make_container()
    run(c, tmp_path, HUBSPOT)
    before = {m: count(engine, m) for m in (Lead, Campaign, Outbox, ProcessedInbound)}
    more = (
        HUBSPOT.replace(",64,", ",70,")
        + "103,Priya,Kaur,priya@cobalt.example,,Cobalt Bank,CFO,Lead,New,99,Ben Okafor,New campaign\n"
    )
    report, errors = run(c, tmp_path, more + "104,Bad,Score,b@x.example,,X,Y,Lead,New,lots,,\n", dry_run=True)
    assert report.counts() == "leads: would create 1, update 1, unchanged 1; errors 1"
    assert errors == [(5, "HubSpot Score", "not a number")]
    assert {m: count(engine, m) for m in before} == before
    assert stored(engine, Lead, crm_id="103") == [] and one(engine, Lead, crm_id="102").score == 64


DEALS = """\
Opportunity ID,Opportunity Name,Amount,Close Date,Stage,Opportunity Owner,Region
D-1,Acme renewal,"48,000.00",2026-11-20,Closed Won,Ana Torres,NA
D-2,Bluebird pilot,forty thousand,2026-11-20,Closed Won,Ana Torres,NA
D-3,Cobalt expansion,12000,2026-02-30,Closed Won,Ben Okafor,EMEA
D-1,Acme renewal again,50000,2026-11-21,Closed Won,Ana Torres,NA
D-4,Driftwood,9000,2026-11-19,Closed Won,Jane Doe,NA
D-5,Evergreen,"€1.200,50",2026-11-18,Closed Won,erin@northwind.example,EMEA

D-6,Foxglove,5000,2026-11-18,Closed Lost,erin@northwind.example,NA
"""


def test_bad_amounts_dates_owners_and_repeated_ids_are_reported_per_row_and_the_good_rows_load(
    make_container, engine, tmp_path
):
    c = make_container()
    report, errors = run(c, tmp_path, DEALS, "opportunities.csv")
    assert errors == [
        (3, "Amount", "not an amount (write it as 48000, 48,000.00, $48k or €1.200,50)"),
        (4, "Close Date", "not a date (day is out of range for month)"),
        (5, "Opportunity ID", "duplicate id, first seen on row 2"),
        (
            6,
            "Opportunity Owner",
            "'Jane Doe' is not an email and no one in the config's people: has that name "
            "(add them to the config, or give emails in this column)",
        ),
    ]
    assert (
        report.counts()
        == "deals: created 2, updated 0, unchanged 0; errors 4; skipped 1 (1 not won (stage 'Closed Lost'))"
    )
    assert report.rows == 7  # the blank row is not a row
    assert "columns not recognised, ignored (deals have nowhere to keep them): Region" in report.warnings
    deals = {d.crm_id: d for d in stored(engine, Deal)}
    assert set(deals) == {"D-1", "D-5"}
    assert (deals["D-1"].name, deals["D-1"].amount_minor, deals["D-1"].currency) == ("Acme renewal", 4_800_000, "USD")
    assert deals["D-1"].closed_at == datetime(2026, 11, 20, 23, 59, 59, tzinfo=NY).astimezone(UTC)  # the day's end
    assert (deals["D-5"].amount_minor, deals["D-5"].currency) == (120_050, "EUR")
    assert one(engine, Outbox, key="wins:D-1:post").destination == "channel:wins"
    assert deals["D-5"].celebration == "rollup"  # ~$1,300: below wins.rollup_below, in the daily "more wins"


def test_a_value_the_events_refuse_is_reported_against_its_column(make_container, engine, tmp_path):
    c = make_container()
    long_name = "x" * 301
    text = (
        "Lead ID,First Name,Last Name,Email,Score\n"
        f"L-1,Ana,Ok,ana@acme.example,50\n"
        f"L-2,{long_name},,long@acme.example,50\n"
        "L-3,Bo,Big,bo@acme.example,5000\n"
    )
    report, errors = run(c, tmp_path, text, "people.csv")
    assert errors == [
        (3, "First Name + Last Name", "String should have at most 300 characters"),
        (4, "Score", "Input should be less than or equal to 1000"),
    ]
    assert [l.crm_id for l in stored(engine, Lead)] == ["L-1"]


def test_a_batch_is_written_whole_or_not_at_all_and_a_second_run_loads_the_rest(make_container, engine, tmp_path):
    c = make_container()
    real = c.registry.events["lead.upserted"]
    batches = []

    def failing_second_batch(uow, deps, events):
        real(uow, deps, events)  # the batch's leads and hand-offs are written in the transaction...
        batches.append(len(events))
        if len(batches) == 2:  # ...and then the database goes away
            raise OperationalError("COMMIT", {}, Exception("server closed the connection unexpectedly"))

    broken = dataclasses.replace(c.registry, events={**c.registry.events, "lead.upserted": failing_second_batch})
    text = "Lead ID,Name,Email,Company,Score,Owner\n" + "".join(
        f"L-{i},Lead {i},l{i}@acme.example,Acme,{85 if i % 2 else 10},ben@northwind.example\n" for i in range(1, 9)
    )
    report, errors = run(c, tmp_path, text, registry=broken, batch_size=3)
    assert errors == [] and batches == [3, 3]
    assert report.stopped.startswith(
        "stopped at row 5: the database refused the batch (OperationalError). Nothing of that batch was written"
    )
    assert sorted(l.crm_id for l in stored(engine, Lead)) == ["L-1", "L-2", "L-3"]
    assert count(engine, Outbox) == 2  # the hand-offs of L-1 and L-3 only
    report, _ = run(c, tmp_path, text, batch_size=3)
    assert (report.created, report.unchanged, report.stopped) == (5, 3, None)
    assert count(engine, Lead) == 8 and count(engine, Outbox) == 4


def test_an_xlsx_workbook_is_read_with_its_dates_and_numbers(make_container, engine, tmp_path):
    import openpyxl

    c = make_container()
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Deals"
    ws.append(
        [
            "Deal - ID",
            "Deal - Title",
            "Deal - Value",
            "Deal - Currency",
            "Deal - Status",
            "Deal - Won time",
            "Deal - Owner",
            "Person - Email",
        ]
    )
    ws.append(
        [
            9001,
            "Harbor Robotics: pilot to annual",
            36000,
            "USD",
            "Won",
            datetime(2026, 11, 20, 16, 30),
            "Diego Alvarez",
            "rafael@harbor.example",
        ]
    )
    ws.append([9002, "Juniper Pharma: seats", 18000.5, "EUR", "won", datetime(2026, 11, 19, 9, 0), "Erin Walsh", None])
    ws.append([9003, "Lumen: pilot", 5000, "USD", "Lost", None, "Erin Walsh", None])
    ws.append([9004, "Meridian: dashboards", "lots", "USD", "Won", datetime(2026, 11, 19), "Erin Walsh", None])
    wb.create_sheet("Notes").append(["not", "this", "one"])
    path = tmp_path / "pipedrive-deals.xlsx"
    wb.save(path)
    errors = []
    report = Importer(registry=c.registry, uow_factory=c.uow_factory, deps=c.deps).run(
        path, Options(), on_error=lambda e: errors.append((e.row, e.column, e.value, e.problem))
    )
    assert report.format == "XLSX (sheet 'Deals')" and report.kind == "deals"
    assert errors == [(5, "Deal - Value", "lots", "not an amount (write it as 48000, 48,000.00, $48k or €1.200,50)")]
    harbor, juniper = one(engine, Deal, crm_id="9001"), one(engine, Deal, crm_id="9002")
    assert harbor.closed_at == datetime(2026, 11, 20, 16, 30, tzinfo=NY).astimezone(UTC)  # a naive cell: sales' time
    assert (harbor.amount_minor, harbor.owner_id, harbor.contact_email) == (
        3_600_000,
        person(engine, "diego").id,
        "rafael@harbor.example",
    )
    assert (juniper.amount_minor, juniper.currency) == (1_800_050, "EUR")
    assert report.skipped == {"not won (stage 'Lost')": 1}
    with pytest.raises(ImportProblem) as e:
        Importer(registry=c.registry, uow_factory=c.uow_factory, deps=c.deps).run(
            path, Options(sheet="Leads"), on_error=errors.append
        )
    assert str(e.value) == "no sheet 'Leads' in the workbook (sheets: Deals, Notes)"


@pytest.mark.parametrize(
    "encoding, content",
    [
        (
            "cp1252 with semicolons",
            "Email;Name;Company\r\ntomas@foxglove.example;Tomás Silva;Foxglöve\r\n".encode("cp1252"),
        ),
        (
            "utf-8 with a BOM and Excel's sep line",
            codecs.BOM_UTF8 + "sep=;\r\nEmail;Name;Company\r\ntomas@foxglove.example;Tomás Silva;Foxglöve\r\n".encode(),
        ),
        (
            "utf-16 tab-separated",
            "Email\tName\tCompany\r\ntomas@foxglove.example\tTomás Silva\tFoxglöve\r\n".encode("utf-16"),
        ),
    ],
)
def test_csv_files_from_excel_and_other_tools_are_read_in_their_encoding(
    make_container, engine, tmp_path, encoding, content
):
    c = make_container()
    report, errors = run(c, tmp_path, content, "contacts.csv")
    assert errors == [] and report.created == 1
    lead = one(engine, Lead, crm_id="tomas@foxglove.example")  # no id column: the email is the id
    assert (lead.name, lead.company) == ("Tomás Silva", "Foxglöve")
    assert "no id column: leads are known by their email (a lead's id is its email)" in report.warnings


CAMPAIGNS = """\
Campaign ID,Campaign Name,Type,Campaign Owner
C-1,Webinar: Forecasting with AI,Webinar,Kira Novak
C-2,SaaStr Europa booth,Trade Show,leo@northwind.example
"""
TOUCHES = """\
Campaign Name,Lead ID,Email,Member Status,First Responded Date,Assigned To,Comments
SaaStr Europa booth,,mei@granite.example,Visited booth,9/24/2026,,
Webinar: Forecasting with AI,L-7,,Attended,11/5/2026,,
,L-7,,Call,11/23/2026 9:30 AM,Hugo Lefevre,Discovery call done
,L-404,,Call,11/23/2026,Hugo Lefevre,Who is this
"""
MEI = "Lead ID,Name,Email,Company,Lifecycle Stage,Lead Owner\nL-7,Mei Chen,mei@granite.example,Granite Foods,SQL,Hugo Lefevre\n"


def test_campaign_members_and_follow_ups_load_and_a_later_deal_credits_the_campaigns(make_container, engine, tmp_path):
    c = make_container()
    assert run(c, tmp_path, CAMPAIGNS, "campaigns.csv")[0].created == 2
    assert run(c, tmp_path, MEI, "leads.csv")[0].created == 1
    report, errors = run(c, tmp_path, TOUCHES, "campaign members.csv")
    assert errors == [(5, "Lead ID", "no lead 'L-404' here: import the leads first")]
    assert (report.kind, report.created) == ("touches", 3)
    assert (
        "dates like 03/04/2026 are read month first, as this file writes its clear ones (11/23/2026)" in report.warnings
    )
    by_campaign = {t.campaign_id: t for t in stored(engine, CampaignTouch)}
    booth, webinar = one(engine, Campaign, crm_id="C-2"), one(engine, Campaign, crm_id="C-1")
    mei = one(engine, Lead, crm_id="L-7")
    assert (by_campaign[booth.id].contact_email, by_campaign[booth.id].kind) == ("mei@granite.example", "Visited booth")
    assert by_campaign[webinar.id].lead_id == mei.id
    assert (webinar.kind, booth.kind, booth.owner_id) == ("webinar", "trade show", person(engine, "leo").id)
    follow_up = one(engine, LeadTouch, lead_id=mei.id)
    hugo = person(engine, "hugo")
    assert (follow_up.person_id, follow_up.note, follow_up.source) == (hugo.id, "Discovery call done", "crm")
    assert follow_up.occurred_at == datetime(2026, 11, 23, 9, 30, tzinfo=NY).astimezone(UTC)
    assert mei.touch_count == 1
    deal = (
        "Deal ID,Deal Name,Amount,Close Date,Lead ID,Contact Email,Deal owner\n"
        "D-9,Granite: annual,48000,2026-11-20,L-7,mei@granite.example,Hugo Lefevre\n"
    )
    assert run(c, tmp_path, deal, "deals.csv")[0].created == 1
    post = one(engine, Outbox, key="wins:D-9:post")
    assert "sourced by Trade show *SaaStr Europa booth*" in post.payload["text"]  # the first touch
    assert "Webinar: Forecasting with AI" in json.dumps(post.payload["blocks"])  # converted by: the last one
    again, _ = run(c, tmp_path, TOUCHES, "campaign members.csv")
    assert (again.created, again.unchanged) == (0, 3)  # a touch is recorded once
    assert count(engine, CampaignTouch) == 2 and count(engine, LeadTouch) == 1


def test_a_deals_primary_campaign_source_credits_it_when_no_touch_does(make_container, engine, tmp_path):
    c = make_container()
    run(c, tmp_path, CAMPAIGNS, "campaigns.csv")
    deal = (
        "Opportunity ID,Opportunity Name,Amount,Opportunity Currency,Close Date,Stage,Opportunity Owner,"
        "Primary Campaign Source\n"
        '0065A,Cobalt Bank: add-on,"18,500.00",EUR,11/17/2026,Closed Won,Ben Okafor,SaaStr Europa booth\n'
    )
    report, errors = run(c, tmp_path, deal, "opportunities.csv")
    assert errors == [] and report.created == 1
    d = one(engine, Deal, crm_id="0065A")
    assert d.attrs["sourced_by"] == one(engine, Campaign, crm_id="C-2").id
    text = one(engine, Outbox, key="wins:0065A:post").payload["text"]
    assert "€18,500" in text and "SaaStr Europa booth" in text


SCHEDULE = """\
ID,Title,Team,Type,Start,End,Regions,Owner,Link
S-1,EMEA discount: 15% off multi-year,sales,Discount,2026-11-25,2026-11-27,EMEA,Hugo Lefevre,
S-2,Launch: Forecasting add-on v2,marketing,launch,2026-11-26,2026-11-26,EMEA,Mia Schneider,https://northwind.example/launch
S-3,Webinar: Q1 pipelines,marketing,webinar,2026-11-26 16:00,2026-11-26 17:00,"NA, EMEA",Kira Novak,
S-4,Mystery,sales,party,2026-11-26,,NA,,
S-5,No team,,event,2026-11-26,,NA,,
"""


def test_schedule_rows_land_in_the_teams_week_in_their_timezone_and_warn_of_conflicts(make_container, engine, tmp_path):
    c = make_container()
    report, errors = run(c, tmp_path, SCHEDULE, "our-calendar.csv")
    assert errors == [
        (
            5,
            "Type",
            "unknown kind; use one of: campaign_launch, webinar, event, promotion, "
            "territory_focus, account_focus, call_blitz, other",
        ),
        (6, "Team", "no team: write sales or marketing (or pass --team)"),
    ]
    assert (report.kind, report.created) == ("schedule", 3)
    items = {i.external_id: i for i in stored(engine, ScheduleItem)}
    discount, launch, webinar = items["crm:S-1"], items["crm:S-2"], items["crm:S-3"]
    assert (discount.kind, discount.team, discount.regions) == ("promotion", "sales", ["EMEA"])
    assert discount.starts_at == datetime(2026, 11, 25, tzinfo=NY).astimezone(UTC)  # sales: New York
    assert discount.ends_at == datetime(2026, 11, 28, tzinfo=NY).astimezone(UTC)  # an end date is inclusive
    london = ZoneInfo("Europe/London")
    assert (launch.kind, launch.starts_at, launch.ends_at) == (
        "campaign_launch",
        datetime(2026, 11, 26, tzinfo=london).astimezone(UTC),
        datetime(2026, 11, 27, tzinfo=london).astimezone(UTC),
    )
    assert webinar.starts_at == datetime(2026, 11, 26, 16, tzinfo=london).astimezone(UTC)
    assert webinar.regions == ["NA", "EMEA"]
    warned = {r.destination for r in stored(engine, Outbox) if r.key.startswith("schedule:conflict:")}
    assert warned >= {f"dm:{person(engine, 'hugo').id}", f"dm:{person(engine, 'mia').id}"}
    report, _ = run(c, tmp_path, SCHEDULE, "our-calendar.csv", team="marketing")
    assert (report.created, report.unchanged) == (1, 3)  # S-5 now in marketing's week; the rest as before
    assert items.keys() < {i.external_id for i in stored(engine, ScheduleItem)}


def test_dates_the_file_leaves_ambiguous_are_refused_unless_an_option_settles_them(make_container, engine, tmp_path):
    c = make_container()
    text = "Deal ID,Deal Name,Amount,Close Date\nD-1,One,100,03/04/2026\nD-2,Two,100,04/03/2026\n"
    report, errors = run(c, tmp_path, text, "deals.csv", dry_run=True)
    assert [e[2][:36] for e in errors] == [
        "ambiguous date '03/04/2026': is 3 th",
        "ambiguous date '04/03/2026': is 4 th",
    ]
    report, errors = run(c, tmp_path, text, "deals.csv", order="dmy")
    assert errors == [] and one(engine, Deal, crm_id="D-1").closed_at.astimezone(NY).date().isoformat() == "2026-04-03"
    mixed = text + "D-3,Three,100,23/11/2026\nD-4,Four,100,11/23/2026\n"
    report, errors = run(c, tmp_path, mixed, "deals.csv", dry_run=True)
    assert "dates are written both day first and month first in this file" in report.warnings[-1]
    assert [e[0] for e in errors] == [2, 3]


def test_an_import_that_cannot_start_says_why_and_writes_nothing(make_container, engine, tmp_path):
    c = make_container()
    cases = [
        (
            "Foo,Bar\n1,2\n",
            "export.csv",
            {},
            "cannot tell what this file holds from its columns ('Foo', 'Bar'): "
            "pass --kind leads, deals, campaigns, touches or schedule",
        ),
        ("", "empty.csv", {}, "the file is empty: no header row"),
        (
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1old excel",
            "old.xls",
            {},
            "this is an old Excel .xls workbook: save it as .xlsx or .csv and import that",
        ),
        (b"PK\x03\x04not really a zip", "broken.xlsx", {}, "not a readable XLSX workbook"),
        ("Email\na@b.example\n", "leads.csv", {"timezone": "Mars/Olympus"}, "unknown timezone 'Mars/Olympus'"),
        ("Email\na@b.example\n", "leads.csv", {"kind": "deals"}, "deals need a column for amount"),
        (
            "Email,Name\na@b.example,A\n",
            "leads.csv",
            {"overrides": {"Owner": "owner_email"}},
            "--map names a column 'Owner' that the file does not have",
        ),
    ]
    for content, name, opts, problem in cases:
        with pytest.raises(ImportProblem) as e:
            run(c, tmp_path, content, name, **opts)
        assert str(e.value).startswith(problem), (name, str(e.value))
    assert count(engine, Lead) == 0 and count(engine, ProcessedInbound) == 0


def test_an_unknown_column_named_like_a_field_is_kept_beside_it_never_in_its_place(make_container, engine, tmp_path):
    c = make_container()
    text = "Lead ID,Email,Lifecycle Stage,status,score (2)\nL-1,a@acme.example,,SQL,7\n"
    report, errors = run(c, tmp_path, text, "leads.csv", overrides={"status": None})
    lead = one(engine, Lead, crm_id="L-1")
    assert (lead.crm_status, lead.status) == (None, "new")  # the column left out with --map is not the status
    text = "Lead ID,Email,Lifecycle Stage,status\nL-2,b@acme.example,,SQL\n"
    run(c, tmp_path, text, "leads.csv")
    lead = one(engine, Lead, crm_id="L-2")
    assert (lead.crm_status, lead.attrs) == (None, {"status (column)": "SQL"})  # "Lifecycle Stage" is the status


def test_progress_is_reported_batch_by_batch_up_to_the_whole_file(make_container, tmp_path):
    c = make_container()
    text = "Email,Name\n" + "".join(f"p{i}@acme.example,Person {i}\n" for i in range(50))
    path = tmp_path / "people.csv"
    path.write_text(text)
    seen, totals = [], []
    Importer(registry=c.registry, uow_factory=c.uow_factory, deps=c.deps).run(
        path,
        Options(batch_size=10, dry_run=True),
        on_error=lambda e: None,
        on_progress=seen.append,
        on_start=lambda report, sheet: totals.append((sheet.total, sheet.unit)),
    )
    assert totals == [(len(text.encode()), "B")]
    assert len(seen) == 6 and seen == sorted(seen) and seen[-1] == len(text.encode())
