"""Screenshots of the local workspace for the README (docs/screenshots/*.png).

Not part of a normal run: they rewrite files in the tree. Take them with

    SMARKETING_SCREENSHOTS=docs/screenshots pytest tests/test_browser_screenshots.py
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import ladder_config

from tests.conftest import ROOT
from tests.test_browser_local import ARGS, CHROMIUM, cooling_owner, open_page, settled

OUT = os.environ.get("SMARKETING_SCREENSHOTS")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not OUT, reason="set SMARKETING_SCREENSHOTS=docs/screenshots to take the README's screenshots"),
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no Chromium at {CHROMIUM}"),
]


@pytest.fixture
def shots(make_container, live_server):
    from playwright.sync_api import sync_playwright

    c = make_container(local_workspace=True, config=ladder_config())  # as tests/test_browser_local.py
    server = live_server(c, local=True)
    settled(c)
    out = Path(OUT) if Path(OUT).is_absolute() else ROOT / OUT
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 860}, device_scale_factor=1)
        yield server, page, out
        browser.close()


def test_take_the_readmes_screenshots(shots):
    server, page, out = shots
    c = server.container

    # 1. #wins: a deal closes while you watch.
    expect = open_page(page, server, "channel:wins")
    before = page.locator("#list .msg").count()
    page.get_by_role("button", name="A deal closes").click()
    expect(page.locator("#list .msg")).to_have_count(before + 1)
    expect(page.locator(".toast")).to_have_count(0, timeout=10_000)
    page.screenshot(path=str(out / "wins.png"))

    # 2. A rep's DM with a cooling alert and its buttons.
    owner, lead = cooling_owner(c)
    page.goto(f"{server.url}/#dm:{owner.id}")
    expect(page.locator("#list .msg", has_text=lead.name).last).to_be_visible()
    expect(page.locator(".toast")).to_have_count(0, timeout=10_000)
    page.screenshot(path=str(out / "cooling-dm.png"))

    # 3. The bounce form, opened from the alert's button.
    alert = (
        page.locator("#list .msg[data-key]", has_text=lead.name)
        .filter(has=page.get_by_role("button", name="Bounce to marketing"))
        .last
    )
    alert.get_by_role("button", name="Bounce to marketing").click()
    modal = page.locator("#modal")
    modal.locator('select[name="reason"]').select_option("no_budget")
    modal.locator('textarea[name="note"], input[name="note"]').fill("Budget frozen until Q2; revisit in March.")
    page.screenshot(path=str(out / "form.png"))
    modal.locator("button[type=submit]").click()
    expect(modal).to_be_hidden()

    # 4. Next Monday 09:00: both teams' week, with its conflicts, in #sales.
    page.goto(f"{server.url}/#channel:sales")
    page.select_option("#me", label="Maya Patel · Manager")
    page.get_by_role("button", name="Next Monday 9:00").click()
    expect(page.locator(".toast").last).to_contain_text("Moved on")
    expect(page.locator("#list .msg", has_text="Week of").last).to_be_visible(timeout=15_000)
    expect(page.locator(".toast")).to_have_count(0, timeout=10_000)
    page.locator("#list .msg", has_text="Week of").last.scroll_into_view_if_needed()
    page.screenshot(path=str(out / "digest.png"))

    # 5. An hour later: the weekly scoreboard with its chart in #sales.
    page.get_by_role("button", name="+1 hour").click()
    expect(page.locator("#list .msg", has_text="The smarketing scoreboard").last).to_be_visible(timeout=15_000)
    expect(page.locator("#list .msg img").last).to_be_visible()
    expect(page.locator(".toast")).to_have_count(0, timeout=10_000)
    page.locator("#list .msg", has_text="The smarketing scoreboard").last.scroll_into_view_if_needed()
    page.screenshot(path=str(out / "scoreboard.png"))

    # 6-9. The Home of each role: a rep, a sales manager, a marketer, the admin.
    for label, name in (
        ("Ana Torres", "home-rep"),
        ("Maya Patel", "home-manager"),
        ("Kira Novak", "home-marketer"),
        ("Sam Adeyemi", "home-admin"),
    ):
        option = page.locator("#me option", has_text=label).first.get_attribute("value")
        page.select_option("#me", value=option)
        page.fill("#command", "/smarketing home")
        page.locator("#send").click()
        expect(page.locator("#list .msg", has_text="your Smarketing home").last).to_be_visible(timeout=10_000)
        page.locator("#list .msg", has_text="your Smarketing home").last.scroll_into_view_if_needed()
        page.screenshot(path=str(out / f"{name}.png"))

    # 10. Thursday: the joint review's agenda in #company, two hours before the meeting.
    page.goto(f"{server.url}/#channel:company")
    page.select_option("#me", label="Maya Patel · Manager")
    for _ in range(3):
        page.get_by_role("button", name="+1 day").click()
        expect(page.locator(".toast").last).to_contain_text("Moved on")
    expect(page.locator("#list .msg", has_text="Joint review").last).to_be_visible(timeout=15_000)
    expect(page.locator(".toast")).to_have_count(0, timeout=10_000)
    page.locator("#list .msg", has_text="Joint review").first.scroll_into_view_if_needed()
    page.screenshot(path=str(out / "agenda.png"))
