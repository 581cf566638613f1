"""The local workspace in headless Chromium: open the page, run a slash command, press a button,
submit a form, and see the resulting posts, with the demo company loaded.

Chromium comes from the system (``apt-get install chromium``); Playwright drives it through
``executable_path``. Without /usr/bin/chromium these tests are skipped with that reason."""

from __future__ import annotations

import os
import re
import time
from datetime import timedelta
from datetime import datetime, timezone

import pytest

from tests.conftest import ladder_config

from bot.local import demo_data
from tests.test_local_web import PROBE, with_probe

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ANCHOR = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)  # the clock fixture's time

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM),
        reason=f"no Chromium at {CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH)",
    ),
]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield page
    context.close()
    assert errors == [], f"the page's script failed: {errors}"


@pytest.fixture
def workspace(make_container, live_server):
    """The local workspace with the demo company, served for real."""
    # Real-time delivery, no quiet hours: these tests follow single messages live. (Held messages
    # hold the live feed's cursor back, so the page would count older posts as new: see the report.)
    c = with_probe(make_container(local_workspace=True, config=ladder_config()))
    server = live_server(c, local=True)
    settled(c)
    return server


def settled(container, timeout=15.0):
    """Wait until the live dispatcher has delivered everything the demo queued (what the delivery
    policy holds for someone's quiet hours waits for their next opening)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with container.uow_factory() as uow:
            counts = uow.outbox.counts()
            later = container.deps.now() + timedelta(minutes=5)
            waiting = [
                h
                for h in uow.outbox.heads(container.deps.now())  # not held for quiet hours
                if not (h.status == "pending" and h.next_attempt_at and h.next_attempt_at > later)
            ]
        if not waiting:
            return
        time.sleep(0.02)
    raise AssertionError(f"the outbox did not settle: {counts}")


def person(container, **where):
    with container.uow_factory() as uow:
        if "email" in where:
            return uow.people.by_email(where["email"])
        return uow.people.by_key(where["key"])


def cooling_owner(container):
    """The owner of a lead that was already cooling when the demo loaded."""
    company = demo_data.generate(container.config, ANCHOR)
    lead = next(l for l in company.leads if l.stage == "cooling")
    return person(container, email=lead.owner_email), lead


def open_page(page, server, conversation):
    from playwright.sync_api import expect

    page.goto(f"{server.url}/#{conversation}")
    expect(page.locator("#status-text")).to_contain_text("Live")
    return expect


def test_the_page_opens_on_wins_with_the_channels_the_dms_and_the_celebrations(page, workspace):
    expect = open_page(page, workspace, "channel:wins")
    expect(page.locator("#channels a .conv-name")).to_have_text(["wins", "company", "sales", "marketing"])
    expect(page.locator("#channels .badge:visible")).to_have_count(0)
    expect(page.locator("#dms a")).to_have_count(20)
    expect(page.locator("#conv-title")).to_have_text("#wins")
    if "deal.closed_won" in workspace.container.registry.events:
        expect(page.locator("#list .msg").first).to_be_visible()
        expect(page.locator("#list .msg .mention").first).to_be_visible()
    expect(page.locator("#sim-now")).to_contain_text("Mon, Nov 23, 10:00")


def test_a_slash_command_is_answered_only_to_the_person_who_ran_it(page, workspace):
    expect = open_page(page, workspace, "channel:sales")
    page.select_option("#me", label="Maya Patel · Manager")
    page.fill("#command", "/smarketing help")
    page.press("#command", "Enter")
    answer = page.locator("#list .msg.ephemeral").last
    expect(answer).to_contain_text("Only visible to you")
    expect(answer).to_contain_text("/smarketing help — this list")
    answer.locator(".dismiss").click()
    expect(page.locator("#list .msg.ephemeral")).to_have_count(0)


def test_pressing_a_button_runs_the_flow_and_the_message_updates_in_place(page, workspace):
    if "cooling.follow_up" not in workspace.container.registry.actions:
        pytest.skip("no cooling flow in this tree")
    owner, lead = cooling_owner(workspace.container)
    expect = open_page(page, workspace, f"dm:{owner.id}")
    expect(page.locator("#me-name")).to_have_text(owner.name)  # opening a DM acts as its person
    alert = (
        page.locator("#list .msg[data-key]", has_text=lead.name)
        .filter(has=page.get_by_role("button", name="Log follow-up"))
        .last
    )
    key = alert.get_attribute("data-key")
    alert.get_by_role("button", name="Log follow-up").click()
    expect(page.locator("#list .msg.ephemeral").last).to_contain_text("follow-up")
    updated = page.locator(f'#list .msg[data-key="{key}"]')
    expect(updated.get_by_role("button", name="Log follow-up")).to_have_count(0)
    expect(updated).to_contain_text(owner.name)  # who followed up, in the message itself


def test_a_button_opens_a_form_whose_submission_posts_to_marketing(page, workspace):
    if "bounce.open" not in workspace.container.registry.actions:
        pytest.skip("no bounce flow in this tree")
    owner, lead = cooling_owner(workspace.container)
    expect = open_page(page, workspace, f"dm:{owner.id}")
    alert = (
        page.locator("#list .msg[data-key]", has_text=lead.name)
        .filter(has=page.get_by_role("button", name="Bounce to marketing"))
        .last
    )
    alert.get_by_role("button", name="Bounce to marketing").click()
    modal = page.locator("#modal")
    expect(modal).to_be_visible()
    modal.locator("button[type=submit]").click()  # nothing chosen: the required reason is flagged
    expect(modal.locator('.field-error[data-error-for="reason"]')).to_be_visible()
    modal.locator('select[name="reason"]').select_option("no_budget")
    modal.locator('textarea[name="note"], input[name="note"]').fill("Budget frozen until Q2.")
    modal.locator("button[type=submit]").click()
    expect(modal).to_be_hidden()
    page.click('#channels a[data-conv="channel:marketing"]')
    expect(page.locator("#conv-title")).to_have_text("#marketing")
    expect(page.locator("#list .msg", has_text=lead.name).last).to_contain_text("Budget frozen until Q2.")


def test_a_forms_inline_errors_come_from_the_handler_and_the_fixed_submission_posts(page, workspace):
    expect = open_page(page, workspace, "channel:marketing")
    page.fill("#command", "ask")
    page.press("#command", "Enter")
    modal = page.locator("#modal")
    expect(modal.locator("#modal-title")).to_have_text("Ask marketing")
    modal.locator('input[name="question"]').fill("Is Q1 budget open")
    modal.locator("button[type=submit]").click()
    expect(modal.locator('.field-error[data-error-for="question"]')).to_have_text(
        "End your question with a question mark."
    )
    modal.locator('input[name="question"]').fill("Is Q1 budget open?")
    modal.locator("button[type=submit]").click()
    expect(modal).to_be_hidden()
    expect(page.locator("#list .msg", has_text="Is Q1 budget open?")).to_be_visible()


def test_new_posts_appear_without_a_reload_and_other_conversations_count_them(page, workspace):
    expect = open_page(page, workspace, "channel:marketing")
    page.evaluate("window.__sameDocument = true")
    page.fill("#command", "probe arrives")
    page.press("#command", "Enter")  # the probe posts to #sales, not the open channel
    expect(page.locator('#channels a[data-conv="channel:sales"] .badge')).to_have_text("1")
    page.click('#channels a[data-conv="channel:sales"]')
    probe = page.locator('#list .msg[data-key="probe:arrives"]')
    expect(probe).to_contain_text("Probe arrives")
    probe.get_by_role("button", name="Acknowledge").click()
    expect(probe).to_contain_text("Acknowledged by @Ana Torres")
    expect(probe.get_by_role("button", name="Acknowledge")).to_have_count(0)
    assert page.evaluate("window.__sameDocument") is True  # never reloaded


def test_a_deal_closing_is_celebrated_in_wins_while_you_watch(page, workspace):
    if "deal.closed_won" not in workspace.container.registry.events:
        pytest.skip("no wins flow in this tree")
    expect = open_page(page, workspace, "channel:wins")
    before = page.locator("#list .msg").count()
    page.get_by_role("button", name="A deal closes").click()
    expect(page.locator(".toast").last).to_contain_text("closed won")
    expect(page.locator("#list .msg")).to_have_count(before + 1)


def test_moving_time_updates_the_simulated_clock_on_the_page(page, workspace):
    expect = open_page(page, workspace, "channel:sales")
    page.get_by_role("button", name="+1 hour").click()
    expect(page.locator(".toast").last).to_contain_text("Moved on 1 h")
    expect(page.locator("#sim-now")).to_contain_text("11:00")


def test_a_long_channel_shows_its_latest_messages_and_loads_older_ones_on_scroll(page, make_container, live_server):
    from handlers.messages import Message

    c = make_container(local_workspace=True, demo_data=False)
    with c.uow_factory() as uow:
        for i in range(120):
            uow.outbox.add(
                key=f"bulk:{i}",
                destination="channel:company",
                at=c.deps.now(),
                payload=Message(text=f"Company news number {i}").to_json(),
            )
        uow.commit()
    c.dispatcher.drain()
    server = live_server(c, local=True)
    expect = open_page(page, server, "channel:company")
    expect(page.locator("#list .msg")).to_have_count(50)
    expect(page.locator("#list .msg").last).to_contain_text("Company news number 119")
    page.locator("#messages").evaluate("m => { m.scrollTop = 0; m.dispatchEvent(new Event('scroll')); }")
    expect(page.locator("#list .msg")).to_have_count(100)
    page.locator("#messages").evaluate("m => { m.scrollTop = 0; m.dispatchEvent(new Event('scroll')); }")
    expect(page.locator("#list .msg")).to_have_count(120)
    expect(page.locator("#conv-start")).to_contain_text("very beginning")
    assert re.search(r"Company news number 0\b", page.locator("#list .msg").first.inner_text())


def test_the_probe_flow_is_only_a_test_fixture():
    assert PROBE.name == "probe"
