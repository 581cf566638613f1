"""Reading spreadsheet cells and headers: dates, amounts, owners, column names, the file's kind."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from bot.config import load_config
from bot.imports.headers import MappingError, build_mapping, guess_kind, normalise, parse_overrides
from bot.imports.values import BadValue, Dates, People, amount, day_order_hint, email, whole_number

NY = ZoneInfo("America/New_York")
UTC = timezone.utc


def at(*args, tz=UTC) -> datetime:
    return datetime(*args, tzinfo=tz).astimezone(UTC)


# --- dates ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cell, expected, date_only",
    [
        ("2026-11-23", at(2026, 11, 23, tz=NY), True),
        ("2026-11-23 14:30", at(2026, 11, 23, 14, 30, tz=NY), False),
        ("2026-11-23T14:30:00Z", at(2026, 11, 23, 14, 30), False),
        ("2026-11-23T14:30:00+01:00", at(2026, 11, 23, 13, 30), False),
        ("2026-11-23 14:30:00 UTC", at(2026, 11, 23, 14, 30), False),
        ("2026/11/23", at(2026, 11, 23, tz=NY), True),
        ("11/23/2026", at(2026, 11, 23, tz=NY), True),
        ("23/11/2026", at(2026, 11, 23, tz=NY), True),
        ("23.11.2026 09:15", at(2026, 11, 23, 9, 15, tz=NY), False),
        ("3.4.2026", at(2026, 4, 3, tz=NY), True),  # dots: day first, always
        ("11/23/2026 2:05 PM", at(2026, 11, 23, 14, 5, tz=NY), False),
        ("11/23/26", at(2026, 11, 23, tz=NY), True),
        ("23 Nov 2026", at(2026, 11, 23, tz=NY), True),
        ("Nov 23, 2026 10:00 am", at(2026, 11, 23, 10, 0, tz=NY), False),
        ("Monday, November 23, 2026", at(2026, 11, 23, tz=NY), True),
        ("23-Nov-2026", at(2026, 11, 23, tz=NY), True),
        ("5/5/2026", at(2026, 5, 5, tz=NY), True),  # the same either way
    ],
)
def test_dates_people_write_are_read_in_the_given_timezone(cell, expected, date_only):
    got = Dates(NY).read(cell)
    assert (got.at, got.date_only) == (expected, date_only)


def test_spreadsheet_dates_and_datetimes_are_taken_as_they_are():
    d = Dates(NY)
    assert d.read(datetime(2026, 11, 23, 9, 0)).at == at(2026, 11, 23, 9, tz=NY)  # naive: in the timezone
    assert d.read(date(2026, 11, 23)).date_only
    assert d.read(None) is None and d.read("  ") is None


@pytest.mark.parametrize(
    "cell, problem",
    [
        ("03/04/2026", "ambiguous date '03/04/2026': is 3 the day or the month? Pass --dayfirst"),
        ("31/02/2026", "not a date (day is out of range for month)"),
        ("tomorrow", "not a date (write it as 2026-11-23"),
        ("13/13/2026", "not a date (month must be in 1..12)"),
        (45236, "a number, not a date"),
    ],
)
def test_unreadable_or_ambiguous_dates_say_why(cell, problem):
    with pytest.raises(BadValue) as e:
        Dates(NY).read(cell)
    assert str(e.value).startswith(problem)


def test_an_ambiguous_date_is_read_as_the_file_or_the_option_says():
    assert Dates(NY, "dmy").read("03/04/2026").at == at(2026, 4, 3, tz=NY)
    assert Dates(NY, "mdy").read("03/04/2026").at == at(2026, 3, 4, tz=NY)
    assert [day_order_hint(v) for v in ("23/11/2026", "11/23/2026", "03/04/2026", "2026-11-23", "23.11.2026")] == [
        "dmy",
        "mdy",
        None,
        None,
        None,
    ]


def test_a_date_only_close_ends_that_day_and_an_inclusive_end_date_ends_at_the_next_midnight():
    d = Dates(NY)
    w = d.read("2026-11-20")
    assert d.end_of_day(w) == at(2026, 11, 20, 23, 59, 59, tz=NY)
    assert d.next_midnight(w) == at(2026, 11, 21, tz=NY)


# --- amounts -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cell, currency, expected",
    [
        ("48000", None, (Decimal("48000.00"), "USD")),
        ("48,000.00", None, (Decimal("48000.00"), "USD")),
        ("$48k", None, (Decimal("48000.00"), "USD")),
        ("€1.200,50", None, (Decimal("1200.50"), "EUR")),
        ("1 200,50 €", None, (Decimal("1200.50"), "EUR")),
        ("1.200", "EUR", (Decimal("1200.00"), "EUR")),  # three digits after one separator: thousands
        ("1,200", None, (Decimal("1200.00"), "USD")),
        ("12,5", "EUR", (Decimal("12.50"), "EUR")),
        ("1.5m EUR", None, (Decimal("1500000.00"), "EUR")),
        ("CHF 1'200.50", None, (Decimal("1200.50"), "CHF")),
        ("GBP 950", None, (Decimal("950.00"), "GBP")),
        ("£950", None, (Decimal("950.00"), "GBP")),
        ("¥120000", None, (Decimal("120000"), "JPY")),
        ("1.234.567,89", None, (Decimal("1234567.89"), "EUR")),
        ("0", None, (Decimal("0.00"), "USD")),
        (48000, None, (Decimal("48000.00"), "USD")),
        (48000.5, None, (Decimal("48000.50"), "USD")),
        (1234.5600000001, None, (Decimal("1234.56"), "USD")),  # a spreadsheet's float noise
    ],
)
def test_amounts_as_crms_and_people_write_them(cell, currency, expected):
    default = "EUR" if str(cell).startswith("1.234.567") else "USD"
    assert amount(cell, currency=currency, default=default) == expected


def test_a_dollar_sign_is_the_files_dollar_currency_else_us_dollars():
    assert amount("$500", currency="CAD", default="USD") == (Decimal("500.00"), "CAD")
    assert amount("$500", currency=None, default="EUR") == (Decimal("500.00"), "USD")


@pytest.mark.parametrize(
    "cell, currency, problem",
    [
        ("-500", None, "the amount is negative"),
        ("(1,200)", None, "the amount is negative"),
        ("forty", None, "not an amount"),
        ("48000.125", None, "more decimals than USD has (2)"),
        ("€500", "USD", "the amount is in EUR but the row's currency is USD"),
        ("500 XYZ", None, "unknown currency 'XYZ'"),
        ("1,2,3", None, "not an amount"),
        ("1.250k", None, "ambiguous amount"),
        ("1.500", "KWD", "ambiguous amount"),  # KWD has three decimals: 1.500 could be either
    ],
)
def test_amounts_that_cannot_be_read_say_why(cell, currency, problem):
    with pytest.raises(BadValue) as e:
        amount(cell, currency=currency, default="USD")
    assert str(e.value).startswith(problem)


# --- numbers, emails, people ---------------------------------------------------------------------


def test_scores_emails_and_owners():
    assert whole_number("85") == 85 and whole_number(84.6) == 85 and whole_number("1,200") == 1200
    with pytest.raises(BadValue):
        whole_number("high")
    assert email("Ana Torres <Ana@Northwind.example>") == "ana@northwind.example"
    assert email("work: a@b.example; b@c.example") == "a@b.example"
    with pytest.raises(BadValue):
        email("ana at northwind")
    people = People(load_config(None).people)
    assert people.email_of("Chloe Martin") == "chloe@northwind.example"
    assert people.email_of("  chloe   MARTIN ") == "chloe@northwind.example"
    assert people.email_of("Martin, Chloe") == "chloe@northwind.example"
    assert people.email_of("someone@else.example") == "someone@else.example"  # an email: taken as it is
    with pytest.raises(BadValue) as e:
        people.email_of("Jane Doe")
    assert "no one in the config's people: has that name" in str(e.value)


# --- headers and kinds ---------------------------------------------------------------------------

HUBSPOT_CONTACTS = [
    "Record ID",
    "First Name",
    "Last Name",
    "Email",
    "Phone Number",
    "Contact owner",
    "Lifecycle Stage",
    "Lead Status",
    "HubSpot Score",
    "Company Name",
    "Job Title",
    "Original Source",
    "Create Date",
]
SALESFORCE_LEADS = [
    "Lead ID",
    "First Name",
    "Last Name",
    "Title",
    "Company / Account",
    "Email",
    "Lead Status",
    "Lead Owner",
    "Rating",
    "Lead Source",
]
SALESFORCE_OPPORTUNITIES = [
    "Opportunity ID",
    "Opportunity Name",
    "Account Name",
    "Amount",
    "Close Date",
    "Stage",
    "Opportunity Owner",
    "Primary Campaign Source",
]
PIPEDRIVE_DEALS = [
    "Deal - ID",
    "Deal - Title",
    "Deal - Value",
    "Deal - Currency",
    "Deal - Status",
    "Deal - Won time",
    "Deal - Owner",
    "Person - Name",
    "Person - Email",
]
PIPEDRIVE_PERSONS = [
    "Person - ID",
    "Person - Name",
    "Person - Email",
    "Person - Organization",
    "Person - Owner",
    "Person - Label",
]
CAMPAIGN_MEMBERS = [
    "Campaign Name",
    "Lead ID",
    "First Name",
    "Last Name",
    "Email",
    "Member Status",
    "First Responded Date",
]
SALESFORCE_CAMPAIGNS = ["Campaign ID", "Campaign Name", "Type", "Status", "Start Date", "End Date", "Campaign Owner"]
TASKS = ["Task ID", "Subject", "Assigned To", "Activity Date", "Lead ID", "Comments"]
CALENDAR = ["Title", "Team", "Type", "Start", "End", "Regions", "Owner"]
API_NAMES = ["Id", "FirstName", "LastName", "Email", "Company", "Status"]


@pytest.mark.parametrize(
    "headers, kind",
    [
        (HUBSPOT_CONTACTS, "leads"),
        (SALESFORCE_LEADS, "leads"),
        (PIPEDRIVE_PERSONS, "leads"),
        (API_NAMES, "leads"),
        (SALESFORCE_OPPORTUNITIES, "deals"),
        (PIPEDRIVE_DEALS, "deals"),
        (CAMPAIGN_MEMBERS, "touches"),
        (TASKS, "touches"),
        (SALESFORCE_CAMPAIGNS, "campaigns"),
        (CALENDAR, "schedule"),
    ],
)
def test_the_kind_of_a_crm_export_is_guessed_from_its_columns(headers, kind):
    assert guess_kind(headers, "report1700000000.csv")[0] == kind


def test_the_file_name_decides_when_it_names_a_kind_the_columns_allow():
    assert guess_kind(CAMPAIGN_MEMBERS, "leads-from-webinar.csv") == (
        "leads",
        "from the file name 'leads-from-webinar.csv'",
    )
    assert guess_kind(HUBSPOT_CONTACTS, "deals.csv")[0] == "leads"  # no amount: not deals whatever the name


def test_a_file_whose_columns_say_nothing_asks_for_the_kind():
    with pytest.raises(MappingError) as e:
        guess_kind(["Foo", "Bar"], "export.csv")
    assert "pass --kind leads, deals, campaigns, touches or schedule" in str(e.value)


def test_hubspot_salesforce_and_pipedrive_headers_map_to_fields():
    m = build_mapping(HUBSPOT_CONTACTS, "leads")
    assert dict((f, h) for h, f in m.described()) == {
        "id": "Record ID",
        "first_name": "First Name",
        "last_name": "Last Name",
        "email": "Email",
        "owner_email": "Contact owner",
        "status": "Lifecycle Stage",
        "score": "HubSpot Score",
        "company": "Company Name",
        "title": "Job Title",
        "source_campaign_id": "Original Source",
    }
    assert [m.headers[i] for i in m.extras] == ["Phone Number", "Lead Status", "Create Date"]
    sf = build_mapping(SALESFORCE_LEADS, "leads")
    assert {f: sf.headers[i] for f, i in sf.fields.items()} | {} == {
        "id": "Lead ID",
        "first_name": "First Name",
        "last_name": "Last Name",
        "title": "Title",
        "company": "Company / Account",
        "email": "Email",
        "status": "Lead Status",
        "owner_email": "Lead Owner",
        "tier": "Rating",
        "source_campaign_id": "Lead Source",
    }
    pd = build_mapping(PIPEDRIVE_DEALS, "deals")
    assert {f: pd.headers[i] for f, i in pd.fields.items()} == {
        "id": "Deal - ID",
        "name": "Deal - Title",
        "amount": "Deal - Value",
        "currency": "Deal - Currency",
        "closed_at": "Deal - Won time",
        "stage": "Deal - Status",
        "owner_email": "Deal - Owner",
        "contact_email": "Person - Email",
    }
    api = build_mapping(API_NAMES, "leads")
    assert {f: api.headers[i] for f, i in api.fields.items()} == {
        "id": "Id",
        "email": "Email",
        "first_name": "FirstName",
        "last_name": "LastName",
        "company": "Company",
        "status": "Status",
    }
    assert normalise("Company / Account") == "company account" and normalise("OwnerEmail") == "owner email"


def test_map_overrides_win_and_can_leave_a_column_out():
    overrides = parse_overrides(["Rep=owner_email", "phone number="])
    m = build_mapping(["Email", "Rep", "Phone Number", "Contact owner"], "leads", overrides)
    assert m.header("owner_email") == "Rep"
    assert [m.headers[i] for i in m.ignored] == ["Phone Number"]
    assert [m.headers[i] for i in m.extras] == ["Contact owner"]  # the alias lost its field to --map


@pytest.mark.parametrize(
    "pairs, problem",
    [
        (["Rep=owner"], "--map Rep=owner: leads have no field 'owner'; their fields are: id, email"),
        (["Nope=email"], "--map names a column 'Nope' that the file does not have"),
        (["no equals sign"], "--map 'no equals sign': write it as"),
    ],
)
def test_bad_map_overrides_say_what_is_wrong(pairs, problem):
    with pytest.raises(MappingError) as e:
        build_mapping(["Email", "Rep"], "leads", parse_overrides(pairs))
    assert str(e.value).startswith(problem)


def test_a_kind_without_its_required_column_names_what_it_needs():
    with pytest.raises(MappingError) as e:
        build_mapping(["Opportunity Name", "Stage"], "deals")
    assert str(e.value).startswith("deals need a column for amount, and none of this file's columns is recognised")
    assert '--map "Your header=amount"' in str(e.value)


def test_the_readme_lists_every_recognised_header_and_field():
    import re

    from bot.imports.headers import FIELDS
    from tests.conftest import ROOT

    section = (ROOT / "README.md").read_text().split("## Loading a spreadsheet", 1)[1].split("\n## ", 1)[0]
    listed: dict[str, set[str]] = {}
    kind = ""
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[1].startswith("`"):
            continue
        kind = cells[0] or kind
        headers = re.sub(r"\s*\([^()]*\s[^()]*\)", "", cells[2])  # notes, not headers
        for field in re.findall(r"`(\w+)`", cells[1]):
            listed.setdefault(kind, set()).add(field)
        listed.setdefault(f"{kind} headers", set()).update(normalise(h) for h in re.split(r"[;,]", headers))
    for kind, fields in FIELDS.items():
        assert set(fields) <= listed[kind], (kind, set(fields) - listed[kind])
        aliases = {a for names in fields.values() for a in names}
        assert aliases <= listed[f"{kind} headers"], (kind, aliases - listed[f"{kind} headers"])
