"""Dropping a spreadsheet on the local workspace in headless Chromium: the file is uploaded, the
summary and the rows' problems show, and the imported leads appear (the hand-off in the owner's
DM, the lead in their ``leads``)."""

from __future__ import annotations

import pytest

from tests.test_browser_local import ARGS, CHROMIUM, browser, open_page, page, person  # noqa: F401 - fixtures

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not __import__("os").path.exists(CHROMIUM),
        reason=f"no Chromium at {CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH)",
    ),
]

LEADS = """Record ID,First Name,Last Name,Email,Company Name,Lifecycle Stage,HubSpot Score,Contact owner
201,Rafael,Costa,rafael@harbor.example,Harbor Robotics,Sales Qualified Lead,95,Ivy Chen
202,Ingrid,Jensen,ingrid@ironwood.example,Ironwood Media,Lead,40,Ivy Chen
203,Jonah,Murphy,jonah@juniper.example,Juniper Pharma,Lead,12,Someone Else
"""


def drop(page, selector: str, name: str, content: str) -> None:
    """Drop a file on ``selector`` as a person dragging it from their desktop would."""
    data = page.evaluate_handle(
        """([name, content]) => {
            const dt = new DataTransfer();
            dt.items.add(new File([content], name, { type: "text/csv" }));
            return dt;
        }""",
        [name, content],
    )
    for event in ("dragenter", "dragover", "drop"):
        page.dispatch_event(selector, event, {"dataTransfer": data})


def test_a_spreadsheet_dropped_on_the_page_is_imported_and_its_leads_appear(page, make_container, live_server):  # noqa: F811
    c = make_container(local_workspace=True, demo_data=False)
    server = live_server(c, local=True)
    ivy = person(c, key="ivy")
    expect = open_page(page, server, f"dm:{ivy.id}")
    drop(page, "#dropzone", "hubspot-contacts.csv", LEADS)
    result = page.locator("#import-result")
    expect(result.locator(".summary")).to_have_text("leads: created 2, updated 0, unchanged 0; errors 1")
    expect(result).to_contain_text("hubspot-contacts.csv: 3 rows, read as leads (from the file name")
    problem = result.locator("table.import-errors tbody tr")
    expect(problem).to_have_count(1)
    expect(problem).to_contain_text("Contact owner")
    expect(problem).to_contain_text("'Someone Else' is not an email")
    expect(result.get_by_role("link", name="Download the problems (CSV)")).to_be_visible()
    # The qualified lead is handed to Ivy: her DM shows it without a reload, and so does `leads`.
    expect(page.locator("#list .msg", has_text="Rafael Costa")).to_be_visible()
    page.fill("#command", "/smarketing leads")
    page.press("#command", "Enter")
    expect(page.locator("#list .msg.ephemeral").last).to_contain_text("Rafael Costa")


def test_check_only_reports_without_importing(page, make_container, live_server, engine):  # noqa: F811
    from sqlmodel import Session, select

    from storage.models import Lead

    c = make_container(local_workspace=True, demo_data=False)
    server = live_server(c, local=True)
    open_page(page, server, "channel:sales")
    page.check("#import-dry")
    page.select_option("#import-kind", "leads")
    drop(page, "#dropzone", "export.csv", LEADS)
    from playwright.sync_api import expect

    expect(page.locator("#import-result .summary")).to_have_text(
        "Check only, nothing written: leads: would create 2, update 0, unchanged 0; errors 1"
    )
    expect(page.locator("#import-result")).to_contain_text("read as leads (as given)")
    with Session(engine) as s:
        assert s.exec(select(Lead)).all() == []
