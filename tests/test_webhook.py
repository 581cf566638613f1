"""``POST /webhooks/crm`` through the real HTTP server, exactly as the contract says."""

from __future__ import annotations

import json
import time

import pytest

from bot.signing import HEADER, sign
from tests.conftest import WEBHOOK_SECRET


def campaign(i: int, **over) -> dict:
    ev = {
        "id": f"ev-c{i}",
        "type": "campaign.upserted",
        "occurred_at": "2026-11-20T10:00:00Z",
        "data": {"id": f"camp-{i}", "name": f"Webinar {i}", "kind": "webinar", "owner_email": "kira@northwind.example"},
    }
    ev.update(over)
    return ev


def send(http, payload, *, secret=WEBHOOK_SECRET, timestamp=None, raw: bytes | None = None):
    body = raw if raw is not None else json.dumps(payload).encode()
    return http.post(
        "/webhooks/crm",
        content=body,
        headers={"Content-Type": "application/json", HEADER: sign(secret, body, timestamp)},
    )


def stored(c) -> tuple[int, int]:
    """(campaigns, processed event ids) in the database."""
    from sqlmodel import func, select

    from storage.models import Campaign, ProcessedInbound

    with c.uow_factory() as uow:
        s = uow.session
        return (
            s.exec(select(func.count()).select_from(Campaign)).one(),
            s.exec(select(func.count()).select_from(ProcessedInbound)).one(),
        )


@pytest.fixture
def app(make_container, live_server):
    return live_server(make_container())


def test_one_event_is_accepted_and_stored(app):
    with app.client() as http:
        resp = send(http, campaign(1))
    assert resp.status_code == 200
    assert resp.json() == {"accepted": 1, "duplicates": 0}
    with app.container.uow_factory() as uow:
        camp = uow.campaigns.by_crm_id("camp-1")
        assert camp.name == "Webinar 1"
        assert camp.owner_id == uow.people.by_key("kira").id


def test_a_batch_is_accepted_and_repeated_ids_are_accepted_and_ignored(app):
    with app.client() as http:
        first = send(http, [campaign(1), campaign(2)])
        again = send(http, [campaign(2), campaign(3), campaign(3)])
    assert first.json() == {"accepted": 2, "duplicates": 0}
    assert again.json() == {"accepted": 1, "duplicates": 2}
    assert stored(app.container) == (3, 3)


@pytest.mark.parametrize("secret, age", [("not-the-secret", 0), (WEBHOOK_SECRET, 301)], ids=["bad", "stale"])
def test_a_bad_or_stale_signature_is_refused_with_401_and_nothing_is_stored(app, secret, age):
    with app.client() as http:
        resp = send(http, campaign(1), secret=secret, timestamp=int(time.time()) - age)
    assert resp.status_code == 401
    assert stored(app.container) == (0, 0)


def test_a_missing_signature_is_refused(app):
    with app.client() as http:
        resp = http.post("/webhooks/crm", json=campaign(1))
    assert resp.status_code == 401
    assert "missing" in resp.json()["error"]


def test_a_batch_with_one_bad_event_stores_nothing_and_names_the_event_and_field(app):
    bad = campaign(2)
    del bad["data"]["name"]
    wrong_type = campaign(3, type="lead.exploded")
    with app.client() as http:
        resp = send(http, [campaign(1), bad, wrong_type])
    assert resp.status_code == 400
    body = resp.json()
    assert "nothing was stored" in body["error"]
    problems = {(p["index"], p["id"], p["field"]) for p in body["problems"]}
    assert (1, "ev-c2", "data.name") in problems
    assert (2, "ev-c3", "type") in problems
    assert any("unknown event type 'lead.exploded'" in p["problem"] for p in body["problems"])
    assert stored(app.container) == (0, 0)


def test_an_event_without_a_timezone_is_refused_with_a_clear_field(app):
    with app.client() as http:
        resp = send(http, campaign(1, occurred_at="2026-11-20T10:00:00"))
    assert resp.status_code == 400
    [problem] = resp.json()["problems"]
    assert problem["field"] == "occurred_at" and "timezone" in problem["problem"]


@pytest.mark.parametrize("raw, fragment", [(b"{not json", "not valid JSON"), (b"[]", "empty batch")])
def test_a_body_that_is_not_events_gets_a_400_that_says_why(app, raw, fragment):
    with app.client() as http:
        resp = send(http, None, raw=raw)
    assert resp.status_code == 400
    assert fragment in resp.json()["error"]


def test_a_body_over_the_size_limit_gets_413_and_nothing_is_stored(make_container, live_server):
    app = live_server(make_container(webhook_max_bytes=2_000))
    events = [campaign(i) for i in range(40)]
    with app.client() as http:
        resp = send(http, events)
    assert resp.status_code == 413
    assert "larger than 2000 bytes" in resp.json()["error"]
    assert stored(app.container) == (0, 0)


def test_too_many_events_in_one_request_get_413(make_container, live_server):
    app = live_server(make_container(webhook_max_events=5))
    with app.client() as http:
        resp = send(http, [campaign(i) for i in range(6)])
    assert resp.status_code == 413


def test_without_a_webhook_secret_the_webhook_says_it_is_not_configured(make_container, live_server):
    app = live_server(make_container(webhook_secret=None))
    with app.client() as http:
        resp = send(http, campaign(1))
    assert resp.status_code == 503
    assert "WEBHOOK_SECRET" in resp.json()["error"]
