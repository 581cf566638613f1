"""The local workspace through the real HTTP server: the page, paging, the change feed, commands,
buttons, forms, the clock and the simulate controls, and the 4xx answers to bad input.

A small probe flow (below) gives the adapter a button that updates its message in place and a
form that validates, so these tests do not depend on the wording of the product's flows."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest

from bot.dispatch import wait_until_delivered

from handlers.errors import Invalid
from handlers.messages import Actions, Button, Form, Input, Message, Reply, Section, mention
from handlers.ports import channel
from handlers.registry import Flow, JobResult, Registry

# --- the probe flow -------------------------------------------------------------------------


def probe_command(uow, deps, actor, args):
    uow.outbox.add(
        key=f"probe:{args or 'one'}",
        destination=channel("sales"),
        at=deps.now(),
        payload=Message(
            text="Probe",
            blocks=[
                Section(text=f"*Probe* {args} by {mention(actor.person_id)}"),
                Actions(buttons=[Button(label="Acknowledge", action="probe.ack", value="7", style="primary")]),
            ],
        ).to_json(),
    )
    uow.commit()
    return Reply.say("Posted a probe to #sales.")


def probe_ack(uow, deps, actor, value, source):
    target = uow.outbox.by_key(source.outbox_key)
    uow.outbox.add(
        key=f"{target.key}:ack",
        destination=target.destination,
        op="update",
        target_key=target.key,
        at=deps.now(),
        payload=Message(
            text="Acknowledged", blocks=[Section(text=f"Acknowledged by {mention(actor.person_id)} (value {value})")]
        ).to_json(),
    )
    uow.commit()
    return Reply.say(f"Thanks; source {source.platform} {source.outbox_key}")


def ask_command(uow, deps, actor, args):
    return Reply(
        form=Form(
            title="Ask marketing",
            action="probe.ask",
            state="s-1",
            submit_label="Ask",
            inputs=[
                Input(name="question", label="Question", max_length=200),
                Input(name="when", label="When", kind="datetime", required=False),
            ],
        )
    )


def ask_submit(uow, deps, actor, state, values):
    question = values.get("question") or ""
    if not question.endswith("?"):
        raise Invalid("End your question with a question mark.", field="question")
    uow.outbox.add(
        key=f"probe:ask:{question}",
        destination=channel("marketing"),
        at=deps.now(),
        payload=Message(
            text=f"Question from {mention(actor.person_id)}: {question} (state {state}, when {values.get('when')})"
        ).to_json(),
    )
    uow.commit()
    return Reply.say("Asked.")


PROBE = Flow(
    name="probe",
    commands={"probe": probe_command, "ask": ask_command},
    actions={"probe.ack": probe_ack},
    forms={"probe.ask": ask_submit},
)


def with_probe(container):
    container.registry = Registry.build([*container.registry.flows, PROBE])
    return container


# --- helpers ----------------------------------------------------------------------------------


def wait_for(fn, timeout=10.0):
    """Poll ``fn`` until it returns something truthy (the live dispatcher delivers in a thread)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("timed out waiting")


def person_id(container, key):
    with container.uow_factory() as uow:
        return uow.people.by_key(key).id


def feed(http, after, conversation):
    resp = http.get("/local/api/changes", params={"after": after, "conversation": conversation})
    assert resp.status_code == 200, resp.text
    return resp.json()


@pytest.fixture
def local(make_container, live_server):
    container = with_probe(make_container(local_workspace=True, demo_data=False))
    return live_server(container, local=True)


# --- the page and reading ----------------------------------------------------------------------


def test_the_page_lists_the_configured_channels_and_a_dm_per_person(local):
    with local.client() as http:
        resp = http.get("/")
    assert resp.status_code == 200
    assert "Northwind Analytics" in resp.text
    assert "default-src 'self'" in resp.headers["content-security-policy"]
    state = local.container.extras["local"].initial_state()
    ids = [c["id"] for c in state["conversations"]]
    assert ids[:4] == ["channel:wins", "channel:company", "channel:sales", "channel:marketing"]
    assert len([i for i in ids if i.startswith("dm:")]) == 20
    assert f'"dm:{person_id(local.container, "ana")}"' in resp.text


def test_the_pages_script_and_styles_are_served(local):
    with local.client() as http:
        assert http.get("/local/static/app.js").status_code == 200
        css = http.get("/local/static/app.css")
    assert css.status_code == 200 and "grid-template-areas" in css.text


def test_a_long_channel_opens_on_its_last_50_messages_and_pages_back_by_id(local):
    c = local.container
    with c.uow_factory() as uow:
        for i in range(120):
            uow.outbox.add(
                key=f"bulk:{i}",
                destination="channel:wins",
                at=c.deps.now(),
                payload=Message(text=f"Message number {i}").to_json(),
            )
        uow.commit()
    c.dispatcher.drain()
    # the server's own dispatcher thread may hold some of them mid-delivery: wait for all
    assert wait_until_delivered(c.uow_factory, [f"bulk:{i}" for i in range(120)], timeout=60)  # a loaded CI box
    with local.client() as http:
        first = http.get("/local/api/messages", params={"conversation": "channel:wins"}).json()
        assert len(first["messages"]) == 50 and first["has_more"]
        assert "Message number 119" in first["messages"][-1]["html"]
        assert "Message number 70" in first["messages"][0]["html"]
        oldest = first["messages"][0]["id"]
        second = http.get("/local/api/messages", params={"conversation": "channel:wins", "before": oldest}).json()
        third = http.get(
            "/local/api/messages", params={"conversation": "channel:wins", "before": second["messages"][0]["id"]}
        ).json()
    assert "Message number 20" in second["messages"][0]["html"] and second["has_more"]
    assert len(third["messages"]) == 20 and not third["has_more"]
    assert "Message number 0" in third["messages"][0]["html"]


def test_the_change_feed_brings_new_posts_and_counts_posts_elsewhere(local):
    c = local.container
    with local.client() as http:
        cursor = http.get("/local/api/messages", params={"conversation": "channel:wins"}).json()["cursor"]
        with c.uow_factory() as uow:
            uow.outbox.add(key="a", destination="channel:wins", at=c.deps.now(), payload=Message(text="Here").to_json())
            uow.outbox.add(
                key="b", destination="channel:sales", at=c.deps.now(), payload=Message(text="There").to_json()
            )
            uow.commit()
        c.wake()
        changes = wait_for(lambda: (f := feed(http, cursor, "channel:wins"))["messages"] and f["elsewhere"] and f)
    assert [m["key"] for m in changes["messages"]] == ["a"]
    assert [e["conversation"] for e in changes["elsewhere"]] == ["channel:sales"]
    assert changes["cursor"] > cursor
    assert changes["clock"]["now"].startswith("2026-11-23T15:00")


def test_the_feed_cursor_waits_for_a_message_still_on_its_way(local):
    c = local.container
    c.dispatcher.stop()  # nothing is delivered in this test unless the test says so
    with c.uow_factory() as uow:
        start = uow.outbox.feed_cursor()
        uow.outbox.add(key="slow", destination="channel:wins", at=c.deps.now(), payload=Message(text="1").to_json())
        uow.outbox.add(key="fast", destination="channel:wins", at=c.deps.now(), payload=Message(text="2").to_json())
        uow.commit()
    with local.client() as http:
        assert feed(http, start, "channel:wins")["cursor"] == start
        c.dispatcher.drain()
        changes = feed(http, start, "channel:wins")
    assert [m["key"] for m in changes["messages"]] == ["slow", "fast"]


# --- acting ----------------------------------------------------------------------------------


def test_a_slash_command_runs_as_the_chosen_person_and_answers_only_them(local):
    ana = person_id(local.container, "ana")
    with local.client() as http:
        resp = http.post("/local/api/command", json={"person_id": ana, "text": "/smarketing help"})
    assert resp.status_code == 200
    body = resp.json()
    assert "Only visible to you" in body["ephemeral"] and "/smarketing help" in body["ephemeral"]
    assert body["form"] is None


def test_an_unknown_sub_command_gets_the_handlers_short_answer(local):
    with local.client() as http:
        body = http.post(
            "/local/api/command", json={"person_id": person_id(local.container, "ana"), "text": "frobnicate"}
        ).json()
    assert "I don&#x27;t know <code>frobnicate</code>" in body["ephemeral"]


def test_pressing_a_button_runs_its_action_on_that_message_and_the_message_updates_in_place(local):
    c = local.container
    ana, maya = person_id(c, "ana"), person_id(c, "maya")
    with local.client() as http:
        cursor = http.get("/local/api/messages", params={"conversation": "channel:sales"}).json()["cursor"]
        http.post("/local/api/command", json={"person_id": ana, "text": "probe first"})
        posted = wait_for(lambda: feed(http, cursor, "channel:sales")["messages"])[0]
        assert "Acknowledge" in posted["html"]
        resp = http.post(
            "/local/api/action", json={"person_id": maya, "key": posted["key"], "action": "probe.ack", "value": "7"}
        )
        assert resp.status_code == 200
        assert "Thanks; source local probe:first" in resp.json()["ephemeral"]

        def updated():
            msgs = [m for m in feed(http, cursor, "channel:sales")["messages"] if m["id"] == posted["id"]]
            return msgs and msgs[0]["hash"] != posted["hash"] and msgs[0]

        after = wait_for(updated)
        again = http.post(
            "/local/api/action", json={"person_id": maya, "key": posted["key"], "action": "probe.ack", "value": "7"}
        )
    assert (
        "Acknowledged by" in after["html"]
        and "@Maya Patel" in after["html"]
        and "Acknowledge</button>" not in after["html"]
    )
    assert again.status_code == 409 and "no longer on this message" in again.json()["error"]


def test_a_form_opens_shows_inline_errors_then_submits_and_posts(local):
    c = local.container
    ana = person_id(c, "ana")
    with local.client() as http:
        opened = http.post("/local/api/command", json={"person_id": ana, "text": "ask"}).json()
        assert 'data-action="probe.ask"' in opened["form"] and opened["ephemeral"] is None
        bad = http.post(
            "/local/api/form",
            json={
                "person_id": ana,
                "action": "probe.ask",
                "state": "s-1",
                "values": {"question": "no mark", "when": None},
            },
        )
        assert bad.status_code == 200 and bad.json()["errors"] == {
            "question": "End your question with a question mark."
        }
        cursor = http.get("/local/api/messages", params={"conversation": "channel:marketing"}).json()["cursor"]
        good = http.post(
            "/local/api/form",
            json={
                "person_id": ana,
                "action": "probe.ask",
                "state": "s-1",
                "values": {"question": "Budget?", "when": "2026-11-23T10:00"},
                "datetimes": ["when"],
            },
        )
        assert good.json()["errors"] is None and "Asked." in good.json()["ephemeral"]
        posted = wait_for(lambda: feed(http, cursor, "channel:marketing")["messages"])
    # The datetime was read in Ana's timezone (New York) and passed on as epoch seconds, like Slack's.
    epoch = int(datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc).timestamp())
    assert f"Budget? (state s-1, when {epoch})" in posted[0]["html"]


def test_a_form_that_no_flow_handles_says_it_is_out_of_date(local):
    with local.client() as http:
        body = http.post(
            "/local/api/form",
            json={"person_id": person_id(local.container, "ana"), "action": "nobody.home", "values": {}},
        ).json()
    assert body["errors"] == {} and "out of date" in body["form_error"]


# --- time and the simulate controls -----------------------------------------------------------


def test_moving_time_runs_the_jobs_and_shows_the_new_simulated_time(local):
    c = local.container
    ran = []

    def probe_job(uow_factory, deps):
        ran.append(deps.now())
        return JobResult("probe_job", 1)

    c.registry.jobs["probe_job"] = probe_job
    with local.client() as http:
        resp = http.post("/local/api/clock", json={"to": "hour"})
    assert resp.status_code == 200
    assert resp.json()["clock"]["now"].startswith("2026-11-23T16:00")
    assert [t.strftime("%H:%M") for t in ran] == ["15:30", "16:00"]
    assert "Moved on 1 h" in resp.json()["notice"]


def test_next_monday_goes_to_nine_oclock_in_the_last_teams_timezone(local):
    with local.client() as http:
        # A week of 30-minute steps, every job at each: slow on a loaded machine, not a hang.
        body = http.post("/local/api/clock", json={"to": "monday"}, timeout=120).json()
    # Monday 30 Nov 09:00 in New York is 14:00 UTC (London's 09:00 has passed by then).
    assert body["clock"]["now"].startswith("2026-11-30T14:00")


def test_simulating_a_deal_feeds_a_deal_closed_won_event_through_ingest(local):
    c = local.container
    if "deal.closed_won" not in c.registry.events:
        pytest.skip("no flow handles deal.closed_won in this tree")
    with local.client() as http:
        resp = http.post("/local/api/simulate", json={"what": "deal"})
    assert resp.status_code == 200 and "closed won" in resp.json()["notice"]
    with c.uow_factory() as uow:
        assert uow.inbound.claim("crm", ["demo-live-deal-1"], c.deps.now()) == set()  # already ingested


def test_simulating_what_no_flow_handles_is_a_clear_409(make_container, live_server):
    c = make_container(local_workspace=True, demo_data=False)
    c.registry = Registry.build([f for f in c.registry.flows if "deal.closed_won" not in f.events])
    server = live_server(c, local=True)
    with server.client() as http:
        resp = http.post("/local/api/simulate", json={"what": "deal"})
    assert resp.status_code == 409 and "deal.closed_won" in resp.json()["error"]


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path, body, status, says",
    [
        ("/local/api/command", {"person_id": 99999, "text": "help"}, 400, "No person with id 99999"),
        ("/local/api/command", {"person_id": 1, "text": "x" * 4001}, 400, "text: String should have at most 4000"),
        ("/local/api/command", {"person_id": 1}, 400, "text: Field required"),
        ("/local/api/command", {"person_id": 1, "text": "help", "admin": True}, 400, "admin: Extra inputs"),
        ("/local/api/command", {"person_id": "ana", "text": "help"}, 400, "person_id"),
        ("/local/api/command", ["help"], 400, "must be a JSON object"),
        ("/local/api/command", {"person_id": 1, "text": "/giphy cats"}, 400, "Only /smarketing commands"),
        ("/local/api/action", {"person_id": 1, "key": "no-such-message", "action": "a.b"}, 404, "no longer exists"),
        (
            "/local/api/form",
            {"person_id": 1, "action": "probe.ask", "values": {"when": "tomorrow"}, "datetimes": ["when"]},
            400,
            "expected a date and time",
        ),
        ("/local/api/form", {"person_id": 1, "action": "", "values": {}}, 400, "action"),
        ("/local/api/clock", {"to": "yesterday"}, 400, "to: Input should be 'hour', 'day' or 'monday'"),
        ("/local/api/clock", {"hours": -3}, 400, "hours: Input should be greater than 0"),
        ("/local/api/clock", {}, 400, "Say how far to move"),
        ("/local/api/simulate", {"what": "meteor"}, 400, "what: Input should be 'deal' or 'lead'"),
    ],
)
def test_bad_input_gets_a_4xx_saying_what_is_wrong(local, path, body, status, says):
    c = local.container
    if isinstance(body, dict) and body.get("person_id") == 1:
        body = {**body, "person_id": person_id(c, "ana")}
    with local.client() as http:
        resp = http.post(path, json=body)
    assert resp.status_code == status, resp.text
    assert says in resp.json()["error"]


def test_malformed_json_wrong_content_type_and_huge_bodies_are_refused(local):
    with local.client() as http:
        bad_json = http.post("/local/api/command", content=b"{not json", headers={"Content-Type": "application/json"})
        form_post = http.post("/local/api/command", data={"person_id": "1", "text": "help"})
        huge = http.post(
            "/local/api/command", content=b"{" + b" " * 70_000 + b"}", headers={"Content-Type": "application/json"}
        )
    assert bad_json.status_code == 400 and "not valid JSON" in bad_json.json()["error"]
    assert form_post.status_code == 415 and "JSON" in form_post.json()["error"]
    assert huge.status_code == 413


@pytest.mark.parametrize(
    "params, says",
    [
        ({"conversation": "channel:nope"}, "No conversation"),
        ({"conversation": "dm:99999"}, "No conversation"),
        ({"conversation": "channel:wins", "before": "abc"}, "before must be a whole number"),
        ({"conversation": "channel:wins", "limit": "5000"}, "limit must be a whole number from 1 to 200"),
    ],
)
def test_bad_history_requests_get_a_4xx_saying_what_is_wrong(local, params, says):
    with local.client() as http:
        resp = http.get("/local/api/messages", params=params)
    assert 400 <= resp.status_code < 500 and says in resp.json()["error"]


def test_cross_site_posts_and_foreign_host_names_are_refused(local):
    with local.client() as http:
        cross = http.post(
            "/local/api/command", json={"person_id": 1, "text": "help"}, headers={"Origin": "https://evil.example"}
        )
        rebound = http.get("/", headers={"Host": f"evil.example:{local.port}"})
        same = http.post(
            "/local/api/command",
            json={"person_id": person_id(local.container, "ana"), "text": "help"},
            headers={"Origin": local.url},
        )
    assert cross.status_code == 403 and "Cross-site" in cross.json()["error"]
    assert rebound.status_code == 403
    assert same.status_code == 200


def test_an_error_in_a_handler_gives_a_short_answer_with_a_reference(local, monkeypatch):
    from bot.local import workspace

    def boom(*a, **k):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(workspace, "run_command", boom)
    with local.client() as http:
        resp = http.post("/local/api/command", json={"person_id": person_id(local.container, "ana"), "text": "help"})
    assert resp.status_code == 500
    assert "Something went wrong" in resp.json()["error"] and "database on fire" not in resp.text
